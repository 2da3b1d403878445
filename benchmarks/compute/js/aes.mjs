// AES-256-CTR with a 128-bit big-endian counter: the same T-table algorithm as c/aes.c.
const SBOX = new Uint8Array(256);
const TE0 = new Uint32Array(256), TE1 = new Uint32Array(256), TE2 = new Uint32Array(256), TE3 = new Uint32Array(256);
let ready = false;

const xtime = (x) => ((x << 1) ^ (x & 0x80 ? 0x1b : 0)) & 255;

function initTables() {
  let p = 1, q = 1;
  do {
    p = (p ^ xtime(p)) & 255;
    q ^= q << 1; q ^= q << 2; q ^= q << 4; q &= 255;
    if (q & 0x80) q ^= 0x09;
    const rot = (v, s) => ((v << s) | (v >> (8 - s))) & 255;
    SBOX[p] = q ^ rot(q, 1) ^ rot(q, 2) ^ rot(q, 3) ^ rot(q, 4) ^ 0x63;
  } while (p !== 1);
  SBOX[0] = 0x63;
  for (let i = 0; i < 256; i++) {
    const s = SBOX[i], s2 = xtime(s), s3 = s2 ^ s;
    const t = ((s2 << 24) | (s << 16) | (s << 8) | s3) >>> 0;
    TE0[i] = t;
    TE1[i] = (t >>> 8) | (t << 24);
    TE2[i] = (t >>> 16) | (t << 16);
    TE3[i] = (t >>> 24) | (t << 8);
  }
  ready = true;
}

function expandKey(key) {
  const rk = new Uint32Array(60);
  for (let i = 0; i < 8; i++) rk[i] = (key[4 * i] << 24) | (key[4 * i + 1] << 16) | (key[4 * i + 2] << 8) | key[4 * i + 3];
  let rcon = 1;
  for (let i = 8; i < 60; i++) {
    let t = rk[i - 1];
    if (i % 8 === 0) {
      t = (SBOX[(t >>> 16) & 255] << 24) | (SBOX[(t >>> 8) & 255] << 16) | (SBOX[t & 255] << 8) | SBOX[t >>> 24];
      t ^= rcon << 24;
      rcon = xtime(rcon);
    } else if (i % 8 === 4) {
      t = (SBOX[t >>> 24] << 24) | (SBOX[(t >>> 16) & 255] << 16) | (SBOX[(t >>> 8) & 255] << 8) | SBOX[t & 255];
    }
    rk[i] = rk[i - 8] ^ t;
  }
  return rk;
}

export function aes256ctr(key, iv, input, output) {
  if (!ready) initTables();
  const rk = expandKey(key);
  let c0 = (iv[0] << 24) | (iv[1] << 16) | (iv[2] << 8) | iv[3];
  let c1 = (iv[4] << 24) | (iv[5] << 16) | (iv[6] << 8) | iv[7];
  let c2 = (iv[8] << 24) | (iv[9] << 16) | (iv[10] << 8) | iv[11];
  let c3 = (iv[12] << 24) | (iv[13] << 16) | (iv[14] << 8) | iv[15];
  const n = input.length;
  for (let off = 0; off < n; off += 16) {
    let s0 = c0 ^ rk[0], s1 = c1 ^ rk[1], s2 = c2 ^ rk[2], s3 = c3 ^ rk[3];
    for (let r = 4; r < 56; r += 4) {
      const t0 = TE0[s0 >>> 24] ^ TE1[(s1 >>> 16) & 255] ^ TE2[(s2 >>> 8) & 255] ^ TE3[s3 & 255] ^ rk[r];
      const t1 = TE0[s1 >>> 24] ^ TE1[(s2 >>> 16) & 255] ^ TE2[(s3 >>> 8) & 255] ^ TE3[s0 & 255] ^ rk[r + 1];
      const t2 = TE0[s2 >>> 24] ^ TE1[(s3 >>> 16) & 255] ^ TE2[(s0 >>> 8) & 255] ^ TE3[s1 & 255] ^ rk[r + 2];
      const t3 = TE0[s3 >>> 24] ^ TE1[(s0 >>> 16) & 255] ^ TE2[(s1 >>> 8) & 255] ^ TE3[s2 & 255] ^ rk[r + 3];
      s0 = t0; s1 = t1; s2 = t2; s3 = t3;
    }
    const k0 = ((SBOX[s0 >>> 24] << 24) | (SBOX[(s1 >>> 16) & 255] << 16) | (SBOX[(s2 >>> 8) & 255] << 8) | SBOX[s3 & 255]) ^ rk[56];
    const k1 = ((SBOX[s1 >>> 24] << 24) | (SBOX[(s2 >>> 16) & 255] << 16) | (SBOX[(s3 >>> 8) & 255] << 8) | SBOX[s0 & 255]) ^ rk[57];
    const k2 = ((SBOX[s2 >>> 24] << 24) | (SBOX[(s3 >>> 16) & 255] << 16) | (SBOX[(s0 >>> 8) & 255] << 8) | SBOX[s1 & 255]) ^ rk[58];
    const k3 = ((SBOX[s3 >>> 24] << 24) | (SBOX[(s0 >>> 16) & 255] << 16) | (SBOX[(s1 >>> 8) & 255] << 8) | SBOX[s2 & 255]) ^ rk[59];
    if (off + 16 <= n) {
      output[off] = input[off] ^ (k0 >>> 24); output[off + 1] = input[off + 1] ^ (k0 >>> 16); output[off + 2] = input[off + 2] ^ (k0 >>> 8); output[off + 3] = input[off + 3] ^ k0;
      output[off + 4] = input[off + 4] ^ (k1 >>> 24); output[off + 5] = input[off + 5] ^ (k1 >>> 16); output[off + 6] = input[off + 6] ^ (k1 >>> 8); output[off + 7] = input[off + 7] ^ k1;
      output[off + 8] = input[off + 8] ^ (k2 >>> 24); output[off + 9] = input[off + 9] ^ (k2 >>> 16); output[off + 10] = input[off + 10] ^ (k2 >>> 8); output[off + 11] = input[off + 11] ^ k2;
      output[off + 12] = input[off + 12] ^ (k3 >>> 24); output[off + 13] = input[off + 13] ^ (k3 >>> 16); output[off + 14] = input[off + 14] ^ (k3 >>> 8); output[off + 15] = input[off + 15] ^ k3;
    } else {
      const ks = [k0, k1, k2, k3];
      for (let j = 0; off + j < n; j++) output[off + j] = input[off + j] ^ ((ks[j >> 2] >>> (24 - 8 * (j & 3))) & 255);
    }
    // 128-bit increment, most significant word first.
    c3 = (c3 + 1) | 0;
    if (c3 === 0) { c2 = (c2 + 1) | 0; if (c2 === 0) { c1 = (c1 + 1) | 0; if (c1 === 0) c0 = (c0 + 1) | 0; } }
  }
  return output;
}
