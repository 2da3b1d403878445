"""The LLM engine seam: what a model backend offers, the request/result shapes, and the error cases.

The shapes mirror Spin's `llm` WIT (`fermyon:spin/llm@2.0.0`); the host layer converts them to and from
component values. An engine raises `LlmError` with one of the WIT's error cases, never anything else
for a foreseeable failure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["DEFAULT_PARAMS", "EmbeddingsResult", "InferParams", "InferResult", "LlmEngine", "LlmError"]


class LlmError(Exception):
    """A failed LLM call, as one case of the WIT's `error` variant.

    `case` is `model-not-supported`, `runtime-error` or `invalid-input`; the message is the case's payload
    (`model-not-supported` has none).
    """

    CASES = ("model-not-supported", "runtime-error", "invalid-input")

    def __init__(self, case: str, message: str = "") -> None:
        assert case in self.CASES, case
        self.case = case
        self.message = message
        super().__init__(f"{case}: {message}" if message else case)


@dataclass(frozen=True)
class InferParams:
    """The WIT's `inferencing-params`."""

    max_tokens: int
    repeat_penalty: float
    repeat_penalty_last_n_token_count: int
    temperature: float
    top_k: int
    top_p: float


# What Spin uses when the guest passes `none` for the params.
DEFAULT_PARAMS = InferParams(max_tokens=100, repeat_penalty=1.1, repeat_penalty_last_n_token_count=64,
                             temperature=0.8, top_k=40, top_p=0.9)


@dataclass(frozen=True)
class InferResult:
    """The WIT's `inferencing-result`: the text and its token usage."""

    text: str
    prompt_token_count: int
    generated_token_count: int


@dataclass(frozen=True)
class EmbeddingsResult:
    """The WIT's `embeddings-result`: one vector per input text, and the prompt's token count."""

    embeddings: list[list[float]]
    prompt_token_count: int


class LlmEngine(Protocol):
    """A model backend. `timeout` is the seconds the call may take (None: the engine's own cap)."""

    def serves(self, model: str) -> bool:
        """Whether this engine can answer for `model` at all."""

    def infer(self, model: str, prompt: str, params: InferParams, timeout: float | None) -> InferResult:
        """Generate text for `prompt`."""

    def generate_embeddings(self, model: str, texts: list[str], timeout: float | None) -> EmbeddingsResult:
        """One embedding vector per text."""

    def close(self) -> None:
        """Release what the engine holds."""
