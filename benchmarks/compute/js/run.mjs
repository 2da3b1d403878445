// Node.js side of `benchmarks/compute.py`: runs one workload on the inputs the harness wrote to DIR,
// times warm-up + N runs with performance.now(), and prints one JSON line per implementation with the
// times and the SHA-256 of the output (hashing is outside the timed region).
//   node run.mjs DIR WORKLOAD RUNS WARMUP
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { matmul } from './matmul.mjs';
import { sha256 } from './sha256.mjs';
import { aes256ctr } from './aes.mjs';
import { pngEncode } from './png.mjs';

const [dir, workload, runsArg, warmupArg] = process.argv.slice(2);
const runs = Number(runsArg ?? 3), warmup = Number(warmupArg ?? 1);
const params = JSON.parse(readFileSync(join(dir, 'params.json'), 'utf8'));
const bytes = (name) => { const b = readFileSync(join(dir, name)); return new Uint8Array(b.buffer, b.byteOffset, b.length); };
const hex = (u8) => createHash('sha256').update(u8).digest('hex');

function time(impl, fn) {
  let out;
  for (let i = 0; i < warmup; i++) out = fn();
  const times = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    out = fn();
    times.push((performance.now() - t0) / 1000);
  }
  return { impl, out, times };
}

function report({ impl, out, times }, extra = {}) {
  process.stdout.write(JSON.stringify({ impl, workload, times, hash: hex(out), size: out.length, ...extra }) + '\n');
}

if (workload === 'matmul') {
  const n = params.matmul.n;
  const a = new Float32Array(bytes('matmul-a.f32').slice().buffer), b = new Float32Array(bytes('matmul-b.f32').slice().buffer);
  const c = new Float32Array(n * n);
  const r = time('js', () => matmul(a, b, c, n));
  report({ ...r, out: new Uint8Array(c.buffer) });
} else if (workload === 'png') {
  const { width, height, level } = params.png;
  const rgba = bytes('png-image.rgba');
  const r = time('js', () => pngEncode(rgba, width, height, level));
  writeFileSync(join(dir, 'png-js.png'), r.out);
  report(r, { file: 'png-js.png' });
  let pako = null;
  try { pako = await import('pako'); } catch { /* not installed: the harness reports the row as missing */ }
  if (pako) {
    const deflate = (data, lvl) => pako.deflate(data, { level: lvl });
    const p = time('js-lib', () => pngEncode(rgba, width, height, level, deflate));
    writeFileSync(join(dir, 'png-pako.png'), p.out);
    report(p, { file: 'png-pako.png', library: 'pako' });
  }
} else if (workload === 'aes') {
  const input = bytes('aes-plain.bin'), key = bytes('aes-key.bin'), iv = bytes('aes-iv.bin');
  const out = new Uint8Array(input.length);
  report(time('js', () => aes256ctr(key, iv, input, out)));
} else if (workload === 'sha256') {
  const input = bytes('sha-data.bin');
  report(time('js', () => sha256(input)));
} else {
  process.stderr.write(`unknown workload ${workload}\n`);
  process.exit(2);
}
