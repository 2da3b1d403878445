"""The one error tree of wasmhive.

    WasmhiveError                  every foreseeable failure; CLI exit code 1 unless stated
    ├── InvalidModule              bytes/text that are not a loadable module or component (exit 65)
    ├── LinkError                  an import nobody provides, or a provided one of the wrong type (exit 65)
    ├── GuestError                 something the guest did while running
    │   ├── GuestTrap              a trap: trap code, message, Wasm backtrace (exit 134, like SIGABRT)
    │   ├── LimitExceeded          a `Limits` value was hit: which limit and its value (exit 137)
    │   │   └── DeadlineExceeded   the wall-clock deadline (epoch interruption) (exit 124, like timeout(1))
    │   └── GuestExit              the guest called exit(code) with a non-zero code (exit = that code)
    ├── CapabilityDenied           the guest asked for something the sandbox does not grant (exit 77)
    ├── ConfigError                a bad option, manifest or limit value given by the user (exit 64)
    ├── BuildError                 a guest toolchain (zig, componentize-py, wasm-tools) is missing or failed
    ├── CacheError                 the compile cache cannot be used at all (never for a bad entry: those
    │                              are recompiled silently)
    ├── SealingError               sealed data that cannot be unsealed here (tampered, other code/signer,
    │                              lower security version) or a platform key that is unsafe to use
    └── AttestationError           evidence that does not verify (signature, nonce, measurement, age)

wasmtime's `Trap`, `WasmtimeError` and `ExitTrap` are translated in exactly one place,
`wasmhive.errors.translate`, so no caller ever sees a raw wasmtime exception.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import wasmtime

__all__ = [
    "AttestationError",
    "BuildError",
    "CacheError",
    "CapabilityDenied",
    "ConfigError",
    "DeadlineExceeded",
    "GuestError",
    "GuestExit",
    "GuestTrap",
    "InvalidModule",
    "LimitExceeded",
    "LinkError",
    "SealingError",
    "WasmhiveError",
    "translate",
]


class WasmhiveError(Exception):
    """Base of every error wasmhive raises on purpose."""

    exit_code: int = 1


class InvalidModule(WasmhiveError):
    """The input is not a valid core module or component (or its text form does not parse)."""

    exit_code = 65

    def __init__(self, message: str, *, source: str | None = None) -> None:
        self.source = source
        super().__init__(f"{source}: {message}" if source else message)


class LinkError(WasmhiveError):
    """Instantiation failed because an import is missing or has the wrong type."""

    exit_code = 65


class ConfigError(WasmhiveError):
    """A bad option, limit, manifest entry or sandbox rule supplied by the user."""

    exit_code = 64


class BuildError(WasmhiveError):
    """A guest toolchain is missing or failed; `tool`, `command` and the tool's `output` say how."""

    def __init__(self, tool: str, command: object, output: str, *, returncode: int | None = None) -> None:
        self.tool = tool
        self.command = [str(c) for c in command] if isinstance(command, (list, tuple)) else [str(command)]
        self.output = output
        self.returncode = returncode
        lines = [ln for ln in output.strip().splitlines() if ln.strip()]
        tail = "\n".join(lines[-20:])
        status = f" (exit {returncode})" if returncode is not None else ""
        super().__init__(f"{tool} failed{status}: {tail or 'no output'}")


class CacheError(WasmhiveError):
    """The compile cache directory cannot be created or written."""


class CapabilityDenied(WasmhiveError):
    """The guest asked for a file, host, variable or interface it was not granted."""

    exit_code = 77


class GuestError(WasmhiveError):
    """The guest failed while running."""


@dataclass(frozen=True)
class Frame:
    """One Wasm stack frame of a trap's backtrace."""

    index: int
    module: str | None
    func: str | None
    offset: int | None

    def __str__(self) -> str:
        where = f"{self.module or '<module>'}!{self.func or '<wasm function>'}"
        return f"{self.index}: {where}" + (f" @ 0x{self.offset:x}" if self.offset is not None else "")


class GuestTrap(GuestError):
    """The guest trapped (unreachable, out-of-bounds access, stack overflow, ...)."""

    exit_code = 134

    def __init__(self, message: str, *, code: str | None = None, backtrace: list[Frame] | None = None,
                 detail: str = "") -> None:
        self.code = code
        self.backtrace = backtrace or []
        self.detail = detail
        super().__init__(message)

    def short_backtrace(self, limit: int = 8) -> str:
        """The first `limit` frames, one per line."""
        lines = [str(f) for f in self.backtrace[:limit]]
        if len(self.backtrace) > limit:
            lines.append(f"... {len(self.backtrace) - limit} more frames")
        return "\n".join(lines)


