"""The runtime config: a Spin-compatible TOML file the operator (or the app) gives at start-up.

Tables we serve: `[key_value_store.<label>]` (key-value backends, `sealed = true` for values sealed at
rest), `[outbound_http]` (the private-address opt-in), `[sqlite_database.<name>]` (SQLite databases),
`[llm_compute]` (Spin's LLM engine), and `[nn_model.<name>]` / `[nn]` (wasi-nn models and limits). Any
other top-level table (Spin's `[[config_provider]]`, `[variables_provider]`, ...) is a warning naming it
and its line, never a silent drop.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ._manifest import _Ctx, load_toml

__all__ = ["SUPPORTED_TABLES", "load_runtime_config", "runtime_config_warnings"]

SUPPORTED_TABLES = frozenset({"key_value_store", "outbound_http", "sqlite_database", "nn_model", "nn"})
SUPPORTED_TABLES |= {"llm_compute"}  # the LLM capability's engine (capabilities/llm)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read runtime config: {e}") from None


def load_runtime_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a Spin-compatible runtime-config TOML (`[key_value_store.<label>]` ...)."""
    p = Path(path)
    return load_toml(_read(p), p)


def runtime_config_warnings(doc: dict[str, Any], path: str | os.PathLike[str]) -> list[str]:
    """One warning (file:line: ...) per top-level table or key we do not serve."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        text = ""
    ctx = _Ctx(p, text)
    for key in doc:
        if key not in SUPPORTED_TABLES:
            ctx.warn(f"runtime config: `{key}` is not supported and is ignored "
                     f"(supported: {', '.join(sorted(SUPPORTED_TABLES))})", f"[{key}", f"[[{key}", f"{key} ",
                     f"{key}=")
    return ctx.warnings
