"""The key-value backend seam: every backend offers these operations on a named store."""

from __future__ import annotations

from typing import Protocol

__all__ = ["KeyValueBackend", "KeyValueError"]


class KeyValueError(Exception):
    """A backend failed (I/O, connection, corrupt value). Surfaces to the guest as the `other` error."""


class KeyValueBackend(Protocol):
    """One store's data (a store is a label like `default`). Methods are safe to call from many threads.

    Values are bytes; a missing key is None. `increment` treats the value as a decimal integer (what
    Redis INCRBY does), so both backends agree on the bytes they store.
    """

    label: str

    def get(self, key: str) -> bytes | None:
        """The value of `key`, or None."""

    def set(self, key: str, value: bytes) -> None:
        """Store `value` under `key`; durable when this returns."""

    def delete(self, key: str) -> None:
        """Remove `key` (no error when absent)."""

    def exists(self, key: str) -> bool:
        """Whether `key` has a value."""

    def keys(self) -> list[str]:
        """All keys of this store."""

    def get_many(self, keys: list[str]) -> list[bytes | None]:
        """Values of `keys`, in order (None where absent)."""

    def set_many(self, items: list[tuple[str, bytes]]) -> None:
        """Store all pairs at once."""

    def delete_many(self, keys: list[str]) -> None:
        """Remove all `keys`."""

    def increment(self, key: str, delta: int) -> int:
        """Atomically add `delta` to the integer in `key` (absent = 0) and return the new value."""

    def compare_and_swap(self, key: str, expected: bytes | None, value: bytes) -> bool:
        """Set `key` to `value` only if it still holds `expected` (None = absent); True if it did."""

    def close(self) -> None:
        """Release connections."""
