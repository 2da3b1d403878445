"""The host-call path (`wasmhive.component._hostcall`): host functions and export calls with converters
built once, in the one value convention (a `result` is the ok value or `ResultError`).

`tests/http/hostcall.wat` passes each value through a host function of the same type and back, so
every test exercises both directions (lowering our results, lifting the guest's arguments): host
results checked against the WIT type, errors kept per thread, and one id space for host resource types.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import wasmtime
import wasmtime.component as wc

from wasmhive.component import _hostcall as hc
from wasmhive.component._convert import read_bytes, write_bytes
from wasmhive.component._hostres import HostResource
from wasmhive.component._restypes import allocate, host_id, register
from wasmhive.component._values import ResultError
from wasmhive.wasi import HOST_RESOURCES

WAT = (Path(__file__).parent / "http" / "hostcall.wat").read_text()
COUNTER = 4242  # host resource type id of `counter`


class Host:
    def __init__(self) -> None:
        self.counters: dict[int, int] = {}
        self.dropped: list[int] = []
        self.next_rep = 100

    def new(self, start: int) -> int:
        self.next_rep += 1
        self.counters[self.next_rep] = start
        return self.next_rep

    def next(self, rep: int) -> int:
        self.counters[rep] += 1
        return self.counters[rep]

    def drop(self, rep: int) -> None:
        self.dropped.append(rep)
        del self.counters[rep]


def component_engine() -> tuple[wasmtime.Engine, wc.Component]:
    cfg = wasmtime.Config()
    cfg.wasm_component_model = True
    engine = wasmtime.Engine(cfg)
    return engine, wc.Component(engine, WAT)


@pytest.fixture(scope="module")
def env():  # type: ignore[no-untyped-def]
    engine, component = component_engine()
    host = Host()
    hr = {COUNTER: wc.ResourceType.host(COUNTER)}
    linker = wc.Linker(engine)

    def maybe(x: int) -> object:
        if x == 0:
            return None  # ok(none)
        if x == 1:
            raise ResultError("one is not allowed")  # err(string)
        if x == 2:
            raise hc.HostTrap("two traps")
        if x == 3:
            raise ValueError("three is a bug")
        return x * 10  # ok(some(x * 10))

    with linker.root() as root, root.add_instance("host") as h:
        hc.define_resource(h, "counter", COUNTER, host.drop)
        hc.define_func(h, "[constructor]counter", host.new, host_resources=hr)
        hc.define_func(h, "[method]counter.next", host.next, host_resources=hr)
        hc.define_func(h, "add", lambda a, b: a + b)
        hc.define_func(h, "echo", lambda b: b[::-1])
        hc.define_func(h, "maybe", maybe)
        hc.define_func(h, "pairs", lambda p: [(k.upper(), v + b"!") for k, v in p])
        hc.define_func(h, "mix", lambda x, c, b: (x * 2, c.upper(), not b))
    return engine, component, linker, host


def call(env, name: str, *args):  # type: ignore[no-untyped-def]
    engine, component, linker, _ = env
    store = wasmtime.Store(engine)
    inst = linker.instantiate(store, component)
    func = inst.get_func(store, name)
    return hc.ExportCall(func, store)(store, func, *args)


def test_scalars_and_tuples(env) -> None:  # type: ignore[no-untyped-def]
    assert call(env, "add", 2, 40) == 42
    x, c, b = call(env, "mix", 1.25, "é", True)
    assert (x, c, b) == (2.5, "É", False)


def test_bytes_both_ways(env) -> None:  # type: ignore[no-untyped-def]
    assert call(env, "echo", b"") == b""
    data = bytes(range(256)) * 1000
    assert call(env, "echo", data) == data[::-1]


def test_lists_of_tuples_of_strings_and_bytes(env) -> None:  # type: ignore[no-untyped-def]
    got = call(env, "pairs", [("content-type", b"text/plain"), ("x-ü", b"")])
    assert got == [("CONTENT-TYPE", b"text/plain!"), ("X-Ü", b"!")]


def test_result_of_option_can_return_its_error(env) -> None:  # type: ignore[no-untyped-def]
    assert call(env, "maybe", 0) is None
    assert call(env, "maybe", 5) == 50
    # A host function raises ResultError for err(...); the export call raises it back with the payload.
    with pytest.raises(ResultError) as e:
        call(env, "maybe", 1)
    assert e.value.value == "one is not allowed"
    assert hc.take_host_error() is None  # an err result is an answer, not a trap


def test_host_errors_trap_with_a_message_and_are_kept_per_thread(env) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(wasmtime.WasmtimeError) as e:
        call(env, "maybe", 2)
    assert "maybe: two traps" in str(e.value)
    err = hc.take_host_error()
    assert isinstance(err, hc.HostTrap) and hc.take_host_error() is None
    with pytest.raises(wasmtime.WasmtimeError) as e:
        call(env, "maybe", 3)
    assert "ValueError: three is a bug" in str(e.value)
    assert isinstance(hc.take_host_error(), ValueError)

    seen: list[BaseException | None] = []

    def other_thread() -> None:
        seen.append(hc.take_host_error())

    with pytest.raises(wasmtime.WasmtimeError):
        call(env, "maybe", 3)
    t = threading.Thread(target=other_thread)
    t.start()
    t.join()
    assert seen == [None]  # another thread's failure is not this thread's
    assert isinstance(hc.take_host_error(), ValueError)


def test_host_resources_as_reps_with_borrows_released_and_dtor(env) -> None:  # type: ignore[no-untyped-def]
    host = env[3]
    before = len(host.dropped)
    # Constructed (own → rep), used three times through a borrow, dropped by the guest.
    assert call(env, "count", 10, 3) == 13
    assert len(host.dropped) == before + 1 and host.dropped[-1] not in host.counters


def test_many_threads_at_once(env) -> None:  # type: ignore[no-untyped-def]
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for j in range(20):
                assert call(env, "add", i, j) == i + j
                assert call(env, "echo", bytes([i, j])) == bytes([j, i])
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_read_write_bytes_helpers() -> None:
    import ctypes

    from wasmtime import _ffi as ffi

    vl = ffi.wasmtime_component_vallist_t()
    addr = ctypes.addressof(vl)
    write_bytes(addr, b"\x00\xffabc")
    assert read_bytes(addr) == b"\x00\xffabc"
    ffi.wasmtime_component_vallist_delete(ctypes.byref(vl))


@pytest.fixture(scope="module")
def checked_env():  # type: ignore[no-untyped-def]
    engine, component = component_engine()
    counter = allocate("tests:hostcall/host#counter")
    reps: dict[int, int] = {}
    answers: dict[str, object] = {}
    linker = wc.Linker(engine)
    with linker.root() as root, root.add_instance("host") as h:
        hc.define_resource(h, "counter", counter, lambda rep: reps.pop(rep))
        hc.define_func(h, "[constructor]counter", lambda start: reps.setdefault(len(reps) + 1, start) and len(reps))
        hc.define_func(h, "[method]counter.next", lambda rep: reps[rep])
        hc.define_func(h, "add", lambda a, b: answers.get("add", a + b))
        hc.define_func(h, "echo", lambda b: answers.get("echo", b))
        hc.define_func(h, "maybe", lambda x: answers.get("maybe", x))
        hc.define_func(h, "pairs", lambda p: answers.get("pairs", p))
        hc.define_func(h, "mix", lambda x, c, b: answers.get("mix", (x, c, b)))
    return engine, component, linker, answers


@pytest.mark.parametrize(("name", "args", "bad", "says"), [
    ("add", (1, 2), "3", "returned a value that is not u32: expects u32, got str '3'"),
    ("add", (1, 2), 1 << 32, "4294967296 is out of range for u32"),
    ("add", (1, 2), True, "expects u32, got bool"),
    ("echo", (b"x",), "x", "returned a value that is not list<u8>: expects list<u8> (bytes), got str"),
    ("pairs", ([("a", b"b")],), [("a", "b")], "returned a value that is not list<tuple<string, list<u8>>>[0][1]"),
    ("mix", (1.0, "c", True), (1.0, "cc", True), "[1]: expects char (a one-character str)"),
    ("maybe", (4,), 2.5, "result<option<u32>, string><ok><some>: expects u32, got float 2.5"),
])
def test_a_host_result_that_does_not_fit_its_type_traps_naming_function_and_place(
        checked_env, name: str, args: tuple[object, ...], bad: object, says: str) -> None:  # type: ignore[no-untyped-def]
    checked_env[3][name] = bad
    try:
        with pytest.raises(wasmtime.WasmtimeError) as e:
            call(checked_env, name, *args)
    finally:
        del checked_env[3][name]
    assert f"{name}: host function raised TypeError: " in str(e.value)
    assert says in str(e.value)
    assert isinstance(hc.take_host_error(), TypeError)
    assert call(checked_env, name, *args) is not None  # the linker still serves the next call


def test_an_export_argument_that_does_not_fit_is_a_type_error_before_the_call(checked_env) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TypeError, match=r"argument 0\[0\]\[1\]: expects list<u8> \(bytes\), got str"):
        call(checked_env, "pairs", [("a", "not bytes")])
    assert call(checked_env, "pairs", [("a", b"ok")]) == [("a", b"ok")]


def test_host_resources_share_one_id_space() -> None:
    # The WASI layer's, the capabilities' and a typed component import's resource types never collide.
    a, b = HostResource("bucket"), HostResource("bucket")
    ids = {a.type_id, b.type_id, *HOST_RESOURCES}
    assert len(ids) == 2 + len(HOST_RESOURCES)
    assert allocate("tests:hostcall/x#r") == allocate("tests:hostcall/x#r") != allocate("tests:hostcall/x#s")
    assert host_id(wc.ResourceType.host(a.type_id)) == a.type_id
    assert host_id(wc.ResourceType.host(0x7FFF_FFF0)) is None  # never registered: a guest resource
    assert host_id(register(4242)) == 4242  # an id older code chose itself still works


def test_host_calls_find_their_instance_state_from_their_own_store() -> None:
    # Store A's guest calls the host, which (on the same thread) calls store B's guest, whose host call
    # must see B's state, and A's again once B returns: state comes from the calling store, not the thread.
    from wasmhive.wasi import HostState, attach, current

    engine, component = component_engine()
    seen: list[str] = []
    other: dict[str, object] = {}

    def add(a: int, b: int) -> int:
        seen.append(current().name)
        if a == 1:
            store_b, func_b = other["b"]  # type: ignore[misc]
            assert hc.ExportCall(func_b, store_b)(store_b, func_b, 0, 0) == 0  # type: ignore[arg-type]
        seen.append(current().name)
        return a + b

    linker = wc.Linker(engine)
    with linker.root() as root, root.add_instance("host") as h:
        hc.define_resource(h, "counter", allocate("tests:state/host#counter"), lambda rep: None)
        for name in ("[constructor]counter", "[method]counter.next", "echo", "maybe", "pairs", "mix"):
            hc.define_func(h, name, lambda *a: None)
        hc.define_func(h, "add", add)

    def instance(name: str) -> tuple[wasmtime.Store, wc.Func]:
        store = wasmtime.Store(engine)
        func = linker.instantiate(store, component).get_func(store, "add")
        assert func is not None
        return store, func

    (store_a, func_a), other["b"] = instance("a"), instance("b")
    store_b = other["b"][0]  # type: ignore[index]
    with attach(store_a, HostState(name="A")), attach(store_b, HostState(name="B")):
        assert hc.ExportCall(func_a, store_a)(store_a, func_a, 1, 2) == 3
    assert seen == ["A", "B", "B", "A"]

    # Outside `attach` there is no state: the host call traps with a clear message, nothing else breaks.
    with pytest.raises(wasmtime.WasmtimeError, match="no instance state attached to the calling store"):
        hc.ExportCall(func_a, store_a)(store_a, func_a, 2, 2)
    assert isinstance(hc.take_host_error(), hc.HostTrap)


def test_deny_all_answers_built_from_the_import_types() -> None:
    # `wasi._deny.link_denied` answers every function of an interface from its type alone (read into the
    # component model): zero values, empty lists, the error case of a result, inert owned resources.
    from wasmhive.wasi import HostState, attach
    from wasmhive.wasi._deny import link_denied

    engine, component = component_engine()
    ity = component.type.imports(engine)["host"].ty
    linker = wc.Linker(engine)
    with linker.root() as root, root.add_instance("host") as h:
        link_denied(h, "tests:deny/host", ity, engine, [])
    store = wasmtime.Store(engine)
    inst = linker.instantiate(store, component)

    def run(name: str, *args: object) -> object:
        func = inst.get_func(store, name)
        assert func is not None
        return hc.ExportCall(func, store)(store, func, *args)

    state = HostState(name="denied")
    with attach(store, state):
        assert run("add", 1, 2) == 0
        assert run("echo", b"data") == b""
        with pytest.raises(ResultError) as e:  # result<option<u32>, string>: the error case, not ok(none)
            run("maybe", 5)
        assert e.value.value == ""
        assert run("pairs", [("a", b"b")]) == []
        assert run("mix", 1.5, "x", True) == (0.0, "\0", False)
        assert run("count", 1, 2) == 0  # an inert `counter` (own) is made, used and dropped
