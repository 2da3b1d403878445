"""`wasmhive.app.toolchains`: cached builds keyed by content, clear tool errors, standard WIT."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from wasmhive import BuildError, Runtime, Sandbox
from wasmhive.app.toolchains import (
    assemble_wit,
    build_cached,
    build_key,
    standard_wit,
    wasi_adapter,
    wasm_tools,
    zig_cc,
)


def test_build_cached_builds_once_per_content(tmp_path: Path) -> None:
    src = tmp_path / "in.txt"
    src.write_text("one")
    calls: list[Path] = []

    def build(dest: Path) -> None:
        calls.append(dest)
        dest.write_bytes(src.read_bytes().upper())

    first = build_cached("demo", [src], build, cache_dir=tmp_path / "c", suffix=".txt")
    again = build_cached("demo", [src], build, cache_dir=tmp_path / "c", suffix=".txt")
    assert first == again and first.read_text() == "ONE" and len(calls) == 1
    src.write_text("two")
    changed = build_cached("demo", [src], build, cache_dir=tmp_path / "c", suffix=".txt")
    assert changed != first and changed.read_text() == "TWO" and len(calls) == 2
    copy = build_cached("demo", [src], build, cache_dir=tmp_path / "c", suffix=".txt", out=tmp_path / "o.txt")
    assert copy == tmp_path / "o.txt" and copy.read_text() == "TWO" and len(calls) == 2


def test_build_key_covers_flags_version_and_directories(tmp_path: Path) -> None:
    d = tmp_path / "app"
    d.mkdir()
    (d / "a.py").write_text("x = 1")
    base = build_key("k", [d], flags=["-O2"], tool_version="1")
    assert base == build_key("k", [d], flags=["-O2"], tool_version="1")
    assert base != build_key("k", [d], flags=["-O3"], tool_version="1")
    assert base != build_key("k", [d], flags=["-O2"], tool_version="2")
    (d / "__pycache__").mkdir()
    (d / "__pycache__" / "a.pyc").write_bytes(b"junk")
    assert base == build_key("k", [d], flags=["-O2"], tool_version="1"), "caches do not change the key"
    (d / "b.py").write_text("y = 2")
    assert base != build_key("k", [d], flags=["-O2"], tool_version="1")


def test_failed_build_leaves_no_entry(tmp_path: Path) -> None:
    def broken(dest: Path) -> None:
        dest.write_bytes(b"half")
        raise BuildError("demo", ["demo"], "boom")

    with pytest.raises(BuildError, match="boom"):
        build_cached("demo", [b"x"], broken, cache_dir=tmp_path)
    assert [p for p in tmp_path.glob("demo-*") if not p.name.endswith(".lock")] == []
    assert list(tmp_path.glob(".tmp-*")) == []


def test_zig_builds_a_wasi_command(tmp_path: Path, guest_cache: Path) -> None:
    src = tmp_path / "hi.c"
    src.write_text('#include <stdio.h>\nint main(void) { puts("hi from zig"); return 0; }\n')
    wasm = zig_cc(src, cache_dir=guest_cache)
    with Runtime(cache=False) as rt:
        assert rt.run(wasm, sandbox=Sandbox(stdout="capture")).stdout == b"hi from zig\n"


def test_zig_error_names_the_tool_and_its_output(tmp_path: Path, guest_cache: Path) -> None:
    src = tmp_path / "bad.c"
    src.write_text("int main(void) { return undeclared_thing; }\n")
    with pytest.raises(BuildError) as info:
        zig_cc(src, cache_dir=guest_cache)
    assert info.value.tool == "zig cc" and "undeclared_thing" in str(info.value)
    assert info.value.returncode not in (None, 0)


def test_standard_wit_http_parses_with_its_deps() -> None:
    wit = standard_wit("wasi:http@0.2.0")
    assert (wit / "deps").is_dir()
    text = wasm_tools("component", "wit", wit).decode()
    assert "package wasi:http@0.2.0;" in text and "world proxy" in text
    assert standard_wit("wasi:http@0.2.0") == wit, "assembled once, then reused"


def test_unknown_standard_package_is_a_clear_error() -> None:
    with pytest.raises(BuildError, match=re.escape("no installed package ships WIT for wasi:nothing@9.9.9")):
        standard_wit("wasi:nothing@9.9.9")


def test_assemble_wit_with_own_world(tmp_path: Path) -> None:
    world = "package demo:app;\n\nworld app {\n  import wasi:cli/environment@0.2.0;\n  export wasi:cli/run@0.2.0;\n}\n"
    out = assemble_wit(tmp_path / "wit", {"world.wit": world}, deps=["wasi:cli@0.2.0"])
    text = wasm_tools("component", "wit", out).decode()
    assert "world app" in text


def test_wasi_adapter() -> None:
    adapter = wasi_adapter("command")
    assert adapter.read_bytes()[:4] == b"\0asm"
    with pytest.raises(BuildError):
        wasi_adapter("bogus")
