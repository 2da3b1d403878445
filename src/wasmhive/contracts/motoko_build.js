// Compile a Motoko actor to canister Wasm offline (npm `motoko`, bundled core library).
// usage: node motoko_build.js MOTOKO_DIR IN.mo OUT.wasm [OUT.did]
// Every .mo file in the source's directory is loaded, so actors may import siblings.
const fs = require('fs');
const path = require('path');
const [modDir, src, out, didOut] = process.argv.slice(2);
const mo = require(path.join(modDir, 'motoko'));
mo.loadPackage(require(path.join(modDir, 'motoko/packages/latest/core.json')));
const dir = path.dirname(path.resolve(src));
for (const f of fs.readdirSync(dir)) {
  if (f.endsWith('.mo')) mo.write(f, fs.readFileSync(path.join(dir, f), 'utf8'));
}
const main = path.basename(src);
const diags = mo.check(main) || [];
const errors = diags.filter((d) => d.severity === 1);
for (const d of diags) {
  const line = d.range ? d.range.start.line + 1 : 0;
  process.stderr.write(`${d.source || main}:${line}: ${d.severity === 1 ? 'error' : 'warning'}: ${d.message}\n`);
}
if (errors.length) process.exit(2);
const res = mo.wasm(main, 'ic');
fs.writeFileSync(out, Buffer.from(res.wasm));
if (didOut) fs.writeFileSync(didOut, res.candid);
