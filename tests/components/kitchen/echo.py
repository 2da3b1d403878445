"""The exported `counter` resource (componentize-py looks it up in a module named after the interface)."""

from wit_world.exports import echo as t

DROPPED = [0]


class Counter(t.Counter):
    def __init__(self, start: int) -> None:
        self.value = start

    def increment(self, by: int) -> int:
        self.value += by
        return self.value

    def get(self) -> int:
        return self.value

    @staticmethod
    def describe() -> str:
        return "a counter"

    def __del__(self) -> None:
        DROPPED[0] += 1


