#!/usr/bin/env bash
# One command: install wasmhive and everything its guests, tests and benchmarks need into ./.venv,
# then run the main job on the embedded defaults. Each step says what it does and roughly how long it
# takes, so a slow step never looks like a hang.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
step() { printf '== %s\n' "$*"; }

if [ ! -x .venv/bin/python ]; then
  step "[1/4] creating the virtual environment .venv with $("$PY" --version 2>&1)"
  "$PY" -m venv .venv
else
  step "[1/4] using the existing .venv"
fi
step "[2/4] installing wasmhive with its guest toolchains (zig, componentize-py, wasm-tools) and test tools"
step "      from PyPI: about a minute and ~1 GB the first time, seconds afterwards"
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
# pip's own output, cut to one line per package fetched or built (none when everything is up to date);
# all of it goes to .venv/install.log, whose end is shown if pip fails.
if ! .venv/bin/python -m pip install --disable-pip-version-check -e ".[dev]" 2>&1 | tee .venv/install.log \
    | { grep --line-buffered -E '^(Collecting|Building|Successfully)' || true; }; then
  echo "error: pip failed; the end of .venv/install.log:" >&2
  tail -n 30 .venv/install.log >&2
  exit 1
fi
step "      installed wasmhive $(.venv/bin/wasmhive --version | awk '{print $NF}')"
if [ "${WASMHIVE_INSTALL_ONLY:-}" = "1" ]; then
  step "done (WASMHIVE_INSTALL_ONLY=1). Next: . .venv/bin/activate"
  exit 0
fi
step "[3/4] running a guest: wasmhive run examples/hello/hello.wat"
.venv/bin/wasmhive run examples/hello/hello.wat
# The main job: build the example app (Python component + C WAGI module) and serve it on embedded
# defaults (SQLite key-value under examples/app/.wasmhive/).
step "[4/4] building examples/app: componentize-py (~20 s) and zig (~20 s the first time, for wasi-libc)"
.venv/bin/wasmhive build examples/app
step "serving examples/app on http://127.0.0.1:3000 (Ctrl-C to stop); in another terminal try:"
echo "   curl http://127.0.0.1:3000/   curl http://127.0.0.1:3000/api/hello   curl http://127.0.0.1:3000/cgi/info"
echo "   then: . .venv/bin/activate   (puts wasmhive and python on PATH, as the README's commands expect)"
exec .venv/bin/wasmhive up examples/app
