"""The contract VM: canisters, messages and call contexts, cycles, timers, upgrades, the committed log.

Every state change enters through a *root* (install, upgrade, ingress update, timer, cycles deposit).
A root is executed to quiescence: the ingress message, then the inter-canister calls and callbacks it
causes, in FIFO order, each message its own commit point. Every executed message appends one entry
to the hash-chained log; roots carry their full input, so replaying the roots from the modules
reproduces every entry (and `verify` checks that it does).
"""

from __future__ import annotations

import hashlib
import threading
import time as _time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError, WasmhiveError
from ..runtime import EngineSettings, Limits, Runtime
from ._candid_text import Service, parse_did
from ._canister import Call, CallContext, Canister, MessageContext
from ._principal import ANONYMOUS, MANAGEMENT, Principal, canister_principal
from ._wasm import MAX_MEMORY, instrument

__all__ = ["ContractError", "ContractReject", "ContractVM", "Entry", "Reply"]

BASE_FEE = 10_000  # cycles charged per executed message (update, callback, timer, install, upgrade)
INSTRUCTIONS_PER_CYCLE = 10  # the rest of the fee: one cycle per 10 instructions
DEFAULT_CYCLES = 1_000_000_000_000
MAX_UPDATE_INSTRUCTIONS = 40_000_000_000
MAX_QUERY_INSTRUCTIONS = 5_000_000_000
# Reject codes of the IC interface specification.
SYS_FATAL, SYS_TRANSIENT, DESTINATION_INVALID, CANISTER_REJECT, CANISTER_ERROR = 1, 2, 3, 4, 5


class ContractError(WasmhiveError):
    """A contract operation failed (unknown canister, refused install or upgrade, ...)."""

    exit_code = 1


