"""Standard WIT packages (wasi:http, wasi:cli, ...) and the WASI preview 1 adapters, from installed packages.

We never paste standard WIT into the repository. It is read, in this order, from:

1. directories listed in `$WASMHIVE_WIT_PATH` (os.pathsep-separated);
2. installed packages that ship it: the Python `spin_sdk` package (`spin_sdk/wit`: wasi 0.2.0),
   a `node_modules/@bytecodealliance/jco/lib` (wasi 0.2.x/0.3.0 and the adapters) under the current
   directory or `$WASMHIVE_JCO_DIR`;
3. otherwise those same packages are fetched once with their ordinary clients, into the toolchain
   cache, without installing them: `pip download --no-deps spin-sdk==3.4.1` (not installed: its
   componentize-py.toml would leak into every componentize-py build) and
   `npm pack @bytecodealliance/jco@1.35.0` (the tarball only, no dependencies).

The one exception is `wasi:nn@0.2.0-rc-2024-10-28`, which no PyPI, npm or Debian package ships:
wasmhive declares it in `capabilities/nn/wit/` (see docs/NN.md).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from importlib.util import find_spec
from pathlib import Path

from ..errors import BuildError
from ._toolcache import locked, toolchain_cache_dir

__all__ = ["assemble_wit", "standard_wit", "wasi_adapter", "wit_packages"]

SPIN_SDK = "spin-sdk==3.4.1"
JCO = "@bytecodealliance/jco@1.35.0"
_PACKAGE_RE = re.compile(r"^\s*package\s+([a-z][a-z0-9-]*:[a-z][a-z0-9-:]*@[0-9A-Za-z.+-]+)\s*[;{]", re.M)
# A reference to another package: `use wasi:io/streams@0.2.0.{...}`, `include wasi:cli/imports@0.2.0;`.
_REF_RE = re.compile(r"\b([a-z][a-z0-9-]*:[a-z][a-z0-9-]*)/[a-z][a-z0-9-]*"
                     r"@([0-9]+\.[0-9]+\.[0-9]+(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?)")


def _cache_root() -> Path:
    return toolchain_cache_dir()


def _local_roots() -> list[Path]:
    roots = [Path(p) for p in os.environ.get("WASMHIVE_WIT_PATH", "").split(os.pathsep) if p]
    spec = find_spec("spin_sdk")
    if spec is not None and spec.submodule_search_locations:
        roots += [Path(p) / "wit" for p in spec.submodule_search_locations]
    roots += [lib / "wit" for lib in _jco_libs(fetch=False)]
    sources = _cache_root() / "sources"
    roots += [sources / "spin-sdk" / "wit", sources / "jco" / "lib" / "wit"]
    roots.append(Path(__file__).parents[1] / "capabilities" / "nn" / "wit")  # wasi:nn: no package ships it
    return [r for r in roots if r.is_dir()]


def _jco_libs(*, fetch: bool) -> list[Path]:
    candidates = [Path(os.environ["WASMHIVE_JCO_DIR"]) / "lib"] if os.environ.get("WASMHIVE_JCO_DIR") else []
    candidates.append(Path.cwd() / "node_modules" / "@bytecodealliance" / "jco" / "lib")
    candidates.append(_cache_root() / "sources" / "jco" / "lib")
    found = [c for c in candidates if c.is_dir()]
    if not found and fetch:
        _fetch("jco")
        found = [c for c in candidates if c.is_dir()]
    return found


def wit_packages(roots: Sequence[Path] | None = None) -> dict[str, list[Path]]:
    """Every WIT package found under `roots` (default: the places listed above): id → its .wit files."""
    index: dict[str, list[Path]] = {}
    for root in _local_roots() if roots is None else roots:
        by_dir: dict[Path, list[Path]] = {}
        for path in sorted(root.rglob("*.wit")):
            by_dir.setdefault(path.parent, []).append(path)
        for files in by_dir.values():
            # A package is a directory of .wit files; usually only one of them says `package ...;`.
            names = set()
            for path in files:
                try:
                    m = _PACKAGE_RE.search(path.read_text(encoding="utf-8"))
                except (OSError, UnicodeDecodeError):
                    continue
                if m:
                    names.add(m.group(1))
            if len(names) == 1:
                # The first root that has a package wins; never mix files from two copies.
                index.setdefault(names.pop(), files)
            else:
                for path in files:  # several packages in one folder: one file each
                    m = _PACKAGE_RE.search(path.read_text(encoding="utf-8", errors="replace"))
                    if m:
                        index.setdefault(m.group(1), [path])
    return index


def _references(files: Sequence[Path], own: str) -> set[str]:
    refs = set()
    for f in files:
        for name, version in _REF_RE.findall(f.read_text(encoding="utf-8")):
            pkg = f"{name}@{version}"
            if pkg != own:
                refs.add(pkg)
    return refs


def _closure(package: str) -> dict[str, list[Path]]:
    """`package` and everything it references, transitively, fetching standard sources if needed."""
    index = wit_packages()
    fetched: list[str] = []
    result: dict[str, list[Path]] = {}
    todo = [package]
    while todo:
        pkg = todo.pop()
        if pkg in result:
            continue
        while pkg not in index:
            source = next((s for s in _sources_for(pkg) if s not in fetched), None)
            if source is None:
                known = ", ".join(sorted(p for p in index if p.startswith("wasi:"))) or "none"
                raise BuildError("wit", ["standard_wit", pkg],
                                 f"no installed package ships WIT for {pkg} (found: {known}); "
                                 f"set WASMHIVE_WIT_PATH to a directory that has it")
            fetched.append(source)
            _fetch(source)
            index = wit_packages()
        result[pkg] = index[pkg]
        todo.extend(_references(index[pkg], pkg) - result.keys())
    return result


def _sources_for(package: str) -> list[str]:
    # spin-sdk 3.4.1 carries wasi 0.2.0; jco carries the newer 0.2.x and 0.3.0.
    return ["spin-sdk", "jco"] if package.endswith("@0.2.0") else ["jco", "spin-sdk"]


def _safe_name(package: str) -> str:
    return re.sub(r"[^A-Za-z0-9.@-]+", "-", package)


def standard_wit(package: str = "wasi:http@0.2.0") -> Path:
    """A directory with `package`'s WIT files and a `deps/` folder holding everything it uses.

    Pass it as the WIT path of a build: `componentize-py -d DIR -w wasi:http/proxy@0.2.0 ...`.
    Built once into the toolchain cache; raises `BuildError` if no source ships the package.
    """
    out = _cache_root() / "wit" / _safe_name(package)
    if (out / ".complete").exists():
        return out
    closure = _closure(package)
    _publish_dir(out, lambda tmp: _write_tree(tmp, closure.pop(package), closure))
    return out


def assemble_wit(out: str | os.PathLike[str], files: Mapping[str, str] | str | os.PathLike[str],
                 deps: Sequence[str] = ()) -> Path:
    """Make a WIT directory at `out`: your own files plus `deps/` with the standard `deps` packages.

    `files` is {file name: WIT text} or a directory whose top-level .wit files are copied. Each entry
    of `deps` (e.g. "wasi:http@0.2.0") brings its own dependencies along.
    """
    dest = Path(out)
    dest.mkdir(parents=True, exist_ok=True)
    if isinstance(files, Mapping):
        for name, text in files.items():
            (dest / name).write_text(text, encoding="utf-8")
    else:
        for f in sorted(Path(files).glob("*.wit")):
            shutil.copyfile(f, dest / f.name)
    closure: dict[str, list[Path]] = {}
    for dep in deps:
        closure.update(_closure(dep))
    _write_deps(dest / "deps", closure)
    return dest


def _write_tree(dest: Path, own: list[Path], deps: dict[str, list[Path]]) -> None:
    for f in own:
        shutil.copyfile(f, dest / f.name)
    _write_deps(dest / "deps", deps)


def _write_deps(deps_dir: Path, packages: dict[str, list[Path]]) -> None:
    for pkg, files in packages.items():
        d = deps_dir / _safe_name(pkg)
        d.mkdir(parents=True, exist_ok=True)
        for f in files:
            shutil.copyfile(f, d / f.name)


def _publish_dir(out: Path, fill: object) -> None:
    """Fill a temporary sibling directory and rename it to `out`, so readers never see half of it.

    Under a file lock, so parallel test sessions fetch and assemble once.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    with locked(out):
        if (out / ".complete").exists():  # another process published it while we waited
            return
        tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=".tmp-"))
        try:
            fill(tmp)  # type: ignore[operator]
            (tmp / ".complete").write_text("")
            if out.exists():  # an incomplete leftover of an interrupted run
                shutil.rmtree(out)
            os.replace(tmp, out)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def wasi_adapter(kind: str = "command") -> Path:
    """The `wasi_snapshot_preview1.{command,reactor}.wasm` adapter that jco ships (fetched if needed)."""
    if kind not in ("command", "reactor"):
        raise BuildError("wasi adapter", [kind], f"adapter kind must be 'command' or 'reactor', not {kind!r}")
    for lib in _jco_libs(fetch=True):
        p = lib / f"wasi_snapshot_preview1.{kind}.wasm"
        if p.is_file():
            return p
    raise BuildError("wasi adapter", [kind], f"no wasi_snapshot_preview1.{kind}.wasm found in {JCO}")