class LimitExceeded(GuestError):
    """A configured limit was reached; `limit` names it and `value` is the configured value."""

    exit_code = 137

    def __init__(self, limit: str, value: object, message: str | None = None) -> None:
        self.limit = limit
        self.value = value
        super().__init__(message or f"{limit} limit exceeded ({limit} = {value})")


class DeadlineExceeded(LimitExceeded):
    """The guest ran past its wall-clock deadline and was interrupted."""

    exit_code = 124

    def __init__(self, seconds: float) -> None:
        super().__init__("timeout", seconds, f"guest interrupted: ran past its {seconds:g}s deadline")


class GuestExit(GuestError):
    """The guest called `exit` with a non-zero status."""

    def __init__(self, code: int) -> None:
        self.code = code
        self.exit_code = code if 0 < code < 256 else 1
        super().__init__(f"guest exited with status {code}")


# Trap messages wasmtime uses, mapped to stable short codes.
_TRAP_CODES = [
    ("call stack exhausted", "stack_overflow"),
    ("out of bounds memory access", "memory_out_of_bounds"),
    ("undefined element", "table_out_of_bounds"),
    ("uninitialized element", "indirect_call_to_null"),
    ("indirect call type mismatch", "bad_signature"),
    ("integer overflow", "integer_overflow"),
    ("integer divide by zero", "integer_division_by_zero"),
    ("invalid conversion to integer", "bad_conversion_to_integer"),
    ("wasm `unreachable` instruction executed", "unreachable"),
    ("interrupt", "interrupt"),
    ("all fuel consumed", "out_of_fuel"),
    ("out of fuel", "out_of_fuel"),
]

_FRAME_RE = re.compile(r"^\s*(\d+):\s+0x([0-9a-f]+)\s+-\s+(.*)$")


def _parse_backtrace(text: str) -> list[Frame]:
    frames = []
    for line in text.splitlines():
        m = _FRAME_RE.match(line)
        if m:
            where = m.group(3)
            module, _, func = where.partition("!")
            frames.append(Frame(int(m.group(1)), module or None, func or None, int(m.group(2), 16)))
    return frames


def _trap_code(text: str) -> str | None:
    low = text.lower()
    for needle, code in _TRAP_CODES:
        if needle in low:
            return code
    return None


def _trap_message(text: str) -> str:
    """The cause of a trap in one line: wasmtime puts it after the last `Caused by:`."""
    _, sep, cause = text.rpartition("Caused by:")
    lines = [ln.strip() for ln in (cause if sep else text).splitlines() if ln.strip()]
    lines = [re.sub(r"^\d+:\s*", "", ln) for ln in lines if not _FRAME_RE.match(ln)]
    msg = lines[-1] if lines else "guest trapped"
    return msg.removeprefix("wasm trap: ")


def translate(exc: BaseException, *, timeout: float | None = None, fuel: int | None = None) -> WasmhiveError:
    """Map a wasmtime exception raised while running a guest to our error tree.

    `timeout`/`fuel` are the limits in force, so an interrupt or fuel trap names its limit.
    """
    if isinstance(exc, WasmhiveError):
        return exc
    if isinstance(exc, wasmtime.ExitTrap):
        return GuestExit(exc.code)
    text = str(exc)
    if isinstance(exc, wasmtime.Trap):
        frames = [
            Frame(i, f.module_name, f.func_name, f.module_offset if f.module_offset < 1 << 63 else None)
            for i, f in enumerate(exc.frames)
        ]
        code = exc.trap_code.name.lower() if exc.trap_code is not None else _trap_code(text)
    else:
        frames = _parse_backtrace(text)
        code = _trap_code(text)
    if code == "interrupt":
        return DeadlineExceeded(timeout if timeout is not None else 0.0)
    if code == "out_of_fuel":
        return LimitExceeded("fuel", fuel, f"guest ran out of fuel (fuel = {fuel})")
    return GuestTrap(_trap_message(text), code=code, backtrace=frames, detail=text)


# -- confidential computing (wasmhive.tee) -------------------------------------------------------------
class SealingError(WasmhiveError):
    """Sealed data cannot be unsealed by this code on this platform, or a platform key is unsafe to use.

    `reason` names the case for guests: invalid, unsigned, other-code, other-signer, old-version, tampered.
    """

    def __init__(self, message: str, *, reason: str = "invalid") -> None:
        self.reason = reason
        super().__init__(message)


class AttestationError(WasmhiveError):
    """Evidence does not verify: bad signature, wrong nonce or measurement, replayed or too old."""
