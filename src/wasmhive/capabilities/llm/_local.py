"""The local engine: sentence embeddings from WordLlama, whose small model ships inside its wheel.

WordLlama (`pip install wordllama`) carries the `l2_supercat` token-embedding table (256 dimensions,
16 MB) and its tokenizer in the package, so nothing is downloaded at run time. We load those two files
directly: the library's own loader looks for the tokenizer in a directory the wheel does not have and
then tries the network. A text's embedding is the library's: average-pooled token vectors, normalised.

There is no local text-generation model (no registry package carries one small enough), so `infer`
answers `model-not-supported` here; a remote engine may serve it.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from ...errors import ConfigError
from ._engine import EmbeddingsResult, InferParams, InferResult, LlmError

__all__ = ["LOCAL_EMBEDDING_MODELS", "LocalEngine"]

# Model name a guest passes -> (weights file, tokenizer file) inside the wordllama package.
LOCAL_EMBEDDING_MODELS = {
    "wordllama-l2-supercat": ("weights/l2_supercat_256.safetensors", "tokenizers/l2_supercat_tokenizer_config.json"),
}


def _load(model: str) -> Any:
    try:
        import wordllama  # type: ignore[import-untyped]
        from safetensors import safe_open
        from tokenizers import Tokenizer
    except ImportError as e:
        raise ConfigError(f"the local embedding model {model!r} needs WordLlama: pip install 'wasmhive[llm]' "
                          f"({e})") from None
    root = Path(wordllama.__file__).parent
    weights, tokenizer = (root / rel for rel in LOCAL_EMBEDDING_MODELS[model])
    try:
        with safe_open(str(weights), framework="np", device="cpu") as f:
            table = f.get_tensor("embedding.weight")
        return wordllama.WordLlamaInference(table, Tokenizer.from_file(str(tokenizer)))
    except Exception as e:  # a broken install: name the files, do not trace back
        raise ConfigError(f"cannot load the local embedding model {model!r} from {root}: {e}") from None


class LocalEngine:
    """Embeddings computed in-process. Models load on first use of each (once per app)."""

    def __init__(self) -> None:
        self._models: dict[str, Any] = {}
        self._lock = threading.Lock()  # loading, and the shared tokenizer's padding state

    def serves(self, model: str) -> bool:
        return model in LOCAL_EMBEDDING_MODELS

    def load(self, model: str) -> Any:
        """The loaded model (loads it now if needed: start-up calls this to fail early)."""
        with self._lock:
            loaded = self._models.get(model)
            if loaded is None:
                loaded = self._models[model] = _load(model)
            return loaded

    def infer(self, model: str, prompt: str, params: InferParams, timeout: float | None) -> InferResult:
        raise LlmError("model-not-supported")

    def generate_embeddings(self, model: str, texts: list[str], timeout: float | None) -> EmbeddingsResult:
        if model not in LOCAL_EMBEDDING_MODELS:
            raise LlmError("model-not-supported")
        wl = self.load(model)
        if not texts:
            return EmbeddingsResult([], 0)
        with self._lock:
            counts = [sum(enc.attention_mask) for enc in wl.tokenize(texts)]
            # A text without a single token (empty, whitespace) has no average: its vector is zeros.
            some = [t for t, n in zip(texts, counts, strict=True) if n]
            vectors = iter(wl.embed(some, norm=True).tolist() if some else [])
        dim = int(wl.embedding.shape[1])
        out = [[float(x) for x in next(vectors)] if n else [0.0] * dim for n in counts]
        return EmbeddingsResult(out, int(sum(counts)))

    def close(self) -> None:
        self._models.clear()
