"""`wasmhive run` as a user runs it: a real process, real guests, exit codes, one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

GUESTS = Path(__file__).parent / "guests"
# The console script, as a user runs it (installed beside this interpreter by `pip install -e .`).
WASMHIVE = str(Path(sys.executable).parent / "wasmhive")


@pytest.fixture
def cli(compile_cache: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Run `wasmhive ARGS...` in a child process; returns the CompletedProcess (text mode)."""

    def run(*args: str | Path, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        full_env = {**os.environ, "WASMHIVE_CACHE": str(compile_cache), **(env or {})}
        return subprocess.run([WASMHIVE, *map(str, args)], capture_output=True,
                              text=True, env=full_env, timeout=timeout, cwd=tmp_path, stdin=subprocess.DEVNULL,
                              check=False)

    return run


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    for needle in needles:
        assert needle in lines[0]


def test_version_and_help(cli) -> None:  # type: ignore[no-untyped-def]
    version = cli("--version")
    assert version.returncode == 0 and "wasmhive" in version.stdout
    helptext = cli("run", "--help")
    assert helptext.returncode == 0
    for option in ("--dir", "--env", "--memory", "--timeout", "--fuel"):
        assert option in helptext.stdout


def test_runs_a_wat_command(cli) -> None:  # type: ignore[no-untyped-def]
    proc = cli("run", GUESTS / "hello.wat")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "hello\n", "")


