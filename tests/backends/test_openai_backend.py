"""The `openai` backend against the REAL llama-cpp-python OpenAI-compatible server
(`python -m llama_cpp.server`) on 127.0.0.1 with the tiny models, plus failure cases:
server down, server killed mid-stream, malformed responses, model missing, API key."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "servers"))
from server_proc import canned_server, free_port, running  # noqa: E402

from harness.backends.llama_cpp import CHAT_FLASH_ATTN  # noqa: E402
from harness.backends.openai_compat import OpenAIBackend  # noqa: E402
from harness.errors import BackendError, BackendUnavailable, ModelNotFound  # noqa: E402
from harness.hw.cpu import default_threads  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.network_server]

QUESTION = [{"role": "user", "content": "Name three colors."}]
# The second one came out differently through llama.cpp servers until repeat_penalty was set to 1.0.
SAME_TEXT_PROMPTS = ["Name three colors.", "What is the capital of France?"]
PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}


def _server_config(tmp: Path, port: int, chat: Path, embed: Path | None, api_key: str | None = None) -> Path:
    models = [
        {
            "model": str(chat),
            "model_alias": "smollm2-135m",
            "n_threads": default_threads(),
            "n_threads_batch": default_threads(),
            "n_ctx": 2048,
            "flash_attn": CHAT_FLASH_ATTN,
            "verbose": False,
        }
    ]
    if embed is not None:
        models.append(
            {
                "model": str(embed),
                "model_alias": "minilm-l6-v2",
                "embedding": True,
                "n_threads": 1,
                "n_threads_batch": 1,
                "n_ctx": 256,
                "n_batch": 256,
                "n_ubatch": 256,
                "verbose": False,
            }
        )
    cfg = {"host": "127.0.0.1", "port": port, "models": models}
    if api_key:
        cfg["api_key"] = api_key
    path = tmp / f"llama-server-{port}.json"
    path.write_text(json.dumps(cfg))
    return path


@pytest.fixture(scope="session")
def openai_server(tmp_path_factory, chat_model_path, embed_model_path):
    """llama-cpp-python's own server, serving the chat and the embedding model under their lock names."""
    tmp = tmp_path_factory.mktemp("openai-server")
    port = free_port()
    cfg = _server_config(tmp, port, chat_model_path, embed_model_path)
    with running(
        ["-m", "llama_cpp.server", "--config_file", str(cfg)], f"http://127.0.0.1:{port}/v1/models", tmp / "server.log"
    ) as server:
        yield f"http://127.0.0.1:{port}/v1"
        assert server.proc.poll() is None, "the server died during the tests"


@pytest.fixture()
def chat_backend(openai_server):
    b = OpenAIBackend("smollm2-135m", base_url=openai_server)
    yield b
    b.close()


def test_chat_gives_the_same_text_as_in_process_llama_cpp(chat_backend):
    from harness.backends.registry import open_backend

    with open_backend("llama-cpp", "smollm2-135m", threads=1) as local:
        for prompt in SAME_TEXT_PROMPTS:
            msgs = [{"role": "user", "content": prompt}]
            remote = chat_backend.chat(msgs, max_tokens=32, temperature=0.0)
            here = local.chat(msgs, max_tokens=32, temperature=0.0)
            assert remote.text == here.text and remote.text.strip()
            assert remote.completion_tokens == here.completion_tokens
            assert remote.finish_reason == here.finish_reason


def test_stream_chunks_add_up_and_timings_are_measured(chat_backend):
    chunks = list(chat_backend.stream(QUESTION, max_tokens=40))
    final = chunks[-1]
    assert final.done and final.completion is not None
    assert len(chunks) > 3
    assert "".join(c.text for c in chunks[:-1]) == final.completion.text
    t = final.completion.timings
    assert 0 < t.ttft_s < t.total_s
    assert t.decode_tok_s and t.decode_tok_s > 0
    assert final.completion.completion_tokens == len(chunks) - 1  # one content event per token


def test_json_schema_output_parses(chat_backend):
    c = chat_backend.chat(
        [{"role": "user", "content": "Ann is 31 years old. Give her name and age as JSON."}],
        max_tokens=60,
        schema=PERSON,
    )
    data = json.loads(c.text)
    assert set(data) == {"name", "age"} and isinstance(data["age"], int)
    # llama-cpp-python's server rejects OpenAI's json_schema style; the backend fell back and remembered.
    assert chat_backend.info().extra["schema_mode"] == "json_object"


