"""LLM configuration: the components' `ai_models` and the runtime config's `[llm_compute]` table.

Deny by default: a component may name only the models in its `ai_models`. Which engine answers a
model: the local engine for the models it carries (`LOCAL_EMBEDDING_MODELS`), else the remote engine
when `[llm_compute] type = "remote_http"` is configured, else none (`model-not-supported`).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from ...appconfig import AppConfig
from ...errors import ConfigError
from ._engine import LlmEngine
from ._local import LocalEngine
from ._remote import RemoteHttpEngine

__all__ = ["DEFAULT_CONCURRENCY", "LlmApp", "configure_llm"]

log = logging.getLogger("wasmhive.capabilities.llm")

DEFAULT_CONCURRENCY = 4  # LLM calls in flight per app (each may hold a CPU or a remote slot for long)
_KEYS = {"spin": {"type", "max_concurrency"}, "remote_http": {"type", "url", "auth_token", "max_concurrency"}}


@dataclass
class LlmApp:
    """Per-app LLM state: each component's allowed models, the engines, and the in-flight limit."""

    allowed: dict[str, frozenset[str]]
    local: LocalEngine
    remote: RemoteHttpEngine | None = None
    slots: threading.BoundedSemaphore = field(default_factory=lambda: threading.BoundedSemaphore(DEFAULT_CONCURRENCY))

    def engine_for(self, model: str) -> LlmEngine | None:
        """The engine that answers for `model`, or None."""
        if self.local.serves(model):
            return self.local
        return self.remote

    def close(self) -> None:
        self.local.close()


def _compute(app: AppConfig) -> tuple[RemoteHttpEngine | None, int]:
    where = app.runtime.runtime_config_path or "runtime config"
    table = app.runtime.runtime_config.get("llm_compute")
    if table is None:
        return None, DEFAULT_CONCURRENCY
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: llm_compute must be a table ([llm_compute])")
    kind = table.get("type")
    if kind not in _KEYS:
        raise ConfigError(f"{where}: [llm_compute] type must be \"spin\" or \"remote_http\" (got {kind!r})")
    unknown = set(table) - _KEYS[kind]
    if unknown:
        raise ConfigError(f"{where}: [llm_compute]: unknown field(s) {', '.join(sorted(unknown))} "
                          f"(known for {kind}: {', '.join(sorted(_KEYS[kind]))})")
    limit = table.get("max_concurrency", DEFAULT_CONCURRENCY)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 1024:
        raise ConfigError(f"{where}: [llm_compute] max_concurrency must be an integer from 1 to 1024")
    if kind == "spin":
        return None, limit
    url, token = table.get("url"), table.get("auth_token")
    if not isinstance(url, str) or not isinstance(token, str):
        raise ConfigError(f"{where}: [llm_compute] type = \"remote_http\" needs url and auth_token strings")
    if not app.runtime.runtime_config_trusted:
        # The URL is reached from this host with the operator's token: the operator names it, not the app.
        raise ConfigError(f"{where}: [llm_compute] remote_http is the operator's choice: give this runtime "
                          "config with --runtime-config-file (an app's own runtime-config.toml cannot name it)")
    if any(c in token for c in "\r\n\0"):
        raise ConfigError(f"{where}: [llm_compute] auth_token must not contain line breaks")
    return RemoteHttpEngine(url, token), limit


def configure_llm(app: AppConfig) -> LlmApp:
    """Validate `ai_models` and `[llm_compute]`; load the local models some component may use (start-up
    fails here, not at the first request, if one cannot load)."""
    remote, limit = _compute(app)
    local = LocalEngine()
    allowed: dict[str, frozenset[str]] = {}
    for comp in app.components.values():
        models = comp.ai_models
        for model in models:
            if not model or len(model) > 256:
                raise ConfigError(f"{app.manifest_path}: component `{comp.id}`: ai_models entries must be "
                                  "non-empty model names")
            if local.serves(model):
                local.load(model)
            elif remote is None:
                log.warning("component `%s`: ai_models lists %r, which no engine serves (local models: %s; "
                            "configure [llm_compute] type = \"remote_http\" for others)", comp.id, model,
                            ", ".join(sorted(_local_models())))
        allowed[comp.id] = frozenset(models)
    return LlmApp(allowed, local, remote, threading.BoundedSemaphore(limit))


def _local_models() -> list[str]:
    from ._local import LOCAL_EMBEDDING_MODELS

    return list(LOCAL_EMBEDDING_MODELS)
