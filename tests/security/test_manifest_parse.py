"""Manifest and runtime-config parsing under hostile or careless input: deep nesting is a clear error,
warnings point at the line of the key they name (also in nested tables), and runtime-config tables we
do not serve are warned about, never dropped silently."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from wasmhive.app import App
from wasmhive.app._manifest import parse_manifest
from wasmhive.errors import ConfigError

WASMHIVE = str(Path(sys.executable).parent / "wasmhive")


@pytest.mark.parametrize("nested", ["[" * 5000 + "]" * 5000, "{ a = " * 5000 + "1" + " }" * 5000])
def test_a_5000_level_manifest_is_a_clear_error(tmp_path: Path, nested: str) -> None:
    path = tmp_path / "wasmhive.toml"
    path.write_text(f"x = {nested}\n")
    with pytest.raises(ConfigError, match="nested too deeply"):
        parse_manifest(path.read_text(), path)
    proc = subprocess.run([WASMHIVE, "up", str(path), "--listen", "127.0.0.1:0"], capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL, check=False)
    assert proc.returncode == 64 and "Traceback" not in proc.stderr
    assert f"error: {path}: malformed TOML: arrays or tables nested too deeply" in proc.stderr


MANIFEST = """\
spin_manifest_version = 2
[application]
name = "x"

[component.a]
source = "a.wasm"
frob = 1

[component.b]
source = "b.wasm"
allowed_outbound_hosts = []
frob = 2

[component.b.build]
command = "true"
frob = 3

[[trigger.http]]
route = "/a"
component = "a"

[[trigger.http]]
route = "/b"
component = "b"
frob = 4
"""


def test_warnings_point_at_the_key_in_its_own_nested_table(tmp_path: Path) -> None:
    cfg = parse_manifest(MANIFEST, tmp_path / "spin.toml")
    where = {w.split(": ", 1)[1]: int(w.split(":")[1]) for w in cfg.warnings}
    assert where == {
        "component `a`: unknown field `frob` is ignored": 7,
        "component `b`: unknown field `frob` is ignored": 12,
        "[component.b.build]: unknown field `frob` is ignored": 16,
        "trigger #2: unknown field `frob` is ignored": 25,
    }
    for line, w in zip((7, 12, 16, 25), sorted(cfg.warnings, key=lambda w: int(w.split(":")[1])), strict=True):
        assert MANIFEST.splitlines()[line - 1].startswith("frob"), w


def test_unsupported_runtime_config_tables_are_warned_about(tmp_path: Path,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "wasmhive.toml").write_text('[component.a]\nsource = "a.wasm"\n')
    (tmp_path / "runtime-config.toml").write_text(
        '[key_value_store.default]\ntype = "spin"\n\n[[variables_provider]]\ntype = "vault"\n\n'
        '[[config_provider]]\ntype = "vault"\n')
    with caplog.at_level(logging.WARNING, "wasmhive.app"), App.load(tmp_path) as app:
        warnings = [w for w in app.config.warnings if "runtime config" in w]
    rc = tmp_path / "runtime-config.toml"
    assert len(warnings) == 2
    assert warnings[0].startswith(f"{rc}:4: runtime config: `variables_provider` is not supported and is ignored")
    assert warnings[1].startswith(f"{rc}:7: runtime config: `config_provider` is not supported and is ignored")
    assert [r.getMessage() for r in caplog.records if "runtime config" in r.getMessage()] == warnings


def test_deeply_nested_runtime_config_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "wasmhive.toml").write_text('[component.a]\nsource = "a.wasm"\n')
    (tmp_path / "rc.toml").write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ConfigError, match=r"rc\.toml: malformed TOML: arrays or tables nested too deeply"):
        App.load(tmp_path, runtime_config=tmp_path / "rc.toml")
