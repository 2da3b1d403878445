// The browser side of the compute benchmark: the same JS modules and Wasm builds as
// `wasmhive bench compute`, run side by side in this page. Results fill #results and are posted to
// /results (the server prints them; the headless-browser test reads them).
import { matmul } from '/js/matmul.mjs';
import { sha256 } from '/js/sha256.mjs';
import { aes256ctr } from '/js/aes.mjs';
import { pngEncode } from '/js/png.mjs';

const quick = new URLSearchParams(location.search).has('quick');
const S = quick
  ? { n: 192, w: 480, h: 270, aes: 1 << 20, sha: 4 << 20, runs: 3 }
  : { n: 1024, w: 3840, h: 2160, aes: 16 << 20, sha: 64 << 20, runs: 5 };
const status = (t) => { document.getElementById('status').textContent = t; };

function xorshift(seed) {
  let x = seed | 0;
  return () => { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; return x >>> 0; };
}

function bytes(n, seed) {
  const r = xorshift(seed), out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = r() & 255;
  return out;
}

function matrix(n, seed) {
  const r = xorshift(seed), m = new Float32Array(n * n);
  for (let i = 0; i < m.length; i++) m[i] = (r() % 17) - 8;  // small integers: exact in any order
  return m;
}

function image(w, h) {
  const r = xorshift(7), img = new Uint8Array(w * h * 4);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const o = (y * w + x) * 4, u = x / w, v = y / h, noise = (r() % 7) - 3;
      img[o] = Math.max(0, Math.min(255, 128 + 100 * Math.sin(6 * u + 2 * v) + noise));
      img[o + 1] = Math.max(0, Math.min(255, 128 + 90 * Math.cos(4 * v - 3 * u * v) + noise));
      img[o + 2] = Math.max(0, Math.min(255, 255 * u * v + noise));
      img[o + 3] = 255;
    }
  }
  return img;
}

async function hex(u8) {
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', u8));
  return Array.from(d, (b) => b.toString(16).padStart(2, '0')).join('');
}

async function loadWasm(url) {
  const { instance } = await WebAssembly.instantiateStreaming(fetch(url), {});
  return instance.exports;
}

// Inputs go into linear memory once; views are re-created after any allocation (memory may grow).
function place(ex, src) {
  const p = ex.bh_alloc(src.byteLength);
  new Uint8Array(ex.memory.buffer, p, src.byteLength).set(new Uint8Array(src.buffer, src.byteOffset, src.byteLength));
  return p;
}
const view = (ex, p, n) => new Uint8Array(ex.memory.buffer, p, n);

