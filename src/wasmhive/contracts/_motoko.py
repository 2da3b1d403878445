"""Building Motoko actors with the npm `motoko` package (offline, its bundled `core` library)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from ..errors import ConfigError, WasmhiveError

__all__ = ["MOTOKO_VERSION", "build_motoko", "motoko_modules"]

MOTOKO_VERSION = "4.10.0"
_SCRIPT = Path(__file__).with_name("motoko_build.js")


class BuildError(WasmhiveError):
    """The Motoko compiler refused the source."""

    exit_code = 2


def _cache_root() -> Path:
    base = os.environ.get("WASMHIVE_CACHE")
    return Path(base) if base else Path.home() / ".cache" / "wasmhive"


def motoko_modules() -> Path:
    """The `node_modules` holding the compiler, installed with npm on first use (cached, outside the repo)."""
    root = Path(os.environ.get("WASMHIVE_MOTOKO_DIR") or _cache_root() / f"motoko-npm-{MOTOKO_VERSION}")
    mods = root / "node_modules"
    if (mods / "motoko" / "packages" / "latest" / "core.json").exists():
        return mods
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise ConfigError("building Motoko needs Node.js and npm (apt-get install nodejs npm)")
    root.mkdir(parents=True, exist_ok=True)
    (root / "package.json").write_text('{"private": true}\n')
    proc = subprocess.run([npm, "install", "--no-audit", "--no-fund", f"motoko@{MOTOKO_VERSION}"], cwd=root,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise ConfigError(f"npm install motoko@{MOTOKO_VERSION} failed:\n{proc.stderr.strip()[-2000:]}")
    return mods


def build_motoko(source: str | os.PathLike[str], out: str | os.PathLike[str] | None = None) -> tuple[bytes, str]:
    """Compile a Motoko actor (sibling `.mo` files may be imported); returns (wasm, candid service).

    Results are cached by the hash of the directory's `.mo` sources and the compiler version.
    """
    src = Path(source)
    if not src.is_file():
        raise ConfigError(f"no such Motoko file: {src}")
    h = hashlib.sha256(MOTOKO_VERSION.encode() + src.name.encode())
    for f in sorted(src.parent.glob("*.mo")):
        h.update(f.name.encode() + b"\0" + f.read_bytes())
    cache = _cache_root() / "motoko-builds"
    cache.mkdir(parents=True, exist_ok=True)
    wasm_path, did_path = cache / f"{h.hexdigest()}.wasm", cache / f"{h.hexdigest()}.did"
    if not (wasm_path.exists() and did_path.exists()):
        node = shutil.which("node")
        if node is None:
            raise ConfigError("building Motoko needs Node.js (apt-get install nodejs)")
        tmp = cache / f"{h.hexdigest()}.{os.getpid()}.wasm.tmp"
        tmp_did = cache / f"{h.hexdigest()}.{os.getpid()}.did.tmp"
        proc = subprocess.run([node, str(_SCRIPT), str(motoko_modules()), str(src.resolve()), str(tmp), str(tmp_did)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise BuildError(f"moc refused {src}:\n{proc.stderr.strip()}")
        os.replace(tmp_did, did_path)
        os.replace(tmp, wasm_path)
    wasm, did = wasm_path.read_bytes(), did_path.read_text()
    if out is not None:
        Path(out).write_bytes(wasm)
        Path(out).with_suffix(".did").write_text(did)
    return wasm, did
