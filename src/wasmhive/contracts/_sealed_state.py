"""Contract state sealed at rest: every blob that carries canister data, encrypted and bound to its place.

A sealed state directory (`ContractVM(dir, sealed=True)`, `wasmhive contract --sealed`) stores, instead
of plaintext: each log entry's recorded input (the message arguments, the module reference), each stored
module, each checkpoint page, each canister's globals, certified data and Candid interface, and each
remembered signed-request reply. A blob is (all sizes in bytes)

    1 version (1) | 16 salt (random) | 12 nonce (random) | ciphertext | 16 GCM tag

with key = HKDF-SHA256(ikm=platform root key, salt=salt, info="wasmhive-contract-state/1" | store id) and
the blob's place (log height, module hash, canister + space + page index, ...) as GCM associated data:
a blob moved to another place, another store or another platform fails authentication. A fresh key per
blob (as `wasmhive.tee` sealing does) means random nonces never approach GCM's per-key limit, however long
the log grows. The store id is random, made when the directory is created, and kept in the `meta` table
with a check blob: opening with another root key is refused up front with that reason, not as "tampered".

What stays in the clear (metadata, as key names do in a sealed key-value store): heights, kinds, canister
ids and names, method names, callers, times, instruction counts, cycles, controllers, memory sizes and the
log's hashes. The hash chain covers the plaintext (argument hash, reply hash, state hash), so a sealed
log chains exactly like an unsealed one: `contract log` and the chain check need no key, and state hashes
compare across sealed and unsealed runs; replaying it (`verify`, recovery) needs the key. Each canister's
globals blob also carries its state hash at the checkpoint, bound to the checkpoint height (`_store`), so
a page rolled back to an older sealed version of itself is refused. Rolling back the whole directory, or
cutting the log's tail, is not detected (there is no monotonic counter).
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..errors import SealingError

__all__ = ["StateSealer", "state_sealer"]

_VERSION = 1
_HEAD = 1 + 16 + 12
_CHECK = b"wasmhive sealed contract state"
_UNSEALED = "none"


class StateSealer:
    """Seals and opens the blobs of one sealed state directory (one store id, one platform root key)."""

    def __init__(self, root_key: bytes, store_id: bytes, where: str) -> None:
        self._root = root_key
        self._info = b"wasmhive-contract-state/1" + store_id
        self.store_id = store_id
        self._where = where

    def __repr__(self) -> str:
        return f"StateSealer(store={self.store_id.hex()}, <root key hidden>)"

    def _key(self, salt: bytes) -> AESGCM:
        return AESGCM(HKDF(hashes.SHA256(), 32, salt, self._info).derive(self._root))

    def seal(self, data: bytes, place: bytes) -> bytes:
        """`data` encrypted for this store, bound to `place` (it opens nowhere else)."""
        salt, nonce = os.urandom(16), os.urandom(12)
        return bytes([_VERSION]) + salt + nonce + self._key(salt).encrypt(nonce, bytes(data), place)

    def open(self, blob: Any, place: bytes, what: str) -> bytes:
        """The plaintext of `blob` sealed at `place`; a `SealingError` naming `what` if it is not that."""
        blob = bytes(blob)
        if len(blob) < _HEAD + 16 or blob[0] != _VERSION:
            raise SealingError(f"{self._where}: {what} is not sealed contract state (unsealed or unknown format)",
                               reason="tampered")
        try:
            return self._key(blob[1:17]).decrypt(blob[17:_HEAD], blob[_HEAD:], place)
        except InvalidTag:
            raise SealingError(f"{self._where}: {what} failed authentication: it was modified or moved from "
                               "another place in the state", reason="tampered") from None


def _has_state(db: sqlite3.Connection) -> bool:
    return any(db.execute(f"SELECT 1 FROM {t} LIMIT 1").fetchone() for t in ("log", "modules", "checkpoint"))


def state_sealer(db: sqlite3.Connection, directory: Path, sealed: bool | None) -> StateSealer | None:
    """The sealer of the state in `db` (None when it is unsealed), checking it against the mode asked for.

    `sealed` True/False: what the caller opens it as (a new directory is marked so, in the `meta` table);
    None: follow the mark (read-only readers such as `verify`). A mismatch is a `SealingError`, never a
    silent switch; so is a sealed state opened with another platform root key.
    """
    try:
        row = db.execute("SELECT value FROM meta WHERE key = 'sealing'").fetchone()
    except sqlite3.OperationalError:  # read-only, and older than the meta table: unsealed
        return None
    if row is None:
        if sealed is None or _has_state(db):
            mark = _UNSEALED  # state written before the mark existed is unsealed
        else:
            mark = _new_mark(directory) if sealed else _UNSEALED
            db.execute("INSERT INTO meta VALUES ('sealing', ?)", (mark,))
    else:
        mark = row[0]
    if mark == _UNSEALED:
        if sealed:
            raise SealingError(f"{directory} holds unsealed contract state; it is not opened as sealed (use a new "
                               "state directory for sealed state)")
        return None
    if sealed is False:
        raise SealingError(f"{directory} holds sealed contract state: open it sealed (--sealed, sealed=True)")
    info = json.loads(mark)
    sealer = StateSealer(_root_key(directory, create=False), bytes.fromhex(info["store"]), str(directory))
    try:
        sealer.open(bytes.fromhex(info["check"]), b"check", "the key check")
    except SealingError:
        raise SealingError(f"{directory}: the contract state was sealed under another platform root key; this "
                           "platform's key cannot open it") from None
    return sealer


def _root_key(directory: Path, create: bool) -> bytes:
    # The same provider as sealed apps: $WASMHIVE_TEE_ROOT_KEY / $WASMHIVE_TEE_KEY_DIR, else <state>/tee/.
    # Keys are made only for a new sealed directory: a missing key for existing state is an error, not a
    # fresh key that cannot open it.
    from ..tee import platform_keys

    return platform_keys(default_dir=directory / "tee", create=create).root


def _new_mark(directory: Path) -> str:
    store_id = os.urandom(16)
    sealer = StateSealer(_root_key(directory, create=True), store_id, str(directory))
    return json.dumps({"store": store_id.hex(), "check": sealer.seal(_CHECK, b"check").hex()})
