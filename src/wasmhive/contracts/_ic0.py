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


class _Ic0:
    """The system API bound to one canister: each public method is the `ic0` import of its name."""

    def __init__(self, c: Canister) -> None:
        self.c = c

    def _ctx_kind(self, allowed: set[str], name: str) -> None:
        if self.c.ctx.kind not in allowed:
            raise self.c.trap(f"ic0.{name} cannot be called in a {self.c.ctx.kind} message")

    def _copy(self, name: str, data: bytes, dst: int, off: int, size: int) -> None:
        if off + size > len(data):
            raise self.c.trap(f"ic0.{name} out of bounds: [{off}, {off + size}) of {len(data)} bytes")
        self.c.write(dst, data[off:off + size])

    def _pending(self, name: str) -> Call:
        if self.c.ctx.pending is None:
            raise self.c.trap(f"ic0.{name}: no call is being built (call ic0.call_new first)")
        return self.c.ctx.pending


class _Message(_Ic0):
    """Message arguments, caller, method name and reject details."""

    def msg_arg_data_size(self) -> int:
        if self.c.ctx.kind == "reject":
            raise self.c.trap("ic0.msg_arg_data_size cannot be called in a reject callback")
        return len(self.c.ctx.arg)

    def msg_arg_data_copy(self, dst: int, off: int, size: int) -> None:
        self._copy("msg_arg_data_copy", self.c.ctx.arg, dst, off, size)

    def msg_caller_size(self) -> int:
        return len(self.c.ctx.caller)

    def msg_caller_copy(self, dst: int, off: int, size: int) -> None:
        self._copy("msg_caller_copy", self.c.ctx.caller, dst, off, size)

    def msg_method_name_size(self) -> int:
        return len(self.c.ctx.method.encode())

    def msg_method_name_copy(self, dst: int, off: int, size: int) -> None:
        self._copy("msg_method_name_copy", self.c.ctx.method.encode(), dst, off, size)

    def msg_reject_code(self) -> int:
        return self.c.ctx.reject_code

    def msg_reject_msg_size(self) -> int:
        return len(self.c.ctx.reject_msg.encode())

    def msg_reject_msg_copy(self, dst: int, off: int, size: int) -> None:
        self._copy("msg_reject_msg_copy", self.c.ctx.reject_msg.encode(), dst, off, size)

    def msg_deadline(self) -> int:
        return 0


class _Reply(_Ic0):
    """Answering the current call."""

    def _answerable(self, name: str) -> None:
        ctx = self.c.ctx
        self._ctx_kind(_REPLY_KINDS, name)
        if ctx.call_ctx is None or ctx.call_ctx.replied or ctx.reply is not None or ctx.rejected is not None:
            raise self.c.trap(f"ic0.{name}: the call has already been answered")

    def msg_reply_data_append(self, src: int, size: int) -> None:
        self._answerable("msg_reply_data_append")
        self.c.ctx.reply_buf += self.c.read(src, size)
        if len(self.c.ctx.reply_buf) > self.c.vm.max_reply:
            raise self.c.trap(f"reply exceeds {self.c.vm.max_reply} bytes")

    def msg_reply(self) -> None:
        self._answerable("msg_reply")
        self.c.ctx.reply = bytes(self.c.ctx.reply_buf)

    def msg_reject(self, src: int, size: int) -> None:
        self._answerable("msg_reject")
        self.c.ctx.rejected = (4, self.c.read(src, size).decode("utf-8", "replace"))


