// Node.js side of `benchmarks/compute.py`, as a worker the harness drives over stdin/stdout (one JSON
// command per line, one JSON answer per line), so JS runs interleave with the other implementations:
//   {"cmd": "setup", "workload": "png"}  -> {"impls": [{"impl", "hash", "size", "file"?}, ...]}
//       loads the inputs the harness wrote to DIR, runs each implementation once (the output that is
//       checked, and the first warm-up), hashes the output (SHA-256) outside any timed region;
//   {"cmd": "time", "workload": "png", "impl": "js"} -> {"seconds": ...}   one timed run (performance.now()).
//   node run.mjs DIR
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { matmul } from './matmul.mjs';
import { sha256 } from './sha256.mjs';
import { aes256ctr } from './aes.mjs';
import { pngEncode } from './png.mjs';

const dir = process.argv[2];
const params = JSON.parse(readFileSync(join(dir, 'params.json'), 'utf8'));
const bytes = (name) => { const b = readFileSync(join(dir, name)); return new Uint8Array(b.buffer, b.byteOffset, b.length); };
const hex = (u8) => createHash('sha256').update(u8).digest('hex');
const runners = {};  // "workload/impl" -> () => output bytes

async function setup(workload) {
  const found = [];
  const add = (impl, fn, file) => { runners[`${workload}/${impl}`] = fn; found.push({ impl, fn, file }); };
  if (workload === 'matmul') {
    const n = params.matmul.n;
    const a = new Float32Array(bytes('matmul-a.f32').slice().buffer), b = new Float32Array(bytes('matmul-b.f32').slice().buffer);
    const c = new Float32Array(n * n);
    add('js', () => { matmul(a, b, c, n); return new Uint8Array(c.buffer); });
  } else if (workload === 'png') {
    const { width, height, level } = params.png;
    const rgba = bytes('png-image.rgba');
    add('js', () => pngEncode(rgba, width, height, level), 'png-js.png');
    let pako = null;
    try { pako = await import('pako'); } catch { /* not installed: the harness reports the column as missing */ }
    if (pako) {
      const deflate = (data, lvl) => pako.deflate(data, { level: lvl });
      add('js-lib', () => pngEncode(rgba, width, height, level, deflate), 'png-pako.png');
    }
  } else if (workload === 'aes') {
    const input = bytes('aes-plain.bin'), key = bytes('aes-key.bin'), iv = bytes('aes-iv.bin');
    const out = new Uint8Array(input.length);
    add('js', () => aes256ctr(key, iv, input, out));
  } else if (workload === 'sha256') {
    const input = bytes('sha-data.bin');
    add('js', () => sha256(input));
  } else {
    throw new Error(`unknown workload ${workload}`);
  }
  return {
    impls: found.map(({ impl, fn, file }) => {
      const out = fn();
      if (file) writeFileSync(join(dir, file), out);
      return { impl, hash: hex(out), size: out.length, file, library: impl === 'js-lib' ? 'pako' : undefined };
    }),
  };
}

function timeOnce(workload, impl) {
  const fn = runners[`${workload}/${impl}`];
  if (!fn) throw new Error(`not set up: ${workload}/${impl}`);
  const t0 = performance.now();
  fn();
  return { seconds: (performance.now() - t0) / 1000 };
}

const rl = createInterface({ input: process.stdin, terminal: false });
for await (const line of rl) {
  if (!line.trim()) continue;
  let answer;
  try {
    const cmd = JSON.parse(line);
    answer = cmd.cmd === 'setup' ? await setup(cmd.workload) : timeOnce(cmd.workload, cmd.impl);
  } catch (e) {
    answer = { error: String(e && e.stack || e) };
  }
  process.stdout.write(JSON.stringify(answer) + '\n');
}
