"""Values through the canon engine follow wasmhive's typed convention, both ways, with a real guest.

The guest is the componentize-py kitchen sink (`tests/components/kitchen`): its `echo` exports are
called through `ExportFunc`, and its `sink`/`ops`/`kv` imports are served by the Python providers of
the component tests (`components.hosts`), bound through a small `Host` (WASI goes to `WasiHost`).
Records come back as record classes (given as dicts or records), variants always as `Variant` (also
`shape`, whose cases each have their own Python type, which the old convention left bare), nested
options as `Some`, top-level results as the ok value or a `ResultError` carrying the err payload, and
a host function's `ResultError` reaches the guest as `err`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import wasmtime

import wasmhive.canon._types as T
from components.hosts import Bucket, PyOps, Sink
from wasmhive import Runtime
from wasmhive.canon import CanonComponent, Instance, WasiHost, take_error
from wasmhive.component._values import Record, ResultError, Some, Variant
from wasmhive.wasi import HostState, bound

pytest_plugins = ["components.fixtures"]

ECHO = "test:kitchen/echo"


class KitchenHost:
    """The kitchen's imports for the canon engine: host resources (`kv.bucket`) as integer reps."""

    def __init__(self, engine: wasmtime.Engine) -> None:
        self.wasi = WasiHost(engine)
        self.sink, self.ops = Sink(), PyOps()
        self.buckets: dict[int, Bucket] = {}
        self.next_rep = 1
        self.returned: Any = None  # when set, what `sink.roundtrip` returns instead of its answer

    def _new(self, name: str) -> int:
        rep, self.next_rep = self.next_rep, self.next_rep + 1
        self.buckets[rep] = Bucket(name)
        return rep

    def func(self, iface: str, name: str, ty: T.FuncType) -> Callable[..., Any]:
        if iface.startswith("wasi:"):
            return self.wasi.func(iface, name, ty)
        b = self.buckets
        table: dict[str, Callable[..., Any]] = {
            "log": self.sink.log, "lookup": self.sink.lookup, "fail": self.sink.fail,
            "roundtrip": lambda e: self.sink.roundtrip(e) if self.returned is None else self.returned,
            "greet": self.ops.greet, "stats": self.ops.stats, "divide": self.ops.divide,
            "[constructor]bucket": self._new, "open": self._new,
            "[method]bucket.get": lambda rep, key: b[rep].get(key),
            "[method]bucket.set": lambda rep, key, value: b[rep].set(key, value),
            "[static]bucket.count": Bucket.count,
            "describe": lambda rep: f"bucket {b[rep].name} with {len(b[rep].data)} key(s)",
        }
        return table[name]

    def drop(self, res: T.Resource) -> Callable[[int], None]:
        if res.name.startswith("wasi:"):
            return self.wasi.drop(res)
        assert res.name == "test:kitchen/kv#bucket"
        return lambda rep: self.buckets.pop(rep).close()


@pytest.fixture(scope="module")
def prepared(compile_cache: Path, kitchen_wasm: Path) -> Iterator[tuple[CanonComponent, KitchenHost, Runtime]]:
    with Runtime(cache=compile_cache) as rt:
        host = KitchenHost(rt.engine)
        yield CanonComponent(rt, kitchen_wasm.read_bytes(), host, name="kitchen"), host, rt


@pytest.fixture
def call(prepared: tuple[CanonComponent, KitchenHost, Runtime]) -> Iterator[Callable[..., Any]]:
    """`call(export name, *args)` on a fresh instance of the kitchen guest."""
    comp, host, rt = prepared
    host.returned = None
    state = HostState(name="kitchen")
    try:
        with bound(state):
            inst = Instance(comp, rt.new_store())

            def call(name: str, *args: Any) -> Any:
                return comp.export(ECHO, name).call(inst, *args)
            yield call
    finally:
        state.close()


def test_records_lift_as_record_classes_and_lower_from_dicts_or_records(call: Callable[..., Any]) -> None:
    p = call("echo-point", {"x": 3, "y": -4})
    assert isinstance(p, Record) and (p.x, p.y) == (3, -4) and p._asdict() == {"x": 3, "y": -4}
    assert call("echo-point", p) == p  # a lifted record lowers again as it is
    person = call("echo-person", {"name": "Ada", "age": 36, "tags": ["math", "code"]})
    assert (person.name, person.age, person.tags) == ("Ada", 36, ["math", "code"])
    points = call("echo-points", [{"x": 1, "y": 2}, p])
    assert [(q.x, q.y) for q in points] == [(1, 2), (3, -4)]
    assert call("echo-tuple", (7, "seven", True)) == (7, "seven", True)
    with pytest.raises(TypeError, match="missing field 'y'"):
        call("echo-point", {"x": 1})