class _Cycles(_Ic0):
    """Cycles: attached, refunded, accepted, the balance."""

    def _available(self) -> int:
        cc = self.c.ctx.call_ctx
        return cc.cycles if cc is not None and self.c.ctx.kind in _REPLY_KINDS else 0

    def msg_cycles_available(self) -> int:
        return min(self._available(), (1 << 64) - 1)

    def msg_cycles_available128(self, dst: int) -> None:
        self.c.write(dst, _u128(self._available()))

    def msg_cycles_refunded(self) -> int:
        return min(self.c.ctx.refunded, (1 << 64) - 1)

    def msg_cycles_refunded128(self, dst: int) -> None:
        self.c.write(dst, _u128(self.c.ctx.refunded))

    def _accept(self, maximum: int) -> int:
        cc = self.c.ctx.call_ctx
        if cc is None or self.c.ctx.kind not in _REPLY_KINDS:
            return 0
        amount = min(maximum, cc.cycles)
        cc.cycles -= amount
        self.c.ctx.accepted += amount
        self.c.cycles += amount
        return amount

    def msg_cycles_accept(self, maximum: int) -> int:
        return self._accept(maximum)

    def msg_cycles_accept128(self, hi: int, lo: int, dst: int) -> None:
        self.c.write(dst, _u128(self._accept((hi << 64) | lo)))

    def canister_cycle_balance(self) -> int:
        return min(self.c.cycles, (1 << 64) - 1)

    def canister_cycle_balance128(self, dst: int) -> None:
        self.c.write(dst, _u128(self.c.cycles))

    def cycles_burn128(self, hi: int, lo: int, dst: int) -> None:
        amount = min((hi << 64) | lo, self.c.cycles)
        self.c.cycles -= amount
        self.c.write(dst, _u128(amount))


class _Self(_Ic0):
    """The canister itself and its subnet."""

    def canister_self_size(self) -> int:
        return len(self.c.id.raw)

    def canister_self_copy(self, dst: int, off: int, size: int) -> None:
        self._copy("canister_self_copy", self.c.id.raw, dst, off, size)

    def subnet_self_size(self) -> int:
        return len(self.c.vm.subnet.raw)

    def subnet_self_copy(self, dst: int, off: int, size: int) -> None:
        self._copy("subnet_self_copy", self.c.vm.subnet.raw, dst, off, size)

    def canister_status(self) -> int:
        return 1  # running

    def canister_version(self) -> int:
        return self.c.version

    def is_controller(self, src: int, size: int) -> int:
        return 1 if self.c.read(src, size) in self.c.controllers else 0

    def in_replicated_execution(self) -> int:
        return 0 if self.c.ctx.kind in ("query", "composite_query") else 1

    def accept_message(self) -> None:
        if self.c.ctx.kind != "inspect":
            raise self.c.trap("ic0.accept_message is only for canister_inspect_message")
        if self.c.ctx.accepted_message:
            raise self.c.trap("ic0.accept_message called twice")
        self.c.ctx.accepted_message = True


class _Calls(_Ic0):
    """Building and performing inter-canister calls."""

    def call_new(self, callee_src: int, callee_size: int, name_src: int, name_size: int, reply_fun: int,
                 reply_env: int, reject_fun: int, reject_env: int) -> None:
        self._ctx_kind(_CALL_KINDS, "call_new")
        if self.c.ctx.pending is not None:
            raise self.c.trap("ic0.call_new: a call is already being built")
        self.c.ctx.pending = Call(self.c.id, self.c.read(callee_src, callee_size),
                             self.c.read(name_src, name_size).decode("utf-8", "replace"),
                             (reply_fun, reply_env), (reject_fun, reject_env))

    def call_data_append(self, src: int, size: int) -> None:
        p = self._pending("call_data_append")
        if len(p.data) + size > MAX_RESPONSE_BYTES:
            raise self.c.trap(f"ic0.call_data_append: a call's argument is limited to {MAX_RESPONSE_BYTES} bytes")
        p.data += self.c.read(src, size)

    def call_on_cleanup(self, fun: int, env: int) -> None:
        p = self._pending("call_on_cleanup")
        if p.cleanup is not None:
            raise self.c.trap("ic0.call_on_cleanup called twice")
        p.cleanup = (fun, env)

    def call_with_best_effort_response(self, timeout: int) -> None:
        self._pending("call_with_best_effort_response")

    def _add_cycles(self, amount: int) -> None:
        p = self._pending("call_cycles_add")
        if amount > self.c.cycles:
            raise self.c.trap(f"ic0.call_cycles_add: {amount} cycles requested, {self.c.cycles} available")
        self.c.cycles -= amount
        p.cycles += amount

    def call_cycles_add(self, amount: int) -> None:
        self._add_cycles(amount)

    def call_cycles_add128(self, hi: int, lo: int) -> None:
        self._add_cycles((hi << 64) | lo)

    def call_perform(self) -> int:
        p = self._pending("call_perform")
        self.c.ctx.pending = None
        limits = self.c.vm.limits
        # A call not made returns its attached cycles and a non-zero code (SYS_TRANSIENT), as on the IC.
        if self.c.outstanding_calls + len(self.c.ctx.calls) >= limits.max_outstanding_calls:
            self.c.cycles += p.cycles
            return SYS_TRANSIENT
        if self.c.ctx.replicated:
            cost = CALL_FEE + BYTE_FEE * (len(p.method.encode()) + len(p.data))
            if self.c.cycles < cost + RESPONSE_RESERVE:
                self.c.cycles += p.cycles
                return SYS_TRANSIENT
            self.c.cycles -= cost + RESPONSE_RESERVE
            p.reserved = RESPONSE_RESERVE
        p.context = self.c.ctx.call_ctx
        self.c.ctx.calls.append(p)
        return 0


