"""Spin's LLM interface (`fermyon:spin/llm@2.0.0`) for a spin-sdk 3.4.1 guest under `wasmhive up spin.toml`:
local embeddings from WordLlama's packaged model, `infer`/embeddings through Spin's remote_http protocol
against a real loopback server, `ai_models` deny-by-default, and the server-down case."""

from __future__ import annotations

import json
import math
from pathlib import Path

import httpx
import pytest

from app_fixtures import Server, free_port
from llm_fixtures import TOKEN, RemoteLlm, llm_app, llm_app_wasm, remote_llm

__all__ = ["llm_app_wasm", "remote_llm"]  # fixtures used by name

pytestmark = pytest.mark.slow

MODEL = "wordllama-l2-supercat"
TEXTS = ["The cat sat on the mat.", "A kitten was resting on the rug.", "Quarterly tax filings are due in April."]


def _reference(texts: list[str]) -> list[list[float]]:
    """WordLlama's own embeddings for `texts`, computed here from the files its wheel carries."""
    import wordllama
    from safetensors import safe_open
    from tokenizers import Tokenizer

    root = Path(wordllama.__file__).parent
    with safe_open(str(root / "weights" / "l2_supercat_256.safetensors"), framework="np") as f:
        table = f.get_tensor("embedding.weight")
    wl = wordllama.WordLlamaInference(table, Tokenizer.from_file(str(root / "tokenizers" /
                                                                   "l2_supercat_tokenizer_config.json")))
    return [list(map(float, row)) for row in wl.embed(texts, norm=True)]