# -- fetching the standard sources -------------------------------------------------------------------
def _fetch(source: str) -> None:
    """Download one source package (without installing it) and unpack the parts we use."""
    dest = _cache_root() / "sources" / source
    if (dest / ".complete").exists():
        return

    def fill(tmp: Path) -> None:
        dl = tmp / ".download"
        dl.mkdir()
        if source == "spin-sdk":
            cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                   "--disable-pip-version-check", "-d", str(dl), SPIN_SDK]
            _run_fetch(cmd)
            wheel = next(dl.glob("*.whl"))
            with zipfile.ZipFile(wheel) as z:
                for name in z.namelist():
                    if name.startswith("spin_sdk/wit/") and name.endswith(".wit") and ".." not in name:
                        target = tmp / name.removeprefix("spin_sdk/")
                        target.parent.mkdir(parents=True, exist_ok=True)
                        target.write_bytes(z.read(name))
        elif source == "jco":
            npm = shutil.which("npm")
            if npm is None:
                raise BuildError("npm", ["npm", "pack", JCO], "npm is not installed (needed to fetch jco's WIT "
                                 "and WASI adapters); install Node.js or set WASMHIVE_JCO_DIR")
            _run_fetch([npm, "pack", "--silent", JCO, "--pack-destination", str(dl)], cwd=dl)
            tgz = next(dl.glob("*.tgz"))
            with tarfile.open(tgz) as t:
                members = [m for m in t.getmembers() if m.name.startswith("package/lib/")
                           and (m.isfile() or m.isdir())]
                t.extractall(dl, members=members, filter="data")
            shutil.move(str(dl / "package" / "lib"), str(tmp / "lib"))
        else:  # pragma: no cover - internal misuse
            raise ValueError(source)
        shutil.rmtree(dl)

    _publish_dir(dest, fill)


def _run_fetch(cmd: list[str], cwd: Path | None = None) -> None:
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=300, check=False, cwd=cwd)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise BuildError(Path(cmd[0]).name, cmd, str(e)) from None
    if proc.returncode != 0:
        raise BuildError(Path(cmd[0]).name, cmd, (proc.stderr + proc.stdout).decode("utf-8", "replace"),
                         returncode=proc.returncode)