class _Stable(_Ic0):
    """Stable memory, 64- and 32-bit."""

    def stable64_size(self) -> int:
        return len(self.c.stable) // 65536

    def stable64_grow(self, pages: int) -> int:
        r = self.c.stable_grow(pages, self.c.vm.limits.max_stable // 65536)
        return r if r >= 0 else (1 << 64) - 1

    def stable64_read(self, dst: int, off: int, size: int) -> None:
        if off + size > len(self.c.stable):
            raise self.c.trap(f"stable memory read out of bounds: [{off}, {off + size}) of {len(self.c.stable)}")
        self.c.write(dst, bytes(self.c.stable[off:off + size]))

    def stable64_write(self, off: int, src: int, size: int) -> None:
        self.c.stable_write(off, self.c.read(src, size))

    def stable_size(self) -> int:
        return len(self.c.stable) // 65536

    def stable_grow(self, pages: int) -> int:
        r = self.c.stable_grow(pages, min(65536, self.c.vm.limits.max_stable // 65536))
        return r if r >= 0 else 0xFFFFFFFF


class _Misc(_Ic0):
    """Time, timers, certification, logging, traps."""

    def time(self) -> int:
        return self.c.ctx.time

    def global_timer_set(self, t: int) -> int:
        if self.c.ctx.kind in ("query", "composite_query"):
            raise self.c.trap("ic0.global_timer_set cannot be called in a query")
        old = self.c.timer
        self.c.timer = t
        return old

    def performance_counter(self, kind: int) -> int:
        used: int = self.c.ctx.fuel_limit - self.c.store.get_fuel()
        return used

    def certified_data_set(self, src: int, size: int) -> None:
        if size > 32:
            raise self.c.trap("ic0.certified_data_set: at most 32 bytes")
        self.c.certified = self.c.read(src, size)

    def data_certificate_present(self) -> int:
        return 0

    def debug_print(self, src: int, size: int) -> None:
        text = self.c.read(src, size).decode("utf-8", "replace")
        self.c.ctx.logs.append(text)
        log.info("[%s] %s", self.c.name, text)

    def trap(self, src: int, size: int) -> None:
        raise self.c.trap(self.c.read(src, size).decode("utf-8", "replace") or "canister trapped explicitly")


def _api(c: Canister) -> dict[str, Callable[..., Any]]:
    """Every `ic0` function the VM offers, by import name, bound to canister `c` (one table per group)."""
    api: dict[str, Callable[..., Any]] = {}
    for group in (_Message, _Reply, _Cycles, _Self, _Calls, _Stable, _Misc):
        table = group(c)
        api.update({name: getattr(table, name) for name in vars(group) if not name.startswith("_")})
    # The 32-bit stable API shares its read/write implementation with the 64-bit one.
    api["stable_read"] = api["stable64_read"]
    api["stable_write"] = api["stable64_write"]
    return api
