"""The `ollama` backend against a REAL Ollama, when one is reachable at OLLAMA_HOST (default
127.0.0.1:11434). Without one these tests skip, and the skip message says the backend was
NOT verified against a real Ollama server (only against tests/servers/ollama_api_server.py)."""

from __future__ import annotations

import json

import httpx
import numpy as np
import pytest

from harness.backends.ollama import OllamaBackend, list_models, resolve_host

pytestmark = [pytest.mark.slow]

CHAT_TAG = "smollm2:135m"
EMBED_TAG = "all-minilm:latest"


@pytest.fixture(scope="module")
def real_ollama() -> str:
    url = resolve_host(None)
    try:
        version = httpx.get(f"{url}/api/version", timeout=2.0).json().get("version", "")
    except (httpx.HTTPError, ValueError):
        pytest.skip(
            f"NOT verified against a real Ollama server: none reachable at {url} "
            "(start `ollama serve` or set OLLAMA_HOST to run these tests)"
        )
    if version.startswith("0.0.0-harness-test"):
        pytest.skip(f"NOT verified against a real Ollama server: {url} is the harness's test server")
    return url


def _need(url: str, tag: str) -> None:
    names = {m["name"] for m in list_models(url)}
    if tag not in names:
        pytest.skip(
            f"NOT verified against a real Ollama server: it runs at {url} but has no {tag} (run `ollama pull {tag}`)"
        )


def test_real_ollama_chat_stream_and_schema(real_ollama):
    _need(real_ollama, CHAT_TAG)
    b = OllamaBackend("smollm2-135m", base_url=real_ollama)
    try:
        c = b.chat([{"role": "user", "content": "Name three colors."}], max_tokens=30)
        assert c.text.strip() and c.completion_tokens > 0 and c.prompt_tokens > 0
        assert c.timings.decode_tok_s and c.timings.decode_tok_s > 0
        chunks = list(b.stream([{"role": "user", "content": "Name three colors."}], max_tokens=30))
        assert chunks[-1].done and chunks[-1].completion.text == "".join(x.text for x in chunks[:-1])
        assert chunks[-1].completion.timings.ttft_s > 0
        schema = {"type": "object", "properties": {"age": {"type": "integer"}}, "required": ["age"]}
        data = json.loads(
            b.chat([{"role": "user", "content": "Ann is 31. Give her age as JSON."}], max_tokens=30, schema=schema).text
        )
        assert isinstance(data["age"], int)
        assert b.info().version
    finally:
        b.close()


def test_real_ollama_embeddings(real_ollama):
    _need(real_ollama, EMBED_TAG)
    b = OllamaBackend("minilm-l6-v2", role="embedding", base_url=real_ollama)
    try:
        v = b.embed(["a small cat", "a little kitten", "the stock market fell"])
    finally:
        b.close()
    assert v.shape == (3, 384)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)
    assert v[0] @ v[1] > v[0] @ v[2]
