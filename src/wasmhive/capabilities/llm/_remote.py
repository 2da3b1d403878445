"""The remote engine: Spin's `remote_http` LLM compute, spoken exactly as Spin speaks it.

Runtime config `[llm_compute] type = "remote_http", url = "...", auth_token = "..."`. Every call is a
`POST` with `authorization: bearer <auth_token>` and a JSON body, to the URL's origin with the path
replaced (Spin joins `/infer` and `/embed` onto the URL, which drops any path it had):

    POST /infer  {"model", "prompt", "options": {"maxTokens", "repeatPenalty",
                  "repeatPenaltyLastNTokenCount", "temperature", "topK", "topP"}}
              -> {"text", "usage": {"promptTokenCount", "generatedTokenCount"}}
    POST /embed  {"model", "input": [text, ...]}
              -> {"embeddings": [[f32, ...], ...], "usage": {"promptTokenCount"}}

Each call is bounded by the `timeout` it is given (the request's remaining deadline) from connect to the
last body byte, and by a response size cap; anything else the server answers is a `runtime-error`.
"""

from __future__ import annotations

import http.client
import json
import math
import time
from typing import Any
from urllib.parse import urlsplit

from ...errors import ConfigError
from ._engine import EmbeddingsResult, InferParams, InferResult, LlmError

__all__ = ["RemoteHttpEngine"]

MAX_RESPONSE = 32 * 1024 * 1024  # bytes of JSON a remote engine may answer with
DEFAULT_TIMEOUT = 120.0  # seconds, when the instance has no deadline
_U32 = 2**32


class RemoteHttpEngine:
    """Infers and embeds through a remote HTTP server (any model: the server decides what it serves)."""

    def __init__(self, url: str, auth_token: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"[llm_compute] url must be an http:// or https:// URL (got {url!r})")
        try:
            self.port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise ConfigError(f"[llm_compute] url has a bad port: {url!r}") from None
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        self.auth_token = auth_token

    def serves(self, model: str) -> bool:
        return True

    def close(self) -> None:
        """Nothing held: each call opens and closes its own connection."""

    def infer(self, model: str, prompt: str, params: InferParams, timeout: float | None) -> InferResult:
        body = {"model": model, "prompt": prompt, "options": {
            "maxTokens": params.max_tokens, "repeatPenalty": params.repeat_penalty,
            "repeatPenaltyLastNTokenCount": params.repeat_penalty_last_n_token_count,
            "temperature": params.temperature, "topK": params.top_k, "topP": params.top_p}}
        doc = self._post("/infer", body, timeout)
        usage = _field(doc, "usage", dict, "/infer")
        text = _field(doc, "text", str, "/infer")
        return InferResult(text, _count(usage, "promptTokenCount", "/infer"),
                           _count(usage, "generatedTokenCount", "/infer"))

    def generate_embeddings(self, model: str, texts: list[str], timeout: float | None) -> EmbeddingsResult:
        doc = self._post("/embed", {"model": model, "input": texts}, timeout)
        rows = _field(doc, "embeddings", list, "/embed")
        usage = _field(doc, "usage", dict, "/embed")
        if not all(isinstance(r, list) and all(_is_f32(x) for x in r) for r in rows):
            raise LlmError("runtime-error", "POST /embed: `embeddings` must be a list of lists of numbers")
        return EmbeddingsResult([[float(x) for x in r] for r in rows], _count(usage, "promptTokenCount", "/embed"))

    def _post(self, path: str, body: dict[str, Any], timeout: float | None) -> Any:
        try:
            payload = json.dumps(body, allow_nan=False).encode()
        except ValueError:
            raise LlmError("invalid-input", "inferencing params must be finite numbers") from None
        limit = time.monotonic() + (DEFAULT_TIMEOUT if timeout is None else timeout)

        def left() -> float:
            remaining = limit - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            return remaining

        cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
        conn = cls(self.host, self.port, timeout=left())
        try:
            conn.request("POST", path, payload, {"authorization": f"bearer {self.auth_token}",
                                                 "content-type": "application/json"})
            assert conn.sock is not None
            conn.sock.settimeout(left())
            resp = conn.getresponse()
            data = bytearray()
            while chunk := resp.read1(65536):
                data += chunk
                if len(data) > MAX_RESPONSE:
                    raise LlmError("runtime-error", f"POST {path}: the response is larger than {MAX_RESPONSE} bytes")
                if conn.sock is not None:
                    conn.sock.settimeout(left())
        except TimeoutError:
            raise LlmError("runtime-error", f"POST {path}: the LLM server did not answer in time") from None
        except (OSError, http.client.HTTPException) as e:
            raise LlmError("runtime-error", f"POST {path} request error: {type(e).__name__}: {e}") from None
        finally:
            conn.close()
        if resp.status != 200:
            snippet = bytes(data[:200]).decode("utf-8", "replace")
            raise LlmError("runtime-error", f"POST {path}: the LLM server answered {resp.status}: {snippet}")
        try:
            return json.loads(data)
        except ValueError as e:
            raise LlmError("runtime-error", f"POST {path}: the response is not JSON: {e}") from None


def _field(doc: Any, key: str, kind: type, path: str) -> Any:
    value = doc.get(key) if isinstance(doc, dict) else None
    if not isinstance(value, kind):
        raise LlmError("runtime-error", f"POST {path}: the response has no `{key}` ({kind.__name__})")
    return value


def _count(usage: dict[str, Any], key: str, path: str) -> int:
    value = usage.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < _U32:
        raise LlmError("runtime-error", f"POST {path}: usage.{key} must be a u32")
    return value


def _is_f32(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and abs(x) <= 3.4e38
