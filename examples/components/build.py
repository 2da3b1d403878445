"""Build the docs:math calculator providers into components.

    python examples/components/build.py              # all providers → examples/components/build/
    python examples/components/build.py c python     # only some

Each provider implements `wit/math.wit` (world `calculator`):
  python  componentize-py  python/app.py                       (~18 MB, ~6 s)
  c       zig cc + wasm-tools component embed/new, c/math.c   (canonical ABI by hand, ~3 KB)
  js      jco componentize (QuickJS backend), js/math.js       (needs `npm ci` in js/, ~1.6 MB)

The same commands by hand are in c/build.sh and js/package.json ("build" script). Builds are
cached by source hash (`wasmhive.app.toolchains`), so running this again is instant.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

from wasmhive.app import toolchains

HERE = Path(__file__).resolve().parent
WIT = HERE / "wit"
PROVIDERS = ("python", "c", "js")


def build_python(cache_dir: Path | None = None) -> Path:
    return toolchains.componentize_py(WIT, "docs:math/calculator", HERE / "python" / "app.py", cache_dir=cache_dir)


def build_c(cache_dir: Path | None = None) -> Path:
    core = toolchains.zig_cc(HERE / "c" / "math.c", target="wasm32-freestanding",
                             flags=("-nostdlib", "-O2", "-s", "-Wl,--no-entry"), cache_dir=cache_dir)
    return toolchains.component_new(core, adapter=None, wit=WIT / "math.wit", world="calculator",
                                    cache_dir=cache_dir)


def js_unavailable() -> str | None:
    """Why the JS provider cannot be built here (None if it can)."""
    if shutil.which("node") is None:
        return "node is not installed"
    if not (HERE / "js" / "node_modules" / "@bytecodealliance" / "jco").is_dir():
        return "run `npm ci` in examples/components/js first"
    return None


def build_js(cache_dir: Path | None = None) -> Path:
    why = js_unavailable()
    if why:
        raise toolchains.BuildError("jco", ["jco"], why)
    js = HERE / "js"
    jco = js / "node_modules" / "@bytecodealliance" / "jco"
    version = hashlib.sha256((jco / "package.json").read_bytes()).hexdigest()[:16]

    def build(dest: Path) -> None:
        cmd = ["node", "--import", "./preopen.mjs", str(jco / "dist" / "jco.js"), "componentize", "math.js",
               "--wit", str(WIT / "math.wit"), "--world-name", "calculator", "--backend", "quickjs",
               "-o", str(dest)]
        proc = subprocess.run(cmd, cwd=js, capture_output=True, text=True, timeout=600)
        if proc.returncode != 0 or not dest.is_file():
            raise toolchains.BuildError("jco", cmd, (proc.stdout + proc.stderr)[-2000:])

    return toolchains.build_cached("jco", [js / "math.js", js / "preopen.mjs", WIT / "math.wit"], build,
                                   flags=["quickjs"], tool_version=version, cache_dir=cache_dir)


BUILDERS = {"python": build_python, "c": build_c, "js": build_js}


def main(argv: list[str]) -> int:
    out = HERE / "build"
    out.mkdir(exist_ok=True)
    for name in argv or PROVIDERS:
        path = BUILDERS[name]()
        target = out / f"math-{name}.wasm"
        shutil.copyfile(path, target)
        print(f"{name:7} {target.relative_to(HERE.parent.parent)} ({target.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
