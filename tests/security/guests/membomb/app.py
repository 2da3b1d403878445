"""A wasi:cli command (componentize-py) that allocates 1 MiB at a time until an allocation fails.

Python raises MemoryError when `memory.grow` is refused; uncaught, componentize-py prints it and aborts
(a wasm `unreachable` trap): the memory bomb of `tests/security/test_memory_total.py`.
"""

from wit_world import exports


class Run(exports.Run):
    def run(self) -> None:
        hoard = []
        while True:
            hoard.append(bytearray(1 << 20))
