"""Bad canister modules are one clear line, and a contract VM has limits (issue 11, item 6; issue 10).

Once, 1,203 of 7,000 random, mutated and `wasm-tools smith` modules made `wasmhive contract deploy`
print a Python traceback (IndexError in the Wasm rewriter, unknown-import errors), an ordinary WASI
module among them; a 200 MB module deployed (1.5 GiB RSS) and one VM took 3,000 canisters. And
`contract upgrade X.wat` was refused while `deploy X.wat` worked.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import wasmtime

from wasmhive.contracts import ContractError, ContractLimits, ContractVM
from wasmhive.errors import InvalidModule
from wasmhive.runtime import EngineSettings, Runtime

ROOT = Path(__file__).parent.parent.parent
COUNTER_WAT = ROOT / "examples" / "contracts" / "counter32.wat"
EMPTY = b"DIDL\x00\x00"
WASI = """(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1) (func (export "_start")))"""
# Grows its heap by one 64 KiB page and its stable memory by `n` pages per `grow`.
GROWER = """
(module
  (import "ic0" "stable64_grow" (func $sgrow (param i64) (result i64)))
  (import "ic0" "msg_reply_data_append" (func $append (param i32 i32)))
  (import "ic0" "msg_reply" (func $reply))
  (memory 1)
  (data (i32.const 0) "DIDL\\00\\01\\7c")
  (func (export "canister_update grow")
    (drop (memory.grow (i32.const 1)))
    (i32.store8 (i32.const 7) (i32.const 0))
    (call $append (i32.const 0) (i32.const 8))
    (call $reply))
  (func (export "canister_update stable")
    ;; int reply: the low 7 bits of what stable64_grow(16) answered (the old size, or -1 if refused)
    (i32.store8 (i32.const 7) (i32.and (i32.wrap_i64 (call $sgrow (i64.const 16))) (i32.const 0x7f)))
    (call $append (i32.const 0) (i32.const 8))
    (call $reply)))
