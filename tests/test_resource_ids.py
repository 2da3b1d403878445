"""Host resource types are told apart by wasmtime only by their `u32` id: two host interfaces that share
an id would let a guest pass one interface's handle where the other's is expected. Every capability
takes its ids from `component/_restypes.allocate` (one id space), so ids never collide."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import wasmhive.capabilities as caps

SRC = Path(caps.__file__).resolve().parent.parent


def _capability_modules() -> list[str]:
    return [m.name for m in pkgutil.walk_packages(caps.__path__, "wasmhive.capabilities.")]


def test_no_capability_picks_a_literal_resource_id() -> None:
    literal = re.compile(r"^\s*RT\w*\s*(,\s*RT\w*\s*)*=\s*\(?\s*0x", re.M)
    offenders = [str(p.relative_to(SRC)) for p in (SRC / "capabilities").rglob("*.py") if literal.search(p.read_text())]
    assert offenders == [], f"host resource ids must come from _restypes.allocate: {offenders}"


def test_every_capability_resource_id_is_distinct() -> None:
    owner: dict[int, str] = {}  # id -> the capability package that defines it
    for name in _capability_modules():
        package = ".".join(name.split(".")[:3])  # wasmhive.capabilities.<capability>
        for attr, value in vars(importlib.import_module(name)).items():
            if not (attr == "RT" or attr.startswith("RT_")):
                continue
            for v in (value.values() if isinstance(value, dict) else [value]):
                if isinstance(v, int):
                    first = owner.setdefault(v, package)
                    assert first == package, f"resource id {v:#x} is used by {first} and {package}"
    assert len(owner) >= 12  # key-value, sqlite, redis, postgres/mysql, mqtt, wasi-nn at least
