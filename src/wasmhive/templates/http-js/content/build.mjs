// Build app.wasm with `jco componentize`, after two fixes this jco release needs here:
//  1. wit/deps/ gets the wasi 0.2.12 packages jco ships (lib/wit/builtin), so nothing is vendored;
//  2. every bundled copy of @bytecodealliance/preview2-shim preopens "/" (0.26 stopped doing it under
//     Node, and jco then cannot read any file: "failed to get path metadata").
import { cpSync, existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const builtin = "node_modules/@bytecodealliance/jco/lib/wit/builtin/0.2.12";
for (const pkg of readdirSync(builtin)) {
  if (!existsSync(join("wit/deps", pkg))) cpSync(join(builtin, pkg), join("wit/deps", pkg), { recursive: true });
}

function* shims(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (name === "preview2-shim") yield join(path, "dist/nodejs/filesystem.js");
    else if (statSync(path).isDirectory() && (name === "node_modules" || name.startsWith("@") || dir.endsWith("node_modules")
             || dir.endsWith("@bytecodealliance"))) yield* shims(path);
  }
}
for (const shim of shims("node_modules")) {
  if (existsSync(shim)) (await import(pathToFileURL(shim).href))._setPreopens({ "/": "/" });
}

process.argv = [process.argv[0], "jco", "componentize", "app.js", "--wit", "wit", "--world-name", "app", "-o", "app.wasm"];
await import(pathToFileURL("node_modules/@bytecodealliance/jco/dist/jco.js").href);
