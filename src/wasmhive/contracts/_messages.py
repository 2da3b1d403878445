"""Executing messages: install and upgrade, calls and callbacks, replicated and composite queries,
timers, the emulated management canister. A mixin of `ContractVM` (which owns the state it uses)."""

from __future__ import annotations

import hashlib
from collections import deque
from typing import Any

import wasmtime

from ..errors import InvalidModule, WasmhiveError
from ..runtime import Runtime
from ._candid_text import Service
from ._canister import Canister
from ._context import Call, CallContext, MessageContext
from ._principal import MANAGEMENT, Principal, canister_principal
from ._types import (
    BASE_FEE,
    BYTE_FEE,
    CANISTER_ERROR,
    CANISTER_REJECT,
    DESTINATION_INVALID,
    MAX_UPDATE_INSTRUCTIONS,
    SYS_TRANSIENT,
    ContractLimits,
    Entry,
    Reply,
    execution_fee,
)

__all__ = ["Holder", "MessageExecution"]


class Holder:
    """Where the reply to an ingress message (or a root) lands."""

    reply: Reply | None = None


class MessageExecution:
    """Message execution for `ContractVM` (the attributes below are the VM's)."""

    runtime: Runtime
    canisters: dict[bytes, Canister]
    names: dict[str, bytes]
    next_index: int
    height: int
    last_hash: bytes
    time_ns: int
    _queue: deque[tuple[Any, ...]]
    _rand_counter: int
    _root_reply: Holder | None
    limits: ContractLimits

    def _now(self) -> int:
        raise NotImplementedError

    def _canister_lock(self, cid: bytes) -> Any:
        raise NotImplementedError

    def _log(self, kind: str, root: bool, c: Canister, method: str, caller: bytes, arg: bytes, reply: bytes,
             instructions: int, root_data: dict[str, Any] | None) -> Entry:
        raise NotImplementedError

    def _prepare_module(self, wasm: bytes) -> tuple[bytes, Any, Any]:
        raise NotImplementedError

    def _service(self, info: Any, did: str | None) -> Service | None:
        raise NotImplementedError

    def _composite(self, c: Canister, func: Any, method: str, arg: bytes, caller: Principal) -> Reply:
        """A composite query: it may call query methods (of any canister) and await them. Every message
        runs without committing; at the end every canister touched is rolled back."""
        now = self.time_ns or self._now()
        holder = Holder()
        touched: dict[bytes, tuple[int, int, bytes]] = {}
        held: list[Any] = []  # the locks of the touched canisters: their state is uncommitted until the end
        queue: deque[tuple[Any, ...]] = deque()
        total = 0

        def answer(cc: CallContext, reply: bytes | None, reject: tuple[int, str] | None) -> None:
            if cc.replied:
                return
            cc.replied = True
            kind, origin = cc.origin
            if kind == "ingress":
                origin.reply = (Reply("replied", reply) if reply is not None else
                                Reply("rejected", reject_code=reject[0] if reject else CANISTER_ERROR,
                                      reject_message=reject[1] if reject else ""))
            else:
                queue.append(("resp", origin, reply, reject))

        def run(t: Canister, f: Any, args: tuple[int, ...], ctx: MessageContext, kinds: tuple[bool, ...]) -> None:
            nonlocal total
            cc = ctx.call_ctx
            assert cc is not None
            if ctx.kind == "query":
                # A plain query runs on committed state and is undone at once (canister runtimes such
                # as Motoko's expect every message to start from a committed state).
                if t.id.raw in touched:
                    answer(cc, None, (CANISTER_REJECT, f"{t.name} is busy in this composite query: calling it "
                                                       "again from the same composite query is not supported"))
                    return
                with self._canister_lock(t.id.raw):
                    saved = (t.cycles, t.timer, t.certified)
                    total += t.run(f, args, ctx, kinds)
                    t.rollback()
                    t.cycles, t.timer, t.certified = saved
            else:
                first = t.id.raw not in touched
                if first:
                    lock = self._canister_lock(t.id.raw)
                    lock.acquire()
                    held.append(lock)
                    touched[t.id.raw] = (t.cycles, t.timer, t.certified)
                total += t.run(f, args, ctx, kinds, fresh=first)
            if ctx.kind in ("reply", "reject"):
                cc.outstanding -= 1
            if ctx.trap is not None:
                answer(cc, None, (CANISTER_ERROR, f"canister {t.name} trapped: {ctx.trap}"))
                return
            for out in ctx.calls:
                cc.outstanding += 1
                queue.append(("call", out.callee, out.method, bytes(out.data), t.id.raw,
                              CallContext(t.id.raw, ("call", out)), None))
            if ctx.reply is not None or ctx.rejected is not None:
                answer(cc, ctx.reply, ctx.rejected)
            elif cc.outstanding <= 0:
                answer(cc, None, (CANISTER_ERROR, f"canister {t.name} did not reply"))

        queue.append(("call", c.id.raw, method, arg, caller.raw, CallContext(caller.raw, ("ingress", holder)), func))
        steps = 0
        try:
            while queue and steps < 10_000 and total < MAX_UPDATE_INSTRUCTIONS:
                steps += 1
                item = queue.popleft()
                if item[0] == "call":
                    _, target, m, a, who, cc, f = item
                    t = self.canisters.get(target)
                    kind = "query"
                    if t is not None and f is None:
                        f = t.exports.get(f"canister_query {m}")
                        if f is None:
                            f = t.exports.get(f"canister_composite_query {m}")
                            kind = "composite_query"
                    elif t is not None:
                        kind = "composite_query"
                    if t is None or f is None:
                        answer(cc, None, (DESTINATION_INVALID, f"no query method {m!r} on {Principal(target)}"))
                        continue
                    run(t, f, (), MessageContext(kind, m, a, who, now, cc, fuel_limit=self.limits.query_instructions,
                                                 replicated=False), ())
                else:
                    _, call, reply, reject = item
                    t = self.canisters[call.caller.raw]
                    kind = "reply" if reply is not None else "reject"
                    fun, env = call.reply if reply is not None else call.reject
                    ctx = MessageContext(kind, f"<{kind} from {call.method}>", reply or b"", call.callee, now,
                                         call.context, reject_code=reject[0] if reject else 0,
                                         reject_msg=reject[1] if reject else "",
                                         fuel_limit=self.limits.query_instructions, replicated=False)
                    t.ctx = ctx
                    try:
                        cb, kinds = t.callback(fun)
                    except Exception:  # a bad table entry: Canister.trap recorded why
                        answer(call.context, None, (CANISTER_ERROR, ctx.trap or "bad callback"))
                        continue
                    run(t, cb, (env,), ctx, kinds)
        finally:
            for cid, saved in touched.items():
                t = self.canisters[cid]
                t.rollback()
                t.cycles, t.timer, t.certified = saved
            for lock in held:
                lock.release()
        r = holder.reply or Reply("rejected", reject_code=CANISTER_ERROR,
                                  reject_message="the composite query did not finish within its limits")
        r.instructions = total
        return r

    def _install(self, root: dict[str, Any], holder: Holder) -> None:
        wasm = root["wasm"]
        instrumented, info, module = self._prepare_module(wasm)
        cid = canister_principal(self.next_index)
        name = root.get("name") or cid.text
        c = _instantiate(lambda: Canister(self, cid, name, wasm, instrumented, info, module,
                                          self._service(info, root.get("did")), [root["caller"]], root["cycles"]))
        # Installing is paid from the new canister's cycles like any message, so they bound its fuel too.
        ctx = MessageContext("start", time=self.time_ns, caller=root["caller"], fuel_limit=self._fuel_for(c))
        c.run_start(ctx)
        used = 0
        if ctx.trap is None:
            init = c.exports.get("canister_init")
            ctx = MessageContext("init", "canister_init", root["arg"], root["caller"], self.time_ns,
                                 fuel_limit=self._fuel_for(c))
            used = c.run(init, (), ctx) if init is not None else 0
        if ctx.trap is None and self._memory_in_use(c) > self.limits.max_total_memory:
            ctx.trap = self._memory_message()
        if ctx.trap is not None:
            holder.reply = Reply("rejected", reject_code=CANISTER_ERROR,
                                 reject_message=f"canister_init trapped: {ctx.trap}")
            return
        c.cycles = max(0, c.cycles - self._fee(used))
        c.reset_tracking()
        c.did_text = root.get("did")  # type: ignore[attr-defined]
        self.next_index += 1
        self.canisters[cid.raw] = c
        self.names[name] = cid.raw
        self._log("install", True, c, name, root["caller"], hashlib.sha256(wasm).digest() + root["arg"],
                  b"", used, root)
        holder.reply = Reply("replied", cid.raw, instructions=used, height=self.height)

    def _upgrade(self, root: dict[str, Any], holder: Holder) -> None:
        old = self.canisters[root["canister"]]
        caller = root["caller"]
        fail = None
        ctx = MessageContext("pre_upgrade", "canister_pre_upgrade", b"", caller, self.time_ns,
                             fuel_limit=self._fuel_for(old))
        pre = old.exports.get("canister_pre_upgrade")
        used = old.run(pre, (), ctx) if pre is not None else 0
        new: Canister | None = None
        if ctx.trap is not None:
            fail = f"canister_pre_upgrade trapped: {ctx.trap}"
        else:
            try:
                instrumented, info, module = self._prepare_module(root["wasm"])
                new = _instantiate(lambda: Canister(self, old.id, old.name, root["wasm"], instrumented, info,
                                                    module, self._service(info, root.get("did")), old.controllers,
                                                    old.cycles))
            except WasmhiveError as e:
                fail = f"invalid module: {e}"
            else:
                new.stable = bytearray(old.stable)
                new.outstanding_calls = old.outstanding_calls
                new.version = old.version + 1
                new.certified = old.certified
                keep = any("enhanced-orthogonal-persistence" in k for k in info.custom)
                if keep:
                    import ctypes

                    import numpy as np

                    n = old.pages() * 4096
                    base, _ = old.mem_base()
                    heap = np.ctypeslib.as_array((ctypes.c_uint8 * n).from_address(base)).copy()
                    new.load_heap(heap, None)
                ctx = MessageContext("start", time=self.time_ns, caller=caller, fuel_limit=self._fuel_for(new))
                new.run_start(ctx)
                if ctx.trap is None:
                    post = new.exports.get("canister_post_upgrade")
                    ctx = MessageContext("post_upgrade", "canister_post_upgrade", root["arg"], caller, self.time_ns,
                                         fuel_limit=self._fuel_for(new))
                    used += new.run(post, (), ctx) if post is not None else 0
                if ctx.trap is None and self._memory_in_use(new, old) > self.limits.max_total_memory:
                    ctx.trap = self._memory_message()
                if ctx.trap is not None:
                    fail = f"upgrade trapped: {ctx.trap}"
        if fail is not None or new is None:
            old.rollback()
            holder.reply = Reply("rejected", reject_code=CANISTER_ERROR, reject_message=fail or "upgrade failed")
            return
        new.cycles = max(0, new.cycles - self._fee(used))
        new.reset_tracking()
        new.dirty_heap = set(range(new.pages()))
        new.dirty_stable = set(range(len(new.stable) // 4096))
        new.full_rewrite = True  # type: ignore[attr-defined]
        new.did_text = root.get("did")  # type: ignore[attr-defined]
        self.canisters[old.id.raw] = new
        self._log("upgrade", True, new, old.name, caller, hashlib.sha256(root["wasm"]).digest() + root["arg"],
                  b"", used, root)
        holder.reply = Reply("replied", old.id.raw, instructions=used, height=self.height)


    # -- message execution ------------------------------------------------------------------------
    def _fee(self, instructions: int) -> int:
        return execution_fee(instructions)

    def _fuel_for(self, c: Canister) -> int:
        return max(0, min(MAX_UPDATE_INSTRUCTIONS, (c.cycles - BASE_FEE) * 10 // 4))

    def _memory_in_use(self, c: Canister, replacing: Canister | None = None) -> int:
        """Heap and stable bytes of every canister, `c` counted live (it may just have grown)."""
        total = c.pages() * 4096 + len(c.stable)
        for other in self.canisters.values():
            if other is not c and other is not replacing:
                total += len(other.shadow) + len(other.stable)
        return total

    def _memory_message(self) -> str:
        return (f"the contract VM's memory limit of {self.limits.max_total_memory:_} bytes (heap and stable memory "
                "of all canisters, ContractLimits.max_total_memory) would be exceeded")

    def _drop_queue(self) -> None:
        """The root caused `max_messages_per_root` messages: the calls and responses still queued are
        not run; their callers get their reserved and attached cycles back, the ingress a reject."""
        while self._queue:
            msg = self._queue.popleft()
            call: Call | None = None
            if msg[0] == "call" and msg[5].origin[0] == "call":
                call = msg[5].origin[1]
            elif msg[0] == "response":
                call = msg[1]
            if call is None:
                continue
            caller = self.canisters.get(call.caller.raw)
            if caller is not None:
                with self._canister_lock(caller.id.raw):  # a query may be saving and restoring its balance
                    caller.outstanding_calls -= 1
                    caller.cycles += call.reserved + (msg[6] if msg[0] == "call" else msg[4])
        holder = self._root_reply
        if holder is not None and holder.reply is None:
            holder.reply = Reply("rejected", reject_code=SYS_TRANSIENT, reject_message=(
                f"the message and the calls it caused exceeded {self.limits.max_messages_per_root} messages "
                "(ContractLimits.max_messages_per_root): the rest were not run"))

    def _step(self, msg: tuple[Any, ...]) -> None:
        if msg[0] == "call":
            self._exec_call(*msg[1:])
        elif msg[0] == "response":
            self._exec_response(*msg[1:])
        elif msg[0] == "timer":
            self._exec_timer(msg[1], msg[2])
        elif msg[0] == "heartbeat":
            self._exec_timer(msg[1], msg[2], "canister_heartbeat")

    def _answer(self, cc: CallContext, reply: bytes | None, reject: tuple[int, str] | None,
                instructions: int = 0) -> None:
        if cc.replied:
            return
        cc.replied = True
        kind, origin = cc.origin
        refund, cc.cycles = cc.cycles, 0
        if kind == "ingress":
            r = (Reply("replied", reply, instructions=instructions) if reply is not None else
                 Reply("rejected", reject_code=reject[0] if reject else CANISTER_ERROR,
                       reject_message=reject[1] if reject else "", instructions=instructions))
            r.height = self.height
            origin.reply = r
        elif kind == "call":
            self._queue.append(("response", origin, reply, reject, refund))

    def _exec_call(self, target: bytes, method: str, arg: bytes, caller: bytes, cc: CallContext, cycles: int,
                   root: dict[str, Any] | None) -> None:
        cc.cycles = cycles
        if target == MANAGEMENT.raw:
            self._management(method, arg, caller, cc)
            return
        c = self.canisters.get(target)
        if c is None:
            self._answer(cc, None, (DESTINATION_INVALID, f"canister {Principal(target)} does not exist"))
            return
        func = c.exports.get(f"canister_update {method}")
        qfunc = c.exports.get(f"canister_query {method}")
        if func is None and qfunc is not None and root is None:
            self._replicated_query(c, qfunc, method, arg, caller, cc)
            return
        if func is None:
            msg = (f"canister {c.name} has no update method {method!r}" if root is None or
                   c.export_kind(method) != "query" else f"{method!r} is a query method of {c.name}: use query")
            self._answer(cc, None, (DESTINATION_INVALID, msg))
            if root is not None:
                self._log("update", True, c, method, caller, arg, b"reject:3", 0, root)
            return
        if c.cycles < BASE_FEE:
            self._answer(cc, None, (SYS_TRANSIENT, f"canister {c.name} is out of cycles"))
            if root is not None:
                self._log("update", True, c, method, caller, arg, b"reject:2", 0, root)
            return
        ctx = MessageContext("update", method, arg, caller, self.time_ns, cc, fuel_limit=self._fuel_for(c))
        self._run_message(c, func, (), ctx, "update", root)

    def _replicated_query(self, c: Canister, func: Any, method: str, arg: bytes, caller: bytes,
                          cc: CallContext) -> None:
        """A query method called by another canister: run in replicated mode (charged, logged), its
        changes discarded as for any query."""
        ctx = MessageContext("query", method, arg, caller, self.time_ns, cc,
                             fuel_limit=min(self.limits.query_instructions, self._fuel_for(c)))
        saved = (c.cycles, c.timer, c.certified)
        used = c.run(func, (), ctx)
        c.rollback()
        c.cycles, c.timer, c.certified = saved
        cc.cycles += ctx.accepted  # cycles a discarded query accepted go back to the caller
        c.cycles = max(0, c.cycles - self._fee(used))
        c.commit()
        reply = ctx.reply if ctx.trap is None else None
        reject = ((CANISTER_ERROR, f"canister {c.name} trapped: {ctx.trap}") if ctx.trap is not None else
                  ctx.rejected if ctx.rejected is not None else
                  (CANISTER_ERROR, f"canister {c.name} did not reply") if ctx.reply is None else None)
        self._log("query", False, c, method, caller, arg, reply if reply is not None else
                  f"reject:{reject[0] if reject else 0}".encode(), used, None)
        self._answer(cc, reply, reject, used)

    def _run_message(self, c: Canister, func: Any, args: tuple[int, ...], ctx: MessageContext, kind: str,
                     root: dict[str, Any] | None, call: Call | None = None, kinds: tuple[bool, ...] = ()) -> None:
        saved = (c.cycles, c.timer, c.certified)
        used = c.run(func, args, ctx, kinds) if func is not None else 0
        if ctx.trap is None and self._memory_in_use(c) > self.limits.max_total_memory:
            ctx.trap = self._memory_message()
        fee = self._fee(used)
        cc = ctx.call_ctx
        if ctx.trap is not None:
            c.rollback()
            c.cycles, c.timer, c.certified = saved
            c.cycles = max(0, c.cycles - fee)
            if kind in ("reply", "reject") and call is not None and call.cleanup is not None:
                cctx = MessageContext("cleanup", arg=b"", caller=c.id.raw, time=self.time_ns,
                                      fuel_limit=self._fuel_for(c))
                cfun, cenv = call.cleanup
                try:
                    c.ctx = cctx
                    f, fk = c.callback(cfun)
                    cu = c.run(f, (cenv,), cctx, fk)
                except Exception:
                    cu = 0
                    cctx.trap = cctx.trap or "bad cleanup callback"
                if cctx.trap is None:
                    c.cycles = max(0, c.cycles - self._fee(cu))
                    c.commit()
                else:
                    c.rollback()
            self._log(kind, root is not None, c, ctx.method, ctx.caller, ctx.arg, b"trap:" + ctx.trap.encode(),
                      used, root)
            if cc is not None and not cc.replied:
                if kind in ("reply", "reject"):
                    cc.outstanding -= 1
                if cc.outstanding <= 0:
                    self._answer(cc, None, (CANISTER_ERROR, f"canister {c.name} trapped: {ctx.trap}"), used)
            return
        c.cycles = max(0, c.cycles - fee)
        c.commit()
        if kind in ("reply", "reject") and cc is not None:
            cc.outstanding -= 1
        c.outstanding_calls += len(ctx.calls)
        for out in ctx.calls:
            if cc is not None:
                cc.outstanding += 1
            self._queue.append(("call", out.callee, out.method, bytes(out.data), c.id.raw,
                                CallContext(c.id.raw, ("call", out)), out.cycles, None))
        reply_bytes = ctx.reply if ctx.reply is not None else (
            f"reject:{ctx.rejected[0]}:{ctx.rejected[1]}".encode() if ctx.rejected else b"")
        self._log(kind, root is not None, c, ctx.method, ctx.caller, ctx.arg, reply_bytes, used, root)
        if cc is not None:
            if ctx.reply is not None or ctx.rejected is not None:
                self._answer(cc, ctx.reply, ctx.rejected, used)
            elif cc.outstanding <= 0 and kind not in ("timer",):
                self._answer(cc, None, (CANISTER_ERROR, f"canister {c.name} did not reply to the call"), used)

    def _exec_response(self, call: Call, reply: bytes | None, reject: tuple[int, str] | None, refund: int) -> None:
        c = self.canisters.get(call.caller.raw)
        if c is None:
            return
        c.outstanding_calls -= 1
        # The reservation comes back minus what carrying the response cost.
        size = len(reply) if reply is not None else len(reject[1].encode()) if reject is not None else 0
        c.cycles += refund + max(0, call.reserved - BYTE_FEE * size)
        kind = "reply" if reply is not None else "reject"
        fun, env = call.reply if reply is not None else call.reject
        ctx = MessageContext(kind, f"<{kind} from {call.method}>", reply or b"", call.callee, self.time_ns,
                             call.context, reject_code=reject[0] if reject else 0,
                             reject_msg=reject[1] if reject else "", refunded=refund, fuel_limit=self._fuel_for(c))
        kinds: tuple[bool, ...] = ()
        try:
            c.ctx = ctx
            func, kinds = c.callback(fun)
        except Exception:  # a bad table entry: Canister.trap recorded why
            func = None
        if func is None:
            ctx.trap = ctx.trap or f"callback {fun} is not a function"
        self._run_message(c, func, (env,), ctx, kind, None, call, kinds)

    def _exec_timer(self, cid: bytes, root: dict[str, Any], export: str = "canister_global_timer") -> None:
        c = self.canisters.get(cid)
        if c is None:
            return
        kind = "timer" if export == "canister_global_timer" else "heartbeat"
        if kind == "timer":
            c.timer = 0  # one-shot: the canister sets it again if it wants more
        func = c.exports.get(export)
        ctx = MessageContext(kind, export, b"", cid, self.time_ns, fuel_limit=self._fuel_for(c))
        if func is None or c.cycles < BASE_FEE:
            c.commit()
            self._log(kind, True, c, export, cid, b"", b"skipped", 0, root)
            return
        self._run_message(c, func, (), ctx, kind, root)

    def _management(self, method: str, arg: bytes, caller: bytes, cc: CallContext) -> None:
        from ._candid import encode

        if method == "raw_rand":
            # Deterministic: seeded by the log's chain hash (unique per message) and a count per root,
            # so a replay draws the same bytes.
            self._rand_counter += 1
            seed = hashlib.sha256(b"wasmhive raw_rand" + self.last_hash + self.height.to_bytes(8, "big")
                                  + self._rand_counter.to_bytes(8, "big"))
            self._answer(cc, encode(["blob"], [seed.digest()]), None)
            return
        if method == "canister_status":
            self._canister_status(arg, caller, cc)
            return
        self._answer(cc, None, (DESTINATION_INVALID,
                                f"the management canister method {method!r} is not emulated by wasmhive"))

    def _canister_status(self, arg: bytes, caller: bytes, cc: CallContext) -> None:
        """`canister_status` for a controller (or the canister itself): the fields canisters read."""
        from ._candid import CandidError, decode, encode, idl_hash

        try:
            _types, values = decode(arg, {idl_hash("canister_id"): "canister_id"})
            target = values[0]["canister_id"]
        except (CandidError, IndexError, KeyError, TypeError):
            self._answer(cc, None, (CANISTER_REJECT, "canister_status expects record { canister_id : principal }"))
            return
        c = self.canisters.get(target.raw) if isinstance(target, Principal) else None
        if c is None:
            self._answer(cc, None, (DESTINATION_INVALID, f"canister {target} does not exist"))
            return
        if caller not in c.controllers and caller != c.id.raw:
            self._answer(cc, None, (CANISTER_REJECT, f"only the controllers of {c.name} may ask for its status"))
            return

        def rec(*fields: tuple[str, Any]) -> Any:
            return ("record", tuple(sorted((idl_hash(n), n, t) for n, t in fields)))

        settings_t = rec(("controllers", ("vec", "principal")), ("compute_allocation", "nat"),
                         ("memory_allocation", "nat"), ("freezing_threshold", "nat"),
                         ("reserved_cycles_limit", "nat"), ("wasm_memory_limit", "nat"))
        status_t = rec(("status", ("variant", tuple(sorted((idl_hash(n), n, "null")
                                                           for n in ("running", "stopping", "stopped"))))),
                       ("settings", settings_t), ("module_hash", ("opt", "blob")), ("memory_size", "nat"),
                       ("cycles", "nat"), ("idle_cycles_burned_per_day", "nat"), ("reserved_cycles", "nat"))
        value = {"status": {"running": None},
                 "settings": {"controllers": [Principal(x) for x in c.controllers], "compute_allocation": 0,
                              "memory_allocation": 0, "freezing_threshold": 2_592_000, "reserved_cycles_limit": 0,
                              "wasm_memory_limit": 0},
                 "module_hash": bytes.fromhex(c.module_hash), "memory_size": len(c.shadow) + len(c.stable),
                 "cycles": c.cycles, "idle_cycles_burned_per_day": 0, "reserved_cycles": 0}
        self._answer(cc, encode([status_t], [value]), None)


def _instantiate(make: Any) -> Canister:
    """`make()` a Canister; a module wasmtime cannot instantiate (a data segment out of bounds, a memory
    above the heap limit, ...) is an `InvalidModule`, not a wasmtime error."""
    try:
        c: Canister = make()
    except (wasmtime.WasmtimeError, wasmtime.Trap) as e:
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip() and not ln.strip().startswith("Caused by")]
        raise InvalidModule(f"the canister module cannot be instantiated: {lines[-1] if lines else e!r}") from None
    return c