"""


@pytest.fixture(scope="module")
def runtime() -> Iterator[Runtime]:
    with Runtime(EngineSettings.deterministic()) as rt:
        yield rt


def _counter() -> bytes:
    return bytes(wasmtime.wat2wasm(COUNTER_WAT.read_text()))


def _cli(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run([sys.executable, "-c", "from wasmhive.cli import main; main()", "contract", "--state", str(tmp / "state"), *args],
                          capture_output=True, text=True, timeout=120, env=env, cwd=tmp)


def _one_error_line(p: subprocess.CompletedProcess[str]) -> str:
    assert p.returncode != 0, p.stdout
    assert "Traceback" not in p.stderr, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), p.stderr
    return lines[0]


def _mutants(seed_module: bytes, n: int) -> list[bytes]:
    rnd = random.Random(11)
    out = []
    for _ in range(n):
        b = bytearray(seed_module)
        for _ in range(rnd.randint(1, 4)):
            i = rnd.randrange(8, len(b))
            op = rnd.randrange(3)
            if op == 0:
                b[i] = rnd.randrange(256)
            elif op == 1:
                del b[i:i + rnd.randint(1, 8)]
            else:
                b[i:i] = bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 4)))
        out.append(bytes(b))
    return out


def test_bad_modules_are_one_line_on_the_cli(tmp_path: Path) -> None:
    counter = _counter()
    cases = {
        "random.wasm": random.Random(1).randbytes(300),
        "truncated.wasm": counter[: len(counter) // 2],
        "mutated.wasm": _mutants(counter, 1)[0],
        "wasi.wat": WASI.encode(),
        "component.wat": b"(component)",
        "notext.wat": b"(module (func $f (i32.add)))",
        "empty.wasm": b"",
        "header.wasm": b"\0asm\x01\0\0\0\x01\x05",
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    lines = {name: _one_error_line(_cli(tmp_path, "deploy", name)) for name in cases}
    assert "import only ic0 functions" in lines["wasi.wat"] and "wasmhive run" in lines["wasi.wat"]
    assert "core module" in lines["component.wat"]
    assert "truncated" in lines["truncated.wasm"] or "invalid" in lines["truncated.wasm"]
    # Nothing was deployed, and the state directory still works.
    (tmp_path / "counter.wat").write_text(COUNTER_WAT.read_text())
    assert _cli(tmp_path, "deploy", "counter.wat").returncode == 0
    assert _cli(tmp_path, "call", "counter", "inc").stdout == "(1 : nat64)\n"


def test_upgrade_takes_wat_like_deploy(tmp_path: Path) -> None:
    (tmp_path / "counter.wat").write_text(COUNTER_WAT.read_text())
    assert _cli(tmp_path, "deploy", "counter.wat").returncode == 0
    assert _cli(tmp_path, "call", "counter", "inc").returncode == 0
    up = _cli(tmp_path, "upgrade", "counter", "counter.wat")
    assert up.returncode == 0 and "upgraded counter (version 1)" in up.stdout, up.stderr
    assert _cli(tmp_path, "call", "counter", "get").stdout == "(1 : nat64)\n"  # kept through stable memory
    (tmp_path / "bad.wat").write_text(WASI)
    line = _one_error_line(_cli(tmp_path, "upgrade", "counter", "bad.wat"))
    assert "import only ic0 functions" in line
    assert _cli(tmp_path, "call", "counter", "get").stdout == "(1 : nat64)\n"


def test_an_oversized_module_file_is_refused_before_reading(tmp_path: Path) -> None:
    big = tmp_path / "big.wasm"
    limit = ContractLimits().max_module_size
    with big.open("wb") as f:
        f.truncate(4 * limit + 1)
    assert "more than a canister module may be" in _one_error_line(_cli(tmp_path, "deploy", "big.wasm"))


def _with_custom_section(module: bytes, size: int) -> bytes:
    from wasmhive.contracts._leb import uleb

    payload = uleb(4) + b"junk" + bytes(size)
    return module + b"\x00" + uleb(len(payload)) + payload


def test_module_size_limit(runtime: Runtime) -> None:
    limits = ContractLimits(max_module_size=64 * 1024)
    with ContractVM(None, runtime=runtime, limits=limits) as vm:
        vm.deploy(_with_custom_section(_counter(), 60 * 1024), name="fits")
        with pytest.raises(InvalidModule, match=r"more than the limit of 65_536"):
            vm.deploy(_with_custom_section(_counter(), 64 * 1024), name="too-big")
        with pytest.raises(ContractError, match=r"upgrade refused: invalid module: .*more than the limit"):
            vm.upgrade("fits", _with_custom_section(_counter(), 64 * 1024))
        assert list(vm.names) == ["fits"] and vm.update("fits", "inc", EMPTY).ok


def test_canister_count_limit(runtime: Runtime) -> None:
    with ContractVM(None, runtime=runtime, limits=ContractLimits(max_canisters=3)) as vm:
        for i in range(3):
            vm.deploy(_counter(), name=f"c{i}")
        with pytest.raises(ContractError, match=r"already holds 3 canisters, its limit"):
            vm.deploy(_counter(), name="c3")
        assert sorted(vm.names) == ["c0", "c1", "c2"]
        assert all(vm.update(f"c{i}", "inc", EMPTY).ok for i in range(3))


def test_memory_limits(runtime: Runtime) -> None:
    limits = ContractLimits(max_total_memory=4 * 65536, max_stable=32 * 65536)
    with ContractVM(None, runtime=runtime, limits=limits) as vm:
        c = vm.deploy(wasmtime.wat2wasm(GROWER), name="g")
        for _ in range(3):  # 1 + 3 pages: at the limit
            assert vm.update("g", "grow", EMPTY).ok
        h = vm.state_hash("g")
        r = vm.update("g", "grow", EMPTY)
        assert not r.ok and "memory limit of 262_144 bytes" in r.reject_message
        assert vm.canister("g").pages() * 4096 == 4 * 65536 and vm.state_hash("g") != h  # undone; only cycles moved
        assert c.cycles > 0
    with ContractVM(None, runtime=runtime, limits=ContractLimits(max_stable=32 * 65536)) as vm:
        vm.deploy(wasmtime.wat2wasm(GROWER), name="g")
        # stable64_grow answers the old size in pages: 0, then 16; a third 16 would pass 32 pages: -1.
        assert [vm.update("g", "stable", EMPTY).data[7] for _ in range(3)] == [0, 16, 0x7F]
    with ContractVM(None, runtime=runtime, limits=ContractLimits(max_heap=65536)) as vm, \
            pytest.raises(InvalidModule, match="cannot be instantiated"):
        vm.deploy(wasmtime.wat2wasm("(module (memory 2))"))


def test_modules_that_do_not_instantiate_are_clear(runtime: Runtime) -> None:
    with ContractVM(None, runtime=runtime) as vm:
        with pytest.raises(InvalidModule, match="cannot be instantiated"):
            vm.deploy(wasmtime.wat2wasm('(module (memory 1) (data (i32.const 65535) "ab"))'))
        with pytest.raises(InvalidModule, match="must be a function"):
            vm.deploy(wasmtime.wat2wasm('(module (global (export "canister_update x") i32 (i32.const 0)))'))
        assert not vm.canisters


def test_mutated_modules_never_escape_as_python_errors(runtime: Runtime) -> None:
    seeds = [_counter(), bytes(wasmtime.wat2wasm(GROWER))]
    outcomes: dict[str, int] = {}
    for seed in seeds:
        for m in _mutants(seed, 150):
            with ContractVM(None, runtime=runtime) as vm:
                try:
                    vm.deploy(m, cycles=5_000_000)
                    key = "deployed"
                except (InvalidModule, ContractError) as e:
                    key = type(e).__name__
            outcomes[key] = outcomes.get(key, 0) + 1
    assert sum(outcomes.values()) == 300 and outcomes.get("InvalidModule", 0) > 100, outcomes
