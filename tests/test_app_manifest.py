"""Manifest parsing: wasmhive.toml and spin.toml v2, warnings for unknown fields, errors with lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from app_fixtures import write_app
from wasmhive.app import find_manifest, load_manifest, parse_manifest
from wasmhive.errors import ConfigError

SPIN = """\
spin_manifest_version = 2

[application]
name = "demo"
version = "1.2.3"
authors = ["me"]

[application.trigger.http]
base = "/"

[variables]
greeting = { default = "hello" }
api_key = { required = true, secret = true }

[[trigger.http]]
route = "/kv/..."
component = "kv"

[[trigger.http]]
route = "/cgi/:name"
component = "cgi"
executor = { type = "wagi", argv = "${SCRIPT_NAME} ${ARGS} extra" }

[[trigger.http]]
route = "/static"
static_response = { status_code = 201, headers = { content-type = "text/plain" }, body = "hi" }

[[trigger.http]]
route = { private = true }
component = "kv"

[[trigger.http]]
route = "/inline"
component = { source = "inline.wasm", allowed_outbound_hosts = ["https://example.com"] }

[component.kv]
source = "kv/app.wasm"
key_value_stores = ["default"]
allowed_outbound_hosts = ["https://{{ greeting }}.example.com"]
files = ["static/*.txt", { source = "assets", destination = "/assets" }]
exclude_files = ["static/secret.txt"]
environment = { MODE = "test" }
[component.kv.variables]
message = "{{ greeting }}, world"
key = "{{ api_key }}"
[component.kv.build]
command = "componentize-py componentize app -o app.wasm"
workdir = "kv"
watch = ["*.py"]

[component.cgi]
source = "cgi.wasm"
"""


def test_spin_manifest_fields(tmp_path: Path) -> None:
    cfg = write_app(tmp_path, SPIN, name="spin.toml")
    assert cfg.spin and cfg.name == "demo" and cfg.version == "1.2.3"
    assert cfg.variables["api_key"].required and cfg.variables["api_key"].secret
    assert cfg.variables["greeting"].default == "hello"
    kv = cfg.components["kv"]
    assert kv.source == tmp_path / "kv/app.wasm"
    assert kv.key_value_stores == ["default"]
    assert kv.variables == {"message": "{{ greeting }}, world", "key": "{{ api_key }}"}
    assert kv.files[0].source == "static/*.txt" and kv.files[1].destination == "/assets"
    assert kv.exclude_files == ["static/secret.txt"] and kv.environment == {"MODE": "test"}
    assert kv.build is not None and kv.build.workdir == tmp_path / "kv" and kv.build.watch == ["*.py"]
    routes = [(t.route, t.component, t.executor.type, t.private) for t in cfg.triggers]
    assert routes == [("/kv/...", "kv", "http", False), ("/cgi/:name", "cgi", "wagi", False),
                      ("/static", None, "http", False), (None, "kv", "http", True),
                      ("/inline", "inline-component-5", "http", False)]
    assert cfg.triggers[1].executor.argv == "${SCRIPT_NAME} ${ARGS} extra"
    static = cfg.triggers[2].static_response
    assert static is not None and static.status == 201 and static.body == b"hi"
    assert cfg.components["inline-component-5"].allowed_outbound_hosts == ["https://example.com"]
    assert cfg.warnings == []
    assert cfg.state_dir == tmp_path / ".wasmhive"


def test_wasmhive_toml_same_meaning(tmp_path: Path) -> None:
    cfg = write_app(tmp_path, SPIN.replace("spin_manifest_version = 2\n", ""), name="wasmhive.toml")
    assert not cfg.spin
    assert [t.route for t in cfg.triggers] == ["/kv/...", "/cgi/:name", "/static", None, "/inline"]
    assert find_manifest(tmp_path) == tmp_path / "wasmhive.toml"


def test_unknown_fields_are_warned_by_name(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    text = SPIN.replace('source = "cgi.wasm"', 'source = "cgi.wasm"\nfrobnicate = 1\ndependencies_inherit_configuration = true')
    cfg = write_app(tmp_path, text + "\n[trigger.sqs]\nx = 1\n", name="spin.toml")
    joined = "\n".join(cfg.warnings)
    assert "unknown field `frobnicate`" in joined
    assert "`dependencies_inherit_configuration` is not supported yet" in joined
    assert "trigger type `sqs`" in joined
    # Each warning points at the manifest line.
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if ln.startswith("frobnicate"))
    assert f"spin.toml:{line}:" in joined
    assert "frobnicate" in caplog.text


def test_malformed_toml_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "spin.toml").write_text('spin_manifest_version = 2\n[application]\nname = "x"\nbroken = \n')
    with pytest.raises(ConfigError, match=r"spin\.toml:4:\d+: malformed TOML"):
        load_manifest(tmp_path)


@pytest.mark.parametrize(("snippet", "message"), [
    ('[[trigger.http]]\nroute = "/x"\ncomponent = "nope"\n', "names component `nope`, which is not defined"),
    ('[[trigger.http]]\nroute = "x"\ncomponent = "a"\n', "must be a path starting with /"),
    ('[variables]\nv = { required = true, default = "x" }\n', "cannot be both required and have a default"),
    ('[variables]\nBad = { default = "x" }\n', "variable name 'Bad'"),
    ('[component.a.variables]\nx = "{{ undeclared }}"\n', "not declared in [variables]"),
    ('[[trigger.http]]\nroute = "/x"\ncomponent = "a"\nexecutor = { type = "cgi" }\n', "executor type 'cgi'"),
])
def test_semantic_errors_point_at_a_line(tmp_path: Path, snippet: str, message: str) -> None:
    text = 'spin_manifest_version = 2\n[application]\nname = "x"\n[component.a]\nsource = "a.wasm"\n' + snippet
    with pytest.raises(ConfigError) as e:
        parse_manifest(text, tmp_path / "spin.toml")
    assert message in str(e.value)
    assert str(tmp_path / "spin.toml") + ":" in str(e.value)


def test_spin_manifest_version_3_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"is not supported \(1 or 2\)"):
        parse_manifest('spin_manifest_version = "3"\nname = "x"\n', tmp_path / "spin.toml")


def test_missing_manifest(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no wasmhive\.toml or spin\.toml"):
        find_manifest(tmp_path)
