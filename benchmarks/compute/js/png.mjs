// PNG encoder for 8-bit RGBA: adaptive row filters and our own zlib stream, the same algorithm as
// c/png.c step by step (same tie-breaks, same block size), so both produce identical bytes.
// `pngEncode(rgba, w, h, level, deflate)` takes another deflater (e.g. pako's) as the last argument.

const CRC = new Int32Array(256);
for (let i = 0; i < 256; i++) {
  let c = i;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  CRC[i] = c;
}

function crc32(p, start, end) {
  let c = -1;
  for (let i = start; i < end; i++) c = CRC[(c ^ p[i]) & 255] ^ (c >>> 8);
  return ~c >>> 0;
}

function adler32(p) {
  let a = 1, b = 0, i = 0;
  const n = p.length;
  while (i < n) {
    const end = Math.min(i + 5552, n);
    for (; i < end; i++) { a += p[i]; b += a; }
    a %= 65521; b %= 65521;
  }
  return ((b << 16) | a) >>> 0;
}

// ---- deflate tables ----
const LEN_BASE = new Uint16Array(29), LEN_EXTRA = new Uint8Array(29), LEN_CODE = new Uint8Array(259);
const DIST_BASE = new Uint16Array(30), DIST_EXTRA = new Uint8Array(30);
const DIST_LO = new Uint8Array(256), DIST_HI = new Uint8Array(256);
const CL_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];
{
  let base = 3;
  for (let i = 0; i < 28; i++) {
    LEN_EXTRA[i] = i < 8 ? 0 : ((i - 4) / 4) | 0;
    LEN_BASE[i] = base;
    for (let l = base; l < base + (1 << LEN_EXTRA[i]) && l < 259; l++) LEN_CODE[l] = i;
    base += 1 << LEN_EXTRA[i];
  }
  LEN_BASE[28] = 258; LEN_EXTRA[28] = 0; LEN_CODE[258] = 28;
  base = 1;
  for (let i = 0; i < 30; i++) {
    DIST_EXTRA[i] = i < 4 ? 0 : ((i - 2) / 2) | 0;
    DIST_BASE[i] = base;
    for (let d = base; d < base + (1 << DIST_EXTRA[i]); d++) {
      if (d <= 256) DIST_LO[d - 1] = i; else DIST_HI[(d - 1) >> 7] = i;
    }
    base += 1 << DIST_EXTRA[i];
  }
}
const distCode = (d) => (d <= 256 ? DIST_LO[d - 1] : DIST_HI[(d - 1) >> 7]);

class BitWriter {
  constructor(cap) { this.out = new Uint8Array(cap); this.pos = 0; this.buf = 0; this.cnt = 0; }
  put(v, n) {
    this.buf |= v << this.cnt;
    this.cnt += n;
    while (this.cnt >= 8) {
      if (this.pos === this.out.length) this.grow();
      this.out[this.pos++] = this.buf & 255;
      this.buf >>>= 8;
      this.cnt -= 8;
    }
  }
  grow() { const o = new Uint8Array(this.out.length * 2); o.set(this.out); this.out = o; }
}

// Huffman code lengths; ties broken by symbol number, over-long codes fixed by flattening frequencies.
function buildLengths(freqIn, n, limit) {
  const freq = Uint32Array.from(freqIn.subarray(0, n));
  const lens = new Uint8Array(n);
  const w = new Float64Array(2 * n), parent = new Int32Array(2 * n), depth = new Int32Array(2 * n);
  for (;;) {
    const sym = [];
    for (let i = 0; i < n; i++) if (freq[i]) sym.push(i);
    const m = sym.length;
    if (m < 2) {
      const s = m ? sym[0] : 0;
      lens[s] = 1;
      lens[s === 0 ? 1 : 0] = 1;
      return lens;
    }
    sym.sort((x, y) => freq[x] - freq[y] || x - y);
    for (let i = 0; i < m; i++) w[i] = freq[sym[i]];
    let li = 0, qi = m, qn = m;
    for (let t = 0; t < m - 1; t++) {
      const pick = [0, 0];
      for (let k = 0; k < 2; k++) {
        if (li < m && (qi >= qn || w[li] <= w[qi])) pick[k] = li++; else pick[k] = qi++;
      }
      w[qn] = w[pick[0]] + w[pick[1]];
      parent[pick[0]] = parent[pick[1]] = qn;
      qn++;
    }
    depth[qn - 1] = 0;
    for (let i = qn - 2; i >= 0; i--) depth[i] = depth[parent[i]] + 1;
    let maxd = 0;
    for (let i = 0; i < m; i++) if (depth[i] > maxd) maxd = depth[i];
    if (maxd <= limit) {
      for (let i = 0; i < m; i++) lens[sym[i]] = depth[i];
      return lens;
    }
    for (let i = 0; i < n; i++) if (freq[i]) freq[i] = (freq[i] >>> 1) + 1;
  }
}