def test_embeddings_are_real_and_normalized(openai_server):
    b = OpenAIBackend("minilm-l6-v2", base_url=openai_server, role="embedding")
    try:
        v = b.embed(["a small cat", "a little kitten", "the stock market fell"])
    finally:
        b.close()
    assert v.shape == (3, 384) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2


def test_count_tokens_through_the_server(chat_backend):
    assert chat_backend.count_tokens("hello world") == 2


def test_registry_and_env_base_url(openai_server, monkeypatch):
    from harness.backends.registry import open_backend

    monkeypatch.setenv("HARNESS_OPENAI_BASE_URL", openai_server)
    b = open_backend("openai", "smollm2-135m")
    try:
        info = b.info()
        assert info.backend == "openai" and info.model == "smollm2-135m"
        assert info.extra["server"] == "local"
        assert "127.0.0.1" not in json.dumps(info.to_dict())  # no URL in shareable results
    finally:
        b.close()


def test_model_missing_names_what_the_server_serves(openai_server):
    with pytest.raises(ModelNotFound) as e:
        OpenAIBackend("no-such-model", base_url=openai_server)
    assert "smollm2-135m" in e.value.hint and "minilm-l6-v2" in e.value.hint


def test_chat_model_refuses_embeddings(chat_backend):
    with pytest.raises(BackendError, match="does not serve embeddings"):
        chat_backend.embed(["x"])


def test_server_down_says_where_and_what_to_do():
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(BackendUnavailable) as e:
        OpenAIBackend("smollm2-135m", base_url=url)
    assert url in e.value.message and "--base-url" in e.value.hint


def test_no_base_url_at_all(monkeypatch):
    monkeypatch.delenv("HARNESS_OPENAI_BASE_URL", raising=False)
    with pytest.raises(BackendUnavailable, match="base URL"):
        OpenAIBackend("smollm2-135m")


MODELS = (200, "application/json", json.dumps({"object": "list", "data": [{"id": "m"}]}).encode())


@pytest.mark.parametrize(
    "path,answer,call",
    [
        ("/v1/chat/completions", (200, "text/event-stream", b"data: <html>oops</html>\n\n"), "chat"),
        (
            "/v1/chat/completions",
            (200, "text/event-stream", b'data: {"choices": [{"delta": {"content": "hi"}}]}\n\n'),
            "chat",
        ),
        ("/v1/embeddings", (200, "application/json", b'{"object": "list"}'), "embed"),
        ("/v1/embeddings", (200, "text/html", b"<html>proxy login</html>"), "embed"),
    ],
)
def test_malformed_responses_become_clear_errors(path, answer, call):
    with canned_server({"/v1/models": MODELS, path: answer}) as url:
        b = OpenAIBackend("m", base_url=url + "/v1")
        with pytest.raises(BackendError, match="cannot read|ended the stream"):
            b.chat(QUESTION) if call == "chat" else b.embed(["x"])
        b.close()


def test_models_listing_that_is_not_openai():
    with canned_server({"/v1/models": (200, "application/json", b'["m"]')}) as url:
        with pytest.raises(BackendError, match="cannot read"):
            OpenAIBackend("m", base_url=url + "/v1")


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory, chat_model_path):
    """A second real server, with an API key; the last test of this module kills it."""
    tmp = tmp_path_factory.mktemp("openai-keyed")
    port = free_port()
    cfg = _server_config(tmp, port, chat_model_path, None, api_key="s3cret")
    with running(
        ["-m", "llama_cpp.server", "--config_file", str(cfg)], f"http://127.0.0.1:{port}/", tmp / "server.log"
    ) as server:
        server.base = f"http://127.0.0.1:{port}/v1"
        yield server


def test_complete_streams_and_measures_like_the_in_process_backend(chat_backend):
    """Raw completion (the throughput benchmark's call): same greedy text as llama.cpp in process,
    TTFT and decode measured from the stream, prompt tokens from the server's tokenizer."""
    from harness.backends.registry import open_backend

    prompt = "Once upon a time"
    c = chat_backend.complete(prompt, max_tokens=24)
    with open_backend("llama-cpp", "smollm2-135m", threads=1) as local:
        ref = local.complete(prompt, max_tokens=24)
    assert c.text == ref.text and c.completion_tokens == ref.completion_tokens == 24
    assert c.prompt_tokens == ref.prompt_tokens
    t = c.timings
    assert 0 < t.ttft_s < t.total_s and t.decode_tok_s > 0 and t.prefill_tok_s > 0


