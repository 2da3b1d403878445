"""`wasmhive wit` renders from the type model (`component/_model.read_world`), not from wasmtime's types.

The files in tests/guests/wit_golden/ are what `world_of(...).to_wit()`/`.to_json()` gave for the
component fixtures below before `_wit.py` was moved onto the model (the version that read wasmtime's
type objects itself); the model-based renderer must reproduce them byte for byte, with and without the
binary's name hints (`wasmhive wit` uses none, `wasmhive inspect` all).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import wasmtime
import wasmtime.component as wc
from wasmtime import _bindings as ffi

from wasmhive.component import _model as m
from wasmhive.component._wit import world_of
from wasmhive.runtime._inspect import inspect

TESTS = Path(__file__).parent
GOLDEN = TESTS / "guests" / "wit_golden"
FIXTURES = ["guests/inspect_types.wat", "components/echo_bytes.wat", "http/hostcall.wat", "canon/tiny.wat"]

# stream/future types need the component-model-async proposal, which wasmtime-py's Config does not
# expose; its C setter does. (`error-context` needs a feature the C API cannot switch on at all.)
ASYNC_WAT = """
(component
  (type $s (stream u8))
  (type $f (future string))
  (type $r (record (field "x" u32)))
  (import "f" (func (param "s" $s) (param "fu" $f) (result u32)))
  (import "i" (instance
    (export "r" (type (eq $r)))
    (export "g" (func (param "l" (list (future u32))) (result (option $s))))
    (export "h" (func (param "x" u32) (result u32)))))
)
"""


@pytest.mark.parametrize("fixture", FIXTURES)
def test_world_matches_the_recorded_rendering(fixture: str) -> None:
    path = TESTS / fixture
    engine = wasmtime.Engine()
    comp = wc.Component(engine, path.read_text())
    p = inspect(str(path)).parsed
    golden = json.loads((GOLDEN / (fixture.replace("/", "_").removesuffix(".wat") + ".json")).read_text())
    for key, hints in (("plain", {}), ("hinted", {"type_names": p.type_names, "func_hints": p.func_hints,
                                                  "field_hints": p.field_hints})):
        world = world_of(comp, engine, **hints)  # type: ignore[arg-type]
        assert world.to_wit() == golden[key]["wit"], key
        # Through a JSON round trip, as `inspect --json` prints it (tuples become lists).
        assert json.loads(json.dumps(world.to_json())) == golden[key]["json"], key


def _async_engine() -> wasmtime.Engine:
    cfg = wasmtime.Config()
    ffi.wasmtime_config_wasm_component_model_async_set(cfg.ptr(), True)
    return wasmtime.Engine(cfg)


def test_streams_and_futures_are_rendered_but_not_called() -> None:
    engine = _async_engine()
    comp = wc.Component(engine, ASYNC_WAT)
    text = world_of(comp, engine).to_wit().splitlines()
    assert "  import f: func(s: stream<u8>, fu: future<string>) -> u32;" in text
    assert "    g: func(l: list<future<u32>>) -> option<stream<u8>>;" in text
    world = m.read_world(comp, engine)
    f = dict(world.imports)["f"]
    assert isinstance(f, m.FuncSig)
    assert f.params == (("s", m.StreamOf(m.Prim("u8"))), ("fu", m.FutureOf(m.Prim("string"))))
    # The call path's signature leaves out what no converter can carry, and keeps the rest.
    sig = m.read_signature(comp, engine)
    assert "f" not in sig.imports
    iface = sig.imports["i"]
    assert isinstance(iface, m.InterfaceSig)
    assert list(iface.funcs) == ["h"]


def test_named_types_keep_their_identity_across_interfaces() -> None:
    engine = wasmtime.Engine()
    comp = wc.Component(engine, (TESTS / "guests/inspect_types.wat").read_text())
    world = m.read_world(comp, engine)
    types = dict(world.imports)["docs:math/types@0.1.0"]
    assert isinstance(types, m.Instance)
    members = dict(types.members)
    point, res = members["point"], members["res"]
    assert isinstance(point, m.Record) and isinstance(res, m.Resource)
    assert (point.name, point.owner) == ("point", "docs:math/types@0.1.0")
    # `f` at the world level takes the interface's point and res: the same identities.
    f = dict(world.imports)["f"]
    assert isinstance(f, m.FuncSig)
    p, r = (t for _, t in f.params)
    assert isinstance(p, m.Record) and isinstance(r, m.Own)
    assert p.ident == point.ident and r.ident == res.ident
    assert p == point  # model equality stays structural, as the converters expect
    # A different record type gets a different identity.
    host = dict(world.imports)["host"]
    assert isinstance(host, m.Instance)
    assert all(t.ident != point.ident for _, t in host.members if isinstance(t, m.Record))
    # The call path does not pay for identities.
    assert m.read_type(comp.type.imports(engine)["f"].ty.params[0][1]).ident is None