def test_args_env_dirs_and_exit_code(cli, wasi_probe: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "data"
    data.mkdir()
    (data / "in.txt").write_text("file contents\n")
    proc = cli("run", "--env", "GREETING=hi", "--dir", f"{data}::/data:ro", wasi_probe,
               "args", "env", "read:/data/in.txt", "write:/data/new.txt", "exit:42",
               env={"HOST_ONLY": "leak"})
    assert proc.returncode == 42, proc.stderr
    out = proc.stdout
    assert "argv[1]=args" in out
    assert "env GREETING=hi" in out and "HOST_ONLY" not in out
    assert "file contents" in out
    assert "denied:" in out and not (data / "new.txt").exists()


def test_env_name_alone_passes_the_host_value_explicitly(cli, wasi_probe: Path) -> None:  # type: ignore[no-untyped-def]
    proc = cli("run", "--env", "FROM_HOST", wasi_probe, "env", env={"FROM_HOST": "yes", "OTHER": "no"})
    assert "env FROM_HOST=yes" in proc.stdout and "OTHER" not in proc.stdout


def test_read_write_dir(cli, wasi_probe: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    proc = cli("run", "--dir", f"{tmp_path}::/out", wasi_probe, "write:/out/made.txt")
    assert proc.returncode == 0 and "wrote" in proc.stdout
    assert (tmp_path / "made.txt").exists()


def test_trap_prints_the_trap_and_a_backtrace(cli) -> None:  # type: ignore[no-untyped-def]
    proc = cli("run", GUESTS / "trap.wat")
    assert proc.returncode == 134
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: guest trapped: wasm `unreachable` instruction executed")
    assert "trapper!inner" in proc.stderr and "trapper!outer" in proc.stderr


def test_stack_overflow(cli) -> None:  # type: ignore[no-untyped-def]
    proc = cli("run", GUESTS / "recursion.wat")
    assert proc.returncode == 134 and "call stack exhausted" in proc.stderr
    assert len(proc.stderr.splitlines()) < 15, "the backtrace is short"


def test_infinite_loop_ends_at_the_timeout(cli) -> None:  # type: ignore[no-untyped-def]
    proc = cli("run", "--timeout", "200ms", GUESTS / "loop.wat")
    assert proc.returncode == 124
    assert_one_line_error(proc, "deadline", "0.2s")


def test_memory_bomb_hits_the_limit(cli) -> None:  # type: ignore[no-untyped-def]
    proc = cli("run", "--memory", "2MiB", GUESTS / "grow_bomb.wat")
    assert proc.returncode == 137
    assert_one_line_error(proc, "memory limit", "2097152")


def test_fuel_runs_out(cli) -> None:  # type: ignore[no-untyped-def]
    proc = cli("run", "--fuel", "100000", GUESTS / "loop.wat")
    assert proc.returncode == 137
    assert_one_line_error(proc, "fuel")


def test_component_command(cli, py_command: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "note.txt").write_text("a note\n")
    proc = cli("run", "--env", "GREETING=hey", "--dir", f"{tmp_path}::/d:ro", py_command, "hello", "read:/d/note.txt")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "hello from componentize-py\nGREETING = hey\na note\n"
    failed = cli("run", py_command, "exit:3")
    assert failed.returncode == 1 and "Traceback" not in failed.stderr


def test_c_component_command(cli, wasi_probe_component: Path) -> None:  # type: ignore[no-untyped-def]
    proc = cli("run", "--env", "A=b", wasi_probe_component, "args", "env")
    assert proc.returncode == 0, proc.stderr
    assert "argv[1]=args" in proc.stdout and "env A=b" in proc.stdout


# -- bad inputs: one clear line, a non-zero exit, no traceback -------------------------------------
def _bad_inputs(tmp: Path) -> dict[str, tuple[Path, tuple[str, ...]]]:
    hello = (GUESTS / "hello.wat").read_text()
    import wasmtime

    binary = bytes(wasmtime.wat2wasm(hello))
    (tmp / "random.wasm").write_bytes(bytes(range(7, 250, 3)) * 4)
    (tmp / "truncated.wasm").write_bytes(binary[: len(binary) // 2])
    (tmp / "header-only.wasm").write_bytes(b"\0asm\x01\0")
    (tmp / "empty.wasm").write_bytes(b"")
    (tmp / "adir").mkdir()
    (tmp / "threads.wat").write_text('(module (memory 1 1 shared) (func (export "_start")))')
    return {
        "missing file": (tmp / "nope.wasm", ("nope.wasm", "no such file")),
        "a directory": (tmp / "adir", ("adir",)),
        "random bytes": (tmp / "random.wasm", ("random.wasm", "not WebAssembly")),
        "truncated module": (tmp / "truncated.wasm", ("truncated.wasm", "truncated")),
        "truncated header": (tmp / "header-only.wasm", ("truncated",)),
        "empty file": (tmp / "empty.wasm", ("empty",)),
        "WAT syntax error": (GUESTS / "syntax_error.wat", ("does not parse", "line 4")),
        "missing import": (GUESTS / "needs_import.wat", ("unknown import", "wasmhive:nowhere/api")),
        "unsupported feature": (tmp / "threads.wat", ("feature this runtime does not enable", "threads")),
    }


@pytest.mark.parametrize("case", ["missing file", "a directory", "random bytes", "truncated module",
                                  "truncated header", "empty file", "WAT syntax error", "missing import",
                                  "unsupported feature"])
def test_bad_input(cli, tmp_path: Path, case: str) -> None:  # type: ignore[no-untyped-def]
    path, needles = _bad_inputs(tmp_path)[case]
    proc = cli("run", path)
    assert_one_line_error(proc, *needles)
    assert proc.stdout == ""


def test_bad_options(cli) -> None:  # type: ignore[no-untyped-def]
    assert_one_line_error(cli("run", "--memory", "lots", GUESTS / "hello.wat"), "not a size")
    assert_one_line_error(cli("run", "--timeout", "soon", GUESTS / "hello.wat"), "not a duration")
    assert_one_line_error(cli("run", "--dir", "/no/such/dir", GUESTS / "hello.wat"), "/no/such/dir")
    assert_one_line_error(cli("run", "--env", "UNSET_IN_HOST_X", GUESTS / "hello.wat", env={}), "UNSET_IN_HOST_X")


def test_garbage_cache_entry_is_recompiled(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cache = tmp_path / "cache"
    env = {"WASMHIVE_CACHE": str(cache)}
    assert cli("run", GUESTS / "hello.wat", env=env).returncode == 0
    entries = list(cache.glob("*/*.cwasm"))
    assert len(entries) == 1
    entries[0].write_bytes(os.urandom(4096))
    again = cli("run", GUESTS / "hello.wat", env=env)
    assert (again.returncode, again.stdout) == (0, "hello\n")
    assert "Traceback" not in again.stderr
    assert entries[0].read_bytes()[:4] == b"WHVC", "the entry was rewritten"
