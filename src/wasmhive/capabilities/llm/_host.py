"""The LLM capability: Spin's `llm` interface (`fermyon:spin/llm@2.0.0`) over the engines of `_config`.

Checked at call time, in Spin's order: a model outside the component's `ai_models` is `invalid-input`
with Spin's own message; a granted model no engine serves is `model-not-supported`. Every call waits
for one of the app's LLM slots and runs within the request's remaining deadline (a guest blocked in a
host call is not interrupted by epochs, so the engines get the time left as their timeout).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ...appconfig import AppConfig
from ...component._values import Record, Variant
from ...wasi._calls import Errors, observed
from .._factor import StateOf
from ._config import LlmApp, configure_llm
from ._engine import DEFAULT_PARAMS, EmbeddingsResult, InferParams, InferResult, LlmError

__all__ = ["INTERFACES", "LlmFactor", "LlmInstance"]

log = logging.getLogger("wasmhive.capabilities.llm")

INTERFACES = ("fermyon:spin/llm@2.0.0",)
MAX_PROMPT = 1024 * 1024  # bytes of prompt or of all embedding texts together
MAX_TEXTS = 4096


def _timeout() -> float | None:
    """Seconds left before the calling instance's deadline (None: no deadline). Past it, the guest ends
    as if interrupted (`DeadlineHit`)."""
    from ...wasi._state import current

    return current().remaining()


@dataclass
class LlmInstance:
    """One instance's view: the models its component may use, and the app's engines."""

    app: LlmApp
    models: frozenset[str]

    def _engine(self, model: str) -> Any:
        if model not in self.models:
            raise LlmError("invalid-input", f"The component does not have access to use '{model}'. To give the "
                           f"component access, add '{model}' to the 'ai_models' key for the component in your "
                           "spin.toml manifest")
        engine = self.app.engine_for(model)
        if engine is None:
            raise LlmError("model-not-supported")
        return engine

    def _slot(self, run: Callable[[float | None], Any]) -> Any:
        timeout = _timeout()
        if not self.app.slots.acquire(timeout=-1 if timeout is None else timeout):
            _timeout()  # past the deadline: end the guest as interrupted
            raise LlmError("runtime-error", "too many LLM requests in flight")
        try:
            return run(_timeout())
        except LlmError:
            _timeout()  # a timeout caused by the deadline ends the guest, like any blocked host call
            raise
        finally:
            self.app.slots.release()

    def infer(self, model: str, prompt: str, params: InferParams | None) -> InferResult:
        """`infer` of the WIT (Spin's default params when `params` is None)."""
        engine = self._engine(model)
        if len(prompt.encode()) > MAX_PROMPT:
            raise LlmError("invalid-input", f"the prompt is larger than {MAX_PROMPT} bytes")
        result: InferResult = self._slot(lambda t: engine.infer(model, prompt, params or DEFAULT_PARAMS, t))
        return result

    def generate_embeddings(self, model: str, texts: list[str]) -> EmbeddingsResult:
        """`generate-embeddings` of the WIT."""
        engine = self._engine(model)
        if len(texts) > MAX_TEXTS or sum(len(t.encode()) for t in texts) > MAX_PROMPT:
            raise LlmError("invalid-input", f"at most {MAX_TEXTS} texts of {MAX_PROMPT} bytes in all")
        result: EmbeddingsResult = self._slot(lambda t: engine.generate_embeddings(model, texts, t))
        return result


def _params(p: Record | None) -> InferParams | None:
    # InferParams' fields are the WIT record's, with `_` for `-`.
    return None if p is None else InferParams(**{k.replace("-", "_"): v for k, v in p._asdict().items()})


def _llm_error(e: LlmError) -> Variant:
    log.info("llm: %s", e)
    return Variant(e.case) if e.case == "model-not-supported" else Variant(e.case, e.message)


class LlmFactor:
    """Spin's LLM interface for guests; see the module docstring."""

    name = "llm"
    interfaces: tuple[str, ...] = INTERFACES

    def configure(self, app: AppConfig, configured: Mapping[str, Any] | None = None) -> LlmApp:
        return configure_llm(app)

    def prepare(self, app_state: LlmApp, component_id: str) -> LlmInstance:
        return LlmInstance(app_state, app_state.allowed.get(component_id, frozenset()))

    def link(self, root: Any, state_of: StateOf) -> None:
        """Define `infer` and `generate-embeddings` on a component linker's root instance."""
        from ...component._hostcall import define_func

        def inst() -> LlmInstance:
            state: LlmInstance = state_of().states[self.name]
            return state

        # Engine failures become `err` of the WIT's error variant, never a Python exception inside wasmtime.
        errors: Errors = {LlmError: _llm_error}

        def infer(model: str, prompt: str, params: Record | None) -> dict[str, Any]:
            r = inst().infer(model, prompt, _params(params))
            return {"text": r.text, "usage": {"prompt-token-count": r.prompt_token_count,
                                              "generated-token-count": r.generated_token_count}}

        def generate_embeddings(model: str, texts: list[str]) -> dict[str, Any]:
            r = inst().generate_embeddings(model, list(texts))
            return {"embeddings": r.embeddings, "usage": {"prompt-token-count": r.prompt_token_count}}

        for iface in INTERFACES:
            with root.add_instance(iface) as li:
                define_func(li, "infer", observed("llm", "infer", infer, errors))
                define_func(li, "generate-embeddings",
                            observed("llm", "generate_embeddings", generate_embeddings, errors))
