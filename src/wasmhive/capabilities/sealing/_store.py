"""A sealed key-value namespace: `[key_value_store.<label>] sealed = true` keeps every value sealed at rest.

Guests with access to the store see plaintext, exactly as before; the backend (the SQLite file, Redis)
only ever holds sealed blobs. The sealing identity is the store itself (SHA-256 of "wasmhive-kv-store",
the app name and the label, as a "measurement"), so any process of the same app with the same platform
root key reads it, and nothing else can. Each value is sealed together with its key, so a blob copied to
another key (or another store) is refused when read. Key names are not encrypted.

`increment` and `compare_and_swap` cannot run on ciphertext: both become compare-and-swap loops on the
stored blob, which keeps them atomic on every backend.
"""

from __future__ import annotations

import hashlib

from ...errors import SealingError
from ...tee import Identity, Sealer
from ..key_value._backend import KeyValueBackend, KeyValueError

__all__ = ["SealedStore", "store_identity"]

_MAX_RETRIES = 100


def store_identity(app_name: str, label: str) -> Identity:
    """The identity a sealed store's values are bound to."""
    digest = hashlib.sha256(b"wasmhive-kv-store\0" + app_name.encode() + b"\0" + label.encode()).hexdigest()
    return Identity(digest)


class SealedStore:
    """A `KeyValueBackend` that seals values (bound to their key) before they reach `inner`."""

    def __init__(self, inner: KeyValueBackend, sealer: Sealer, identity: Identity) -> None:
        self.inner = inner
        self.label = inner.label
        self._sealer = sealer
        self._identity = identity

    def _seal(self, key: str, value: bytes) -> bytes:
        k = key.encode()
        return self._sealer.seal(len(k).to_bytes(4, "big") + k + bytes(value), "same-code", self._identity)

    def _open(self, key: str, blob: bytes | None) -> bytes | None:
        if blob is None:
            return None
        try:
            plain = self._sealer.unseal(blob, self._identity)
        except SealingError as e:
            raise KeyValueError(f"store {self.label!r}: value of {key!r} cannot be unsealed: {e}") from None
        n = int.from_bytes(plain[:4], "big")
        if plain[4:4 + n] != key.encode():
            raise KeyValueError(f"store {self.label!r}: the value stored under {key!r} was sealed for another key")
        return plain[4 + n:]

    def get(self, key: str) -> bytes | None:
        return self._open(key, self.inner.get(key))

    def set(self, key: str, value: bytes) -> None:
        self.inner.set(key, self._seal(key, value))

    def delete(self, key: str) -> None:
        self.inner.delete(key)

    def exists(self, key: str) -> bool:
        return self.inner.exists(key)

    def keys(self) -> list[str]:
        return self.inner.keys()

    def get_many(self, keys: list[str]) -> list[bytes | None]:
        return [self._open(k, v) for k, v in zip(keys, self.inner.get_many(keys), strict=True)]

    def set_many(self, items: list[tuple[str, bytes]]) -> None:
        self.inner.set_many([(k, self._seal(k, v)) for k, v in items])

    def delete_many(self, keys: list[str]) -> None:
        self.inner.delete_many(keys)

    def compare_and_swap(self, key: str, expected: bytes | None, value: bytes) -> bool:
        raw = self.inner.get(key)
        if self._open(key, raw) != expected:
            return False
        if raw is None:
            # absent -> set: the inner CAS with expected None is atomic on every backend
            return self.inner.compare_and_swap(key, None, self._seal(key, value))
        return self.inner.compare_and_swap(key, raw, self._seal(key, value))

    def increment(self, key: str, delta: int) -> int:
        for _ in range(_MAX_RETRIES):
            raw = self.inner.get(key)
            current = self._open(key, raw)
            try:
                value = (int(current) if current is not None else 0) + delta
            except ValueError:
                raise KeyValueError(f"store {self.label!r}: value of {key!r} is not an integer") from None
            if self.inner.compare_and_swap(key, raw, self._seal(key, str(value).encode())):
                return value
        raise KeyValueError(f"store {self.label!r}: increment of {key!r} lost {_MAX_RETRIES} races in a row")

    def close(self) -> None:
        self.inner.close()
