"""The pooling allocator as `wasmhive up` uses it: slots reset in place must still give fresh instances."""

from __future__ import annotations

from wasmhive import Limits, Runtime
from wasmhive.runtime import EngineSettings
from wasmhive.server._serve import UpConfig, pool_max_memory

# `bump` adds 1 to the byte at 100 (initialised to 7 by a data segment) and at 70000 (page 2, zero);
# `grow` grows memory by n pages and returns the old size (or -1).
COUNTER = b"""(module
  (memory (export "memory") 2)
  (data (i32.const 100) "\\07")
  (func (export "bump") (result i32)
    (i32.store8 (i32.const 100) (i32.add (i32.load8_u (i32.const 100)) (i32.const 1)))
    (i32.store8 (i32.const 70000) (i32.add (i32.load8_u (i32.const 70000)) (i32.const 1)))
    (i32.add (i32.mul (i32.load8_u (i32.const 100)) (i32.const 256)) (i32.load8_u (i32.const 70000))))
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))
"""


def test_reused_slots_kept_resident_start_from_the_original_image() -> None:
    with Runtime(cache=False, pooling=True, pooling_instances=4, pooling_max_memory=4 * 1024 * 1024,
                 pooling_keep_resident=1024 * 1024) as rt:
        assert rt.pooling is True
        module = rt.load(COUNTER)
        for _ in range(20):  # more instances than slots: every slot is reused, its pages kept resident
            with rt.instantiate(module) as inst:
                assert inst.exports.bump() == 8 * 256 + 1
                assert inst.exports.bump() == 9 * 256 + 2


def test_up_pools_by_default_and_memory_limits_stay_per_instance() -> None:
    assert UpConfig(path="x.wasm").pooling is True
    assert pool_max_memory(128 * 1024 * 1024) == 4 * 1024**3
    assert pool_max_memory(8 * 1024**3) == 8 * 1024**3
    # The keep-resident size changes no compiled code: it does not split the compile cache.
    assert EngineSettings(pooling_keep_resident=0).fingerprint() == EngineSettings().fingerprint()
    with Runtime(cache=False, pooling=True, pooling_instances=4, pooling_max_memory=pool_max_memory(0)) as rt:
        module = rt.load(COUNTER)
        with rt.instantiate(module, limits=Limits(memory=300 * 1024 * 1024)) as inst:
            assert inst.exports.grow(2048) == 2, "a 300 MiB limit allows more than the old 128 MiB slot"
        with rt.instantiate(module, limits=Limits(memory=1024 * 1024)) as inst:
            assert inst.exports.grow(64) == -1, "the instance's own limit still caps growth"


def test_many_pooled_runtimes_in_one_process_do_not_abort_it() -> None:
    """Each pooled engine reserves its pool's address space up front and wasmtime aborts the process when a
    reservation fails (about 15 serving engines fit): past `MAX_POOLED_ENGINES` live ones, new runtimes
    allocate on demand. Run in a child process, since the failure mode is an abort."""
    import subprocess
    import sys

    code = ("from wasmhive import Runtime\n"
            "from wasmhive.http._engine_settings import pool_max_memory\n"
            "from wasmhive.runtime._engine import MAX_POOLED_ENGINES\n"
            "rts = [Runtime(pooling=True, pooling_max_memory=pool_max_memory(0), cache=False) for _ in range(20)]\n"
            "print(sum(rt.pooling for rt in rts), MAX_POOLED_ENGINES)\n"
            "for rt in rts: rt.close()\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    pooled, cap = map(int, proc.stdout.split())
    assert pooled == cap
    assert "pooled engines are alive in this process" in proc.stderr
