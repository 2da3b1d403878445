"""The IC System API (`ic0.*`) as host functions, for 32-bit and 64-bit (memory64) canisters alike.

Each import is defined with the exact type the module declares (i32 or i64 pointers and sizes), so one
Python implementation serves both. Functions the VM does not offer are still defined (the module must
instantiate) and trap with a clear message if called.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable
from typing import Any, Protocol

import wasmtime

from ._context import Call, MessageContext
from ._fastcall import define_raw
from ._principal import Principal
from ._types import BYTE_FEE, CALL_FEE, MAX_RESPONSE_BYTES, RESPONSE_RESERVE, SYS_TRANSIENT

__all__ = ["define_ic0"]

log = logging.getLogger("wasmhive.contracts")
_REPLY_KINDS = {"update", "query", "reply", "reject", "composite_query"}
_CALL_KINDS = {"update", "reply", "reject", "timer", "heartbeat", "composite_query"}  # may make calls


class Canister(Protocol):
    """What the system API needs of the canister it is bound to (`_canister.Canister` is the one)."""

    vm: Any
    id: Principal
    name: str
    controllers: list[bytes]
    cycles: int
    timer: int
    outstanding_calls: int
    version: int
    certified: bytes
    stable: bytearray
    ctx: MessageContext
    keep: list[Any]
    store: Any

    def read(self, ptr: int, size: int) -> bytes: ...

    def write(self, ptr: int, data: bytes) -> None: ...

    def trap(self, message: str) -> Exception: ...

    def stable_write(self, offset: int, data: bytes) -> None: ...

    def stable_grow(self, pages: int, limit_pages: int) -> int: ...


def _u128(value: int) -> bytes:
    return struct.pack("<QQ", value & 0xFFFFFFFFFFFFFFFF, value >> 64)


def define_ic0(linker: wasmtime.Linker, module: wasmtime.Module, c: Canister) -> None:
    """Define every `ic0` import of `module` in `linker`, bound to canister `c`."""
    api = _api(c)

    def on_error(e: BaseException) -> str:
        if c.ctx.trap is None:
            c.ctx.trap = f"host error: {e}"
        return c.ctx.trap

    for imp in module.imports:
        if imp.module != "ic0":
            continue
        ty = imp.type
        if not isinstance(ty, wasmtime.FuncType):
            continue
        fn = api.get(imp.name or "")
        if fn is None:
            fn = _unsupported(c, imp.name or "?")
        try:
            define_raw(linker, "ic0", imp.name or "", ty, fn, on_error, c.keep)
        except wasmtime.WasmtimeError:
            linker.define_func("ic0", imp.name or "", ty, fn)  # unusual types: the generic path


def _unsupported(c: Canister, name: str) -> Callable[..., Any]:
    def f(*_args: int) -> Any:
        raise c.trap(f"ic0.{name} is not supported by the wasmhive contract VM")
    return f


def _api(c: Canister) -> dict[str, Callable[..., Any]]:
    vm = c.vm

    def ctx_kind(allowed: set[str], name: str) -> None:
        if c.ctx.kind not in allowed:
            raise c.trap(f"ic0.{name} cannot be called in a {c.ctx.kind} message")

    # -- message arguments and caller --------------------------------------------------------------
    def msg_arg_data_size() -> int:
        if c.ctx.kind == "reject":
            raise c.trap("ic0.msg_arg_data_size cannot be called in a reject callback")
        return len(c.ctx.arg)

    def _copy(name: str, data: bytes, dst: int, off: int, size: int) -> None:
        if off + size > len(data):
            raise c.trap(f"ic0.{name} out of bounds: [{off}, {off + size}) of {len(data)} bytes")
        c.write(dst, data[off:off + size])

    def msg_arg_data_copy(dst: int, off: int, size: int) -> None:
        _copy("msg_arg_data_copy", c.ctx.arg, dst, off, size)

    def msg_caller_size() -> int:
        return len(c.ctx.caller)

    def msg_caller_copy(dst: int, off: int, size: int) -> None:
        _copy("msg_caller_copy", c.ctx.caller, dst, off, size)

    def msg_method_name_size() -> int:
        return len(c.ctx.method.encode())

    def msg_method_name_copy(dst: int, off: int, size: int) -> None:
        _copy("msg_method_name_copy", c.ctx.method.encode(), dst, off, size)

    def msg_reject_code() -> int:
        return c.ctx.reject_code

    def msg_reject_msg_size() -> int:
        return len(c.ctx.reject_msg.encode())

    def msg_reject_msg_copy(dst: int, off: int, size: int) -> None:
        _copy("msg_reject_msg_copy", c.ctx.reject_msg.encode(), dst, off, size)

    def msg_deadline() -> int:
        return 0

    # -- replying ------------------------------------------------------------------------------------
    def _answerable(name: str) -> None:
        ctx = c.ctx
        ctx_kind(_REPLY_KINDS, name)
        if ctx.call_ctx is None or ctx.call_ctx.replied or ctx.reply is not None or ctx.rejected is not None:
            raise c.trap(f"ic0.{name}: the call has already been answered")

    def msg_reply_data_append(src: int, size: int) -> None:
        _answerable("msg_reply_data_append")
        c.ctx.reply_buf += c.read(src, size)
        if len(c.ctx.reply_buf) > vm.max_reply:
            raise c.trap(f"reply exceeds {vm.max_reply} bytes")

    def msg_reply() -> None:
        _answerable("msg_reply")
        c.ctx.reply = bytes(c.ctx.reply_buf)

    def msg_reject(src: int, size: int) -> None:
        _answerable("msg_reject")
        c.ctx.rejected = (4, c.read(src, size).decode("utf-8", "replace"))

    # -- cycles ------------------------------------------------------------------------------------
    def _available() -> int:
        cc = c.ctx.call_ctx
        return cc.cycles if cc is not None and c.ctx.kind in _REPLY_KINDS else 0

    def msg_cycles_available() -> int:
        return min(_available(), (1 << 64) - 1)

    def msg_cycles_available128(dst: int) -> None:
        c.write(dst, _u128(_available()))

    def msg_cycles_refunded() -> int:
        return min(c.ctx.refunded, (1 << 64) - 1)

    def msg_cycles_refunded128(dst: int) -> None:
        c.write(dst, _u128(c.ctx.refunded))

    def _accept(maximum: int) -> int:
        cc = c.ctx.call_ctx
        if cc is None or c.ctx.kind not in _REPLY_KINDS:
            return 0
        amount = min(maximum, cc.cycles)
        cc.cycles -= amount
        c.ctx.accepted += amount
        c.cycles += amount
        return amount

    def msg_cycles_accept(maximum: int) -> int:
        return _accept(maximum)

    def msg_cycles_accept128(hi: int, lo: int, dst: int) -> None:
        c.write(dst, _u128(_accept((hi << 64) | lo)))

    def canister_cycle_balance() -> int:
        return min(c.cycles, (1 << 64) - 1)

    def canister_cycle_balance128(dst: int) -> None:
        c.write(dst, _u128(c.cycles))

    def cycles_burn128(hi: int, lo: int, dst: int) -> None:
        amount = min((hi << 64) | lo, c.cycles)
        c.cycles -= amount
        c.write(dst, _u128(amount))

    # -- canister ----------------------------------------------------------------------------------
    def canister_self_size() -> int:
        return len(c.id.raw)

    def canister_self_copy(dst: int, off: int, size: int) -> None:
        _copy("canister_self_copy", c.id.raw, dst, off, size)

    def subnet_self_size() -> int:
        return len(vm.subnet.raw)

    def subnet_self_copy(dst: int, off: int, size: int) -> None:
        _copy("subnet_self_copy", vm.subnet.raw, dst, off, size)

    def canister_status() -> int:
        return 1  # running

    def canister_version() -> int:
        return c.version

    def is_controller(src: int, size: int) -> int:
        return 1 if c.read(src, size) in c.controllers else 0

    def in_replicated_execution() -> int:
        return 0 if c.ctx.kind in ("query", "composite_query") else 1

    def accept_message() -> None:
        if c.ctx.kind != "inspect":
            raise c.trap("ic0.accept_message is only for canister_inspect_message")
        if c.ctx.accepted_message:
            raise c.trap("ic0.accept_message called twice")
        c.ctx.accepted_message = True

    # -- outgoing calls ---------------------------------------------------------------------------
    def call_new(callee_src: int, callee_size: int, name_src: int, name_size: int, reply_fun: int,
                 reply_env: int, reject_fun: int, reject_env: int) -> None:
        ctx_kind(_CALL_KINDS, "call_new")
        if c.ctx.pending is not None:
            raise c.trap("ic0.call_new: a call is already being built")
        c.ctx.pending = Call(c.id, c.read(callee_src, callee_size),
                             c.read(name_src, name_size).decode("utf-8", "replace"),
                             (reply_fun, reply_env), (reject_fun, reject_env))

    def _pending(name: str) -> Call:
        if c.ctx.pending is None:
            raise c.trap(f"ic0.{name}: no call is being built (call ic0.call_new first)")
        return c.ctx.pending

    def call_data_append(src: int, size: int) -> None:
        p = _pending("call_data_append")
        if len(p.data) + size > MAX_RESPONSE_BYTES:
            raise c.trap(f"ic0.call_data_append: a call's argument is limited to {MAX_RESPONSE_BYTES} bytes")
        p.data += c.read(src, size)

    def call_on_cleanup(fun: int, env: int) -> None:
        p = _pending("call_on_cleanup")
        if p.cleanup is not None:
            raise c.trap("ic0.call_on_cleanup called twice")
        p.cleanup = (fun, env)

    def call_with_best_effort_response(timeout: int) -> None:
        _pending("call_with_best_effort_response")

    def _add_cycles(amount: int) -> None:
        p = _pending("call_cycles_add")
        if amount > c.cycles:
            raise c.trap(f"ic0.call_cycles_add: {amount} cycles requested, {c.cycles} available")
        c.cycles -= amount
        p.cycles += amount

    def call_cycles_add(amount: int) -> None:
        _add_cycles(amount)

    def call_cycles_add128(hi: int, lo: int) -> None:
        _add_cycles((hi << 64) | lo)

    def call_perform() -> int:
        p = _pending("call_perform")
        c.ctx.pending = None
        limits = vm.limits
        # A call not made returns its attached cycles and a non-zero code (SYS_TRANSIENT), as on the IC.
        if c.outstanding_calls + len(c.ctx.calls) >= limits.max_outstanding_calls:
            c.cycles += p.cycles
            return SYS_TRANSIENT
        if c.ctx.replicated:
            cost = CALL_FEE + BYTE_FEE * (len(p.method.encode()) + len(p.data))
            if c.cycles < cost + RESPONSE_RESERVE:
                c.cycles += p.cycles
                return SYS_TRANSIENT
            c.cycles -= cost + RESPONSE_RESERVE
            p.reserved = RESPONSE_RESERVE
        p.context = c.ctx.call_ctx
        c.ctx.calls.append(p)
        return 0

    # -- stable memory --------------------------------------------------------------------------
    def stable64_size() -> int:
        return len(c.stable) // 65536

    def stable64_grow(pages: int) -> int:
        r = c.stable_grow(pages, vm.limits.max_stable // 65536)
        return r if r >= 0 else (1 << 64) - 1

    def stable64_read(dst: int, off: int, size: int) -> None:
        if off + size > len(c.stable):
            raise c.trap(f"stable memory read out of bounds: [{off}, {off + size}) of {len(c.stable)}")
        c.write(dst, bytes(c.stable[off:off + size]))

    def stable64_write(off: int, src: int, size: int) -> None:
        c.stable_write(off, c.read(src, size))

    def stable_size() -> int:
        return len(c.stable) // 65536

    def stable_grow(pages: int) -> int:
        r = c.stable_grow(pages, min(65536, vm.limits.max_stable // 65536))
        return r if r >= 0 else 0xFFFFFFFF

    # -- misc --------------------------------------------------------------------------------------
    def time() -> int:
        return c.ctx.time

    def global_timer_set(t: int) -> int:
        if c.ctx.kind in ("query", "composite_query"):
            raise c.trap("ic0.global_timer_set cannot be called in a query")
        old = c.timer
        c.timer = t
        return old

    def performance_counter(kind: int) -> int:
        used: int = c.ctx.fuel_limit - c.store.get_fuel()
        return used

    def certified_data_set(src: int, size: int) -> None:
        if size > 32:
            raise c.trap("ic0.certified_data_set: at most 32 bytes")
        c.certified = c.read(src, size)

    def data_certificate_present() -> int:
        return 0

    def debug_print(src: int, size: int) -> None:
        text = c.read(src, size).decode("utf-8", "replace")
        c.ctx.logs.append(text)
        log.info("[%s] %s", c.name, text)

    def trap(src: int, size: int) -> None:
        raise c.trap(c.read(src, size).decode("utf-8", "replace") or "canister trapped explicitly")

    api: dict[str, Callable[..., Any]] = {name: fn for name, fn in locals().items()
                                          if callable(fn) and not name.startswith("_") and name not in (
                                              "ctx_kind",)}
    # The 32-bit stable API shares its read/write implementation with the 64-bit one.
    api["stable_read"] = stable64_read
    api["stable_write"] = stable64_write
    api["msg_cycles_accept128"] = msg_cycles_accept128
    api["cycles_burn128"] = cycles_burn128
    return api
