"""The runtime API in one screen: run a sandboxed WASI command, call a module, share memory, limits.

    .venv/bin/python examples/runtime/api.py
"""

from pathlib import Path

from wasmhive import LimitExceeded, Limits, Preopen, Runtime, Sandbox

HERE = Path(__file__).resolve().parent
SUM_BYTES = b"""(module (memory (export "memory") 1)
  (func (export "sum") (param $p i32) (param $n i32) (result i32) (local $s i32)
    (block $done (loop $next
      (br_if $done (i32.eqz (local.get $n)))
      (local.set $s (i32.add (local.get $s) (i32.load8_u (local.get $p))))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $next)))
    (local.get $s)))"""

with Runtime() as rt:  # one engine, its epoch ticker thread and the on-disk compile cache
    # A WASI command: it sees only the args, env and directories granted here; stdout is captured.
    result = rt.run(
        HERE.parent / "hello" / "hello.wat",
        sandbox=Sandbox(args=["hello"], env={"LANG": "C"},
                        dirs=[Preopen(HERE, "/data", read_only=True)], stdout="capture"),
        limits=Limits(memory=16 * 2**20, timeout=2.0),
    )
    print(result.exit_code, result.stdout)  # 0 b'Hello from a wasmhive sandbox!\n'

    # A library module: call its exports, and pass data through its memory without copying.
    inst = rt.instantiate(SUM_BYTES)
    inst.memory.view()[0:4] = b"\x01\x02\x03\x04"  # a writable memoryview aliasing guest memory
    print(inst.exports.sum(0, 4))  # 10

    # Limits end runaway guests with an error that names the limit.
    try:
        rt.run(b'(module (func (export "_start") (loop $l (br $l))))', limits=Limits(timeout=0.1))
    except LimitExceeded as e:
        print(e.limit, "-", e)  # timeout - guest interrupted: ran past its 0.1s deadline
