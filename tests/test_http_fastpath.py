"""`wasmhive.component._fastpath`: host functions and export calls with converters built once.

`tests/http/fastpath.wat` passes each value through a host function of the same type and back, so
every test exercises both directions (lowering our results, lifting the guest's arguments).
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import wasmtime
import wasmtime.component as wc

from wasmhive.component import _fastpath as fp

WAT = (Path(__file__).parent / "http" / "fastpath.wat").read_text()
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


@pytest.fixture(scope="module")
def env():  # type: ignore[no-untyped-def]
    cfg = wasmtime.Config()
    cfg.wasm_component_model = True
    engine = wasmtime.Engine(cfg)
    component = wc.Component(engine, WAT)
    host = Host()
    hr = {COUNTER: wc.ResourceType.host(COUNTER)}
    linker = wc.Linker(engine)

    def maybe(x: int) -> object:
        if x == 0:
            return None  # ok(none)
        if x == 1:
            return "one is not allowed"  # err(string): not shadowed by the ok case
        if x == 2:
            raise fp.HostTrap("two traps")
        if x == 3:
            raise ValueError("three is a bug")
        return x * 10  # ok(some(x * 10))

    with linker.root() as root, root.add_instance("host") as h:
        fp.define_resource(h, "counter", COUNTER, host.drop)
        fp.define_func(h, "[constructor]counter", host.new, host_resources=hr)
        fp.define_func(h, "[method]counter.next", host.next, host_resources=hr)
        fp.define_func(h, "add", lambda a, b: a + b)
        fp.define_func(h, "echo", lambda b: b[::-1])
        fp.define_func(h, "maybe", maybe)
        fp.define_func(h, "pairs", lambda p: [(k.upper(), v + b"!") for k, v in p])
        fp.define_func(h, "mix", lambda x, c, b: (x * 2, c.upper(), not b))
    return engine, component, linker, host


def call(env, name: str, *args):  # type: ignore[no-untyped-def]
    engine, component, linker, _ = env
    store = wasmtime.Store(engine)
    inst = linker.instantiate(store, component)
    func = inst.get_func(store, name)
    return fp.ExportCall(func, store)(store, func, *args)


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
    # The stock bindings cannot return the error case here (the ok case accepts anything).
    assert call(env, "maybe", 1) == "one is not allowed"


def test_host_errors_trap_with_a_message_and_are_kept_per_thread(env) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(wasmtime.WasmtimeError) as e:
        call(env, "maybe", 2)
    assert "maybe: two traps" in str(e.value)
    err = fp.take_host_error()
    assert isinstance(err, fp.HostTrap) and fp.take_host_error() is None
    with pytest.raises(wasmtime.WasmtimeError) as e:
        call(env, "maybe", 3)
    assert "ValueError: three is a bug" in str(e.value)
    assert isinstance(fp.take_host_error(), ValueError)

    seen: list[BaseException | None] = []

    def other_thread() -> None:
        seen.append(fp.take_host_error())

    with pytest.raises(wasmtime.WasmtimeError):
        call(env, "maybe", 3)
    t = threading.Thread(target=other_thread)
    t.start()
    t.join()
    assert seen == [None]  # another thread's failure is not this thread's
    assert isinstance(fp.take_host_error(), ValueError)


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
    fp.write_bytes(addr, b"\x00\xffabc")
    assert fp.read_bytes(addr) == b"\x00\xffabc"
    ffi.wasmtime_component_vallist_delete(ctypes.byref(vl))
