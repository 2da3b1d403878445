"""Python providers for the kitchen guest's imports (shared by the component tests)."""

from __future__ import annotations

from typing import Any

from wasmhive.component import ResultError


class Sink:
    """The host side of `test:kitchen/sink`: records what the guest logged."""

    def __init__(self) -> None:
        self.logs: list[tuple[str, str]] = []
        self.table = {"answer": "42"}

    def log(self, level: str, msg: str) -> None:
        self.logs.append((level, msg))

    def lookup(self, key: str) -> str:
        if key in self.table:
            return self.table[key]
        raise ResultError(f"no key {key}")

    def fail(self, msg: str) -> None:
        raise RuntimeError(msg)

    def roundtrip(self, e: Any) -> dict[str, Any]:
        return {"key": e.key.upper(), "value": e.value[::-1]}


class PyOps:
    """`test:kitchen/ops` served by plain Python."""

    def greet(self, name: str) -> str:
        return f"Hello, {name}!"

    def stats(self, values: list[int]) -> dict[str, Any]:
        if not values:
            return {"count": 0, "min": 0, "max": 0, "mean": 0.0}
        return {"count": len(values), "min": min(values), "max": max(values), "mean": sum(values) / len(values)}

    def divide(self, a: int, b: int) -> int:
        if b == 0:
            raise ResultError("division by zero")
        return int(a / b)
