#!/usr/bin/env bash
# One command: install wasmhive and everything its guests, tests and benchmarks need into ./.venv,
# then run the main job on the embedded defaults.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[dev]"
if [ "${WASMHIVE_INSTALL_ONLY:-}" = "1" ]; then
  exit 0
fi
echo "== wasmhive $(.venv/bin/wasmhive --version)"
.venv/bin/wasmhive run examples/hello/hello.wat
# The main job: build the example app (Python component + C WAGI module) and serve it on embedded
# defaults (SQLite key-value under examples/app/.wasmhive/). Try: curl http://127.0.0.1:3000/api/hello
.venv/bin/wasmhive build examples/app
echo "== serving examples/app on http://127.0.0.1:3000 (Ctrl-C to stop); try:"
echo "   curl http://127.0.0.1:3000/   curl http://127.0.0.1:3000/api/hello   curl http://127.0.0.1:3000/cgi/info"
exec .venv/bin/wasmhive up examples/app