async function decodesTo(png, rgba, w, h) {
  const bmp = await createImageBitmap(new Blob([png], { type: 'image/png' }),
    { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  const canvas = new OffscreenCanvas(w, h), g = canvas.getContext('2d');
  g.drawImage(bmp, 0, 0);
  const px = g.getImageData(0, 0, w, h).data;
  for (let i = 0; i < px.length; i++) if (px[i] !== rgba[i]) return false;
  return true;
}

const fmt = (ms) => (ms == null ? '—' : ms >= 100 ? `${ms.toFixed(0)} ms` : `${ms.toFixed(1)} ms`);

async function main() {
  const scalar = await loadWasm('/wasm/compute.wasm');
  const simdBytes = await (await fetch('/wasm/compute-simd.wasm')).arrayBuffer();
  const simdOk = WebAssembly.validate(simdBytes);
  const simd = simdOk ? (await WebAssembly.instantiate(simdBytes, {})).instance.exports : null;
  let pako = null;
  try { pako = await import('/js/pako.mjs'); } catch { /* the JS lib column stays empty */ }
  const rows = [];
  const results = [];
  const builds = [['wasm', scalar], ['wasm-simd', simd]].filter(([, ex]) => ex);
  const tick = () => new Promise((r) => setTimeout(r, 0));  // let the page paint

  // One workload: every implementation runs once (the checked output, and its warm-up), then the timed
  // runs go round-robin, one run of each implementation per round, so load changes hit them alike.
  async function workload(label, js, setup, extraCheck = async () => true) {
    const marks = builds.map(([, ex]) => [ex, ex.bh_mark()]);
    try {
      const cands = [...js, ...builds.map(([key, ex]) => ({ key, ...setup(ex) }))];
      status(`${label}: checking outputs`);
      for (const c of cands) { c.run(); c.out = c.output(); c.hash = await hex(c.out); c.times = []; }
      for (let r = 0; r < S.runs; r++) {
        status(`${label}: round ${r + 1}/${S.runs}`);
        await tick();
        for (const c of cands) {
          const t0 = performance.now();
          c.run();
          c.times.push(performance.now() - t0);
        }
      }
      const by = Object.fromEntries(cands.map((c) => {
        const t = [...c.times].sort((a, b) => a - b);
        return [c.key, { ms: t[t.length >> 1], hash: c.hash, out: c.out }];
      }));
      const same = ['wasm', 'wasm-simd'].every((k) => !by[k] || by[k].hash === by.js.hash);
      const ok = same && await extraCheck(by);
      const best = Math.min(...['wasm', 'wasm-simd'].filter((k) => by[k]).map((k) => by[k].ms));
      rows.push([label, fmt(by.js.ms), fmt(by['js-lib']?.ms), fmt(by.wasm?.ms), fmt(by['wasm-simd']?.ms),
        `${(by.js.ms / best).toFixed(1)}x`, ok ? 'match' : 'MISMATCH']);
      results.push({ label, ok, js: by.js.ms, lib: by['js-lib']?.ms ?? null, wasm: by.wasm?.ms ?? null,
        wasmSimd: by['wasm-simd']?.ms ?? null });
      render(rows);
    } finally {
      for (const [ex, mark] of marks) ex.bh_release(mark);
    }
  }

  // matmul
  const A = matrix(S.n, 1), B = matrix(S.n, 2), C = new Float32Array(S.n * S.n);
  await workload(`matmul ${S.n}x${S.n} f32`,
    [{ key: 'js', run: () => matmul(A, B, C, S.n), output: () => new Uint8Array(C.buffer).slice() }], (ex) => {
      const pa = place(ex, A), pb = place(ex, B), pc = ex.bh_alloc(S.n * S.n * 4);
      return { run: () => ex.matmul(pa, pb, pc, S.n), output: () => view(ex, pc, S.n * S.n * 4).slice() };
    });

  // PNG: ours in JS and Wasm must be the same bytes; those and pako's must decode (in Chromium) to the pixels.
  const img = image(S.w, S.h);
  let jsPng = null, pakoPng = null;
  const pngJs = [{ key: 'js', run: () => { jsPng = pngEncode(img, S.w, S.h, 6); }, output: () => jsPng }];
  if (pako) {
    const deflate = (d, level) => pako.deflate(d, { level });
    pngJs.push({ key: 'js-lib', run: () => { pakoPng = pngEncode(img, S.w, S.h, 6, deflate); }, output: () => pakoPng });
  }
  await workload(`PNG encode ${S.w}x${S.h} RGBA`, pngJs, (ex) => {
    const cap = img.length + (img.length >> 3) + 4096;
    const pi = place(ex, img), po = ex.bh_alloc(cap);
    let size = 0;
    return { run: () => { size = ex.png_encode(pi, S.w, S.h, 6, po, cap); }, output: () => view(ex, po, size).slice() };
  }, async (by) => await decodesTo((by.wasm ?? by.js).out, img, S.w, S.h)
      && (!by['js-lib'] || await decodesTo(by['js-lib'].out, img, S.w, S.h)));

  // AES
  const key = bytes(32, 3), iv = bytes(16, 4), plain = bytes(S.aes, 5), ct = new Uint8Array(S.aes);
  await workload(`AES-256-CTR ${S.aes >> 20} MiB`,
    [{ key: 'js', run: () => aes256ctr(key, iv, plain, ct), output: () => ct.slice() }], (ex) => {
      const pk = place(ex, key), pv = place(ex, iv), pi = place(ex, plain), po = ex.bh_alloc(S.aes);
      return { run: () => ex.aes256_ctr(pk, pv, pi, po, S.aes), output: () => view(ex, po, S.aes).slice() };
    });

  // SHA-256
  const data = bytes(S.sha, 6);
  let digest = null;
  await workload(`SHA-256 ${S.sha >> 20} MiB`,
    [{ key: 'js', run: () => { digest = sha256(data); }, output: () => digest }], (ex) => {
      const pi = place(ex, data), po = ex.bh_alloc(32);
      return { run: () => ex.sha256(pi, S.sha, po), output: () => view(ex, po, 32).slice() };
    });

  status(`done (${quick ? 'quick' : 'full'} sizes; SIMD ${simdOk ? 'on' : 'not supported'})`);
  document.body.dataset.done = '1';
  return { rows, results, quick, simd: simdOk, userAgent: navigator.userAgent };
}

function render(rows) {
  const tbody = document.querySelector('#results tbody');
  tbody.replaceChildren(...rows.map((r) => {
    const tr = document.createElement('tr');
    for (const c of r) { const td = document.createElement('td'); td.textContent = c; tr.append(td); }
    return tr;
  }));
}

main().then(
  (report) => fetch('/results', { method: 'POST', body: JSON.stringify(report) }),
  (err) => {
    status(`error: ${err}`);
    return fetch('/results', { method: 'POST', body: JSON.stringify({ error: String(err && err.stack || err) }) });
  },
);