class ContractReject(ContractError):
    """A call was rejected (by the canister, or because it trapped): `code` is the IC reject code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"rejected (code {code}): {message}")
        self.code = code
        self.reject_message = message


@dataclass
class Reply:
    """The outcome of an update or query: a reply, or a reject with code and message."""

    status: str
    data: bytes = b""
    reject_code: int = 0
    reject_message: str = ""
    instructions: int = 0
    height: int = 0

    @property
    def ok(self) -> bool:
        return self.status == "replied"


@dataclass
class Entry:
    """One committed log entry (one executed message)."""

    height: int
    kind: str
    root: bool
    canister: str
    method: str
    caller: bytes
    arg: bytes
    reply_hash: bytes
    state_hash: bytes
    time: int
    instructions: int
    prev_hash: bytes = b""
    hash: bytes = b""
    arg_h: bytes = b""  # set when loaded from the log (internal messages keep only the hash)

    def arg_hash(self) -> bytes:
        if not self.arg_h:
            self.arg_h = hashlib.sha256(self.arg).digest()
        return self.arg_h

    def digest(self, prev: bytes) -> bytes:
        h = hashlib.sha256()
        h.update(prev)
        for text in (str(self.height), self.kind, "1" if self.root else "0", self.canister, self.method,
                     str(self.time), str(self.instructions)):
            h.update(text.encode() + b"\0")
        for part in (self.caller, self.arg_hash(), self.reply_hash, self.state_hash):
            h.update(len(part).to_bytes(4, "big") + part)
        return h.digest()

    def same_outcome(self, other: Entry) -> bool:
        return (self.kind, self.canister, self.method, self.caller, self.arg_hash(), self.reply_hash,
                self.state_hash, self.instructions) == (other.kind, other.canister, other.method, other.caller,
                                                         other.arg_hash(), other.reply_hash, other.state_hash,
                                                         other.instructions)


class _Holder:
    reply: Reply | None = None


class ContractVM:
    """A local Internet Computer: deploy canisters, send updates and queries, upgrade, verify.

    `state_dir` (e.g. `.wasmhive/`) makes it durable (SQLite, WAL); `None` keeps everything in memory.
    `durability`: "full" (the log is fsync'd before an update is acknowledged; concurrent callers
    share one fsync: group commit), "normal" (written to the OS before the reply, fsync'd at
    checkpoints: survives `kill -9` of the process, an OS crash may lose the latest updates) or "off".
    """

    def __init__(self, state_dir: str | Path | None = None, *, durability: str = "full",
                 runtime: Runtime | None = None, clock: Any = None, checkpoint_every: int = 5000) -> None:
        if durability not in ("full", "normal", "off"):
            raise ConfigError("durability must be 'full', 'normal' or 'off'")
        self.runtime = runtime or Runtime(EngineSettings.deterministic())
        self._own_runtime = runtime is None
        if not self.runtime.settings.fuel:
            raise ConfigError("the contract VM needs a Runtime with fuel=True (EngineSettings.deterministic())")
        self.store_limits = Limits(memory=MAX_MEMORY + 65536)
        self.max_reply = 2 * 1024 * 1024
        self.subnet = Principal(b"wasmhive-local-subnet")
        self.canisters: dict[bytes, Canister] = {}
        self.names: dict[str, bytes] = {}
        self.next_index = 0
        self.height = 0
        self.last_hash = b"\0" * 32
        self.time_ns = 0
        self.time_offset = 0
        self._clock = clock or _time.time_ns
        self._queue: deque[tuple[Any, ...]] = deque()
        self._lock = threading.RLock()
        self._pending: list[Entry] = []
        self._replay: deque[Entry] | None = None
        self._root_reply: _Holder | None = None
        self._rand_counter = 0
        self.durability = durability
        self.checkpoint_every = checkpoint_every
        self.store = None
        self.closed = False
        if state_dir is not None:
            from ._store import StateStore

            self.store = StateStore(Path(state_dir), durability)
            self.store.recover(self)

    # -- life cycle -------------------------------------------------------------------------------
    def close(self) -> None:
        """Flush, write a checkpoint and release the database."""
        if self.closed:
            return
        self.closed = True
        if self.store is not None:
            # Lock order everywhere: the store's commit lock, then the VM lock.
            with self.store._commit_lock, self._lock:
                self.flush_locked_checkpoint()
                self.store.close()
        if self._own_runtime:
            self.runtime.close()

    def __enter__(self) -> ContractVM:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- lookup ----------------------------------------------------------------------------------
    def canister(self, ref: str | Principal | Canister) -> Canister:
        """A canister by name, textual id or principal."""
        if isinstance(ref, Canister):
            return ref
        if isinstance(ref, Principal):
            c = self.canisters.get(ref.raw)
        elif ref in self.names:
            c = self.canisters.get(self.names[ref])
        else:
            try:
                c = self.canisters.get(Principal.from_text(ref).raw)
            except WasmhiveError:
                c = None
        if c is None:
            raise ContractError(f"no canister named {ref!s} (deployed: {', '.join(sorted(self.names)) or 'none'})")
        return c

    # -- time ------------------------------------------------------------------------------------
    def advance_time(self, seconds: float) -> None:
        """Move the VM's clock forward (timers become due)."""
        self.time_offset += int(seconds * 1e9)

    def _now(self) -> int:
        self.time_ns = max(self.time_ns + 1, int(self._clock()) + self.time_offset)
        return self.time_ns

    # -- public operations ---------------------------------------------------------------------------
    def deploy(self, wasm: bytes, *, name: str | None = None, arg: bytes = b"", caller: Principal = ANONYMOUS,
               cycles: int = DEFAULT_CYCLES, did: str | None = None) -> Canister:
        """Install a new canister; returns it. The caller becomes its controller."""
        with self._lock:
            if name is not None and name in self.names:
                raise ContractError(f"a canister named {name!r} already exists (use upgrade)")
            h = _Holder()
            self._root({"kind": "install", "wasm": wasm, "name": name, "arg": arg, "caller": caller.raw,
                        "cycles": cycles, "did": did}, h)
            if h.reply is None or not h.reply.ok:
                raise ContractError(f"install failed: {h.reply.reject_message if h.reply else 'unknown error'}")
            c = self.canisters[h.reply.data]
        self._durable()
        return c

    def upgrade(self, ref: str | Principal | Canister, wasm: bytes, *, arg: bytes = b"",
                caller: Principal = ANONYMOUS, did: str | None = None) -> Canister:
        """Replace a canister's module keeping its stable memory (and its heap for Motoko's enhanced
        orthogonal persistence). A trap in any hook undoes the whole upgrade."""
        with self._lock:
            c = self.canister(ref)
            if caller.raw not in c.controllers:
                raise ContractError(f"{caller} is not a controller of {c.name}")
            h = _Holder()
            self._root({"kind": "upgrade", "canister": c.id.raw, "wasm": wasm, "arg": arg, "caller": caller.raw,
                        "did": did}, h)
            if h.reply is None or not h.reply.ok:
                raise ContractError(f"upgrade refused: {h.reply.reject_message if h.reply else 'unknown'}")
            c = self.canisters[c.id.raw]
        self._durable()
        return c

    def update(self, ref: str | Principal | Canister, method: str, arg: bytes = b"",
               caller: Principal = ANONYMOUS) -> Reply:
        """Send an update call and wait for its (durable) reply."""
        with self._lock:
            c = self.canister(ref)
            refused = self._inspect(c, method, arg, caller)
            if refused is not None:
                return refused
            self._fire_timers()
            h = _Holder()
            self._root({"kind": "update", "canister": c.id.raw, "method": method, "arg": arg,
                        "caller": caller.raw}, h)
            reply = h.reply or Reply("rejected", reject_code=CANISTER_ERROR, reject_message="no reply")
        self._durable()
        return reply

    def _inspect(self, c: Canister, method: str, arg: bytes, caller: Principal) -> Reply | None:
        """Ask `canister_inspect_message` (if the canister has one) whether to accept an ingress update;
        like a query, nothing it does is kept."""
        func = c.exports.get("canister_inspect_message")
        if func is None:
            return None
        ctx = MessageContext("inspect", method, arg, caller.raw, max(self.time_ns, 1),
                             fuel_limit=MAX_QUERY_INSTRUCTIONS)
        saved = (c.cycles, c.timer, c.certified)
        c.run(func, (), ctx)
        c.rollback()
        c.cycles, c.timer, c.certified = saved
        if ctx.trap is None and ctx.accepted_message:
            return None
        why = f"trapped: {ctx.trap}" if ctx.trap is not None else "did not accept it"
        return Reply("rejected", reject_code=CANISTER_REJECT,
                     reject_message=f"canister {c.name} refused the message in canister_inspect_message ({why})")

    def query(self, ref: str | Principal | Canister, method: str, arg: bytes = b"",
              caller: Principal = ANONYMOUS) -> Reply:
        """Run a query: its changes are always discarded and nothing is logged."""
        with self._lock:
            c = self.canister(ref)
            func = c.exports.get(f"canister_query {method}") or c.exports.get(f"canister_composite_query {method}")
            if func is None:
                return Reply("rejected", reject_code=DESTINATION_INVALID,
                             reject_message=f"canister {c.name} has no query method {method!r}")
            if f"canister_composite_query {method}" in c.exports:
                return self._composite(c, func, method, arg, caller)
            cc = CallContext(caller.raw, ("query", None))
            ctx = MessageContext("query", method, arg, caller.raw, self.time_ns or self._now(), cc,
                                 fuel_limit=MAX_QUERY_INSTRUCTIONS)
            saved = (c.cycles, c.timer, c.certified)
            used = c.run(func, (), ctx)
            c.rollback()
            c.cycles, c.timer, c.certified = saved
            if ctx.trap is not None:
                return Reply("rejected", reject_code=CANISTER_ERROR, instructions=used,
                             reject_message=f"canister {c.name} trapped: {ctx.trap}")
            if ctx.rejected is not None:
                return Reply("rejected", reject_code=ctx.rejected[0], reject_message=ctx.rejected[1], instructions=used)
            if ctx.reply is None:
                return Reply("rejected", reject_code=CANISTER_ERROR, instructions=used,
                             reject_message=f"canister {c.name} did not reply")
            return Reply("replied", ctx.reply, instructions=used)

    def _composite(self, c: Canister, func: Any, method: str, arg: bytes, caller: Principal) -> Reply:
        """A composite query: it may call query methods (of any canister) and await them. Every message
        runs without committing; at the end every canister touched is rolled back."""
        now = self.time_ns or self._now()
        holder = _Holder()
        touched: dict[bytes, tuple[int, int, bytes]] = {}
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
                saved = (t.cycles, t.timer, t.certified)
                total += t.run(f, args, ctx, kinds)
                t.rollback()
                t.cycles, t.timer, t.certified = saved
            else:
                first = t.id.raw not in touched
                if first:
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
                    run(t, f, (), MessageContext(kind, m, a, who, now, cc, fuel_limit=MAX_QUERY_INSTRUCTIONS), ())
                else:
                    _, call, reply, reject = item
                    t = self.canisters[call.caller.raw]
                    kind = "reply" if reply is not None else "reject"
                    fun, env = call.reply if reply is not None else call.reject
                    ctx = MessageContext(kind, f"<{kind} from {call.method}>", reply or b"", call.callee, now,
                                         call.context, reject_code=reject[0] if reject else 0,
                                         reject_msg=reject[1] if reject else "", fuel_limit=MAX_QUERY_INSTRUCTIONS)
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
        r = holder.reply or Reply("rejected", reject_code=CANISTER_ERROR,
                                  reject_message="the composite query did not finish within its limits")
        r.instructions = total
        return r

    def call(self, ref: str | Principal | Canister, method: str, args: str = "()", *,
             caller: Principal = ANONYMOUS) -> str:
        """Call with Candid text arguments (query or update, as the canister declares the method);
        returns the reply in Candid text, raises `ContractReject` on a reject."""
        from ._client import encode_args, reply_text

        c = self.canister(ref)
        data = encode_args(c, method, args)
        r = self.query(c, method, data, caller) if c.export_kind(method) in ("query", "composite_query") else \
            self.update(c, method, data, caller)
        if not r.ok:
            raise ContractReject(r.reject_code, r.reject_message)
        return reply_text(c, method, r.data)

    def tick(self) -> int:
        """One round: run due timers, then the heartbeat of every canister that has one; returns how
        many messages ran."""
        with self._lock:
            n = self._fire_timers()
            for cid in sorted(self.canisters):
                if "canister_heartbeat" in self.canisters[cid].exports:
                    self._root({"kind": "heartbeat", "canister": cid, "time": self._now()}, _Holder())
                    n += 1
        self._durable()
        return n

    def deposit_cycles(self, ref: str | Principal | Canister, amount: int) -> None:
        """Top up a canister's cycles balance."""
        with self._lock:
            c = self.canister(ref)
            self._root({"kind": "deposit", "canister": c.id.raw, "amount": amount}, _Holder())
        self._durable()

    def state_hash(self, ref: str | Principal | Canister | None = None) -> bytes:
        """One canister's state hash, or (no argument) the hash over all canisters."""
        with self._lock:
            if ref is not None:
                return self.canister(ref).state_hash()
            h = hashlib.sha256()
            for cid in sorted(self.canisters):
                h.update(cid + self.canisters[cid].state_hash())
            return h.digest()

    # -- durability -------------------------------------------------------------------------------
    def flush(self) -> None:
        """Write the pending log entries (one transaction, fsync per the durability setting)."""
        if self.store is None:
            self._pending.clear()
            return
        with self.store._commit_lock:
            with self._lock:
                batch, self._pending = self._pending, []
                ckpt = self.height - self.store.checkpoint_height >= self.checkpoint_every
            self.store.append(batch)
            if ckpt:
                with self._lock:
                    self.flush_locked_checkpoint()

    def flush_locked_checkpoint(self) -> None:
        """Append what is pending and write a checkpoint (hold the commit lock, then the VM lock)."""
        assert self.store is not None
        batch, self._pending = self._pending, []
        self.store.append(batch)
        self.store.checkpoint(self)

    def _durable(self) -> None:
        if self.store is not None and self._replay is None:
            self.store.group_commit(self)

    # -- roots ----------------------------------------------------------------------------------
    def _root(self, root: dict[str, Any], holder: _Holder) -> None:
        if self.closed:
            raise ContractError("the contract VM is closed")
        root.setdefault("time", self._now() if self._replay is None else root.get("time", self.time_ns))
        self.time_ns = max(self.time_ns, root["time"])
        self._root_reply = holder
        self._rand_counter = 0
        kind = root["kind"]
        if kind == "install":
            self._install(root, holder)
        elif kind == "upgrade":
            self._upgrade(root, holder)
        elif kind == "update":
            cc = CallContext(root["caller"], ("ingress", holder))
            self._queue.append(("call", root["canister"], root["method"], root["arg"], root["caller"], cc, 0, root))
        elif kind in ("timer", "heartbeat"):
            self._queue.append((kind, root["canister"], root))
        elif kind == "deposit":
            c = self.canisters[root["canister"]]
            c.cycles += root["amount"]
            self._log("deposit", True, c, "", b"", root["amount"].to_bytes(16, "big"), b"", 0, root)
        else:  # pragma: no cover - only from a corrupted log
            raise ContractError(f"unknown root kind {kind!r}")
        while self._queue:
            self._step(self._queue.popleft())

    def _fire_timers(self) -> int:
        if self._replay is not None:
            return 0
        now = self._now()
        due = [cid for cid in sorted(self.canisters) if 0 < self.canisters[cid].timer <= now]
        for cid in due:
            self._root({"kind": "timer", "canister": cid, "time": self._now()}, _Holder())
        return len(due)

    # -- log -------------------------------------------------------------------------------------
    def _log(self, kind: str, root: bool, c: Canister, method: str, caller: bytes, arg: bytes, reply: bytes,
             instructions: int, root_data: dict[str, Any] | None) -> Entry:
        self.height += 1
        e = Entry(self.height, kind, root, c.id.text, method, caller, arg,
                  hashlib.sha256(reply).digest(), c.state_hash(), self.time_ns, instructions)
        e.prev_hash = self.last_hash
        e.hash = e.digest(self.last_hash)
        self.last_hash = e.hash
        if self._replay is not None:
            if not self._replay:
                raise ContractError(f"replay produced an extra entry at height {e.height}")
            want = self._replay.popleft()
            if want.height != e.height or not want.same_outcome(e) or want.hash != e.hash:
                raise ContractError(f"log mismatch at height {e.height}: recorded {want.kind} {want.method!r} on "
                                    f"{want.canister} with state {want.state_hash.hex()[:16]}, replay gives "
                                    f"{e.kind} {e.method!r} with state {e.state_hash.hex()[:16]}")
        else:
            e.root_data = root_data  # type: ignore[attr-defined]
            self._pending.append(e)
        return e

    # -- install / upgrade ----------------------------------------------------------------------------
    def _prepare_module(self, wasm: bytes) -> tuple[bytes, Any, Any]:
        instrumented, info = instrument(wasm)
        compiled = self.runtime.load(instrumented, name="canister")
        return instrumented, info, compiled.module

    def _service(self, info: Any, did: str | None) -> Service | None:
        text = did
        if text is None:
            for key in ("icp:public candid:service", "icp:private candid:service"):
                if key in info.custom:
                    text = info.custom[key].decode("utf-8", "replace")
                    break
        if text is None:
            return None
        try:
            return parse_did(text)
        except WasmhiveError:
            return None

    def _install(self, root: dict[str, Any], holder: _Holder) -> None:
        wasm = root["wasm"]
        instrumented, info, module = self._prepare_module(wasm)
        cid = canister_principal(self.next_index)
        name = root.get("name") or cid.text
        c = Canister(self, cid, name, wasm, instrumented, info, module, self._service(info, root.get("did")),
                     [root["caller"]], root["cycles"])
        ctx = MessageContext("start", time=self.time_ns, caller=root["caller"], fuel_limit=MAX_UPDATE_INSTRUCTIONS)
        c.run_start(ctx)
        used = 0
        if ctx.trap is None:
            init = c.exports.get("canister_init")
            ctx = MessageContext("init", "canister_init", root["arg"], root["caller"], self.time_ns,
                                 fuel_limit=MAX_UPDATE_INSTRUCTIONS)
            used = c.run(init, (), ctx) if init is not None else 0
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

    def _upgrade(self, root: dict[str, Any], holder: _Holder) -> None:
        old = self.canisters[root["canister"]]
        caller = root["caller"]
        fail = None
        ctx = MessageContext("pre_upgrade", "canister_pre_upgrade", b"", caller, self.time_ns,
                             fuel_limit=MAX_UPDATE_INSTRUCTIONS)
        pre = old.exports.get("canister_pre_upgrade")
        used = old.run(pre, (), ctx) if pre is not None else 0
        new: Canister | None = None
        if ctx.trap is not None:
            fail = f"canister_pre_upgrade trapped: {ctx.trap}"
        else:
            try:
                instrumented, info, module = self._prepare_module(root["wasm"])
            except WasmhiveError as e:
                fail = f"invalid module: {e}"
            else:
                new = Canister(self, old.id, old.name, root["wasm"], instrumented, info, module,
                               self._service(info, root.get("did")), old.controllers, old.cycles)
                new.stable = bytearray(old.stable)
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
                ctx = MessageContext("start", time=self.time_ns, caller=caller, fuel_limit=MAX_UPDATE_INSTRUCTIONS)
                new.run_start(ctx)
                if ctx.trap is None:
                    post = new.exports.get("canister_post_upgrade")
                    ctx = MessageContext("post_upgrade", "canister_post_upgrade", root["arg"], caller, self.time_ns,
                                         fuel_limit=MAX_UPDATE_INSTRUCTIONS)
                    used += new.run(post, (), ctx) if post is not None else 0
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

    # -- message execution -----------------------------------------------------------------------------
    def _fee(self, instructions: int) -> int:
        return BASE_FEE + instructions // INSTRUCTIONS_PER_CYCLE

    def _fuel_for(self, c: Canister) -> int:
        return max(0, min(MAX_UPDATE_INSTRUCTIONS, (c.cycles - BASE_FEE) * INSTRUCTIONS_PER_CYCLE))

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
                             fuel_limit=min(MAX_QUERY_INSTRUCTIONS, self._fuel_for(c)))
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
        c.cycles += refund
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
        self._answer(cc, None, (DESTINATION_INVALID,
                                f"the management canister method {method!r} is not emulated by wasmhive"))