def test_doctor_reports_the_openai_server(openai_server, monkeypatch):
    from typer.testing import CliRunner

    from harness.cli.app import app

    monkeypatch.setenv("HARNESS_OPENAI_BASE_URL", openai_server)
    r = CliRunner().invoke(app, ["doctor", "--json"])
    assert r.exit_code == 0, r.output
    oa = json.loads(r.stdout)["openai"]
    assert oa["configured"] and oa["reachable"] and oa["base_url"] == openai_server
    assert set(oa["models"]) == {"smollm2-135m", "minilm-l6-v2"}
    r = CliRunner().invoke(app, ["doctor"])
    assert f"{openai_server}: reachable, serving smollm2-135m, minilm-l6-v2" in r.stdout


def test_doctor_says_when_the_openai_server_is_down_or_unset(monkeypatch):
    from harness.cli.doctor import collect

    monkeypatch.delenv("HARNESS_OPENAI_BASE_URL", raising=False)
    assert collect()["openai"] == {
        "configured": False,
        "reachable": False,
        "hint": "set HARNESS_OPENAI_BASE_URL or pass --base-url to use --backend openai",
    }
    monkeypatch.setenv("HARNESS_OPENAI_BASE_URL", f"http://user:pw@127.0.0.1:{free_port()}/v1")
    report = collect()
    assert report["openai"]["reachable"] is False and "pw" not in json.dumps(report)
    assert any("not reachable" in p["problem"] and "--base-url" in p["fix"] for p in report["problems"])


