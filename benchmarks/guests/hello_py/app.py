"""A minimal Python guest (componentize-py): the Python column of the isolation benchmark."""

import wit_world


class WitWorld(wit_world.WitWorld):
    def greet(self, name: str) -> str:
        return f"hello, {name}"
