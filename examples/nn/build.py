"""Build the example: train and export the model, then the two Python guests (all cached by input hash).

    python build.py            → digits.onnx, app.wasm (HTTP, world `http`), cli.wasm (world `classify`)

Tests and the benchmark call `build(cache_dir)` for the cached artifacts without touching this directory.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
import tempfile
from importlib import metadata
from pathlib import Path

from wasmhive.app import toolchains
from wasmhive.app._toolcache import locked

HERE = Path(__file__).resolve().parent
SOURCES = ("app.py", "cli.py", "digits.py")
GUESTS = {"app": "http", "cli": "classify"}  # module → world


def _versions() -> str:
    return ",".join(f"{d}={metadata.version(d)}" for d in ("scikit-learn", "skl2onnx", "onnx", "numpy"))


def _publish(dest: Path, fill: object) -> Path:
    """Fill `dest` (a directory) once, atomically, under a file lock."""
    if (dest / ".complete").exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with locked(dest):
        if not (dest / ".complete").exists():
            tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=".tmp-"))
            try:
                fill(tmp)  # type: ignore[operator]
                (tmp / ".complete").write_text("")
                if dest.exists():
                    shutil.rmtree(dest)
                tmp.rename(dest)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    return dest


def build_model(cache_dir: Path) -> Path:
    """A directory with digits.onnx and digits_weights.py, keyed by make_model.py and the tool versions."""
    key = toolchains.build_key("nn-digits", [HERE / "make_model.py"], tool_version=_versions())

    def fill(tmp: Path) -> None:
        sys.path.insert(0, str(HERE))
        try:
            import make_model
        finally:
            sys.path.remove(str(HERE))
        make_model.export(make_model.train(), tmp)

    return _publish(cache_dir / f"nn-digits-{key[:32]}", fill)


def build_guest(cache_dir: Path, model_dir: Path, module: str = "app") -> Path:
    """One guest module (with the shared `digits.py` and the model's weights beside it) → a component."""
    h = hashlib.sha256(b"".join((HERE / f).read_bytes() for f in (*SOURCES, "wit/world.wit")))
    src = model_dir.parent / f"{model_dir.name}-src-{h.hexdigest()[:16]}"

    def fill(tmp: Path) -> None:
        for f in SOURCES:
            shutil.copyfile(HERE / f, tmp / f)
        shutil.copyfile(model_dir / "digits_weights.py", tmp / "digits_weights.py")
        toolchains.assemble_wit(tmp / "wit", HERE / "wit", deps=["wasi:http@0.2.0", "wasi:nn@0.2.0-rc-2024-10-28"])

    _publish(src, fill)
    return toolchains.componentize_py(src / "wit", GUESTS[module], src / f"{module}.py", cache_dir=cache_dir)


def build(cache_dir: Path | None = None) -> tuple[Path, Path, Path]:
    """(app.wasm, cli.wasm, digits.onnx), all cached."""
    cache = Path(cache_dir) if cache_dir is not None else toolchains.toolchain_cache_dir() / "builds"
    model = build_model(cache)
    return build_guest(cache, model, "app"), build_guest(cache, model, "cli"), model / "digits.onnx"


if __name__ == "__main__":
    app, cli, onnx = build()
    for built, name in ((app, "app.wasm"), (cli, "cli.wasm"), (onnx, "digits.onnx")):
        shutil.copyfile(built, HERE / name)
        print(f"built {HERE / name}")
