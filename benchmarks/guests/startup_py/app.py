"""The startup benchmark's Python guest: a wasi:cli command (componentize-py) that prints one line."""

from wit_world import exports


class Run(exports.Run):
    def run(self) -> None:
        print("hello from Python")
