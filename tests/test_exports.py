"""The public API is declared once, in `wasmhive.__all__`, and is exactly the intended set."""

from __future__ import annotations

import wasmhive
from wasmhive import errors

# Add a name here when you add it to wasmhive/__init__.py, and only then.
EXPECTED = {
    "App",
    "BuildError",
    "CapabilityDenied",
    "Compiled",
    "ConfigError",
    "DeadlineExceeded",
    "EngineSettings",
    "GuestExit",
    "GuestTrap",
    "Instance",
    "InvalidModule",
    "LimitExceeded",
    "LinkError",
    "Limits",
    "Preopen",
    "RunResult",
    "Runtime",
    "Sandbox",
    "WasmhiveError",
    "__version__",
}


def test_exported_names_are_exactly_the_intended_ones() -> None:
    assert set(wasmhive.__all__) == EXPECTED
    assert len(wasmhive.__all__) == len(set(wasmhive.__all__)), "duplicate names in __all__"


def test_every_exported_name_exists_and_is_documented() -> None:
    for name in wasmhive.__all__:
        value = getattr(wasmhive, name)
        if name != "__version__":
            assert value.__doc__, f"wasmhive.{name} has no docstring"


def test_exported_objects_say_they_belong_to_wasmhive() -> None:
    for name in wasmhive.__all__:
        module = getattr(getattr(wasmhive, name), "__module__", "wasmhive")
        assert module.startswith("wasmhive"), (name, module)


def test_every_error_has_one_root_and_an_exit_code() -> None:
    for name in errors.__all__:
        obj = getattr(errors, name)
        if isinstance(obj, type):
            assert issubclass(obj, errors.WasmhiveError), name
            assert isinstance(obj.exit_code, int), name
