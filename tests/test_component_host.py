"""Host-implemented imports (Python objects) and composition (another component's exports serving an
import, across stores, in the same store, and from a manifest's dependency table)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from components.hosts import Bucket, Kv, PyOps, Sink, kitchen_imports
from wasmhive import ConfigError, GuestTrap, LinkError, Runtime
from wasmhive.component import Dependency, ResultError, dependencies_from_manifest

pytest_plugins = ["components.fixtures"]

EXPECTED_OPS = "Hello, Ada! count=3 min=-1 max=10 mean=4.0 q=-3"


def test_host_functions_receive_converted_values(echo: Any, kitchen_sink: Sink) -> None:
    kitchen_sink.logs.clear()
    assert echo.log_twice("hi") == 2
    assert kitchen_sink.logs == [("info", "hi"), ("warn", "hi!")]  # enum arguments arrive as str
    assert echo.host_roundtrip("key", b"abc") == ("KEY", b"cba")  # record in, dict out


def test_host_result_errors_become_err(echo: Any) -> None:
    assert echo.host_lookup("answer") == "42"
    with pytest.raises(ResultError) as e:
        echo.host_lookup("missing")
    assert e.value.value == "no key missing"


def test_host_exception_becomes_a_trap_carrying_it(crt: Runtime, kitchen_wasm: Path) -> None:
    comp = crt.component(kitchen_wasm, imports=kitchen_imports())
    with pytest.raises(GuestTrap) as e:
        comp.exports.echo.host_fail("boom")
    assert "host function raised RuntimeError: boom" in str(e.value)
    assert isinstance(e.value.__cause__, RuntimeError)
    # A trapped instance cannot be entered again; the component's default instance is replaced.
    assert comp.exports.echo.echo_u8(1) == 1


def test_host_returning_a_wrong_value_traps_with_a_type_error(crt: Runtime, kitchen_wasm: Path) -> None:
    class BadSink(Sink):
        def roundtrip(self, e: Any) -> Any:
            return {"key": 1, "value": b""}

    comp = crt.component(kitchen_wasm, imports=kitchen_imports(sink=BadSink()))
    with pytest.raises(GuestTrap) as e:
        comp.exports.echo.host_roundtrip("k", b"v")
    assert isinstance(e.value.__cause__, TypeError)
    assert "returned a value that is not entry.key" in str(e.value.__cause__)


def test_missing_and_unknown_imports_are_link_errors(crt: Runtime, kitchen_wasm: Path) -> None:
    with pytest.raises(LinkError, match="no provider for import test:kitchen/ops"):
        crt.component(kitchen_wasm, imports=kitchen_imports(ops=None))
    with pytest.raises(LinkError, match="does not import"):
        crt.component(kitchen_wasm, imports={**kitchen_imports(), "nope:x/y": object()})
    with pytest.raises(LinkError, match="has no callable 'divide'"):
        crt.component(kitchen_wasm, imports=kitchen_imports(ops={"greet": str, "stats": len}))


def test_python_functions_in_a_dict_and_version_free_names(crt: Runtime, kitchen_wasm: Path) -> None:
    ops = PyOps()
    comp = crt.component(kitchen_wasm, imports=kitchen_imports(
        ops={"greet": ops.greet, "stats": ops.stats, "divide": ops.divide}))
    assert comp.exports.echo.use_ops("Ada", [3, -1, 10], 7, -2) == EXPECTED_OPS
    assert comp.exports.echo.use_ops("Bo", [], 1, 0).endswith("q=err(division by zero)")


def test_composition_across_stores(crt: Runtime, kitchen_wasm: Path, math_c: Path) -> None:
    calc = crt.component(math_c)
    comp = crt.component(kitchen_wasm, imports=kitchen_imports(ops=calc.exports["docs:math/ops"]))
    assert comp.exports.echo.use_ops("Ada", [3, -1, 10], 7, -2) == EXPECTED_OPS
    assert comp.exports.echo.use_ops("Bo", [], 1, 0).endswith("q=err(division by zero)")
    # Single functions of another component can be mixed with Python ones.
    ops = {"greet": calc.exports.ops.greet, "stats": calc.exports.ops.stats, "divide": PyOps().divide}
    comp2 = crt.component(kitchen_wasm, imports=kitchen_imports(ops=ops))
    assert comp2.exports.echo.use_ops("Ada", [3, -1, 10], 7, -2) == EXPECTED_OPS


def test_composition_in_the_same_store(crt: Runtime, kitchen_wasm: Path, math_c: Path) -> None:
    calc = crt.component(math_c)
    comp = crt.component(kitchen_wasm, imports=kitchen_imports(ops=Dependency(calc, export="docs:math/ops")))
    with comp.instantiate() as a, comp.instantiate() as b:
        assert a.exports.echo.use_ops("Ada", [3, -1, 10], 7, -2) == EXPECTED_OPS
        assert b.exports.echo.use_ops("Ada", [3, -1, 10], 7, -2) == EXPECTED_OPS


def test_composition_type_mismatch_is_a_link_error(crt: Runtime, kitchen_wasm: Path, math_c: Path) -> None:
    calc = crt.component(math_c)
    with pytest.raises(LinkError, match=r"test:kitchen/ops.greet: expected func\(name: string\) -> string"):
        crt.component(kitchen_wasm, imports=kitchen_imports(ops={
            "greet": calc.exports.add, "stats": calc.exports.ops.stats, "divide": calc.exports.ops.divide}))
    with pytest.raises(LinkError, match="exports no function"):
        crt.component(kitchen_wasm, imports=kitchen_imports(ops=Dependency(calc)))


def test_dependencies_from_a_manifest(crt: Runtime, kitchen_wasm: Path, math_c: Path, tmp_path: Path) -> None:
    (tmp_path / "calc.wasm").write_bytes(math_c.read_bytes())
    deps = dependencies_from_manifest(
        crt, {"test:kitchen/ops": {"path": "calc.wasm", "export": "docs:math/ops"}}, base_dir=tmp_path)
    comp = crt.component(kitchen_wasm, imports={**kitchen_imports(ops=None), **deps})
    assert comp.exports.echo.use_ops("Ada", [3, -1, 10], 7, -2) == EXPECTED_OPS

    by_id = dependencies_from_manifest(crt, {"test:kitchen/ops": {"component": "calc", "export": "docs:math/ops"}},
                                       components={"calc": math_c})
    comp2 = crt.component(kitchen_wasm, imports={**kitchen_imports(ops=None), **by_id})
    assert comp2.exports.echo.use_ops("Ada", [3, -1, 10], 7, -2) == EXPECTED_OPS


@pytest.mark.parametrize(("spec", "message"), [
    ("1.0.0", "registry dependencies are not supported"),
    ({"registry": "x", "package": "a:b", "version": "1"}, "not supported"),
    ({"url": "https://example.com/x.wasm"}, "not supported"),
    ({"component": "nope"}, "no component with id 'nope'"),
    ({"pth": "x.wasm"}, "unknown key"),
    ({}, "needs path or component"),
])
def test_bad_manifest_dependencies(crt: Runtime, spec: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        dependencies_from_manifest(crt, {"a:b/c": spec}, components={})


def test_host_implemented_resource(crt: Runtime, kitchen_wasm: Path) -> None:
    Bucket.closed.clear()
    comp = crt.component(kitchen_wasm, imports=kitchen_imports())
    with comp.instantiate() as inst:
        before = Bucket.created
        out = inst.exports.echo.use_kv("k", "v")
        made, opened = out.split("|")[0], out.split("|", 1)[1]
        assert made == "v/None/bucket made with 1 key(s)"
        assert opened == f"v|bucket opened with 1 key(s)|count={before + 2}"
        # The guest dropped both handles: each object's close() ran.
        assert sorted(Bucket.closed) == ["made", "opened"]


def test_host_resource_provider_must_have_the_class(crt: Runtime, kitchen_wasm: Path) -> None:
    class NoClass:
        def open(self, name: str) -> Any:
            return None

        def describe(self, b: Any) -> str:
            return ""

    with pytest.raises(LinkError, match="has no class 'Bucket' with constructor"):
        crt.component(kitchen_wasm, imports=kitchen_imports(kv=NoClass()))
    assert Kv.Bucket is Bucket


def test_link_imports_into_a_foreign_linker(crt: Runtime, kitchen_wasm: Path, math_c: Path) -> None:
    """What the HTTP trigger does: its own linker and stores, our import providers."""
    import wasmtime
    import wasmtime.component as wc

    from wasmhive.component import link_imports

    linker = wc.Linker(crt.engine)
    linker.add_wasip2()
    linker.allow_shadowing = True
    calc = crt.component(math_c)
    links = link_imports(crt, kitchen_wasm, linker,
                         kitchen_imports(ops=Dependency(calc, export="docs:math/ops")))
    for _ in range(2):  # a store per "request"
        store = crt.new_store()
        store.set_wasi(wasmtime.WasiConfig())
        links.prepare(store)
        inst = linker.instantiate(store, crt.load(kitchen_wasm).component)
        echo = inst.get_export_index(store, "test:kitchen/echo")
        assert echo is not None
        idx = inst.get_export_index(store, "use-ops", echo)
        assert idx is not None
        use_ops = inst.get_func(store, idx)
        assert use_ops is not None
        assert use_ops(store, "Ada", [3, -1, 10], 7, -2) == EXPECTED_OPS
        links.release(store)


HOST_LOOP_WAT = """
(component
  (import "host" (func $h (param "x" u32) (result u32)))
  (core func $hl (canon lower (func $h)))
  (core module $m
    (import "host" "f" (func $f (param i32) (result i32)))
    (func (export "run") (param $n i32) (result i32)
      (local $acc i32)
      (block $done (loop $l
        local.get $n i32.eqz br_if $done
        local.get $acc call $f local.set $acc
        local.get $n i32.const 1 i32.sub local.set $n
        br $l))
      local.get $acc))
  (core instance $i (instantiate $m (with "host" (instance (export "f" (func $hl))))))
  (func (export "run") (param "n" u32) (result u32) (canon lift (core func $i "run"))))
