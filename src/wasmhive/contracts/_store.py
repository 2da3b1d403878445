"""Durable contract state in SQLite (WAL): the hash-chained log, modules, and checkpoints.

An acknowledged update is in the log (fsync'd when durability is "full"; concurrent callers share
one fsync: group commit). Checkpoints hold each canister's pages changed since the previous one and
are written every `checkpoint_every` heights and on close; after a restart or `kill -9` the VM loads
the last checkpoint and replays the log entries after it, checking each state hash on the way. A sealed
store (`_sealed_state`) keeps every blob carrying canister data encrypted, bound to its place.
"""

from __future__ import annotations

import fcntl
import json
import sqlite3
import threading
import time as _time
from collections import deque
from dataclasses import asdict, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ..errors import SealingError
from ._canister import Canister
from ._principal import Principal
from ._sealed_state import StateSealer, state_sealer
from ._wasm import PAGE

if TYPE_CHECKING:
    from ._types import ContractLimits, Entry

__all__ = ["PersistedVM", "StateStore", "load_entries", "load_limits", "open_module", "replay"]


class PersistedVM(Protocol):
    """What the store persists and restores of the VM that owns it (`_vm.ContractVM` is the one): its
    chain head, canisters and names, remembered requests, and the hooks that re-run the log."""

    height: int
    last_hash: bytes
    time_ns: int
    time_offset: int
    next_index: int
    checkpoint_every: int
    canisters: dict[bytes, Canister]
    names: dict[str, bytes]
    requests: Any
    _lock: Any
    _pending: list[Entry]
    _replay: deque[Entry] | None

    def flush_locked_checkpoint(self) -> None: ...

    def _root(self, root: dict[str, Any], holder: Any) -> None: ...

    def _prepare_module(self, wasm: bytes) -> tuple[bytes, Any, Any]: ...

    def _service(self, info: Any, did: str | None) -> Any: ...

_SCHEMA = """
CREATE TABLE IF NOT EXISTS modules (hash TEXT PRIMARY KEY, wasm BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS log (
  height INTEGER PRIMARY KEY, kind TEXT, root INTEGER, canister TEXT, method TEXT, caller BLOB,
  arg_hash BLOB, reply_hash BLOB, state_hash BLOB, time INTEGER, instructions INTEGER,
  prev_hash BLOB, hash BLOB, root_json TEXT);
CREATE TABLE IF NOT EXISTS checkpoint (id INTEGER PRIMARY KEY CHECK (id = 1), height INTEGER, last_hash BLOB,
  time_ns INTEGER, time_offset INTEGER, next_index INTEGER);
CREATE TABLE IF NOT EXISTS ck_canisters (id BLOB PRIMARY KEY, name TEXT, module_hash TEXT, did TEXT,
  controllers TEXT, cycles TEXT, timer INTEGER, version INTEGER, certified BLOB, heap_size INTEGER,
  globals BLOB, stable_size INTEGER);
CREATE TABLE IF NOT EXISTS requests (id BLOB PRIMARY KEY, expiry INTEGER, reply TEXT);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS ck_pages (canister BLOB, space INTEGER, page INTEGER, data BLOB,
  PRIMARY KEY (canister, space, page)) WITHOUT ROWID;
"""


def _enc(v: Any) -> Any:
    if isinstance(v, (bytes, bytearray)):
        return {"$b": bytes(v).hex()}
    return v


def _dec(v: Any) -> Any:
    if isinstance(v, dict) and "$b" in v:
        return bytes.fromhex(v["$b"])
    return v


