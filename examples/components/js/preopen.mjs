// jco's bundled @bytecodealliance/preview2-shim no longer preopens "/" under Node, so jco cannot read
// its input files ("failed to get path metadata ... os error 44"). Preload this to restore it:
//   node --import ./preopen.mjs node_modules/@bytecodealliance/jco/dist/jco.js componentize ...
// Several copies of the shim may be installed (jco's and jco-transpile's): fix each one.
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const shim = "@bytecodealliance/preview2-shim/dist/nodejs/filesystem.js";
for (const prefix of [
  "node_modules",
  "node_modules/@bytecodealliance/jco/node_modules",
  "node_modules/@bytecodealliance/jco-transpile/node_modules",
]) {
  const file = join(here, prefix, shim);
  if (existsSync(file)) {
    const { _setPreopens } = await import(pathToFileURL(file).href);
    _setPreopens({ "/": "/" });
  }
}