def _cos(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def _rc(remote: RemoteLlm | str, token: str = TOKEN) -> str:
    url = remote.url if isinstance(remote, RemoteLlm) else remote
    return f'[llm_compute]\ntype = "remote_http"\nurl = "{url}/ignored/path"\nauth_token = "{token}"\n'


def _up(spin_toml: Path, *args: str) -> Server:
    return Server(spin_toml, *args).wait(timeout=300)  # a first compile of the 38 MB guest is slow


def test_local_embeddings_match_the_library(tmp_path: Path, llm_app_wasm: Path) -> None:
    server = _up(llm_app(tmp_path, llm_app_wasm))
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            r = client.post(f"/llm/embed/{MODEL}", content=json.dumps(TEXTS))
            assert r.status_code == 200, (r.text, server.output())
            got = r.json()
        want = _reference(TEXTS)
        assert len(got["embeddings"]) == 3 and len(got["embeddings"][0]) == 256
        for g, w in zip(got["embeddings"], want, strict=True):
            assert g == pytest.approx(w, rel=1e-5, abs=1e-6)
        cat, kitten, tax = got["embeddings"]
        assert _cos(cat, kitten) > _cos(cat, tax) + 0.1
        assert _cos(cat, kitten) > _cos(kitten, tax) + 0.1
        assert got["prompt_token_count"] >= sum(len(t.split()) for t in TEXTS)
    finally:
        server.kill()


def test_models_are_denied_unless_listed_and_unserved_ones_unsupported(tmp_path: Path,
                                                                       llm_app_wasm: Path) -> None:
    server = _up(llm_app(tmp_path, llm_app_wasm))
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            # `none` lists no ai_models: even the local model is denied, with Spin's message.
            r = client.post(f"/none/embed/{MODEL}", content=json.dumps(["x"]))
            assert r.status_code == 500
            assert r.text.startswith(f"Error_InvalidInput: The component does not have access to use '{MODEL}'")
            assert "ai_models" in r.text
            # Listed but served by no engine (no [llm_compute]): model-not-supported.
            r = client.post("/llm/infer/not-served", content=b"hello")
            assert (r.status_code, r.text) == (500, "Error_ModelNotSupported")
            r = client.post("/llm/embed/not-served", content=json.dumps(["x"]))
            assert (r.status_code, r.text) == (500, "Error_ModelNotSupported")
            # The local engine has no text generation.
            r = client.post(f"/llm/infer/{MODEL}", content=b"hello")
            assert (r.status_code, r.text) == (500, "Error_ModelNotSupported")
            # Bad input from the guest: too many texts, too large a prompt.
            r = client.post(f"/llm/embed/{MODEL}", content=json.dumps(["x"] * 4097))
            assert (r.status_code, r.text) == (500, "Error_InvalidInput: at most 4096 texts of 1048576 bytes in all")
            r = client.post(f"/llm/infer/{MODEL}", content=b"x" * (1024 * 1024 + 1))
            assert (r.status_code, r.text) == (500, "Error_InvalidInput: the prompt is larger than 1048576 bytes")
            # Empty input is fine: no vectors.
            r = client.post(f"/llm/embed/{MODEL}", content=b"[]")
            assert r.json() == {"embeddings": [], "prompt_token_count": 0}
            # A model outside ai_models stays denied for the granted component too.
            r = client.post("/llm/infer/other-model", content=b"hello")
            assert r.text.startswith("Error_InvalidInput: The component does not have access to use 'other-model'")
    finally:
        server.kill()


def test_remote_http_infer_and_embeddings(tmp_path: Path, llm_app_wasm: Path,
                                          remote_llm: RemoteLlm) -> None:
    spin_toml = llm_app(tmp_path, llm_app_wasm, _rc(remote_llm))
    server = _up(spin_toml, "--runtime-config-file", str(tmp_path / "operator-rc.toml"))
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            params = {"max_tokens": 7, "repeat_penalty": 1.5, "repeat_penalty_last_n_token_count": 3,
                      "temperature": 0.25, "top_k": 5, "top_p": 0.5}
            r = client.post("/llm/infer/remote-chat", content=b"tell me a story",
                            headers={"x-params": json.dumps(params)})
            assert r.status_code == 200, (r.text, server.output())
            assert r.json() == {"text": "echo: tell me a story", "prompt_token_count": 4, "generated_token_count": 5}
            req = remote_llm.received[-1]
            assert (req.method, req.path) == ("POST", "/infer")  # Spin joins /infer onto the URL's origin
            assert req.headers["authorization"] == f"bearer {TOKEN}"
            assert req.body == {"model": "remote-chat", "prompt": "tell me a story", "options": {
                "maxTokens": 7, "repeatPenalty": 1.5, "repeatPenaltyLastNTokenCount": 3, "temperature": 0.25,
                "topK": 5, "topP": 0.5}}

            # No params from the guest (spin-sdk's llm.infer passes its defaults, Spin's defaults).
            r = client.post("/llm/infer/remote-chat", content=b"hi")
            assert r.status_code == 200, r.text
            assert remote_llm.received[-1].body["options"] == {
                "maxTokens": 100, "repeatPenalty": pytest.approx(1.1), "repeatPenaltyLastNTokenCount": 64,
                "temperature": pytest.approx(0.8), "topK": 40, "topP": pytest.approx(0.9)}

            r = client.post("/llm/embed/remote-embed", content=json.dumps(["one two", "three"]))
            assert r.status_code == 200, r.text
            assert r.json() == {"embeddings": [[7.0, 2.0], [5.0, 1.0]], "prompt_token_count": 3}
            req = remote_llm.received[-1]
            assert (req.path, req.body) == ("/embed", {"model": "remote-embed", "input": ["one two", "three"]})

            # The local model is still answered locally, never sent out.
            before = len(remote_llm.received)
            r = client.post(f"/llm/embed/{MODEL}", content=json.dumps(["local"]))
            assert r.status_code == 200 and len(r.json()["embeddings"][0]) == 256
            assert len(remote_llm.received) == before
            # Denied models never reach the server either.
            r = client.post("/none/infer/remote-chat", content=b"x")
            assert r.text.startswith("Error_InvalidInput:") and len(remote_llm.received) == before
    finally:
        server.kill()


def test_remote_http_wrong_token_and_server_down(tmp_path: Path, llm_app_wasm: Path,
                                                 remote_llm: RemoteLlm) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    server = _up(llm_app(bad, llm_app_wasm, _rc(remote_llm, token="wrong")), "--runtime-config-file",
                 str(bad / "operator-rc.toml"))
    try:
        r = httpx.post(server.url + "/llm/infer/remote-chat", content=b"x", timeout=60)
        assert r.status_code == 500
        assert r.text.startswith("Error_RuntimeError: POST /infer: the LLM server answered 401")
        assert remote_llm.received[-1].headers["authorization"] == "bearer wrong"
    finally:
        server.kill()

    down = tmp_path / "down"
    down.mkdir()
    server = _up(llm_app(down, llm_app_wasm, _rc(f"http://127.0.0.1:{free_port()}")), "--runtime-config-file",
                 str(down / "operator-rc.toml"))
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            r = client.post("/llm/infer/remote-chat", content=b"x")
            assert r.status_code == 500
            assert r.text.startswith("Error_RuntimeError: POST /infer request error: ConnectionRefusedError")
            r = client.post("/llm/embed/remote-embed", content=json.dumps(["x"]))
            assert r.text.startswith("Error_RuntimeError: POST /embed request error")
            # The instance and the server are fine afterwards: the local model still answers.
            assert client.post(f"/llm/embed/{MODEL}", content=json.dumps(["x"])).status_code == 200
    finally:
        server.kill()


def test_remote_http_only_from_the_operators_runtime_config(tmp_path: Path, llm_app_wasm: Path,
                                                            remote_llm: RemoteLlm) -> None:
    spin_toml = llm_app(tmp_path, llm_app_wasm)
    (tmp_path / "runtime-config.toml").write_text(_rc(remote_llm))  # the app's own: not the operator's
    server = Server(spin_toml)
    try:
        with pytest.raises(RuntimeError, match="remote_http is the operator's choice"):
            server.wait(timeout=300)
        assert server.proc.returncode == 64  # ConfigError's exit code, one line, no traceback
        assert "Traceback" not in server.output()
    finally:
        server.kill()
    assert remote_llm.received == []


def test_remote_calls_bounded_by_concurrency_and_deadline(tmp_path: Path, llm_app_wasm: Path,
                                                          remote_llm: RemoteLlm) -> None:
    import concurrent.futures
    import time

    spin_toml = llm_app(tmp_path, llm_app_wasm, _rc(remote_llm) + "max_concurrency = 1\n")
    server = _up(spin_toml, "--runtime-config-file", str(tmp_path / "operator-rc.toml"), "--timeout", "20s")
    try:
        def infer(prompt: str) -> httpx.Response:
            return httpx.post(server.url + "/llm/infer/remote-chat", content=prompt.encode(), timeout=60)

        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            answers = list(pool.map(infer, ["sleep:1"] * 3))
        assert [r.status_code for r in answers] == [200] * 3, [r.text for r in answers]
        assert remote_llm.peak == [0, 1]  # three guests at once, never more than one call at the server
    finally:
        server.kill()

    # A model slower than the request's deadline: the call ends at the deadline, not when the server answers.
    fast = tmp_path / "deadline"
    fast.mkdir()
    server = _up(llm_app(fast, llm_app_wasm, _rc(remote_llm)), "--runtime-config-file",
                 str(fast / "operator-rc.toml"), "--timeout", "1s")
    try:
        t0 = time.monotonic()
        r = infer("sleep:8")
        elapsed = time.monotonic() - t0
        assert r.status_code == 504, r.text
        assert elapsed < 7, elapsed  # bounded by the 1 s deadline, not the 8 s answer (a hang guard, not a speed test)
        assert "ran past its 1s deadline" in server.output(), server.output()
        # The server stays healthy and answers the next request.
        assert httpx.post(server.url + f"/llm/embed/{MODEL}", content=b'["x"]', timeout=60).status_code == 200
    finally:
        server.kill()
