"""wasi-nn configuration: the models table of the runtime config and each component's `nn_models` grant.

    # runtime-config.toml (the app's own, or --runtime-config-file)
    [nn_model.digits]
    path = "models/digits.onnx"          # ONNX file; inside the app dir unless the operator named the file

    [nn]                                  # optional limits (defaults shown)
    max_tensor_bytes = 16777216          # per tensor, in and out
    max_concurrent = 2                   # inferences running at once in this process (others wait)
    allow_guest_models = false           # `load` from guest bytes (never by default)

    # wasmhive.toml / spin.toml
    [component.classify]
    nn_models = ["digits"]               # the only graphs this component may load (deny by default)

Spin's own `ai_models` key names LLMs for `fermyon:spin/llm` (a different interface with different
semantics), so wasi-nn graphs get their own key and table.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...appconfig import AppConfig, confined, lexical_problem
from ...errors import ConfigError
from ._engine import NnError, NnLimits, OnnxModel

__all__ = ["NnApp", "configure_models", "models_from_flags"]

_MODEL_KEYS = {"path"}
_LIMIT_KEYS = {"max_tensor_bytes", "max_concurrent", "allow_guest_models"}


@dataclass
class NnApp:
    """Per-app wasi-nn state: models by name (granted ones loaded once, at start-up), grants, limits."""

    models: dict[str, OnnxModel]
    allowed: dict[str, frozenset[str]]
    limits: NnLimits
    slots: threading.BoundedSemaphore = field(init=False)

    def __post_init__(self) -> None:
        self.slots = threading.BoundedSemaphore(self.limits.max_concurrent)

    def close(self) -> None:
        for m in self.models.values():
            m.close()


def _model_path(app: AppConfig, name: str, given: object, where: object) -> Path:
    """An operator-named runtime config may point anywhere; the app's own one must stay inside the app."""
    if not isinstance(given, str) or not given or "\0" in given:
        raise ConfigError(f"{where}: [nn_model.{name}] needs path = \"file.onnx\"")
    if app.runtime.runtime_config_trusted:
        p = Path(given)
        path = p if p.is_absolute() else app.dir / p
    else:
        problem = lexical_problem(given)
        inside = confined(app.dir, given) if problem is None else None
        if inside is None:
            raise ConfigError(f"{where}: [nn_model.{name}] path {given!r} "
                              f"{problem or 'leads outside the app directory'} (this runtime config came with "
                              "the app; pass --runtime-config-file to name a path outside it)")
        path = inside
    if not path.is_file():
        raise ConfigError(f"{where}: [nn_model.{name}]: model file {path} does not exist")
    return path


def _limits(spec: Any, where: object) -> NnLimits:
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: [nn] must be a table")
    unknown = set(spec) - _LIMIT_KEYS
    if unknown:
        raise ConfigError(f"{where}: [nn]: unknown field(s) {', '.join(sorted(unknown))} "
                          f"(known: {', '.join(sorted(_LIMIT_KEYS))})")
    d = NnLimits()
    out: dict[str, Any] = {}
    for key in ("max_tensor_bytes", "max_concurrent"):
        v = spec.get(key, getattr(d, key))
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ConfigError(f"{where}: [nn] {key} must be a positive integer, not {v!r}")
        out[key] = v
    allow = spec.get("allow_guest_models", False)
    if not isinstance(allow, bool):
        raise ConfigError(f"{where}: [nn] allow_guest_models must be true or false")
    return NnLimits(out["max_tensor_bytes"], out["max_concurrent"], allow)


def configure_models(app: AppConfig) -> NnApp:
    """Validate `[nn_model.*]` and `[nn]` against the components' `nn_models`; load the granted models.

    A component naming a model that is not configured fails start-up, naming both; so does a granted
    model file onnxruntime cannot load. Configured models nobody is granted are never loaded.
    """
    where = app.runtime.runtime_config_path or "runtime config"
    rc = app.runtime.runtime_config
    tables = rc.get("nn_model", {})
    if not isinstance(tables, dict):
        raise ConfigError(f"{where}: nn_model must be a table of [nn_model.<name>] tables")
    limits = _limits(rc.get("nn", {}), where)
    grants = {c.id: frozenset(getattr(c, "nn_models", ())) for c in app.components.values()}
    for cid, names in grants.items():
        for name in sorted(names):
            if name not in tables:
                raise ConfigError(f"{app.manifest_path}: component `{cid}` uses wasi-nn model {name!r}, which is "
                                  f"not configured (add [nn_model.{name}] path = \"...\" to the runtime config)")
    if tables:
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            raise ConfigError(f"{where}: [nn_model.*] needs onnxruntime: pip install 'wasmhive[nn]'") from None
    models: dict[str, OnnxModel] = {}
    for name, spec in tables.items():
        if not isinstance(spec, dict):
            raise ConfigError(f"{where}: [nn_model.{name}] must be a table")
        unknown = set(spec) - _MODEL_KEYS
        if unknown:
            raise ConfigError(f"{where}: [nn_model.{name}]: unknown field(s) {', '.join(sorted(unknown))}")
        models[name] = OnnxModel(name, os.fspath(_model_path(app, name, spec.get("path"), where)))
    # Granted models are loaded now, once per app: a corrupt file stops start-up, and no request pays
    # for (or can be cut off by its deadline during) a session's creation.
    for name in sorted({n for names in grants.values() for n in names}):
        try:
            models[name].session()
        except NnError as e:
            raise ConfigError(f"{where}: [nn_model.{name}]: {e}") from None
    return NnApp(models, grants, limits)


def models_from_flags(specs: tuple[str, ...] | list[str]) -> dict[str, OnnxModel]:
    """The models of `--nn-model NAME=FILE.onnx` flags (`wasmhive call`, `wasmhive run`), checked."""
    models = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not Path(path).is_file():
            raise ConfigError(f"--nn-model needs NAME=FILE with an existing ONNX file, got {spec!r}")
        models[name] = OnnxModel(name, path)
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        raise ConfigError("--nn-model needs onnxruntime: pip install 'wasmhive[nn]'") from None
    return models
