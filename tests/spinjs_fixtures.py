"""The spin-js-sdk toolchain for tests: `@spinframework/build-tools` (its `j2w` componentizer) and
`@spinframework/wasi-http-proxy` from npm, installed once into `tests/.guest-cache/spinjs-npm-<hash>/`,
and the JS Spin app of `tests/app/spinjs` built with them (cached by input hash like the other builders).

The SDK's host-API packages (`@spinframework/spin-sqlite`, `spin-kv`, `spin-variables`) are not on the
npm registry this machine reaches (`npm view` answers 404), so the app imports Spin's interfaces
directly: the app's `package.json` names Spin's WIT (`fermyon:spin@2.0.0`, world `spin-imports`, read from
the installed spin-sdk package at build time) in `config.witDependencies`, exactly as those packages do.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from app_fixtures import spin_sdk_python

HERE = Path(__file__).parent
APP = HERE / "app" / "spinjs"
CACHE = HERE / ".guest-cache"
SPINJS_DEPENDENCIES = {"@spinframework/build-tools": "1.0.7", "@spinframework/wasi-http-proxy": "1.0.1"}


def spinjs_npm() -> Path:
    """`node_modules` with the spin-js-sdk build tools, installed once (needs npm's registry the first time)."""
    from wasmhive.app.toolchains import locked

    if shutil.which("npm") is None or shutil.which("node") is None:
        pytest.skip("node/npm are not installed (CI installs them): the spin-js-sdk app cannot be built")
    text = json.dumps({"name": "spinjs-npm", "private": True, "type": "module",
                       "dependencies": SPINJS_DEPENDENCIES}, indent=2)
    root = CACHE / f"spinjs-npm-{hashlib.sha256(text.encode()).hexdigest()[:16]}"
    marker = root / ".complete"
    if not marker.exists():
        root.mkdir(parents=True, exist_ok=True)
        with locked(root / "install"):
            if not marker.exists():
                (root / "package.json").write_text(text)
                proc = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"], cwd=root,
                                      capture_output=True, text=True, timeout=900)
                if proc.returncode != 0:
                    raise RuntimeError(f"npm install of the spin-js-sdk failed:\n{proc.stderr[-3000:]}")
                marker.write_text(text)
    return root / "node_modules"


def spin_wit() -> Path:
    """Spin's WIT (`fermyon:spin@2.0.0` and its deps) as the installed spin-sdk package ships it."""
    py = spin_sdk_python()
    found = sorted(py.parent.parent.glob("lib/python3*/site-packages/spin_sdk/wit"))
    if not found:
        raise RuntimeError(f"spin-sdk's WIT not found under {py.parent.parent}")
    return found[0]


def build_spinjs_app(out: Path, app: Path = APP) -> Path:
    """Build `app`'s `index.js` (default `tests/app/spinjs`) with the spin-js-sdk's `j2w` into `out`."""
    from wasmhive.app.toolchains import build_cached

    node_modules = spinjs_npm()
    wit = spin_wit()

    def build(dest: Path) -> None:
        project = dest.parent / f".spinjs-build-{dest.name}"
        shutil.rmtree(project, ignore_errors=True)
        project.mkdir()
        try:
            shutil.copy(app / "index.js", project / "index.js")
            (project / "package.json").write_text((app / "package.json").read_text().replace("SPIN_WIT", str(wit)))
            (project / "node_modules").symlink_to(node_modules)
            proc = subprocess.run(["node", str(node_modules / "@spinframework" / "build-tools" / "dist" / "index.js"),
                                   "-i", "index.js", "-o", "app.wasm"], cwd=project, capture_output=True, text=True,
                                  timeout=900)
            # j2w reports a failed componentize on stderr but still exits 0: the output file is the proof.
            if proc.returncode != 0 or not (project / "app.wasm").is_file():
                raise RuntimeError(f"spin-js-sdk build failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
            shutil.copyfile(project / "app.wasm", dest)
        finally:
            shutil.rmtree(project, ignore_errors=True)

    built = build_cached("spinjs", [app / "index.js", app / "package.json", wit], build,
                         tool_version=json.dumps(SPINJS_DEPENDENCIES), cache_dir=CACHE)
    shutil.copyfile(built, out)
    return out


def spinjs_app(dest: Path) -> Path:
    """The JS Spin app (manifest, migration, built component) copied into `dest`; its `spin.toml`."""
    for name in ("spin.toml", "migration.sql"):
        shutil.copy(APP / name, dest / name)
    build_spinjs_app(dest / "app.wasm")
    return dest / "spin.toml"
