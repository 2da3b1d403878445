"""Names inside a module are data: `wasmhive inspect`, `run` and `wit` show them exactly, never as rich
markup and never as terminal control sequences.

The attack that once worked: an export named `[/]` crashed `inspect` with a rich MarkupError traceback,
`[bold]x[/bold]` was rendered as markup, and escape sequences in names reached the terminal raw.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

WASMHIVE = str(Path(sys.executable).parent / "wasmhive")
pytest_plugins = ["components.fixtures"]

# Names a hostile toolchain can put in a module: rich markup, an OSC title change, a screen clear, a
# bidi override (U+202E), a newline that would fake a table row.
EVIL_WAT = r"""
(module
  (import "[red]host\1b[2J" "f[/]" (func $imp))
  (func (export "[/]"))
  (func (export "[bold]x[/bold]"))
  (func (export "\1b]0;pwned\07\1b[2J\e2\80\aeok"))
  (func (export "line\0afake row")))
"""

TRAPPING_WAT = r"""
(module
  (func $"\1b]0;pwned\07[/]evil" unreachable)
  (func (export "_start") call $"\1b]0;pwned\07[/]evil"))
"""

CUSTOM_NAME = "\x1b[31m[/]red"


def _with_custom_section(wasm: bytes, name: str, payload: bytes = b"x") -> bytes:
    raw = name.encode()
    body = bytes([len(raw)]) + raw + payload
    return wasm + b"\x00" + bytes([len(body)]) + body


def _wasmhive(*args: str | Path, cache: Path) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run([WASMHIVE, *map(str, args)], capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL, check=False, env={**os.environ, "WASMHIVE_CACHE": str(cache)})


@pytest.fixture
def evil_module(tmp_path: Path) -> Path:
    import wasmtime

    path = tmp_path / "evil.wasm"
    path.write_bytes(_with_custom_section(wasmtime.wat2wasm(EVIL_WAT), CUSTOM_NAME))
    return path


def test_inspect_shows_hostile_names_exactly(evil_module: Path, compile_cache: Path) -> None:
    proc = _wasmhive("inspect", evil_module, cache=compile_cache)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr == ""
    out = proc.stdout
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    for shown in ("[/]", "[bold]x[/bold]", r"\x1b]0;pwned\x07\x1b[2J\u202eok", r"[red]host\x1b[2J", "f[/]",
                  r"line\x0afake row", r'custom "\x1b[31m[/]red"'):
        assert shown in out, shown


def test_inspect_json_keeps_the_names_as_they_are(evil_module: Path, compile_cache: Path) -> None:
    proc = _wasmhive("inspect", "--json", evil_module, cache=compile_cache)
    assert proc.returncode == 0 and "\x1b" not in proc.stdout
    doc = json.loads(proc.stdout)
    names = [e["name"] for e in doc["exports"]]
    assert "\x1b]0;pwned\x07\x1b[2J\u202eok" in names and "[/]" in names


def test_run_errors_and_backtraces_escape_names(tmp_path: Path, evil_module: Path, compile_cache: Path) -> None:
    import wasmtime

    # A link error quotes the import's name; a trap's backtrace quotes the function's name.
    link = _wasmhive("run", evil_module, cache=compile_cache)
    assert link.returncode == 65 and "Traceback" not in link.stderr
    assert "\x1b" not in link.stderr and r"[red]host\x1b[2J::f[/]" in link.stderr
    trapping = tmp_path / "trap.wasm"
    trapping.write_bytes(wasmtime.wat2wasm(TRAPPING_WAT))
    trap = _wasmhive("run", trapping, cache=compile_cache)
    assert trap.returncode == 134 and "Traceback" not in trap.stderr
    assert "\x1b" not in trap.stderr and "\x07" not in trap.stderr
    assert r"\x1b]0;pwned\x07[/]evil" in trap.stderr


@pytest.mark.slow
def test_call_output_escapes_what_the_guest_returns(kitchen_wasm: Path, compile_cache: Path) -> None:
    # A string the guest hands back is data too: JSON keeps it exact, with control, bidi and tag
    # characters as \u escapes instead of raw bytes for the terminal.
    evil = "a\x1b[2J\u202eb\U000e0041"
    proc = _wasmhive("call", "--stub-imports", kitchen_wasm, "echo-string", evil, cache=compile_cache)
    assert proc.returncode == 0, proc.stderr
    assert "\x1b" not in proc.stdout and "\u202e" not in proc.stdout and "\U000e0041" not in proc.stdout
    assert json.loads(proc.stdout) == evil
