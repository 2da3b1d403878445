"""The on-disk compile cache: hits across runtimes, keyed by settings, never trusting a bad entry."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from wasmhive import Runtime, Sandbox
from wasmhive.runtime import CompileCache

GUESTS = Path(__file__).parent / "guests"
HELLO = GUESTS / "hello.wat"


def entries(cache: Path) -> list[Path]:
    return sorted(cache.glob("*/*.cwasm"))


def test_second_runtime_loads_from_the_cache(tmp_path: Path) -> None:
    with Runtime(cache=tmp_path) as first:
        assert first.load(HELLO).from_cache is False
    assert len(entries(tmp_path)) == 1
    with Runtime(cache=tmp_path) as second:
        compiled = second.load(HELLO)
        assert compiled.from_cache is True
        assert second.run(compiled, sandbox=Sandbox(stdout="capture")).stdout == b"hello\n"


def test_component_second_load_comes_from_the_cache(py_command: Path, compile_cache: Path) -> None:
    """An 18 MB componentize-py component: compiled once (seconds), then deserialized (milliseconds).

    The session's shared compile cache is used (the CLI tests reuse the entry, so the suite compiles this
    component once); that a first load compiles is shown above with a small module.
    """
    with Runtime(cache=compile_cache) as first:
        compiled = first.load(py_command)  # compiled now, unless an earlier session left the entry
        assert compiled.is_component and compiled.size > 10_000_000
    with Runtime(cache=compile_cache) as second:
        again = second.load(py_command)
        assert again.from_cache is True
        result = second.run(again, sandbox=Sandbox(args=["app", "hello"], stdout="capture"))
        assert result.exit_code == 0
        assert result.stdout.startswith(b"hello from componentize-py\n")


def test_engine_settings_split_the_cache(tmp_path: Path) -> None:
    with Runtime(cache=tmp_path) as a:
        a.load(HELLO)
    with Runtime(cache=tmp_path, simd=False) as b:
        assert b.load(HELLO).from_cache is False
    assert len(entries(tmp_path)) == 2


def test_garbage_entry_is_discarded_and_recompiled(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with Runtime(cache=tmp_path) as rt:
        rt.load(HELLO)
    (entry,) = entries(tmp_path)
    entry.write_bytes(os.urandom(2048))
    with caplog.at_level(logging.WARNING), Runtime(cache=tmp_path) as rt:
        compiled = rt.load(HELLO)
        assert compiled.from_cache is False
        assert rt.run(compiled, sandbox=Sandbox(stdout="capture")).stdout == b"hello\n"
    assert "corrupt" in caplog.text
    with Runtime(cache=tmp_path) as rt:
        assert rt.load(HELLO).from_cache is True, "the recompiled entry replaced the garbage"


def test_entry_with_a_valid_checksum_but_foreign_payload_is_recompiled(tmp_path: Path) -> None:
    with Runtime(cache=tmp_path) as rt:
        rt.load(HELLO)
    (entry,) = entries(tmp_path)
    cache = CompileCache(tmp_path)
    key = entry.stem
    cache.put(key, b"\x7fELF" + os.urandom(1000))  # checksummed, but not a wasmtime artifact
    with Runtime(cache=tmp_path) as rt:
        compiled = rt.load(HELLO)
        assert compiled.from_cache is False
        assert rt.run(compiled, sandbox=Sandbox(stdout="capture")).exit_code == 0


def test_truncated_entry_is_recompiled(tmp_path: Path) -> None:
    with Runtime(cache=tmp_path) as rt:
        rt.load(HELLO)
    (entry,) = entries(tmp_path)
    entry.write_bytes(entry.read_bytes()[:100])
    with Runtime(cache=tmp_path) as rt:
        assert rt.load(HELLO).from_cache is False


def test_unwritable_cache_is_not_fatal(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache directory should be")
    with Runtime(cache=blocker) as rt:
        assert rt.run(HELLO, sandbox=Sandbox(stdout="capture")).stdout == b"hello\n"


def test_cache_disabled(tmp_path: Path) -> None:
    with Runtime(cache=False) as rt:
        assert rt.cache is None
        assert rt.load(HELLO).from_cache is False


def test_cache_dir_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WASMHIVE_CACHE", str(tmp_path / "env-cache"))
    with Runtime() as rt:
        rt.load(HELLO)
    assert len(entries(tmp_path / "env-cache")) == 1


def test_clear(tmp_path: Path) -> None:
    with Runtime(cache=tmp_path) as rt:
        rt.load(HELLO)
        rt.load(GUESTS / "trap.wat")
    assert CompileCache(tmp_path).clear() == 2
    assert entries(tmp_path) == []
