"""`wasmhive build` rebuilds only what changed: real shell build commands that log every run to a file,
so "no build ran" is read from the log, not inferred."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from wasmhive.cli import main

# The build turns src/main.wat into main.wasm with the real wasm-tools, leaves an intermediate file,
# and appends one line per run to runs.log (outside the workdir, so the log is not an input).
WAT_APP = """
[component.hello]
source = "src/main.wasm"
[component.hello.build]
workdir = "src"
command = "echo run >> ../runs.log && echo step > step.txt && wasm-tools parse main.wat -o main.wasm"
{watch}
"""
MODULE = '(module (func (export "answer") (result i32) i32.const {n}))\n'


def make_app(root: Path, *, watch: str = "", command: str | None = None) -> Path:
    (root / "src").mkdir(parents=True, exist_ok=True)
    (root / "src" / "main.wat").write_text(MODULE.format(n=42))
    manifest = WAT_APP.format(watch=watch)
    if command is not None:
        manifest = manifest.replace(manifest.split("command = ", 1)[1].split("\n", 1)[0], json.dumps(command))
    (root / "wasmhive.toml").write_text(manifest)
    return root


def build(root: Path, *args: str) -> Result:
    result = CliRunner().invoke(main, ["build", str(root), *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def runs(root: Path) -> int:
    log = root / "runs.log"
    return len(log.read_text().splitlines()) if log.exists() else 0


def test_second_build_runs_no_command(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    first = build(app)
    assert first.exit_code == 0, first.output
    assert "built hello" in first.output and runs(app) == 1
    wasm = app / "src" / "main.wasm"
    before = (wasm.stat().st_mtime_ns, wasm.read_bytes())
    second = build(app)
    assert second.exit_code == 0, second.output
    assert "hello is up to date" in second.output
    assert runs(app) == 1, "the build command did not run again"
    assert (wasm.stat().st_mtime_ns, wasm.read_bytes()) == before


def test_changed_input_rebuilds(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    assert build(app).exit_code == 0
    (app / "src" / "main.wat").write_text(MODULE.format(n=7))
    r = build(app)
    assert r.exit_code == 0, r.output
    assert "built hello" in r.output and "main.wat changed" in r.output
    assert runs(app) == 2
    assert build(app).exit_code == 0 and runs(app) == 2, "and then it is up to date again"


def test_new_and_removed_files_in_the_workdir_are_inputs(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    assert build(app).exit_code == 0
    (app / "src" / "extra.wat").write_text("(module)")
    r = build(app)
    assert "extra.wat is new" in r.output and runs(app) == 2
    (app / "src" / "extra.wat").unlink()
    r = build(app)
    assert "extra.wat was removed" in r.output and runs(app) == 3


def test_tool_state_and_the_manifest_are_not_inputs(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    app_dir = app / "src"  # the manifest inside the workdir (the app dir is the workdir)
    text = (app / "wasmhive.toml").read_text().replace('source = "src/main.wasm"', 'source = "main.wasm"')
    (app_dir / "wasmhive.toml").write_text(text.replace('workdir = "src"\n', ""))
    (app / "wasmhive.toml").unlink()
    assert build(app_dir).exit_code == 0 and runs(app) == 1
    for junk in ("__pycache__/m.pyc", ".git/index", "node_modules/x/y.js", ".venv/bin/python", "target/x.o"):
        (app_dir / junk).parent.mkdir(parents=True, exist_ok=True)
        (app_dir / junk).write_text("x")
    os.mkfifo(app_dir / "editor.fifo")  # reading it would block: special files are not inputs
    (app_dir / "wasmhive.toml").write_text((app_dir / "wasmhive.toml").read_text() + "\n# a comment\n")
    r = build(app_dir)
    assert "up to date" in r.output, r.output
    assert runs(app) == 1
    assert (app_dir / ".wasmhive" / "build" / "hello.json").is_file(), "the stamp lives in the app's state dir"


def test_watch_globs_are_the_inputs_when_given(tmp_path: Path) -> None:
    app = make_app(tmp_path, watch='watch = ["*.wat"]')
    assert build(app).exit_code == 0
    (app / "src" / "notes.md").write_text("not watched")
    assert "up to date" in build(app).output and runs(app) == 1
    (app / "src" / "main.wat").write_text(MODULE.format(n=1))
    assert "main.wat changed" in build(app).output and runs(app) == 2


def test_force_rebuilds(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    assert build(app).exit_code == 0
    r = build(app, "--force")
    assert r.exit_code == 0 and "built hello" in r.output and "(--force)" in r.output
    assert runs(app) == 2


def test_missing_or_replaced_output_rebuilds(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    assert build(app).exit_code == 0
    wasm = app / "src" / "main.wasm"
    good = wasm.read_bytes()
    wasm.unlink()
    r = build(app)
    assert "main.wasm is missing" in r.output and runs(app) == 2
    wasm.write_bytes(b"\0asm\x01\0\0\0")  # someone else's file in its place
    r = build(app)
    assert "not the file the last build wrote" in r.output and runs(app) == 3
    assert wasm.read_bytes() == good
    wasm.touch()  # a newer mtime but the same bytes: still up to date
    assert "up to date" in build(app).output and runs(app) == 3


def test_changed_command_rebuilds(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    assert build(app).exit_code == 0
    manifest = app / "wasmhive.toml"
    manifest.write_text(manifest.read_text().replace("wasm-tools parse main.wat", "wasm-tools parse -g main.wat"))
    r = build(app)
    assert "the build command changed" in r.output and runs(app) == 2


def test_failed_build_leaves_no_stamp(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    assert build(app).exit_code == 0
    (app / "src" / "main.wat").write_text("(module (func")  # does not parse
    assert build(app).exit_code == 1 and runs(app) == 2
    (app / "src" / "main.wat").write_text(MODULE.format(n=42))  # back to what the last success built
    r = build(app)
    assert "built hello" in r.output and runs(app) == 3, "the failed build may have left anything behind"


def test_input_changed_during_the_build_rebuilds_next_time(tmp_path: Path) -> None:
    # The command edits its own input once (as a user saving a file mid-build would): the build used
    # the old text, so the next `build` must not call the component up to date.
    app = make_app(tmp_path, command="echo run >> ../runs.log && wasm-tools parse main.wat -o main.wasm && "
                                     "if [ ! -e ../edited ]; then touch ../edited; echo ';; edit' >> main.wat; fi")
    assert build(app).exit_code == 0 and runs(app) == 1
    r = build(app)
    assert "main.wat changed" in r.output and runs(app) == 2
    assert "up to date" in build(app).output and runs(app) == 2


def test_unreadable_stamp_rebuilds(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    assert build(app).exit_code == 0
    (app / ".wasmhive" / "build" / "hello.json").write_text("{not json")
    r = build(app)
    assert "no earlier build recorded" in r.output and runs(app) == 2


def test_only_named_components_are_checked(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    manifest = app / "wasmhive.toml"
    manifest.write_text(manifest.read_text() + """
[component.other]
source = "other.wasm"
[component.other.build]
command = "echo other >> runs.log && wasm-tools parse -o other.wasm src/main.wat"
watch = ["src/*.wat"]
""")
    r = build(app, "-c", "hello")
    assert "built hello" in r.output and "other" not in r.output and runs(app) == 1
    r = build(app)
    assert "hello is up to date" in r.output and "built other" in r.output and runs(app) == 2


@pytest.mark.parametrize("bad", ["-c", "--component-id"])
def test_unknown_component_is_a_config_error(tmp_path: Path, bad: str) -> None:
    r = build(make_app(tmp_path), bad, "nope")
    assert r.exit_code == 64 and "no component `nope`" in r.output
