"""`wasmhive inspect`: the binary parser, feature detection, producers, the WIT world, the CLI, bad input."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
import wasmtime
from click.testing import CliRunner

from wasmhive.cli import main
from wasmhive.errors import InvalidModule
from wasmhive.runtime._inspect import inspect
from wasmhive.runtime._wasmparse import Component, CoreModule, parse
from wasmhive.runtime._wasmread import Reader

GUESTS = Path(__file__).parent / "guests"


def wasm(text: str) -> bytes:
    return bytes(wasmtime.wat2wasm(text))


def features(text: str) -> list[str]:
    m = parse(wasm(text))
    assert isinstance(m, CoreModule)
    assert m.unknown == []
    return m.features


# -- features, one WAT module each ----------------------------------------------------------------

FEATURE_CASES = {
    "simd": "(module (func (param v128) (result v128) local.get 0 local.get 0 i8x16.add))",
    "relaxed-simd": """(module (func (param v128) (result v128)
        local.get 0 local.get 0 local.get 0 f32x4.relaxed_madd))""",
    "threads": """(module (memory 1 1 shared)
        (func (result i32) i32.const 0 i32.atomic.load atomic.fence))""",
    "bulk-memory": """(module (memory 1) (data $d "abc")
        (func i32.const 0 i32.const 0 i32.const 3 memory.init $d data.drop $d
              i32.const 0 i32.const 1 i32.const 2 memory.fill))""",
    "reference-types": """(module (table $t 1 externref)
        (func (result externref) i32.const 0 table.get $t) (func ref.null extern drop))""",
    "multi-memory": """(module (memory $a 1) (memory $b 1)
        (func (result i32) i32.const 0 i32.load $b offset=8))""",
    "memory64": "(module (memory i64 1) (func (result i64) memory.size))",
    "multi-value": """(module (func (result i32 i32) i32.const 1 i32.const 2)
        (func (result i32) i32.const 1 (block (param i32) (result i32) i32.const 2 i32.add)))""",
    "tail-call": "(module (func $f (result i32) return_call $f))",
    "exceptions": """(module (tag $e (param i32))
        (func (result i32) (block $h (result i32) (try_table (catch $e $h) i32.const 7 throw $e)
                                      unreachable)))""",
    "gc": """(module (type $s (struct (field i32)))
        (func (result (ref $s)) i32.const 1 struct.new $s))""",
    "function-references": """(module (type $t (func (result i32)))
        (func $f (result i32) i32.const 1) (elem declare func $f)
        (func (result i32) ref.func $f call_ref $t))""",
    "nontrapping-float-to-int": "(module (func (param f32) (result i32) local.get 0 i32.trunc_sat_f32_s))",
    "sign-extension": "(module (func (param i32) (result i32) local.get 0 i32.extend8_s))",
    "mutable-global": '(module (global (export "g") (mut i32) (i32.const 0)))',
    "extended-const": "(module (global i32 (i32.add (i32.const 1) (i32.const 2))))",
    "custom-page-sizes": "(module (memory 1 (pagesize 1)))",
    "legacy-exceptions": "(module (tag $e) (func try call 0 catch $e catch_all end))",
    "wide-arithmetic": """(module (func (param i64 i64) (result i64 i64)
        local.get 0 local.get 1 i64.mul_wide_u))""",
}


@pytest.mark.parametrize("feature", sorted(FEATURE_CASES))
def test_feature_detected(feature: str) -> None:
    assert feature in features(FEATURE_CASES[feature])


def test_mvp_module_uses_no_features() -> None:
    text = """(module (memory 1) (table 2 funcref) (elem (i32.const 0) $f $f)
      (func $f (param i32) (result i32)
        (block (loop (br_if 1 (local.get 0)) (br_table 0 1 0 (local.get 0))))
        (i32.store offset=4 (i32.const 0) (i32.const 1))
        (call_indirect (param i32) (result i32) (i32.const 0) (i32.const 1))
        (if (result i32) (local.get 0) (then (f64.const 1.5) drop (i32.const 1)) (else (i32.const 2)))
        i32.add))"""
    assert features(text) == []


def test_unknown_opcode_is_reported_not_raised() -> None:
    binary = bytearray(wasm("(module (func nop nop nop))"))
    # The body is `01 01 01 0b`; turn the second nop into an opcode that does not exist.
    at = binary.rfind(bytes([0x01, 0x01, 0x01, 0x0B]))
    binary[at + 1] = 0x27
    m = parse(bytes(binary))
    assert isinstance(m, CoreModule)
    assert m.unknown and "0x27" in m.unknown[0] and "offset" in m.unknown[0]


def test_imports_exports_and_types() -> None:
    m = parse(wasm("""(module
      (import "env" "log" (func (param i32 i64)))
      (import "env" "mem" (memory i64 1 100))
      (import "env" "tbl" (table 2 externref))
      (import "env" "g" (global i32))
      (memory (export "shared") 1 2 shared)
      (func (export "pair") (result i32 f32) i32.const 0 f32.const 0)
      (global (export "counter") (mut i64) (i64.const 0))
      (start 1)
      (func))"""))
    assert isinstance(m, CoreModule)
    assert [(i.module, i.name, i.kind, i.type) for i in m.imports] == [
        ("env", "log", "func", "(func (param i32 i64))"),
        ("env", "mem", "memory", "(memory i64 1 100)"),
        ("env", "tbl", "table", "(table 2 externref)"),
        ("env", "g", "global", "i32"),
    ]
    assert {e.name: (e.kind, e.type) for e in m.exports} == {
        "shared": ("memory", "(memory 1 2 shared)"),
        "pair": ("func", "(func (result i32 f32))"),
        "counter": ("global", "(mut i64)"),
    }
    assert m.start == 1 and m.functions == 2
    assert {"memory64", "threads", "multi-memory", "multi-value", "mutable-global",
            "reference-types"} <= set(m.features)


def test_custom_sections_producers_and_target_features() -> None:
    def field(name: str, *values: tuple[str, str]) -> bytes:
        out = _name(name) + bytes([len(values)])
        for v, ver in values:
            out += _name(v) + _name(ver)
        return out

    producers = bytes([2]) + field("language", ("C11", "")) + field("processed-by", ("clang", "19.1"))
    target = bytes([2]) + b"+" + _name("simd128") + b"-" + _name("atomics")
    binary = wasm("(module)") + _custom("producers", producers) + _custom("target_features", target) \
        + _custom("hello", b"xyz")
    m = parse(binary)
    assert isinstance(m, CoreModule)
    assert m.producers == {"language": [{"name": "C11", "version": ""}],
                           "processed-by": [{"name": "clang", "version": "19.1"}]}
    assert m.target_features == ["+simd128", "-atomics"]
    assert [(c.name, c.size) for c in m.customs] == [
        ("producers", 10 + len(producers)), ("target_features", 16 + len(target)), ("hello", 9)]


def test_malformed_producers_is_noted_not_fatal() -> None:
    m = parse(wasm("(module)") + _custom("producers", b"\x05\x03ab"))
    assert isinstance(m, CoreModule)
    assert m.producers == {} and "malformed producers" in m.unknown[0]


def _name(s: str) -> bytes:
    return bytes([len(s)]) + s.encode()


def _custom(name: str, payload: bytes) -> bytes:
    body = _name(name) + payload
    assert len(body) < 128
    return bytes([0, len(body)]) + body


# -- malformed input: InvalidModule with an offset, never a raw exception --------------------------

@pytest.mark.parametrize(("data", "needle"), [
    (b"", "empty"),
    (b"\0asm\x01\x00", "truncated"),
    (b"\0asm\x02\x00\x00\x00", "version"),
    (b"\0asm\x01\x00\x00\x00\x01\x05\x01\x60", "unexpected end"),  # section longer than the file
    (b"\0asm\x01\x00\x00\x00\x01\x80\x80\x80\x80\x80\x01", "LEB128"),  # 6-byte u32
    (b"\0asm\x01\x00\x00\x00\x01\x80\x80\x80\x80\x70", "too large"),  # u32 with bits past 32
    (b"\0asm\x01\x00\x00\x00\x0e\x00", "unknown section id 14"),
    (b"\0asm\x01\x00\x00\x00\x01\x04\x01\x60\x00\x01", "cannot fit"),
    (b"\0asm\x01\x00\x00\x00\x01\x04\x01\x61\x00\x00", "unknown type form 0x61"),
    (b"\0asm\x01\x00\x00\x00\x05\x02\x01\x10", "limits flags"),
    (b"\0asm\x01\x00\x00\x00\x00\x03\x02\xff\xfe", "UTF-8"),
    (b"\0asm\x01\x00\x00\x00\x03\x01\x00\x01\x01\x00", "out of order"),
])
def test_malformed_raises_invalid_module_with_offset(data: bytes, needle: str) -> None:
    with pytest.raises(InvalidModule) as ei:
        inspect(data, name="bad.wasm")
    msg = str(ei.value)
    assert msg.startswith("bad.wasm: ") and needle in msg
    if data[:4] == b"\0asm" and len(data) >= 8:
        assert "offset" in msg and isinstance(ei.value.offset, int)  # type: ignore[attr-defined]


def test_random_bytes_and_text() -> None:
    rng = random.Random(7)
    with pytest.raises(InvalidModule, match="not WebAssembly"):
        inspect(bytes(rng.randrange(1, 256) for _ in range(300)), name="noise.bin")
    with pytest.raises(InvalidModule, match="does not parse"):
        inspect(b"(module (func (result i32) i32.const))", name="bad.wat")


def _leb(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def test_deeply_nested_input_is_refused_not_a_recursion_error() -> None:
    instance_type = b"\x42\x00"  # an empty instance type, wrapped 2000 times as the type of a decl
    for _ in range(2000):
        instance_type = b"\x42\x01\x01" + instance_type
    section = b"\x01" + instance_type
    c = parse(b"\0asm\x0d\x00\x01\x00\x07" + _leb(len(section)) + section)
    assert isinstance(c, Component) and "nested too deeply" in c.unknown[0]
    nested = b"\0asm\x0d\x00\x01\x00"
    for _ in range(100):
        nested = b"\0asm\x0d\x00\x01\x00\x04" + _leb(len(nested)) + nested
    with pytest.raises(InvalidModule, match="nested too deeply"):
        parse(nested)


def test_reader_leb128_edges() -> None:
    assert Reader(b"\xff\xff\xff\xff\x0f").u32() == 0xFFFFFFFF
    assert Reader(b"\x7f").s32() == -1
    assert Reader(b"\x80\x80\x80\x80\x78").s32() == -(1 << 31)
    assert Reader(b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01").u64() == (1 << 64) - 1
    for bad, read in ((b"\xff\xff\xff\xff\x1f", "u32"), (b"\x80\x80\x80\x80\x38", "s32"),
                      (b"\x80", "u32")):
        with pytest.raises(InvalidModule, match="offset 0"):
            getattr(Reader(bad), read)()


def _fuzz(binary: bytes, label: str) -> tuple[int, int]:
    """Truncate at every 97th offset and flip random bytes: only success or InvalidModule may come out."""
    ok = bad = 0
    cases = [binary[:n] for n in range(0, len(binary), 97)]
    rng = random.Random(len(binary))
    for _ in range(150):
        mutated = bytearray(binary)
        for _ in range(rng.randrange(1, 4)):
            mutated[rng.randrange(8, len(mutated))] = rng.randrange(256)
        cases.append(bytes(mutated))
    for data in cases:
        try:
            parse(data, label)
            ok += 1
        except InvalidModule as e:
            assert "offset" in str(e), str(e)
            bad += 1
    return ok, bad


def test_fuzz_wat_module() -> None:
    text = "(module " + " ".join(FEATURE_CASES[f][len("(module"):-1] for f in
                                 ("simd", "bulk-memory", "sign-extension", "tail-call", "mutable-global")) + ")"
    _, bad = _fuzz(wasm(text), "fuzz.wasm")
    assert bad > 0


# -- a hand-written component: sections and the WIT world -----------------------------------------

TYPES_WAT = GUESTS / "inspect_types.wat"

EXPECTED_INTERFACE = """\
package docs:math@0.1.0 {
  interface types {
    record point {
      x: u32,
      y: u32,
    }

    enum color {
      a,
      b,
    }

    resource res {
      constructor(n: u32);
      get: func() -> u32;
      make: static func() -> res;
    }

    dist: func(a: point, c: color) -> u32;
  }
}
"""


@pytest.fixture(scope="module")
def types_info(compile_cache: Path) -> object:
    from wasmhive.cli._inspect import describe

    return describe(str(TYPES_WAT), cache=compile_cache)


def test_fuzz_component() -> None:
    ok, bad = _fuzz(wasm(TYPES_WAT.read_text()), "types.wasm")
    assert ok + bad > 150 and bad > 0


def test_component_sections(types_info: object) -> None:
    info = types_info
    assert info.kind == "component" and info.from_text  # type: ignore[attr-defined]
    c = info.parsed  # type: ignore[attr-defined]
    assert isinstance(c, Component)
    assert len(c.modules) == 1 and [e.name for e in c.modules[0].exports] == ["add"]
    assert ("add", "func") in c.exports and ("docs:math/types@0.1.0", "instance") in c.imports
    assert c.counts["canon"] == 1 and c.counts["core instance"] == 1 and c.counts["alias"] >= 2


def test_component_wit_world(types_info: object, tmp_path: Path) -> None:
    world = types_info.world  # type: ignore[attr-defined]
    text = world.to_wit()
    assert text.endswith(EXPECTED_INTERFACE)
    for line in ("  import docs:math/types@0.1.0;",
                 "  use docs:math/types@0.1.0.{point, res};",
                 "  import f: func(p: point, r: res) -> option<list<string>>;",
                 "  import g: func(v: my-var, f: perms) -> result<u8, string>;",
                 "  export add: func(a: u32, b: u32) -> u32;",
                 "    get: func(key: string) -> option<entry>;",
                 "  import host: interface {"):
        assert line in text.splitlines(), line
    # Top-level type imports: wasmtime does not list them; the names come from our binary parser.
    assert "  variant my-var {\n    none,\n    some(u32),\n    s(string),\n  }\n" in text
    # What we print is WIT that wasm-tools accepts.
    from wasmhive.app.toolchains import wasm_tools

    (tmp_path / "world.wit").write_text(text)
    assert b"world root" in wasm_tools("component", "wit", str(tmp_path / "world.wit"))
    js = world.to_json()
    types_iface = js["imports"][0]["interface"]
    assert types_iface["name"] == "docs:math/types@0.1.0" and types_iface["package"] == "docs:math@0.1.0"
    kinds = {t["name"]: t["kind"] for t in types_iface["types"]}
    assert kinds == {"point": "record", "color": "enum", "res": "resource"}
    res = next(t for t in types_iface["types"] if t["name"] == "res")
    assert [(m["name"], m["kind"]) for m in res["methods"]] == [
        ("res", "constructor"), ("get", "method"), ("make", "static")]


def test_unnamed_types_get_made_up_names() -> None:
    import wasmtime.component as wc

    from wasmhive.component._wit import world_of

    engine = wasmtime.Engine()
    text = world_of(wc.Component(engine, TYPES_WAT.read_text()), engine).to_wit()
    assert "  import g: func(v: variant-1, f: flags-2) -> result<u8, string>;" in text.splitlines()
    assert "  flags flags-2 {" in text.splitlines()


def test_render_type_structural() -> None:
    import wasmtime.component as wc

    from wasmhive.component._wit import render_type

    engine = wasmtime.Engine()
    comp = wc.Component(engine, TYPES_WAT.read_text())
    host = comp.type.imports(engine)["host"].ty.exports(engine)
    assert render_type(host["get"].ty.result) == "option<record { k: string, v: list<u8> }>"


# -- the CLI --------------------------------------------------------------------------------------

@pytest.fixture
def cli_env(compile_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WASMHIVE_CACHE", str(compile_cache))


def test_cli_json_core_module(tmp_path: Path, cli_env: None) -> None:
    src = tmp_path / "m.wat"
    src.write_text(FEATURE_CASES["simd"])
    result = CliRunner().invoke(main, ["inspect", "--json", str(src)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["format"] == 1 and data["kind"] == "module" and data["from_text"] is True
    assert data["size"] == len(wasm(FEATURE_CASES["simd"])) and len(data["sha256"]) == 64
    assert [s["name"] for s in data["sections"]] == ["type", "function", "code"]
    assert data["features"] == ["simd"] and data["imports"] == [] and data["exports"] == []


def test_cli_json_component(cli_env: None) -> None:
    result = CliRunner().invoke(main, ["inspect", "--json", str(TYPES_WAT)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["kind"] == "component" and data["world_error"] is None
    assert data["world"]["wit"].endswith(EXPECTED_INTERFACE)
    assert [e["name"] for e in data["world"]["exports"]] == ["add"]
    assert data["modules"][0]["exports"][0]["name"] == "add"


def test_cli_tables(cli_env: None) -> None:
    result = CliRunner().invoke(main, ["inspect", str(TYPES_WAT)])
    assert result.exit_code == 0, result.output
    for needle in ("component (from text)", "sha256", "core modules (1)", "WIT world", "resource res {"):
        assert needle in result.stdout


def test_cli_bad_input_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "cut.wasm"
    bad.write_bytes(wasm(FEATURE_CASES["bulk-memory"])[:30])
    proc = subprocess.run([str(Path(sys.executable).parent / "wasmhive"), "inspect", str(bad)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 65
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert "cut.wasm" in proc.stderr and "offset" in proc.stderr
    missing = CliRunner().invoke(main, ["inspect", str(tmp_path / "nope.wasm")])
    assert missing.exit_code == 65 and "no such file" in missing.stderr


# -- real toolchain output: zig-built C, componentize-py ---------------------------------------------

@pytest.fixture(scope="session")
def zig_plain(guest_cache: Path) -> Path:
    from wasmhive.app.toolchains import zig_cc

    # No `-s`: stripping would drop the producers section we want to read.
    return zig_cc(GUESTS / "inspect_plain.c", flags=("-O2",), cache_dir=guest_cache)


@pytest.fixture(scope="session")
def zig_simd(guest_cache: Path) -> Path:
    from wasmhive.app.toolchains import zig_cc

    return zig_cc(GUESTS / "inspect_simd.c", flags=("-O2",), simd=True, cache_dir=guest_cache)


@pytest.fixture(scope="session")
def calc_component(guest_cache: Path) -> Path:
    from wasmhive.app.toolchains import componentize_py

    return componentize_py(GUESTS / "inspect_calc" / "wit", "calc", GUESTS / "inspect_calc",
                           cache_dir=guest_cache)


@pytest.mark.slow
def test_zig_c_module(zig_plain: Path) -> None:
    info = inspect(zig_plain)
    m = info.parsed
    assert isinstance(m, CoreModule) and info.kind == "module" and not info.from_text
    assert any(v["name"].startswith("C") for v in m.producers["language"])
    assert any(v["name"] == "clang" for v in m.producers["processed-by"])
    assert {i.module for i in m.imports} == {"wasi_snapshot_preview1"}
    assert {"_start", "memory"} <= {e.name for e in m.exports}
    assert "simd" not in m.features and m.unknown == []


@pytest.mark.slow
def test_zig_simd_module(zig_simd: Path) -> None:
    m = inspect(zig_simd).parsed
    assert isinstance(m, CoreModule)
    assert "simd" in m.features and "+simd128" in m.target_features
    assert [e.type for e in m.exports if e.name == "sum4"] == ["(func (param i32) (result f32))"]


@pytest.mark.slow
def test_fuzz_zig_module(zig_plain: Path) -> None:
    # Without its ~1 MB of DWARF (which is opaque bytes to us) the module is ~25 KB: code, data, names,
    # producers, target_features; that keeps the run to a few hundred parses.
    binary = zig_plain.read_bytes()
    sections = parse(binary).sections
    ends = [s.offset for s in sections[1:]] + [len(binary)]
    lean = binary[:8] + b"".join(binary[s.offset:end] for s, end in zip(sections, ends, strict=True)
                                 if not (s.id == 0 and s.name.startswith(".debug")))
    assert isinstance(parse(lean), CoreModule) and len(lean) < 100_000
    ok, bad = _fuzz(lean, "zig.wasm")
    assert ok > 0 and bad > 0


@pytest.mark.slow
def test_componentize_py_component(calc_component: Path, compile_cache: Path, tmp_path: Path) -> None:
    from wasmhive.app.toolchains import wasm_tools
    from wasmhive.cli._inspect import describe

    info = describe(str(calc_component), cache=compile_cache)
    c = info.parsed
    assert isinstance(c, Component) and len(c.modules) > 3
    assert any("wit-component" in str(m.producers) for m in c.modules)
    assert sum(m.instructions for m in c.modules) > 100_000
    world = info.world
    assert world is not None, info.world_error
    imports = [i.name for i in world.imports]
    assert any(n.startswith("wasi:cli/environment@0.2.") for n in imports)
    assert any(n.startswith("wasi:cli/stdout@0.2.") for n in imports)
    exports = {e.name: e for e in world.exports}
    assert exports["add"].function.signature() == "func(a: u32, b: u32) -> u32"
    text = world.to_wit()
    assert "  export test:inspect/shapes;" in text.splitlines()
    for needle in ("package test:inspect {", "    variant shape {\n      circle(u32),\n      polygon(list<point>),",
                   "    area: func(s: shape, u: unit) -> result<f64, string>;",
                   "    label: func(p: point, st: style) -> option<string>;",
                   "    resource output-stream {", "    use error.{error};",
                   # Plain-type aliases named from the binary (wasmtime reports `u64`).
                   "    now: func() -> instant;", "    type filesize = u64;",
                   "      read: func(length: filesize, offset: filesize) -> result<tuple<list<u8>, bool>, error-code>;",
                   "      size: filesize,"):
        assert needle in text, needle
    (tmp_path / "world.wit").write_text(text)
    assert b"world root" in wasm_tools("component", "wit", str(tmp_path / "world.wit"))