def test_variants_are_always_tagged(call: Callable[..., Any]) -> None:
    # `shape` = circle(f64) | rect(point) | empty: every case its own Python type, still a Variant.
    circle = call("echo-shape", Variant("circle", 1.5))
    assert isinstance(circle, Variant) and (circle.tag, circle.value) == ("circle", 1.5)
    rect = call("echo-shape", Variant("rect", {"x": 1, "y": 2}))
    assert rect.tag == "rect" and isinstance(rect.value, Record) and (rect.value.x, rect.value.y) == (1, 2)
    assert call("echo-shape", "empty") == Variant("empty")  # a case without payload: its bare tag
    assert call("echo-shape", Variant("empty")) == Variant("empty")
    with pytest.raises(TypeError, match="circle, rect, empty"):
        call("echo-shape", 1.5)  # a bare payload (the old convention) fits no case
    # the other shapes typed calls accept (`component._values.variant_parts`) lower the same here
    for given in ({"tag": "circle", "value": 2.0}, {"circle": 2.0}, ("circle", 2.0)):
        assert call("echo-shape", given) == Variant("circle", 2.0)
    with pytest.raises(TypeError, match="'triangle' is not a case"):
        call("echo-shape", {"triangle": 1.0})
    assert call("echo-color", "blue") == "blue"
    assert call("echo-perms", {"read", "exec"}) == {"read", "exec"}


def test_options_and_nested_options(call: Callable[..., Any]) -> None:
    assert call("echo-option", None) is None
    assert call("echo-option", "x") == "x"
    assert call("echo-nested", None) is None
    assert call("echo-nested", Some(None)) == Some(None)
    assert call("echo-nested", Some(5)) == Some(5)
    assert call("echo-nested", 5) == Some(5)  # a bare value is some(value)
    assert call("many", 1, "b", [2, 3], None) == "1|b|[2, 3]|None"
    assert call("many", 1, "b", [], {"x": 4, "y": 5}) == "1|b|[]|(4, 5)"


def test_top_level_results_are_the_ok_value_or_result_error(call: Callable[..., Any]) -> None:
    assert call("divide", 1.0, 4.0) == 0.25
    with pytest.raises(ResultError) as e:
        call("divide", 1.0, 0.0)
    assert e.value.value == "division by zero"
    assert call("check", True) is None
    with pytest.raises(ResultError) as e:
        call("check", False)
    assert e.value.value == "denied"  # an enum error
    assert call("parse", "3,4") == {"x": 3, "y": 4}
    with pytest.raises(ResultError) as e:
        call("parse", "abc")
    assert e.value.value == Variant("circle", 3.0)  # a variant error, tagged


def test_host_functions_take_and_return_typed_values(call: Callable[..., Any],
                                                     prepared: tuple[CanonComponent, KitchenHost, Runtime]) -> None:
    host = prepared[1]
    host.sink.logs.clear()
    assert call("log-twice", "hi") == 2
    assert host.sink.logs == [("info", "hi"), ("warn", "hi!")]  # enums arrive as str
    assert call("host-roundtrip", "key", b"abc") == ("KEY", b"cba")  # a record in (`e.key`), a dict out
    # A host function's ResultError is the guest's `err`, which comes back out of the export as one.
    assert call("host-lookup", "answer") == "42"
    with pytest.raises(ResultError) as e:
        call("host-lookup", "missing")
    assert e.value.value == "no key missing"
    assert call("use-ops", "Ada", [3, -1, 10], 7, 0) == \
        "Hello, Ada! count=3 min=-1 max=10 mean=4.0 q=err(division by zero)"
    # Host resources are integer reps; `option<string>` is None or the string.
    assert call("use-kv", "k", "v") == "v/None/bucket made with 1 key(s)|v|bucket opened with 1 key(s)|count=" \
        + str(Bucket.created)
    assert not host.buckets  # the guest dropped both: the destructor ran for each rep


def test_a_host_value_of_the_wrong_shape_traps_naming_it(call: Callable[..., Any],
                                                         prepared: tuple[CanonComponent, KitchenHost, Runtime]) -> None:
    prepared[1].returned = {"key": "k"}  # `entry` without its `value`
    with pytest.raises(wasmtime.WasmtimeError, match="expected entry: missing field 'value'"):
        call("host-roundtrip", "key", b"abc")
    assert isinstance(take_error(), TypeError)