def test_api_key_comes_from_the_environment(keyed_server, monkeypatch):
    monkeypatch.delenv("HARNESS_OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(BackendError) as e:
        OpenAIBackend("smollm2-135m", base_url=keyed_server.base)
    assert "HARNESS_OPENAI_API_KEY" in e.value.hint
    monkeypatch.setenv("OPENAI_API_KEY", "s3cret")
    b = OpenAIBackend("smollm2-135m", base_url=keyed_server.base)
    assert b.chat(QUESTION, max_tokens=5).completion_tokens == 5
    b.close()


def test_a_chat_only_server_names_the_missing_embedding_model_and_the_fix(keyed_server, monkeypatch):
    """Most servers people run serve one chat model: the error names the role, not --model."""
    monkeypatch.setenv("OPENAI_API_KEY", "s3cret")
    with pytest.raises(ModelNotFound) as e:
        OpenAIBackend("minilm-l6-v2", base_url=keyed_server.base, role="embedding")
    assert "does not serve the embedding model 'minilm-l6-v2'" in e.value.message
    assert "it serves: smollm2-135m" in e.value.hint and "--embed-backend llama-cpp" in e.value.hint
    assert "pass one of them with --model" not in e.value.hint  # --model is the chat model


@pytest.mark.slow
def test_a_lab_embeds_in_process_next_to_a_chat_only_server(keyed_server, monkeypatch):
    """`harness check rag --backend openai` against llama-cpp-python's server serving the chat model
    only: the chat calls go to the server, the lab's embedder runs in-process (the default with a
    server backend); --embed-backend openai sends it to the server, which says what is missing."""
    from harness.labs.check import run_check
    from harness.paths import REPO_ROOT

    monkeypatch.setenv("HARNESS_LABS", str(REPO_ROOT / "labs"))
    monkeypatch.setenv("HARNESS_OPENAI_BASE_URL", keyed_server.base)
    monkeypatch.setenv("OPENAI_API_KEY", "s3cret")
    r = run_check("rag", reference=True, backend="openai", limit=2)
    assert r.error is None, r.error
    assert r.backends["chat"]["backend"] == "openai" and r.backends["embedding"]["backend"] == "llama-cpp"
    r = run_check("rag", reference=True, backend="openai", embed_backend="openai", limit=2)
    assert r.error.kind == "harness" and "does not serve the embedding model 'minilm-l6-v2'" in r.error.message


def test_doctor_says_the_key_was_refused(keyed_server, monkeypatch):
    from harness.cli.doctor import collect

    monkeypatch.setenv("HARNESS_OPENAI_BASE_URL", keyed_server.base)
    monkeypatch.setenv("HARNESS_OPENAI_API_KEY", "wrong")
    report = collect()
    assert report["openai"]["status_code"] == 401
    assert any("refused the API key" in p["problem"] for p in report["problems"])
    monkeypatch.setenv("HARNESS_OPENAI_API_KEY", "s3cret")
    assert collect()["openai"]["models"] == ["smollm2-135m"]


def test_server_killed_mid_stream(keyed_server, monkeypatch):
    monkeypatch.setenv("HARNESS_OPENAI_API_KEY", "s3cret")
    b = OpenAIBackend("smollm2-135m", base_url=keyed_server.base)
    stream = b.stream([{"role": "user", "content": "Count from 1 to 300, one number per line."}], max_tokens=1500)
    first = next(stream)
    assert first.text and not first.done
    keyed_server.kill()
    with pytest.raises(BackendError, match="closed the connection|ended the stream"):
        for _ in stream:
            pass
    b.close()


def test_embedding_role_can_have_its_own_server(monkeypatch):
    from harness.backends.openai_compat import resolve_base_url

    monkeypatch.setenv("HARNESS_OPENAI_BASE_URL", "http://127.0.0.1:1/v1")
    monkeypatch.setenv("HARNESS_OPENAI_EMBED_BASE_URL", "http://127.0.0.1:2/v1")
    assert resolve_base_url(None, "chat") == "http://127.0.0.1:1/v1"
    assert resolve_base_url(None, "embedding") == "http://127.0.0.1:2/v1"
    assert resolve_base_url("http://127.0.0.1:3/v1/", "embedding") == "http://127.0.0.1:3/v1"


def test_base_url_option_reaches_child_processes_through_the_environment(monkeypatch):
    import os

    from harness.backends.http_common import export_base_url

    # setenv first so monkeypatch restores the original state (absent) after export_base_url writes
    for var in ("HARNESS_OPENAI_BASE_URL", "OLLAMA_HOST"):
        monkeypatch.setenv(var, "")
        monkeypatch.delenv(var)
    export_base_url("openai", "http://127.0.0.1:9/v1")
    export_base_url("ollama", "127.0.0.1:8")
    assert os.environ["HARNESS_OPENAI_BASE_URL"] == "http://127.0.0.1:9/v1"
    assert os.environ["OLLAMA_HOST"] == "127.0.0.1:8"
    with pytest.raises(BackendError, match="--base-url is for"):
        export_base_url("llama-cpp", "http://127.0.0.1:9/v1")


def test_bench_base_urls_name_their_backend(monkeypatch):
    import os

    from harness.backends.http_common import export_base_urls

    for var in ("HARNESS_OPENAI_BASE_URL", "OLLAMA_HOST"):
        monkeypatch.setenv(var, "")
        monkeypatch.delenv(var)
    export_base_urls(["llama-cpp", "openai"], ["http://127.0.0.1:9/v1"])  # one server backend: a bare URL is enough
    assert os.environ["HARNESS_OPENAI_BASE_URL"] == "http://127.0.0.1:9/v1"
    export_base_urls(["openai", "ollama"], ["ollama=http://127.0.0.1:8", "openai=http://127.0.0.1:7/v1"])
    assert os.environ["OLLAMA_HOST"] == "http://127.0.0.1:8"
    assert os.environ["HARNESS_OPENAI_BASE_URL"] == "http://127.0.0.1:7/v1"
    with pytest.raises(BackendError, match="does not say which backend"):
        export_base_urls(["openai", "ollama"], ["http://127.0.0.1:6"])
    with pytest.raises(BackendError, match="not benchmarked"):
        export_base_urls(["llama-cpp"], ["ollama=http://127.0.0.1:6"])


def test_embeddings_default_to_in_process_only_when_chat_goes_to_a_server():
    from harness.backends.registry import embed_backend_for

    assert embed_backend_for("openai") == embed_backend_for("ollama") == "llama-cpp"
    assert embed_backend_for("llama-cpp") == "llama-cpp" and embed_backend_for("fake.py:open") == "fake.py:open"
    assert embed_backend_for("openai", "openai") == "openai"
