"""The contract VM: canisters, messages and call contexts, cycles, timers, upgrades, the committed log.

Every state change enters through a *root* (install, upgrade, ingress update, timer, cycles deposit).
A root is executed to quiescence: the ingress message, then the inter-canister calls and callbacks it
causes, in FIFO order, each message its own commit point. Every executed message appends one entry
to the hash-chained log; roots carry their full input, so replaying the roots from the modules
reproduces every entry (and `verify` checks that it does).
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time as _time
from collections import deque
from pathlib import Path
from typing import Any

from ..errors import ConfigError, WasmhiveError
from ..runtime import EngineSettings, Limits, Runtime
from ._admission import admit
from ._candid_text import Service, parse_did
from ._canister import Canister
from ._context import CallContext, MessageContext
from ._messages import Holder, MessageExecution
from ._principal import ANONYMOUS, Principal
from ._requests import RequestLog
from ._store import StateStore, load_limits
from ._types import (
    CANISTER_ERROR,
    CANISTER_REJECT,
    DEFAULT_CYCLES,
    DESTINATION_INVALID,
    INSPECT_INSTRUCTIONS,
    SYS_TRANSIENT,
    ContractError,
    ContractLimits,
    ContractReject,
    Entry,
    Reply,
)

__all__ = ["ContractError", "ContractReject", "ContractVM", "Entry", "Reply"]

class ContractVM(MessageExecution):
    """A local Internet Computer: deploy canisters, send updates and queries, upgrade, verify.

    `state_dir` (e.g. `.wasmhive/`) makes it durable (SQLite, WAL); `None` keeps everything in memory.
    `durability`: "full" (the log is fsync'd before an update is acknowledged; concurrent callers
    share one fsync: group commit), "normal" (written to the OS before the reply, fsync'd at
    checkpoints: survives `kill -9` of the process, an OS crash may lose the latest updates) or "off".
    `limits` bounds what callers and canisters may use (`ContractLimits`). `sealed=True` keeps the state
    encrypted at rest under the platform root key (`_sealed_state`); a directory is sealed or not for life.
    """

    def __init__(self, state_dir: str | Path | None = None, *, durability: str = "full",
                 runtime: Runtime | None = None, clock: Any = None, checkpoint_every: int = 5000,
                 limits: ContractLimits | None = None, sealed: bool = False) -> None:
        if durability not in ("full", "normal", "off"):
            raise ConfigError("durability must be 'full', 'normal' or 'off'")
        if sealed and state_dir is None:
            raise ConfigError("sealed contract state needs a state directory (in-memory state is never on disk)")
        self.runtime = runtime or Runtime(EngineSettings.deterministic())
        self._own_runtime = runtime is None
        if not self.runtime.settings.fuel:
            raise ConfigError("the contract VM needs a Runtime with fuel=True (EngineSettings.deterministic())")
        self.limits = limits or ContractLimits()
        self.store_limits = Limits(memory=self.limits.max_heap + 65536)
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
        # Locking: `_lock` serialises roots (the log is one sequence); each canister has its own lock,
        # held while one of its messages runs. A query takes only its canister's lock, so queries run
        # beside updates to other canisters and between the messages of a long update.
        self._lock = threading.RLock()
        self._canister_locks: dict[bytes, threading.RLock] = {}
        self._locks_guard = threading.Lock()
        self.requests = RequestLog(self.limits.max_signed_requests)  # signed updates run, until expiry
        self._pending: list[Entry] = []
        self._replay: deque[Entry] | None = None
        self._root_reply: Holder | None = None
        self._rand_counter = 0
        self.durability = durability
        self.checkpoint_every = checkpoint_every
        self.store = None
        self.closed = False
        if state_dir is not None:
            try:
                self.store = StateStore(Path(state_dir), durability, sealed)
                # The log's tail is replayed under the limits it was written with; ours apply from now on.
                given = self.limits
                self.limits = load_limits(self.store.db) or given
                self.store.recover(self)
            except BaseException:
                # Release the state directory (a refused key or a tampered blob): the caller may fix and retry.
                if self.store is not None:
                    self.store.close()
                if self._own_runtime:
                    self.runtime.close()
                raise
            self.limits = given
            self.store.save_limits(given)

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

    def _canister_lock(self, cid: bytes) -> Any:
        """The lock of canister `cid` (a no-op context for ids that are not canisters)."""
        if cid not in self.canisters:
            return contextlib.nullcontext()
        with self._locks_guard:
            lock = self._canister_locks.get(cid)
            if lock is None:
                lock = self._canister_locks[cid] = threading.RLock()
            return lock

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
            if not 0 <= cycles < 1 << 128:
                raise ContractError("a canister's cycles must be a natural number below 2**128")
            if len(self.canisters) >= self.limits.max_canisters:
                raise ContractError(f"this contract VM already holds {len(self.canisters)} canisters, its limit "
                                    "(ContractLimits.max_canisters)")
            h = Holder()
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
            h = Holder()
            self._root({"kind": "upgrade", "canister": c.id.raw, "wasm": wasm, "arg": arg, "caller": caller.raw,
                        "did": did}, h)
            if h.reply is None or not h.reply.ok:
                raise ContractError(f"upgrade refused: {h.reply.reject_message if h.reply else 'unknown'}")
            c = self.canisters[c.id.raw]
        self._durable()
        return c

    def update(self, ref: str | Principal | Canister, method: str, arg: bytes = b"",
               caller: Principal = ANONYMOUS, *, request_id: bytes | None = None, expiry: int = 0) -> Reply:
        """Send an update call and wait for its (durable) reply.

        `request_id` (with its `expiry`, ns since the epoch) names a signed request: until the expiry a
        second update with the same id is not executed, it gets the first one's reply (durably: the ids
        are stored with the log)."""
        with self._lock:
            if request_id is not None:
                seen = self.requests.get(request_id)
                if seen is not None:
                    return seen
                if self.requests.full():
                    return Reply("rejected", reject_code=SYS_TRANSIENT, reject_message=(
                        f"{len(self.requests)} signed requests are within their expiry already "
                        "(ContractLimits.max_signed_requests): retry later"))
            c = self.canister(ref)
            with self._canister_lock(c.id.raw):
                refused = self._inspect(c, method, arg, caller)
            if refused is not None:
                return refused
            self._fire_timers()
            h = Holder()
            root: dict[str, Any] = {"kind": "update", "canister": c.id.raw, "method": method, "arg": arg,
                                    "caller": caller.raw}
            if request_id is not None:
                root.update(request_id=request_id, expiry=expiry)
            self._root(root, h)
            reply = h.reply or Reply("rejected", reject_code=CANISTER_ERROR, reject_message="no reply")
            if request_id is not None:
                # Written with the root's log entry (see StateStore.append), so it outlives a restart.
                root["reply"] = {"status": reply.status, "data": reply.data.hex(), "code": reply.reject_code,
                                 "message": reply.reject_message, "instructions": reply.instructions,
                                 "height": reply.height}
                self.requests.remember(request_id, expiry, reply)
        self._durable()
        return reply

    def _inspect(self, c: Canister, method: str, arg: bytes, caller: Principal) -> Reply | None:
        """Ask `canister_inspect_message` (if the canister has one) whether to accept an ingress update;
        like a query, nothing it does is kept."""
        func = c.exports.get("canister_inspect_message")
        if func is None:
            return None
        ctx = MessageContext("inspect", method, arg, caller.raw, max(self.time_ns, 1),
                             fuel_limit=INSPECT_INSTRUCTIONS)
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
        """Run a query: its changes are always discarded and nothing is logged.

        A plain query holds only its canister's lock (updates to other canisters go on meanwhile) and
        ends at `limits.query_instructions`; a composite query is serialised with updates."""
        cid = self.canister(ref).id.raw
        if f"canister_composite_query {method}" in self.canister(ref).exports:
            with self._lock:
                c = self.canister(Principal(cid))
                func = c.exports.get(f"canister_composite_query {method}")
                if func is not None:
                    return self._composite(c, func, method, arg, caller)
        with self._canister_lock(cid):
            c = self.canister(Principal(cid))  # again: an upgrade may have replaced it meanwhile
            func = c.exports.get(f"canister_query {method}")
            if func is None:
                return Reply("rejected", reject_code=DESTINATION_INVALID,
                             reject_message=f"canister {c.name} has no query method {method!r}")
            cc = CallContext(caller.raw, ("query", None))
            ctx = MessageContext("query", method, arg, caller.raw, self.time_ns or self._now(), cc,
                                 fuel_limit=self.limits.query_instructions)
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
                    self._root({"kind": "heartbeat", "canister": cid, "time": self._now()}, Holder())
                    n += 1
        self._durable()
        return n

    def deposit_cycles(self, ref: str | Principal | Canister, amount: int) -> None:
        """Top up a canister's cycles balance."""
        if not 0 < amount < 1 << 128:
            raise ContractError("a deposit must be a positive number of cycles below 2**128")
        with self._lock:
            c = self.canister(ref)
            self._root({"kind": "deposit", "canister": c.id.raw, "amount": amount}, Holder())
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
    def _root(self, root: dict[str, Any], holder: Holder) -> None:
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
            with self._canister_lock(root["canister"]):
                self._upgrade(root, holder)
        elif kind == "update":
            cc = CallContext(root["caller"], ("ingress", holder))
            self._queue.append(("call", root["canister"], root["method"], root["arg"], root["caller"], cc, 0, root))
        elif kind in ("timer", "heartbeat"):
            self._queue.append((kind, root["canister"], root))
        elif kind == "deposit":
            c = self.canisters[root["canister"]]
            with self._canister_lock(c.id.raw):
                c.cycles += root["amount"]
            self._log("deposit", True, c, "", b"", root["amount"].to_bytes(16, "big"), b"", 0, root)
        else:  # pragma: no cover - only from a corrupted log
            raise ContractError(f"unknown root kind {kind!r}")
        steps = 0
        while self._queue:
            if steps >= self.limits.max_messages_per_root:
                self._drop_queue()
                break
            steps += 1
            msg = self._queue.popleft()
            target = msg[1].caller.raw if msg[0] == "response" else msg[1]
            with self._canister_lock(target):
                self._step(msg)

    def _fire_timers(self) -> int:
        if self._replay is not None:
            return 0
        now = self._now()
        due = [cid for cid in sorted(self.canisters) if 0 < self.canisters[cid].timer <= now]
        for cid in due:
            self._root({"kind": "timer", "canister": cid, "time": self._now()}, Holder())
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
        instrumented, info = admit(wasm, self.runtime.engine, self.limits)
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
