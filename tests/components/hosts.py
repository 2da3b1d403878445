"""Python providers for the kitchen guest's imports (shared by the component tests)."""

from __future__ import annotations

from typing import Any, ClassVar

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


class Bucket:
    """`test:kitchen/kv.bucket`, implemented by the host."""

    created: ClassVar[int] = 0
    closed: ClassVar[list[str]] = []

    def __init__(self, name: str) -> None:
        self.name = name
        self.data: dict[str, str] = {}
        Bucket.created += 1

    def get(self, key: str) -> str | None:
        return self.data.get(key)

    def set(self, key: str, value: str) -> None:
        self.data[key] = value

    @staticmethod
    def count() -> int:
        return Bucket.created

    def close(self) -> None:
        Bucket.closed.append(self.name)


class Kv:
    """`test:kitchen/kv`: the resource class plus free functions using it."""

    Bucket = Bucket

    def open(self, name: str) -> Bucket:
        return Bucket(name)

    def describe(self, b: Bucket) -> str:
        return f"bucket {b.name} with {len(b.data)} key(s)"


def kitchen_imports(**overrides: Any) -> dict[str, Any]:
    """Providers for every import of the kitchen guest; keyword overrides by short name (sink, ops, kv)."""
    out = {"test:kitchen/sink": Sink(), "test:kitchen/ops": PyOps(), "test:kitchen/kv": Kv()}
    for short, value in overrides.items():
        out[f"test:kitchen/{short}"] = value
    return {k: v for k, v in out.items() if v is not None}
