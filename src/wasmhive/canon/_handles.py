"""The handle table of one component instance: guest handle index → (resource type, rep, own/borrow).

Index 0 is never valid; freed slots are reused. Every lookup checks that the index is live and that its
resource type is the one the function's type names; a bad one is a `CanonTrap` naming the index.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import wasmhive.canon._types as T

from ._abi import CanonTrap

__all__ = ["HandleTable"]


class HandleTable:
    """Handles of one instance. `host_drop(res, rep)` runs when the guest drops an owned host resource."""

    __slots__ = ("_free", "_items", "host_drop")

    def __init__(self, host_drop: Callable[[T.Resource, int], None]) -> None:
        self._items: list[tuple[T.Resource, int, bool] | None] = [None]
        self._free: list[int] = []
        self.host_drop = host_drop

    def _add(self, entry: tuple[T.Resource, int, bool]) -> int:
        if self._free:
            i = self._free.pop()
            self._items[i] = entry
            return i
        self._items.append(entry)
        return len(self._items) - 1

    def _get(self, res: T.Resource, i: int) -> tuple[T.Resource, int, bool]:
        e = self._items[i] if 0 < i < len(self._items) else None
        if e is None:
            raise CanonTrap(f"unknown handle index {i}")
        if e[0] is not res:
            raise CanonTrap(f"handle index {i} is a {e[0].name}, not a {res.name}")
        return e

    def _remove(self, i: int) -> None:
        self._items[i] = None
        self._free.append(i)

    def lower_own(self, res: T.Resource, rep: Any) -> int:
        if not isinstance(rep, int):
            raise TypeError(f"expected a resource rep (int), got {type(rep).__name__}")
        return self._add((res, rep, True))

    def lower_borrow(self, res: T.Resource, rep: Any) -> int:
        raise CanonTrap("lending a borrow to the guest is not supported by the canon prototype")

    def lift_own(self, res: T.Resource, i: int) -> int:
        _, rep, own = self._get(res, i)
        if not own:
            raise CanonTrap(f"handle index {i} is a borrow, passed where an own is expected")
        self._remove(i)
        return rep

    def lift_borrow(self, res: T.Resource, i: int) -> int:
        return self._get(res, i)[1]

    def drop(self, res: T.Resource, i: int) -> tuple[int, bool]:
        """`resource.drop`: forget handle `i`; (rep, was it owned)."""
        _, rep, own = self._get(res, i)
        self._remove(i)
        if own and res.imported:
            self.host_drop(res, rep)
        return rep, own

    def new(self, res: T.Resource, rep: int) -> int:
        return self._add((res, rep, True))

    def rep(self, res: T.Resource, i: int) -> int:
        return self._get(res, i)[1]

    def __len__(self) -> int:
        return sum(1 for e in self._items if e is not None)
