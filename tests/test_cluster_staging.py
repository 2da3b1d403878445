"""Staging an app's `files` from several processes at once (nodes started together on one app directory,
the workers of `--workers N`): every process succeeds and sees the complete tree, round after round."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from wasmhive.app import load_manifest
from wasmhive.appconfig import stage_files
from wasmhive.errors import ConfigError

_FILES = 40
_PROCESSES = 4
_ROUNDS = 12

# One stager: stages on every line read from stdin, then checks the staged tree against the sources.
_STAGER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from wasmhive.app import load_manifest
    from wasmhive.appconfig import stage_files

    app_dir = Path(sys.argv[1])
    for line in sys.stdin:
        try:
            app = load_manifest(app_dir)
            root = stage_files(app, app.components["counter"])
            bad = [p.name for p in sorted((app_dir / "static").iterdir())
                   if (root / "static" / p.name).read_bytes() != p.read_bytes()]
            extra = sorted({q.name for q in (root / "static").iterdir()} -
                           {p.name for p in (app_dir / "static").iterdir()})
            print(f"bad {bad} {extra}" if bad or extra else f"ok {root}", flush=True)
        except Exception as e:
            print("error", type(e).__name__, e, flush=True)
""")


def _app(tmp_path: Path) -> Path:
    app_dir = tmp_path / "app"
    (app_dir / "static").mkdir(parents=True)
    (app_dir / "wasmhive.toml").write_text('[component.counter]\nsource = "c.wasm"\nfiles = ["static/*.txt"]\n')
    return app_dir


def _write_round(app_dir: Path, n: int) -> None:
    for i in range(_FILES):
        # A new size every round, so every round is a new version to stage (not only a new mtime).
        (app_dir / "static" / f"f{i:02d}.txt").write_text(f"round {n} file {i}\n" * (n + 1))


@pytest.mark.slow
def test_processes_staging_the_same_app_at_once_all_succeed(tmp_path: Path) -> None:
    app_dir = _app(tmp_path)
    _write_round(app_dir, 0)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    procs = [subprocess.Popen([sys.executable, "-c", _STAGER, str(app_dir)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env=env) for _ in range(_PROCESSES)]
    try:
        for n in range(_ROUNDS):
            _write_round(app_dir, n)
            for p in procs:  # all blocked in readline: released together
                assert p.stdin is not None
                p.stdin.write("go\n")
                p.stdin.flush()
            answers = []
            for p in procs:
                assert p.stdout is not None
                answers.append(p.stdout.readline().strip())
            assert all(a.startswith("ok ") for a in answers), (n, answers)
            roots = {a.split(" ", 1)[1] for a in answers}
            assert len(roots) == 1, (n, answers)  # one tree per version, shared by every process
    finally:
        for p in procs:
            for pipe in (p.stdin, p.stdout):
                if pipe is not None:
                    pipe.close()
            p.wait(timeout=30)
    leftovers = [p.name for p in (app_dir / ".wasmhive" / "files").iterdir() if p.name.startswith(".")]
    assert leftovers == []  # the losers' private trees are gone


def test_a_staged_tree_is_never_changed_under_its_server(tmp_path: Path) -> None:
    """A source edited after a process staged makes a new version; the first process's tree keeps the
    content it was staged with (it is never rebuilt in place)."""
    app_dir = _app(tmp_path)
    (app_dir / "static" / "about.txt").write_text("v1\n")
    app = load_manifest(app_dir)
    first = stage_files(app, app.components["counter"])
    assert first is not None and (first / "static" / "about.txt").read_text() == "v1\n"
    assert stage_files(app, app.components["counter"]) == first  # same sources: the same tree, reused
    (app_dir / "static" / "about.txt").unlink()
    (app_dir / "static" / "about.txt").write_text("v2, longer\n")
    second = stage_files(app, app.components["counter"])
    assert second is not None and second != first
    assert (second / "static" / "about.txt").read_text() == "v2, longer\n"
    assert (first / "static" / "about.txt").read_text() == "v1\n"


def test_a_foreign_file_in_place_of_the_tree_is_replaced(tmp_path: Path) -> None:
    app_dir = _app(tmp_path)
    (app_dir / "static" / "about.txt").write_text("hello\n")
    app = load_manifest(app_dir)
    root = stage_files(app, app.components["counter"])
    assert root is not None
    import shutil

    shutil.rmtree(root)
    (tmp_path / "elsewhere").mkdir()
    root.symlink_to(tmp_path / "elsewhere")  # a symlink planted where the tree goes is never followed
    again = stage_files(app, app.components["counter"])
    assert again == root and not root.is_symlink()
    assert (root / "static" / "about.txt").read_text() == "hello\n"
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_a_symlinked_staging_directory_is_refused(tmp_path: Path) -> None:
    app_dir = _app(tmp_path)
    (app_dir / "static" / "about.txt").write_text("hello\n")
    (app_dir / ".wasmhive").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (app_dir / ".wasmhive" / "files").symlink_to(tmp_path / "elsewhere")
    app = load_manifest(app_dir)
    with pytest.raises(ConfigError, match="must be a directory, not a symlink"):
        stage_files(app, app.components["counter"])
    assert list((tmp_path / "elsewhere").iterdir()) == []
