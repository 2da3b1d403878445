"""A manifest (and the runtime config that comes with an app) is untrusted: every path it names stays
inside the app directory, and staging `files` never writes outside its own fresh directory.

The attack that once worked: `files = [{ source = "static", destination = "/../../../../tmp/victim" }]`
made `wasmhive up` overwrite a host file outside the app.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from wasmhive.app import App
from wasmhive.app._manifest import parse_manifest
from wasmhive.appconfig import AppConfig, ComponentConfig, FileMount, stage_files
from wasmhive.errors import ConfigError

WASMHIVE = str(Path(sys.executable).parent / "wasmhive")


@pytest.fixture
def layout(tmp_path: Path) -> tuple[Path, Path]:
    """An app directory with `static/index.html`, and a victim file beside (outside) it."""
    app = tmp_path / "app"
    (app / "static").mkdir(parents=True)
    (app / "static" / "index.html").write_text("<h1>app</h1>")
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "index.html").write_text("precious")
    return app, victim


def _escape_to(app: Path, victim: Path) -> str:
    return "/" + "../" * (len(app.parts) + 2) + str(victim).lstrip("/")


def _manifest(app: Path, files: str) -> Path:
    (app / "wasmhive.toml").write_text(f'[component.web]\nsource = "web.wasm"\nfiles = [{files}]\n')
    return app / "wasmhive.toml"


def test_destination_with_dotdot_is_refused_by_wasmhive_up(layout: tuple[Path, Path]) -> None:
    app, victim = layout
    _manifest(app, f'{{ source = "static", destination = "{_escape_to(app, victim)}" }}')
    proc = subprocess.run([WASMHIVE, "up", str(app), "--listen", "127.0.0.1:0"], capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL, check=False)
    assert proc.returncode == 64, proc.stderr
    assert "Traceback" not in proc.stderr
    error = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(error) == 1 and "wasmhive.toml:3:" in error[0] and "must not contain `..`" in error[0]
    assert (victim / "index.html").read_text() == "precious"
    assert sorted(p.name for p in victim.iterdir()) == ["index.html"]


def test_staging_refuses_an_escaping_destination_even_without_the_parser(layout: tuple[Path, Path]) -> None:
    # Defence in depth: an AppConfig built by code (not parsed) gets the same check at staging time.
    app, victim = layout
    cfg = AppConfig("x", app.resolve(), app / "wasmhive.toml", components={
        "web": ComponentConfig("web", app / "web.wasm", files=[FileMount("static", _escape_to(app, victim))])})
    with pytest.raises(ConfigError, match=r"must not contain `\.\.`"):
        stage_files(cfg, cfg.components["web"])
    assert (victim / "index.html").read_text() == "precious"


@pytest.mark.parametrize(("files", "needle"), [
    ('"../victim/*"', "must not contain `..`"),
    ('"/etc/passwd"', "must be relative to the app directory"),
    ('{ source = "../victim", destination = "/v" }', "must not contain `..`"),
    ('{ source = "static", destination = "relative" }', "must be absolute"),
    ('{ source = "link", destination = "/v" }', "leads outside the app directory"),
])
def test_files_entries_that_leave_the_app_are_refused_with_their_line(layout: tuple[Path, Path], files: str,
                                                                      needle: str) -> None:
    app, victim = layout
    (app / "link").symlink_to(victim)
    path = _manifest(app, files)
    with pytest.raises(ConfigError, match=needle) as e:
        parse_manifest(path.read_text(), path)
    assert str(e.value).startswith(f"{path}:3: component `web`")


@pytest.mark.parametrize(("snippet", "needle", "line"), [
    ('source = "../outside.wasm"', "source '../outside.wasm' must not contain `..`", 2),
    ('source = "/usr/lib/x.wasm"', "must be relative to the app directory", 2),
    ('source = "link/x.wasm"', "leads outside the app directory", 2),
    ('source = "a.wasm"\n[component.web.build]\ncommand = "make"\nworkdir = "../.."', "build workdir", 5),
    ('source = "a.wasm"\n[component.web.build]\ncommand = "make"\nworkdir = "link"', "leads outside", 5),
])
def test_source_and_build_workdir_stay_inside_the_app(layout: tuple[Path, Path], snippet: str, needle: str,
                                                      line: int) -> None:
    app, victim = layout
    (app / "link").symlink_to(victim)
    text = f"[component.web]\n{snippet}\n"
    with pytest.raises(ConfigError, match=needle) as e:
        parse_manifest(text, app / "wasmhive.toml")
    assert str(e.value).startswith(f"{app / 'wasmhive.toml'}:{line}:")


def test_a_file_symlinked_out_of_the_app_is_not_staged(layout: tuple[Path, Path]) -> None:
    app, victim = layout
    (app / "static" / "secret.html").symlink_to(victim / "index.html")
    path = _manifest(app, '{ source = "static", destination = "/s" }')
    cfg = parse_manifest(path.read_text(), path)
    with pytest.raises(ConfigError, match="points outside the app directory"):
        stage_files(cfg, cfg.components["web"])


def test_a_symlinked_state_dir_is_refused_and_nothing_is_written_through_it(layout: tuple[Path, Path]) -> None:
    app, victim = layout
    (victim / "files" / "web").mkdir(parents=True)
    (victim / "files" / "web" / "keep").write_text("precious")
    (app / ".wasmhive").symlink_to(victim)  # shipped with the app: staging would rmtree through it
    path = _manifest(app, '"static/*.html"')
    cfg = parse_manifest(path.read_text(), path)
    with pytest.raises(ConfigError, match="state directory must be a real directory"):
        stage_files(cfg, cfg.components["web"])
    assert (victim / "files" / "web" / "keep").read_text() == "precious"


def test_legitimate_files_are_staged_in_a_fresh_directory(layout: tuple[Path, Path]) -> None:
    app, _ = layout
    path = _manifest(app, '"static/*.html", { source = "static", destination = "/assets/" }')
    cfg = parse_manifest(path.read_text(), path)
    root = stage_files(cfg, cfg.components["web"])
    assert root is not None and root.resolve().is_relative_to(app.resolve() / ".wasmhive")
    staged = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert staged == ["assets/index.html", "static/index.html"]
    assert (root / "assets" / "index.html").read_text() == "<h1>app</h1>"


def test_key_value_path_in_the_apps_own_runtime_config_stays_inside(layout: tuple[Path, Path]) -> None:
    app, victim = layout
    (app / "wasmhive.toml").write_text('[component.web]\nsource = "web.wasm"\nkey_value_stores = ["default"]\n')
    (app / "runtime-config.toml").write_text(f'[key_value_store.default]\ntype = "spin"\npath = "{victim}/kv.db"\n')
    with pytest.raises(ConfigError, match="must be relative to the app directory"):
        App.load(app)
    (app / "runtime-config.toml").write_text('[key_value_store.default]\ntype = "spin"\npath = "../victim/kv.db"\n')
    with pytest.raises(ConfigError, match=r"must not contain `\.\.`"):
        App.load(app)
    assert not (victim / "kv.db").exists()
    (app / "runtime-config.toml").write_text(f'[key_value_store.default]\ntype = "spin"\npath = "{victim}/kv.db"\n')
    # The same file named by the operator (--runtime-config-file) is trusted: the path is theirs to choose.
    app_ = App.load(app, runtime_config=app / "runtime-config.toml")
    try:
        assert (victim / "kv.db").exists()
    finally:
        app_.close()


def test_a_symlinked_default_key_value_file_is_refused(layout: tuple[Path, Path]) -> None:
    app, victim = layout
    (app / ".wasmhive").mkdir()
    os.symlink(victim / "index.html", app / ".wasmhive" / "key_value.db")
    (app / "wasmhive.toml").write_text('[component.web]\nsource = "web.wasm"\nkey_value_stores = ["default"]\n')
    with pytest.raises(ConfigError, match="leads outside the app directory"):
        App.load(app)
    assert (victim / "index.html").read_text() == "precious"