function makeCodes(lens) {
  const count = new Uint16Array(16), next = new Uint16Array(16), codes = new Uint16Array(lens.length);
  for (const l of lens) count[l]++;
  count[0] = 0;
  let code = 0;
  for (let b = 1; b < 16; b++) { code = (code + count[b - 1]) << 1; next[b] = code; }
  for (let i = 0; i < lens.length; i++) {
    const len = lens[i];
    if (!len) continue;
    let c = next[len]++, r = 0;
    for (let k = 0; k < len; k++) { r = (r << 1) | (c & 1); c >>= 1; }
    codes[i] = r;
  }
  return codes;
}

function writeBlock(w, ll, dd, nsym, final) {
  const lf = new Uint32Array(286), df = new Uint32Array(30), cf = new Uint32Array(19);
  for (let i = 0; i < nsym; i++) {
    if (dd[i] === 0) lf[ll[i]]++;
    else { lf[257 + LEN_CODE[ll[i]]]++; df[distCode(dd[i])]++; }
  }
  lf[256] = 1;
  const llen = buildLengths(lf, 286, 15), dlen = buildLengths(df, 30, 15);
  const lcode = makeCodes(llen), dcode = makeCodes(dlen);
  let hlit = 286, hdist = 30;
  while (hlit > 257 && llen[hlit - 1] === 0) hlit--;
  while (hdist > 1 && dlen[hdist - 1] === 0) hdist--;
  const all = [...llen.subarray(0, hlit), ...dlen.subarray(0, hdist)];
  const rle = [], extra = [];
  const na = all.length;
  for (let i = 0; i < na;) {
    const v = all[i];
    let run = 1;
    while (i + run < na && all[i + run] === v) run++;
    i += run;
    if (v === 0) {
      while (run >= 11) { const r = Math.min(run, 138); rle.push(18); extra.push(r - 11); run -= r; }
      if (run >= 3) { rle.push(17); extra.push(run - 3); run = 0; }
      while (run > 0) { rle.push(0); extra.push(0); run--; }
    } else {
      rle.push(v); extra.push(0); run--;
      while (run >= 3) { const r = Math.min(run, 6); rle.push(16); extra.push(r - 3); run -= r; }
      while (run > 0) { rle.push(v); extra.push(0); run--; }
    }
  }
  for (const s of rle) cf[s]++;
  const clen = buildLengths(cf, 19, 7), ccode = makeCodes(clen);
  let hclen = 19;
  while (hclen > 4 && clen[CL_ORDER[hclen - 1]] === 0) hclen--;
  w.put(final, 1);
  w.put(2, 2);
  w.put(hlit - 257, 5);
  w.put(hdist - 1, 5);
  w.put(hclen - 4, 4);
  for (let i = 0; i < hclen; i++) w.put(clen[CL_ORDER[i]], 3);
  for (let i = 0; i < rle.length; i++) {
    const s = rle[i];
    w.put(ccode[s], clen[s]);
    if (s === 16) w.put(extra[i], 2);
    else if (s === 17) w.put(extra[i], 3);
    else if (s === 18) w.put(extra[i], 7);
  }
  for (let i = 0; i < nsym; i++) {
    const l = ll[i], d = dd[i];
    if (d === 0) { w.put(lcode[l], llen[l]); continue; }
    const lc = LEN_CODE[l], dc = distCode(d);
    w.put(lcode[257 + lc], llen[257 + lc]);
    if (LEN_EXTRA[lc]) w.put(l - LEN_BASE[lc], LEN_EXTRA[lc]);
    w.put(dcode[dc], dlen[dc]);
    if (DIST_EXTRA[dc]) w.put(d - DIST_BASE[dc], DIST_EXTRA[dc]);
  }
  w.put(lcode[256], llen[256]);
}

const WSIZE = 32768, WMASK = WSIZE - 1, HSIZE = 32768, BLOCK_SYMS = 16384;
const CHAIN = [0, 4, 8, 16, 32, 64, 128, 256, 1024, 4096];
const NICE = [0, 8, 16, 32, 32, 64, 128, 128, 258, 258];

