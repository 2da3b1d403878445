"""Build the example: train and export the model, then the Python guest (both cached by input hash).

    python build.py            → digits.onnx, app.wasm (here)

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
WORLD = "classify"


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


def build_guest(cache_dir: Path, model_dir: Path) -> Path:
    """app.py (with the model's weights module beside it) → a component (componentize-py)."""
    src = model_dir.parent / f"{model_dir.name}-src-{hashlib.sha256((HERE / 'app.py').read_bytes()).hexdigest()[:16]}"

    def fill(tmp: Path) -> None:
        shutil.copyfile(HERE / "app.py", tmp / "app.py")
        shutil.copyfile(model_dir / "digits_weights.py", tmp / "digits_weights.py")
        toolchains.assemble_wit(tmp / "wit", HERE / "wit", deps=["wasi:http@0.2.0", "wasi:nn@0.2.0-rc-2024-10-28"])

    _publish(src, fill)
    return toolchains.componentize_py(src / "wit", WORLD, src / "app.py", cache_dir=cache_dir)


def build(cache_dir: Path | None = None) -> tuple[Path, Path]:
    """(app.wasm, digits.onnx), both cached."""
    cache = Path(cache_dir) if cache_dir is not None else toolchains.toolchain_cache_dir() / "builds"
    model = build_model(cache)
    return build_guest(cache, model), model / "digits.onnx"


if __name__ == "__main__":
    wasm, onnx = build()
    shutil.copyfile(wasm, HERE / "app.wasm")
    shutil.copyfile(onnx, HERE / "digits.onnx")
    print(f"built {HERE / 'app.wasm'} and {HERE / 'digits.onnx'}")
