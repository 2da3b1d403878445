"""A componentize-py guest for `wasmhive inspect` tests: a scalar export and an interface with WIT types."""

import wit_world


class WitWorld(wit_world.WitWorld):
    def add(self, a: int, b: int) -> int:
        return a + b


class Shapes:
    def area(self, s, u):  # type: ignore[no-untyped-def]
        return 1.0

    def label(self, p, st):  # type: ignore[no-untyped-def]
        return None
