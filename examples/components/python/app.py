"""The docs:math calculator in Python (componentize-py)."""

import wit_world
from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.ops import Summary


class WitWorld(wit_world.WitWorld):
    def add(self, a: int, b: int) -> int:
        return (a + b) & 0xFFFFFFFF


class Ops(exports.Ops):
    def greet(self, name: str) -> str:
        return f"Hello, {name}!"

    def stats(self, values: list[int]) -> Summary:
        if not values:
            return Summary(0, 0, 0, 0.0)
        return Summary(len(values), min(values), max(values), sum(values) / len(values))

    def divide(self, a: int, b: int) -> int:
        if b == 0:
            raise Err("division by zero")
        q = abs(a) // abs(b)
        return q if (a < 0) == (b < 0) else -q