"""


def test_host_exceptions_stay_with_their_thread(runtime: Runtime) -> None:
    import threading

    def host(x: int) -> int:
        name = threading.current_thread().name
        if name.startswith("bad") and x == 3:
            raise RuntimeError(name)
        return x + 1

    comp = runtime.component(HOST_LOOP_WAT.encode(), imports={"host": host})
    errors: list[str] = []

    def work() -> None:
        me = threading.current_thread().name
        for _ in range(30):
            with comp.instantiate() as inst:
                try:
                    got = inst.exports.run(10)
                    if me.startswith("bad") or got != 10:
                        errors.append(f"{me}: returned {got}")
                except GuestTrap as e:
                    if not me.startswith("bad") or str(e.__cause__) != me:
                        errors.append(f"{me}: got the exception of {e.__cause__}")

    threads = [threading.Thread(target=work, name=f"{'bad' if i % 2 else 'good'}-{i}") for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_fresh_calls_with_a_same_store_dependency(crt: Runtime, kitchen_wasm: Path, math_c: Path) -> None:
    import gc

    calc = crt.component(math_c)
    comp = crt.component(kitchen_wasm, fresh=True,
                         imports=kitchen_imports(ops=Dependency(calc, export="docs:math/ops")))
    for i in range(5):  # stores come and go (and their addresses get reused)
        assert comp.exports.echo.use_ops("Ada", [3, -1, 10], 7, -2) == EXPECTED_OPS
        if i % 2:
            gc.collect()