export function zlibCompress(input, level = 6) {
  level = Math.max(1, Math.min(9, level));
  const n = input.length;
  const head = new Int32Array(HSIZE).fill(-1), prev = new Int32Array(WSIZE);
  const ll = new Uint16Array(BLOCK_SYMS), dd = new Uint16Array(BLOCK_SYMS);
  const w = new BitWriter((n + (n >>> 3) + 1024) | 0);
  w.put(0x78, 8);
  w.put(0x9c, 8);
  const chain = CHAIN[level], nice = NICE[level];
  let nsym = 0, pos = 0;
  while (pos < n) {
    let best = 0, bestd = 0;
    if (pos + 3 <= n) {
      const h = ((input[pos] << 10) ^ (input[pos + 1] << 5) ^ input[pos + 2]) & (HSIZE - 1);
      let cand = head[h];
      head[h] = pos;
      prev[pos & WMASK] = cand;
      const maxlen = Math.min(n - pos, 258);
      let tries = chain;
      while (cand >= 0 && pos - cand < WSIZE && tries-- > 0) {
        if (input[cand + best] === input[pos + best]) {
          let l = 0;
          while (l < maxlen && input[cand + l] === input[pos + l]) l++;
          if (l > best) {
            best = l; bestd = pos - cand;
            if (l >= nice || l === maxlen) break;
          }
        }
        cand = prev[cand & WMASK];
      }
    }
    if (best >= 3) {
      ll[nsym] = best; dd[nsym++] = bestd;
      const end = Math.min(pos + best, n - 2);
      for (let p = pos + 1; p < end; p++) {
        const h = ((input[p] << 10) ^ (input[p + 1] << 5) ^ input[p + 2]) & (HSIZE - 1);
        prev[p & WMASK] = head[h];
        head[h] = p;
      }
      pos += best;
    } else {
      ll[nsym] = input[pos]; dd[nsym++] = 0;
      pos++;
    }
    if (nsym === BLOCK_SYMS) { writeBlock(w, ll, dd, nsym, 0); nsym = 0; }
  }
  writeBlock(w, ll, dd, nsym, 1);
  if (w.cnt > 0) w.put(0, 8 - w.cnt);
  const ad = adler32(input);
  for (let s = 24; s >= 0; s -= 8) w.put((ad >>> s) & 255, 8);
  return w.out.subarray(0, w.pos);
}

function paeth(a, b, c) {
  const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

// Per row, the filter with the smallest sum of |signed byte|; ties go to the lower filter number.
export function pngFilter(rgba, width, height) {
  const stride = width * 4;
  const out = new Uint8Array(height * (stride + 1));
  for (let y = 0; y < height; y++) {
    const cur = y * stride, up = cur - stride, o = y * (stride + 1);
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0;
    for (let i = 0; i < stride; i++) {
      const x = rgba[cur + i], a = i >= 4 ? rgba[cur + i - 4] : 0, b = y ? rgba[up + i] : 0;
      const c = y && i >= 4 ? rgba[up + i - 4] : 0;
      let v = x; s0 += v < 128 ? v : 256 - v;
      v = (x - a) & 255; s1 += v < 128 ? v : 256 - v;
      v = (x - b) & 255; s2 += v < 128 ? v : 256 - v;
      v = (x - ((a + b) >> 1)) & 255; s3 += v < 128 ? v : 256 - v;
      v = (x - paeth(a, b, c)) & 255; s4 += v < 128 ? v : 256 - v;
    }
    const s = [s0, s1, s2, s3, s4];
    let t = 0;
    for (let k = 1; k < 5; k++) if (s[k] < s[t]) t = k;
    out[o] = t;
    for (let i = 0; i < stride; i++) {
      const x = rgba[cur + i], a = i >= 4 ? rgba[cur + i - 4] : 0, b = y ? rgba[up + i] : 0;
      const c = y && i >= 4 ? rgba[up + i - 4] : 0;
      const pred = t === 0 ? 0 : t === 1 ? a : t === 2 ? b : t === 3 ? (a + b) >> 1 : paeth(a, b, c);
      out[o + 1 + i] = x - pred;
    }
  }
  return out;
}

function chunk(type, data) {
  const out = new Uint8Array(12 + data.length);
  const n = data.length;
  out[0] = n >>> 24; out[1] = n >>> 16; out[2] = n >>> 8; out[3] = n;
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  const c = crc32(out, 4, 8 + n);
  out[8 + n] = c >>> 24; out[9 + n] = c >>> 16; out[10 + n] = c >>> 8; out[11 + n] = c;
  return out;
}

export function pngEncode(rgba, width, height, level = 6, deflate = zlibCompress) {
  const z = deflate(pngFilter(rgba, width, height), level);
  const ihdr = new Uint8Array([width >>> 24, width >>> 16, width >>> 8, width, height >>> 24, height >>> 16,
    height >>> 8, height, 8, 6, 0, 0, 0]);
  const parts = [new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', z), chunk('IEND', new Uint8Array(0))];
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let pos = 0;
  for (const p of parts) { out.set(p, pos); pos += p.length; }
  return out;
}
