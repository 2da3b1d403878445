"""What a module must be to become a canister, checked before anything else reads it.

Deploy and upgrade take untrusted bytes. They pass, in order: the size limit (before any parsing),
wasmtime's validator (so the rewriter in `_wasm` only ever walks valid Wasm), the rewriter itself, and
the canister rules (a core module whose only imports are `ic0` functions). Each refusal is one
`InvalidModule` line that says what is wrong.
"""

from __future__ import annotations

import wasmtime

from ..errors import InvalidModule
from ..runtime._loader import explain_compile_error
from ._types import ContractLimits
from ._wasm import ModuleInfo, instrument

__all__ = ["admit"]

_KIND = {0: "function", 1: "table", 2: "memory", 3: "global", 4: "tag"}


def admit(wasm: bytes, engine: wasmtime.Engine, limits: ContractLimits) -> tuple[bytes, ModuleInfo]:
    """Check `wasm` as a canister module; returns (instrumented bytes, info) or raises `InvalidModule`."""
    if len(wasm) > limits.max_module_size:
        raise InvalidModule(f"canister module is {len(wasm):_} bytes, more than the limit of "
                            f"{limits.max_module_size:_} (ContractLimits.max_module_size)")
    if wasm[:4] != b"\0asm":
        raise InvalidModule("not a WebAssembly module (no \\0asm header)")
    if wasm[4:8] != b"\x01\0\0\0":
        raise InvalidModule("a component or an unknown Wasm version: canisters are core modules (version 1)")
    try:
        wasmtime.Module.validate(engine, wasm)
    except wasmtime.WasmtimeError as e:
        raise explain_compile_error(e, wasm, "canister module") from None
    try:
        instrumented, info = instrument(wasm)
    except InvalidModule:
        raise
    except (IndexError, ValueError, KeyError, OverflowError) as e:  # valid Wasm the rewriter cannot read
        raise InvalidModule(f"canister module not supported by the contract VM's rewriter ({type(e).__name__}: "
                            f"{e})") from None
    foreign = [(m, n, k) for m, n, k in info.imports if m != "ic0" or k != 0]
    if foreign:
        m, n, k = foreign[0]
        hint = " (a WASI program? run it with `wasmhive run`)" if m.startswith("wasi") else ""
        raise InvalidModule(f"a canister may import only ic0 functions, this module imports the {_KIND.get(k, '?')} "
                            f"{m}.{n}{hint}" + (f" and {len(foreign) - 1} more" if len(foreign) > 1 else ""))
    return instrumented, info