class StateStore:
    """The SQLite database behind a durable `ContractVM`."""

    def __init__(self, directory: Path, durability: str, sealed: bool = False) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        # One VM per state directory: a second process would fork the state. The lock dies with us.
        self._lock_file = open(directory / "contracts.lock", "a+")  # noqa: SIM115 - held for our lifetime
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock_file.close()
            from ._types import ContractError

            raise ContractError(f"{directory} is in use by another wasmhive process (one contract VM per "
                                "state directory: stop it, or use its HTTP API)") from None
        self.path = directory / "contracts.db"
        self.db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(f"PRAGMA synchronous={durability.upper()}")
        self.db.executescript(_SCHEMA)
        try:
            self.sealer = state_sealer(self.db, directory, sealed)
        except BaseException:
            self.close()
            raise
        self.checkpoint_height = 0
        self.durable_height = 0
        self._commit_lock = threading.Lock()
        self._db_lock = threading.Lock()

    def close(self) -> None:
        self.db.close()
        self._lock_file.close()

    # -- log ------------------------------------------------------------------------------------------
    def append(self, batch: list[Entry]) -> None:
        """Write entries (and new modules) in one transaction."""
        if not batch:
            return
        rows = []
        modules = []
        requests = []
        sealer = self.sealer
        for e in batch:
            root = getattr(e, "root_data", None)
            rj: str | bytes | None = None
            if e.root and root is not None:
                data = dict(root)
                if "request_id" in data and "reply" in data:
                    # Signed ingress: its id and first reply, so a replay is refused after a restart too.
                    text = json.dumps(data.pop("reply"))
                    reply = text if sealer is None else sealer.seal(text.encode(), _request_place(data["request_id"]))
                    requests.append((data["request_id"], data["expiry"], reply))
                if "wasm" in data:
                    import hashlib

                    mh = hashlib.sha256(data["wasm"]).hexdigest()
                    wasm = data.pop("wasm")
                    modules.append((mh, wasm if sealer is None else sealer.seal(wasm, _module_place(mh))))
                    data["module"] = mh
                text = json.dumps({k: _enc(v) for k, v in data.items()})
                rj = text if sealer is None else sealer.seal(text.encode(), _log_place(e.height))
            rows.append((e.height, e.kind, int(e.root), e.canister, e.method, e.caller, e.arg_hash(), e.reply_hash,
                         e.state_hash, e.time, e.instructions, e.prev_hash, e.hash, rj))
        with self._db_lock:
            self.db.execute("BEGIN")
            try:
                self.db.executemany("INSERT OR IGNORE INTO modules VALUES (?, ?)", modules)
                self.db.executemany("INSERT INTO log VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
                self.db.executemany("INSERT OR REPLACE INTO requests VALUES (?, ?, ?)", requests)
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
        self.durable_height = max(self.durable_height, batch[-1].height)

    def group_commit(self, vm: PersistedVM) -> None:
        """Return once everything this thread's update produced is durable (one leader writes for all)."""
        target = vm.height
        with self._commit_lock:
            if self.durable_height >= target:
                return
            with vm._lock:
                batch, vm._pending = vm._pending, []
                ckpt = vm.height - self.checkpoint_height >= vm.checkpoint_every
            self.append(batch)
            if ckpt:
                with vm._lock:
                    vm.flush_locked_checkpoint()

    def save_limits(self, limits: ContractLimits) -> None:
        """Record the limits in force: replaying the log needs the ones it was written under."""
        with self._db_lock:
            self.db.execute("INSERT OR REPLACE INTO meta VALUES ('limits', ?)", (json.dumps(asdict(limits)),))

    def module(self, mh: str) -> bytes:
        row = self.db.execute("SELECT wasm FROM modules WHERE hash = ?", (mh,)).fetchone()
        if row is None:
            raise KeyError(mh)
        return open_module(self.sealer, mh, row[0])

    # -- checkpoints ---------------------------------------------------------------------------------
    def checkpoint(self, vm: PersistedVM) -> None:
        """Write every canister's changes since the last checkpoint (call with the VM lock held)."""
        with self._db_lock:
            self.db.execute("BEGIN")
            try:
                sealer = self.sealer
                for c in vm.canisters.values():
                    did = getattr(c, "did_text", None)
                    certified, globals_ = c.certified, c.globals
                    if sealer is not None:
                        did, certified, globals_ = _seal_canister(sealer, c.id.raw, vm.height, c.state_hash(), did,
                                                                  certified, globals_)
                    self.db.execute("INSERT OR REPLACE INTO ck_canisters VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", (
                        c.id.raw, c.name, c.module_hash, did, json.dumps([x.hex() for x in c.controllers]),
                        str(c.cycles), c.timer, c.version, certified, len(c.shadow), globals_, len(c.stable)))
                    if getattr(c, "full_rewrite", False):
                        self.db.execute("DELETE FROM ck_pages WHERE canister = ?", (c.id.raw,))
                        c.full_rewrite = False  # type: ignore[attr-defined]
                    sh = c.shadow
                    heap_pages = ((c.id.raw, 0, p, sh[p * PAGE:(p + 1) * PAGE].tobytes()) for p in sorted(c.dirty_heap)
                                  if (p + 1) * PAGE <= len(sh))
                    st = c.stable
                    stable_pages = ((c.id.raw, 1, p, bytes(st[p * PAGE:(p + 1) * PAGE])) for p in sorted(c.dirty_stable)
                                    if (p + 1) * PAGE <= len(st))
                    if sealer is not None:
                        heap_pages = _seal_pages(sealer, heap_pages)
                        stable_pages = _seal_pages(sealer, stable_pages)
                    self.db.executemany("INSERT OR REPLACE INTO ck_pages VALUES (?,?,?,?)", heap_pages)
                    self.db.executemany("INSERT OR REPLACE INTO ck_pages VALUES (?,?,?,?)", stable_pages)
                    c.dirty_heap.clear()
                    c.dirty_stable.clear()
                self.db.execute("DELETE FROM requests WHERE expiry < ?", (_time.time_ns(),))
                self.db.execute("INSERT OR REPLACE INTO checkpoint VALUES (1, ?, ?, ?, ?, ?)",
                                (vm.height, vm.last_hash, vm.time_ns, vm.time_offset, vm.next_index))
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
        self.checkpoint_height = vm.height

    def recover(self, vm: PersistedVM) -> None:
        """Load the last checkpoint into `vm`, then replay the log after it."""
        sealer = self.sealer
        row = self.db.execute("SELECT height, last_hash, time_ns, time_offset, next_index FROM checkpoint").fetchone()
        if row is not None:
            vm.height, vm.last_hash, vm.time_ns, vm.time_offset, vm.next_index = row
            self.checkpoint_height = vm.height
            for (cid, name, mh, did, ctrl, cycles, timer, version, certified, heap_size, globals_,
                 stable_size) in self.db.execute("SELECT * FROM ck_canisters").fetchall():
                sealed_hash = b""
                if sealer is not None:
                    did, certified, globals_, sealed_hash = _open_canister(sealer, cid, vm.height, did, certified,
                                                                           globals_)
                wasm = self.module(mh)
                instrumented, info, module = vm._prepare_module(wasm)
                c = Canister(vm, Principal(cid), name, wasm, instrumented, info, module, vm._service(info, did),
                             [bytes.fromhex(x) for x in json.loads(ctrl)], int(cycles))
                c.did_text = did  # type: ignore[attr-defined]
                heap = np.zeros(heap_size, dtype=np.uint8)
                c.stable = bytearray(stable_size)
                for space, page, data in self.db.execute(
                        "SELECT space, page, data FROM ck_pages WHERE canister = ?", (cid,)):
                    if sealer is not None:
                        data = sealer.open(data, _page_place(cid, space, page),
                                           f"checkpoint page {page} ({'heap' if space == 0 else 'stable'}) of "
                                           f"canister {name}")
                    if space == 0 and (page + 1) * PAGE <= heap_size:
                        heap[page * PAGE:(page + 1) * PAGE] = np.frombuffer(data, np.uint8)
                    elif space == 1 and (page + 1) * PAGE <= stable_size:
                        c.stable[page * PAGE:(page + 1) * PAGE] = data
                c.load_heap(heap, bytes(globals_))
                c.timer, c.version, c.certified = timer, version, bytes(certified)
                c.reset_tracking()
                c.dirty_heap.clear()
                c.dirty_stable.clear()
                if sealer is not None and c.state_hash() != sealed_hash:
                    raise SealingError(f"{self.path}: the checkpoint of canister {name} does not match the state "
                                       "hash sealed with it: a page was rolled back, removed or added",
                                       reason="tampered")
                vm.canisters[c.id.raw] = c
                vm.names[name] = c.id.raw
        entries = load_entries(self.db, after=vm.height, sealer=sealer)
        if entries:
            replay(vm, entries, self.module)
        self.durable_height = vm.height
        from ._types import Reply

        for rid, expiry, rj in self.db.execute("SELECT id, expiry, reply FROM requests WHERE expiry >= ?",
                                               (_time.time_ns(),)).fetchall():
            if sealer is not None:
                rj = sealer.open(rj, _request_place(bytes(rid)), "a remembered request reply").decode()
            r = json.loads(rj)
            vm.requests.remember(bytes(rid), expiry, Reply(r["status"], bytes.fromhex(r["data"]), r["code"],
                                                          r["message"], r["instructions"], r["height"]))


# Each sealed blob's place (its GCM associated data): a blob copied or swapped to another place fails.
def _log_place(height: int) -> bytes:
    return b"log\0%d" % height


def _module_place(mh: str) -> bytes:
    return b"module\0" + mh.encode()


def _request_place(rid: bytes) -> bytes:
    return b"request\0" + bytes(rid)


def _page_place(cid: bytes, space: int, page: int) -> bytes:
    return b"page\0%d\0%d\0" % (space, page) + bytes(cid)


def _field_place(cid: bytes, name: bytes) -> bytes:
    return b"canister\0" + name + b"\0" + bytes(cid)


def _seal_pages(sealer: StateSealer, rows: Any) -> Any:
    return ((cid, space, p, sealer.seal(data, _page_place(cid, space, p))) for cid, space, p, data in rows)


# The globals blob also carries the canister's state hash at the checkpoint and is bound to the checkpoint
# height (every canister row is rewritten at each checkpoint): a page rolled back to an older sealed
# version of itself opens, but the loaded state then misses this hash.
def _seal_canister(sealer: StateSealer, cid: bytes, height: int, state_hash: bytes, did: str | None,
                   certified: bytes, globals_: bytes) -> tuple[bytes | None, bytes, bytes]:
    return (None if did is None else sealer.seal(did.encode(), _field_place(cid, b"did")),
            sealer.seal(certified, _field_place(cid, b"certified")),
            sealer.seal(state_hash + globals_, _field_place(cid, b"globals\0%d" % height)))


def _open_canister(sealer: StateSealer, cid: bytes, height: int, did: Any, certified: Any,
                   globals_: Any) -> tuple[str | None, bytes, bytes, bytes]:
    what = f"checkpoint of canister {Principal(bytes(cid)).text}"
    both = sealer.open(globals_, _field_place(cid, b"globals\0%d" % height), what)
    return (None if did is None else sealer.open(did, _field_place(cid, b"did"), what).decode(),
            sealer.open(certified, _field_place(cid, b"certified"), what), both[32:], both[:32])


def open_module(sealer: StateSealer | None, mh: str, stored: Any) -> bytes:
    """A stored module's Wasm (unsealed when the store is sealed)."""
    if sealer is None:
        return bytes(stored)
    return sealer.open(stored, _module_place(mh), f"module {mh[:16]}...")


def load_limits(db: sqlite3.Connection) -> ContractLimits | None:
    """The `ContractLimits` a state directory was last run with (None before limits were recorded)."""
    from ._types import ContractLimits

    try:
        row = db.execute("SELECT value FROM meta WHERE key = 'limits'").fetchone()
    except sqlite3.OperationalError:  # a state directory older than the table
        return None
    if row is None:
        return None
    data = json.loads(row[0])
    return ContractLimits(**{f.name: data[f.name] for f in fields(ContractLimits) if f.name in data})


def load_entries(db: sqlite3.Connection, after: int = 0, sealer: StateSealer | None = None) -> list[Entry]:
    """The log entries above height `after`; with `sealer`, their recorded inputs unsealed (else left as stored)."""
    from ._types import Entry

    out = []
    for (height, kind, root, canister, method, caller, arg_hash, reply_hash, state_hash, time, instr, prev, h,
         rj) in db.execute("SELECT * FROM log WHERE height > ? ORDER BY height", (after,)):
        e = Entry(height, kind, bool(root), canister, method, bytes(caller), b"", bytes(reply_hash),
                  bytes(state_hash), time, instr, bytes(prev), bytes(h), bytes(arg_hash))
        if sealer is not None and rj is not None:
            rj = sealer.open(rj, _log_place(height), f"log entry {height}").decode()
        e.root_json = rj  # type: ignore[attr-defined]
        out.append(e)
    return out


def replay(vm: PersistedVM, entries: list[Entry], modules: Any) -> None:
    """Re-execute the roots in `entries` on `vm`, checking every produced entry against the log."""
    from ._messages import Holder
    from ._types import ContractError

    vm._replay = deque(entries)
    try:
        while vm._replay:
            e = vm._replay[0]
            if not e.root:
                raise ContractError(f"log entry {e.height} is not the start of a root message")
            rj = getattr(e, "root_json", None)
            if not rj:
                raise ContractError(f"log entry {e.height} has no recorded input")
            root = {k: _dec(v) for k, v in json.loads(rj).items()}
            if "module" in root:
                root["wasm"] = modules(root.pop("module"))
            holder = Holder()
            vm._root(root, holder)
            if root["kind"] in ("install", "upgrade") and (holder.reply is None or not holder.reply.ok):
                raise ContractError(f"replaying {root['kind']} at height {e.height} failed")
    finally:
        vm._replay = None
