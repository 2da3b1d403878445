"""Zero-copy access to guest memory: the host and the guest share bytes, no copies in between."""

from __future__ import annotations

import pytest

from wasmhive import GuestTrap, Runtime

# sum(ptr, n): the sum of n u32 values at ptr; fill(ptr, n, v): store v into n u32 slots; grow(pages).
KERNELS = b"""(module
  (memory (export "memory") 1)
  (func (export "sum") (param $p i32) (param $n i32) (result i32) (local $acc i32)
    (block $done (loop $next
      (br_if $done (i32.eqz (local.get $n)))
      (local.set $acc (i32.add (local.get $acc) (i32.load (local.get $p))))
      (local.set $p (i32.add (local.get $p) (i32.const 4)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $next)))
    (local.get $acc))
  (func (export "fill") (param $p i32) (param $n i32) (param $v i32)
    (block $done (loop $next
      (br_if $done (i32.eqz (local.get $n)))
      (i32.store (local.get $p) (local.get $v))
      (local.set $p (i32.add (local.get $p) (i32.const 4)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $next))))
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))"""


@pytest.fixture
def kernels(runtime: Runtime):  # type: ignore[no-untyped-def]
    with runtime.instantiate(KERNELS) as inst:
        yield inst


def test_memoryview_aliases_guest_memory(kernels) -> None:  # type: ignore[no-untyped-def]
    mem = kernels.memory
    view = mem.view()
    assert len(view) == len(mem) == 65536 and not view.readonly
    view[256:260] = (7).to_bytes(4, "little")
    assert kernels.exports.sum(256, 1) == 7, "the guest sees the host's write without a copy"
    kernels.exports.fill(512, 2, 0x01020304)
    assert bytes(view[512:520]) == bytes.fromhex("0403020104030201"), "the host sees the guest's write"


def test_numpy_view_is_zero_copy(kernels) -> None:  # type: ignore[no-untyped-def]
    np = pytest.importorskip("numpy")
    arr = kernels.memory.numpy("uint32", offset=1024, count=1000)
    assert arr.shape == (1000,) and not arr.flags.owndata
    arr[:] = np.arange(1000, dtype=np.uint32)
    assert kernels.exports.sum(1024, 1000) == sum(range(1000))
    kernels.exports.fill(1024, 10, 5)
    assert arr[:10].tolist() == [5] * 10 and arr[10] == 10


def test_read_and_write_helpers(kernels) -> None:  # type: ignore[no-untyped-def]
    mem = kernels.memory
    mem.write(100, b"hello")
    assert mem.read(100, 5) == b"hello"
    mem.write(200, bytearray(b"\x02\0\0\0\x03\0\0\0"))
    assert kernels.exports.sum(200, 2) == 5
    mem.write(300, memoryview(b"xy"))
    assert mem.read(300, 2) == b"xy"


def test_host_access_out_of_bounds_is_refused(kernels) -> None:  # type: ignore[no-untyped-def]
    mem = kernels.memory
    with pytest.raises(GuestTrap, match="out of bounds"):
        mem.read(65530, 10)
    with pytest.raises(GuestTrap, match="out of bounds"):
        mem.write(-1, b"x")
    with pytest.raises(GuestTrap):
        mem.numpy("uint64", offset=65536 - 8, count=2)


def test_guest_out_of_bounds_is_a_trap(kernels) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(GuestTrap) as info:
        kernels.exports.sum(65536, 1)
    assert info.value.code == "memory_out_of_bounds"


def test_views_after_growth_see_the_new_size(kernels) -> None:  # type: ignore[no-untyped-def]
    mem = kernels.memory
    before = mem.view()
    assert kernels.exports.grow(2) == 1
    after = mem.view()
    assert len(before) == 65536 and len(after) == 3 * 65536
    after[-4:] = b"\x09\0\0\0"
    assert kernels.exports.sum(3 * 65536 - 4, 1) == 9


def test_instance_without_memory(runtime: Runtime) -> None:
    inst = runtime.instantiate(b'(module (func (export "f")))')
    with pytest.raises(KeyError):
        _ = inst.memory


def test_hidden_memories_are_not_exports(runtime: Runtime) -> None:
    inst = runtime.instantiate(b'(module (memory 1) (func (export "f")))')
    assert list(inst.exports) == ["f"]
    assert inst.memory_sizes() == [65536], "the host still knows the size of the unexported memory"


@pytest.mark.parametrize(("wat", "hidden"), [
    ('(module (memory 1) (func (export "f")))', ["0"]),
    ('(module (memory (export "m") 1) (memory 2) (data (memory 1) (i32.const 0) "x"))', ["1"]),
    ('(module (import "env" "m" (memory 1)) (memory 1) (memory 1) (start $s) (func $s))', ["1", "2"]),
    ('(module (import "env" "f" (func)) (func (export "g")))', []),
])
def test_expose_memories_adds_host_only_exports(wat: str, hidden: list[str]) -> None:
    import wasmtime

    from wasmhive.runtime._expose import HIDDEN_PREFIX, expose_memories

    binary = bytes(wasmtime.wat2wasm(wat))
    rewritten = expose_memories(binary)
    module = wasmtime.Module(wasmtime.Engine(wasmtime.Config()), rewritten)  # still valid
    names = [e.name for e in module.exports]
    assert [n.removeprefix(HIDDEN_PREFIX) for n in names if n.startswith(HIDDEN_PREFIX)] == hidden
    if not hidden:
        assert rewritten == binary
    assert expose_memories(b"\0asm\x01\0\0\0\x05\xff") == b"\0asm\x01\0\0\0\x05\xff", "garbage is left alone"
