#!/bin/sh
# Build the C provider: a freestanding core module, then a component with its WIT embedded.
set -eu
cd "$(dirname "$0")"
python -m ziglang cc --target=wasm32-freestanding -nostdlib -O2 -s -Wl,--no-entry math.c -o core.wasm
wasm-tools component embed ../wit/math.wit core.wasm --world calculator -o embed.wasm
wasm-tools component new embed.wasm -o math-c.wasm
rm -f core.wasm embed.wasm
