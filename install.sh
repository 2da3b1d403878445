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
