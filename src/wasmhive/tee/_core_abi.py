"""The TEE for C (core-module) guests: functions in the import module `wasmhive_tee`.

Every function takes (pointer, length) pairs into the guest's exported `memory` and returns an `i32`:
a length (>= 0) on success or a negative error code (see `wasmhive_tee.h`, shipped beside this file).
Each pointer/length pair is checked against the memory's current size before any byte is read or
written; an output that does not fit is `WASMHIVE_TEE_E_SPACE` and nothing is written. `last_error`
copies the message of the instance's last failure.

    int32_t seal(int32_t policy, const uint8_t *data, uint32_t len, uint8_t *out, uint32_t cap);
    int32_t unseal(const uint8_t *sealed, uint32_t len, uint8_t *out, uint32_t cap);
    int32_t report(const uint8_t *nonce, uint32_t nlen, const uint8_t *user, uint32_t ulen,
                   uint8_t *out, uint32_t cap);       // evidence token (ASCII)
    int32_t measurement(uint8_t *out, uint32_t cap);  // 64 hex digits
    int32_t last_error(uint8_t *out, uint32_t cap);
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import wasmtime

from ..errors import AttestationError, GuestExit, InvalidModule, SealingError, WasmhiveError
from ._guest import TeeGuest

__all__ = ["ERRORS", "MODULE", "POLICY_CODES", "define_core", "run_command"]

log = logging.getLogger("wasmhive.tee")

MODULE = "wasmhive_tee"
POLICY_CODES = {1: "same-code", 2: "same-signer"}
# error code -> SealingError.reason (or the ABI's own failures); keep in step with wasmhive_tee.h
ERRORS = {"denied": -1, "fault": -2, "space": -3, "invalid": -4, "other-code": -5, "other-signer": -6,
          "old-version": -7, "unsigned": -8, "tampered": -9, "attestation": -10}


class _Fault(Exception):
    """A pointer/length outside the guest's memory."""


class _Space(Exception):
    """The output buffer is too small."""


def define_core(linker: wasmtime.Linker, guest: TeeGuest) -> None:
    """Define the `wasmhive_tee` functions on a core linker for `guest` (one linker per guest identity)."""
    i32 = wasmtime.ValType.i32()
    last: dict[str, str] = {"error": ""}

    def mem(caller: wasmtime.Caller) -> wasmtime.Memory:
        m = caller.get("memory")
        if not isinstance(m, wasmtime.Memory):
            raise _Fault("the module exports no memory named `memory`")
        return m

    def span(caller: wasmtime.Caller, ptr: int, length: int) -> tuple[wasmtime.Memory, int, int]:
        m = mem(caller)
        p, n = ptr & 0xFFFFFFFF, length & 0xFFFFFFFF
        if p + n > m.data_len(caller):
            raise _Fault(f"pointer {p} + length {n} is outside the guest's memory ({m.data_len(caller)} bytes)")
        return m, p, n

    def read(caller: wasmtime.Caller, ptr: int, length: int) -> bytes:
        m, p, n = span(caller, ptr, length)
        return bytes(m.read(caller, p, p + n)) if n else b""

    def write(caller: wasmtime.Caller, ptr: int, cap: int, data: bytes) -> int:
        m, p, n = span(caller, ptr, cap)
        if len(data) > n:
            raise _Space(f"the output needs {len(data)} bytes; the buffer has {n}")
        if data:
            m.write(caller, data, p)
        return len(data)

    def abi(fn: Callable[..., int]) -> Callable[..., int]:
        # Every failure becomes an error code (never a Python exception through wasmtime).
        def wrapper(caller: wasmtime.Caller, *args: int) -> int:
            try:
                return fn(caller, *args)
            except _Fault as e:
                last["error"] = str(e)
                return ERRORS["fault"]
            except _Space as e:
                last["error"] = str(e)
                return ERRORS["space"]
            except SealingError as e:
                last["error"] = str(e)
                return ERRORS.get(e.reason, ERRORS["invalid"])
            except AttestationError as e:
                last["error"] = str(e)
                return ERRORS["denied"] if "not granted" in str(e) else ERRORS["attestation"]
            except Exception as e:
                log.exception("wasmhive_tee host call failed")
                last["error"] = f"internal error: {e}"
                return ERRORS["invalid"]
        return wrapper

    def seal(caller: wasmtime.Caller, policy: int, ptr: int, length: int, out: int, cap: int) -> int:
        name = POLICY_CODES.get(policy)
        if name is None:
            raise SealingError(f"unknown policy {policy} (1 = same code, 2 = same signer)")
        return write(caller, out, cap, guest.seal(read(caller, ptr, length), name))

    def unseal(caller: wasmtime.Caller, ptr: int, length: int, out: int, cap: int) -> int:
        return write(caller, out, cap, guest.unseal(read(caller, ptr, length)))

    def report(caller: wasmtime.Caller, nptr: int, nlen: int, uptr: int, ulen: int, out: int, cap: int) -> int:
        token = guest.report(read(caller, nptr, nlen), read(caller, uptr, ulen))
        return write(caller, out, cap, token.encode())

    def measurement(caller: wasmtime.Caller, out: int, cap: int) -> int:
        return write(caller, out, cap, guest.identity.measurement.encode())

    def last_error(caller: wasmtime.Caller, out: int, cap: int) -> int:
        _, _, n = span(caller, out, cap)
        return write(caller, out, cap, last["error"].encode()[:n])

    for name, fn, nparams in (("seal", seal, 5), ("unseal", unseal, 4), ("report", report, 6),
                              ("measurement", measurement, 2), ("last_error", last_error, 2)):
        linker.define_func(MODULE, name, wasmtime.FuncType([i32] * nparams, [i32]), abi(fn), access_caller=True)


def run_command(runtime: Any, source: Any, guest_for: Callable[[str], TeeGuest], *, sandbox: Any = None,
                limits: Any = None) -> Any:
    """Run a WASI command module with the `wasmhive_tee` functions; returns a `RunResult`.

    `guest_for(measurement)` builds the guest's `TeeGuest` once the module is loaded and measured (its
    measurement is the SHA-256 of the bytes actually compiled).
    """
    import time

    from ..runtime import RunResult, Sandbox

    compiled = runtime.as_compiled(source)
    if compiled.kind != "module":
        raise WasmhiveError(f"{compiled.name}: the wasmhive_tee functions are for core modules; components "
                            "import wasmhive:tee/sealing instead")
    linker = wasmtime.Linker(runtime.engine)
    linker.define_wasi()
    define_core(linker, guest_for(compiled.sha256))
    t0 = time.perf_counter()
    inst = runtime.instantiate(compiled, sandbox=sandbox or Sandbox(), limits=limits, linker=linker)
    if "_start" not in inst.exports:
        inst.close()
        raise InvalidModule("not a WASI command: it exports no `_start` function", source=compiled.name)
    code = 0
    try:
        inst.call("_start")
    except GuestExit as e:
        code = e.code
    finally:
        inst.close()
    result = RunResult(code, duration=time.perf_counter() - t0, captures=inst.captures)
    result.stdout = inst.captures["stdout"].getvalue() if "stdout" in inst.captures else b""
    result.stderr = inst.captures["stderr"].getvalue() if "stderr" in inst.captures else b""
    return result
