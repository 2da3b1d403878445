"""`Sandbox`: what a guest may touch. The default grants nothing."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import wasmtime

from ..errors import ConfigError

__all__ = ["Capture", "Preopen", "Sandbox", "Stdio"]

Stdio = Literal["null", "inherit", "capture"] | Path


@dataclass(frozen=True)
class Preopen:
    """A host directory visible to the guest at `guest` path."""

    host: Path
    guest: str
    read_only: bool = True

    @classmethod
    def parse(cls, spec: str) -> Preopen:
        """Parse the CLI form `HOST[::GUEST][:ro|:rw]` (read-write unless `:ro`, like `wasmtime run`)."""
        read_only = False
        if spec.endswith(":ro"):
            spec, read_only = spec[:-3], True
        elif spec.endswith(":rw"):
            spec = spec[:-3]
        host, sep, guest = spec.partition("::")
        if not host:
            raise ConfigError(f"--dir needs a host directory: {spec!r}")
        return cls(Path(host), guest if sep else host, read_only)


@dataclass
class Capture:
    """Bytes a guest wrote to a captured stream, with a cap so a guest cannot exhaust host memory."""

    limit: int = 16 * 1024 * 1024
    chunks: list[bytes] = field(default_factory=list)
    size: int = 0
    truncated: bool = False

    def write(self, data: bytes) -> None:
        room = self.limit - self.size
        if room <= 0:
            self.truncated = True
            return
        if len(data) > room:
            data, self.truncated = data[:room], True
        self.chunks.append(bytes(data))
        self.size += len(data)

    def getvalue(self) -> bytes:
        return b"".join(self.chunks)

    def text(self) -> str:
        return self.getvalue().decode("utf-8", "replace")


@dataclass(frozen=True)
class Sandbox:
    """The capabilities granted to a guest. Nothing is granted unless listed here.

    - `args`: argv (argv[0] is the program name the guest sees).
    - `env`: environment variables, explicit only (the host's are never passed through).
    - `dirs`: preopened directories, each read-only or read-write.
    - `stdin`: `None` (empty), bytes, a `Path`, or "inherit".
    - `stdout`/`stderr`: "null" (discard), "inherit", "capture" (to memory), or a `Path`.
    - `on_stdout`/`on_stderr`: a callback per chunk written (overrides the mode above).
    """

    args: Sequence[str] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    dirs: Sequence[Preopen] = ()
    stdin: bytes | Path | Literal["inherit"] | None = None
    stdout: Stdio = "null"
    stderr: Stdio = "null"
    on_stdout: Callable[[bytes], None] | None = None
    on_stderr: Callable[[bytes], None] | None = None

    def __post_init__(self) -> None:
        for d in self.dirs:
            if not d.host.is_dir():
                raise ConfigError(f"preopened directory does not exist: {d.host}")
            if not d.guest.startswith("/") and d.guest not in (".",) and not d.guest:
                raise ConfigError(f"bad guest path {d.guest!r}")
        for k in self.env:
            if "=" in k or not k:
                raise ConfigError(f"bad environment variable name {k!r}")

    def wasi_config(self, captures: dict[str, Capture] | None = None,
                    stdin_path: str | None = None) -> wasmtime.WasiConfig:
        """Build a wasmtime `WasiConfig` granting exactly this sandbox.

        `captures` receives a `Capture` for each stream in "capture" mode. `stdin_path` is a file
        holding the stdin bytes (callers that pass bytes write them to a temporary file first).
        """
        cfg = wasmtime.WasiConfig()
        cfg.argv = list(self.args)
        cfg.env = list(self.env.items())
        for d in self.dirs:
            cfg.preopen_dir(str(d.host), d.guest, not d.read_only)
        if self.stdin == "inherit":
            cfg.inherit_stdin()
        elif isinstance(self.stdin, Path):
            cfg.stdin_file(str(self.stdin))
        elif stdin_path is not None:
            cfg.stdin_file(stdin_path)
        for name, mode, callback in (("stdout", self.stdout, self.on_stdout),
                                     ("stderr", self.stderr, self.on_stderr)):
            if callback is not None:
                setattr(cfg, f"{name}_custom", callback)
            elif mode == "inherit":
                getattr(cfg, f"inherit_{name}")()
            elif mode == "capture":
                cap = Capture()
                if captures is not None:
                    captures[name] = cap
                setattr(cfg, f"{name}_custom", cap.write)
            elif isinstance(mode, Path):
                setattr(cfg, f"{name}_file", os.fspath(mode))
            # "null": wasmtime's default is a sink.
        return cfg
