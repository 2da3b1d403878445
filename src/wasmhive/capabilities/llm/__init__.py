"""Spin's LLM interface for guests: local embeddings (WordLlama) and Spin's `remote_http` compute."""

from ._config import LlmApp, configure_llm
from ._engine import EmbeddingsResult, InferParams, InferResult, LlmEngine, LlmError
from ._host import INTERFACES, LlmFactor, LlmInstance
from ._local import LOCAL_EMBEDDING_MODELS, LocalEngine
from ._remote import RemoteHttpEngine

__all__ = [
    "INTERFACES",
    "LOCAL_EMBEDDING_MODELS",
    "EmbeddingsResult",
    "InferParams",
    "InferResult",
    "LlmApp",
    "LlmEngine",
    "LlmError",
    "LlmFactor",
    "LlmInstance",
    "LocalEngine",
    "RemoteHttpEngine",
    "configure_llm",
]
