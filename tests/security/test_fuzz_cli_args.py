"""Fuzzing `wasmhive call`'s arguments: command-line words parsed by their WIT type (`parse_word`,
JSON for compound types), then lowered into a real component's call.

`parse_word` raises only `ValueError` (the CLI's "bad argument"); the call itself answers, returns an
`err` (ResultError), or refuses the value with `TypeError`/`ValueError` (also a bad argument in the
CLI) or a wasmhive error. Nothing else: anything else would be a traceback for the user.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wasmhive.component import _model as m
from wasmhive.component._json import parse_word

from .fuzzing import survives

pytestmark = pytest.mark.fuzz
pytest_plugins = ["components.fixtures"]

PRIMS = ["bool", "s8", "u8", "s16", "u16", "s32", "u32", "s64", "u64", "f32", "f64", "char", "string"]
_names = st.sampled_from(["a", "b", "red", "green", "x-y", "tag", "value", "some", "ok", "err"])



@st.composite
def wit_types(draw: st.DrawFn, depth: int = 3) -> Any:
    """A random WIT type, at most `depth` constructors deep (drawn by hand: the value's repr stays small)."""
    kind = draw(st.sampled_from(["prim", "enum", "flags"] + (["list", "option", "result", "tuple", "record",
                                                            "variant"] * 2 if depth > 0 else [])))
    names = st.lists(_names, min_size=1, max_size=3, unique=True)
    inner = wit_types(depth - 1) if depth > 0 else st.nothing()
    if kind == "prim":
        return m.Prim(draw(st.sampled_from(PRIMS)))
    if kind in ("enum", "flags"):
        return (m.Enum if kind == "enum" else m.Flags)(tuple(draw(names)))
    if kind == "list":
        return m.ListOf(draw(inner))
    if kind == "option":
        return m.OptionOf(draw(inner))
    if kind == "result":
        return m.ResultOf(draw(st.none() | inner), draw(st.none() | inner))
    if kind == "tuple":
        return m.TupleOf(tuple(draw(st.lists(inner, min_size=1, max_size=3))))
    if kind == "record":
        return m.Record(tuple((n, draw(inner)) for n in draw(names)))
    return m.Variant(tuple((n, draw(st.none() | inner)) for n in draw(names)))


_json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_names | st.text(max_size=4),
                                                                                         inner, max_size=3),
                            max_leaves=10)
# Deep nesting and huge numbers are built when drawn (a strategy holding them would have a huge repr).
_huge = st.sampled_from([("[", 3000), ('{"a":', 2000), ("9", 4400), ("-", 1)]).map(lambda p: p[0] * p[1])
words = (st.text(max_size=40) | _json_values.map(json.dumps) | _huge
         | st.sampled_from(["1e999", "-0", "0x10", "[[1]]", '{"tag": [1]}', '["x", ["y"]]', "NaN", "\x00",
                            "null", "none", "true"]))
_health = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                          HealthCheck.data_too_large])


@_health
@given(ty=wit_types(), word=words)
def test_fuzz_parse_word(ty: Any, word: str) -> None:
    survives(lambda: parse_word(ty, word), ValueError)


@pytest.mark.slow
@settings(_health, max_examples=max(settings.default.max_examples // 4, 10))
@given(data=st.data())
def test_fuzz_call_kitchen_component(kitchen: Any, data: st.DataObject) -> None:
    from wasmhive.component import ResultError

    names = [n for n in ("echo-bool", "echo-u8", "echo-s64", "echo-u64", "echo-f32", "echo-char", "echo-string",
                         "echo-bytes", "echo-list", "echo-point", "echo-person", "echo-tuple", "echo-shape",
                         "echo-color", "echo-perms", "echo-option", "echo-nested", "echo-points", "check",
                         "parse")]
    fname = data.draw(st.sampled_from(names))
    iface, sig = kitchen.locate(fname)
    values = []
    for _, ty in sig.params:
        word = data.draw(words)
        parsed = survives(lambda ty=ty, word=word: parse_word(ty, word), ValueError)  # type: ignore[misc]
        if isinstance(parsed, BaseException):
            return
        values.append(parsed)
    fn = kitchen.instance.bound(iface, sig.name)
    survives(lambda: fn(*values), TypeError, ValueError, ResultError)
