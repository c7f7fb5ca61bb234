"""The `ollama` backend (official `ollama` client) against tests/servers/ollama_api_server.py:
Ollama's documented HTTP API on 127.0.0.1, backed by real llama.cpp, so answers are real.
Failure cases: server down, server killed mid-stream, malformed responses, model missing,
a model without embeddings."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

SERVERS = Path(__file__).resolve().parents[1] / "servers"
sys.path.insert(0, str(SERVERS))
from server_proc import canned_server, free_port, running  # noqa: E402

from harness.backends.ollama import OllamaBackend, list_models, pull, timings_from  # noqa: E402
from harness.errors import BackendError, BackendUnavailable, ModelNotFound  # noqa: E402
from harness.hw.cpu import default_threads  # noqa: E402

QUESTION = [{"role": "user", "content": "Name three colors."}]
# The second one came out differently through llama.cpp servers until repeat_penalty was set to 1.0.
SAME_TEXT_PROMPTS = ["Name three colors.", "What is the capital of France?"]
PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}


def _start(tmp: Path, chat: Path, embed: Path | None = None):
    port = free_port()
    argv = [
        str(SERVERS / "ollama_api_server.py"),
        "--port",
        str(port),
        "--threads",
        str(default_threads()),
        "--models-dir",
        str(tmp / "pulled"),
        "--model",
        f"smollm2:135m={chat}",
    ]
    if embed is not None:
        argv += ["--pullable", f"all-minilm={embed}"]
    return running(argv, f"http://127.0.0.1:{port}/api/version", tmp / "server.log"), f"http://127.0.0.1:{port}"


@pytest.fixture(scope="session")
def ollama_server(tmp_path_factory, chat_model_path, embed_model_path):
    tmp = tmp_path_factory.mktemp("ollama-server")
    ctx, url = _start(tmp, chat_model_path, embed_model_path)
    with ctx as server:
        yield url
        assert server.proc.poll() is None, "the server died during the tests"


@pytest.fixture()
def chat_backend(ollama_server, monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", ollama_server)
    b = OllamaBackend("smollm2-135m")  # lock name -> Ollama tag smollm2:135m
    yield b
    b.close()


# -- unit: the mapping of Ollama's fields ---------------------------------------------------


def test_timings_come_from_ollamas_nanosecond_fields():
    class R:  # the documented example of a final /api/generate object
        load_duration, prompt_eval_count, prompt_eval_duration = 6338219291, 26, 130079000
        eval_count, eval_duration = 259, 4232710000

    t = timings_from(R(), total_s=11.0)
    assert t.load_s == pytest.approx(6.338219291)
    assert t.prefill_tok_s == pytest.approx(26 / 0.130079)
    assert t.decode_tok_s == pytest.approx(259 / 4.23271)
    assert t.ttft_s == pytest.approx(6.338219291 + 0.130079)
    assert t.total_s == 11.0


def test_lock_names_map_to_ollama_tags_and_others_pass_through():
    from harness.backends.http_common import ollama_tag

    assert ollama_tag("smollm2-135m") == "smollm2:135m"
    assert ollama_tag("minilm-l6-v2") == "all-minilm"
    assert ollama_tag("llama3.2:1b") == "llama3.2:1b"


# -- against the API server backed by llama.cpp ----------------------------------------------


@pytest.mark.slow
@pytest.mark.network_server
def test_chat_gives_the_same_text_as_in_process_llama_cpp(chat_backend):
    from harness.backends.registry import open_backend

    with open_backend("llama-cpp", "smollm2-135m", threads=1) as local:
        for prompt in SAME_TEXT_PROMPTS:
            msgs = [{"role": "user", "content": prompt}]
            remote = chat_backend.chat(msgs, max_tokens=32)
            here = local.chat(msgs, max_tokens=32)
            assert remote.text == here.text and remote.text.strip()
            assert remote.prompt_tokens == here.prompt_tokens
            assert remote.completion_tokens == here.completion_tokens
            t = remote.timings
            assert t.prefill_tok_s > 0 and t.decode_tok_s > 0 and t.total_s > 0


@pytest.mark.slow
@pytest.mark.network_server
def test_stream_matches_chat_and_measures_ttft(chat_backend):
    whole = chat_backend.chat(QUESTION, max_tokens=40)
    chunks = list(chat_backend.stream(QUESTION, max_tokens=40))
    final = chunks[-1].completion
    assert chunks[-1].done and final is not None
    assert "".join(c.text for c in chunks[:-1]) == final.text == whole.text
    assert 0 < final.timings.ttft_s < final.timings.total_s
    assert final.completion_tokens == whole.completion_tokens


@pytest.mark.slow
@pytest.mark.network_server
def test_format_json_schema_constrains_the_answer(chat_backend):
    c = chat_backend.chat(
        [{"role": "user", "content": "Ann is 31 years old. Give her name and age as JSON."}],
        max_tokens=60,
        schema=PERSON,
    )
    data = json.loads(c.text)
    assert set(data) == {"name", "age"} and isinstance(data["age"], int)


@pytest.mark.slow
@pytest.mark.network_server
def test_max_tokens_stops_with_length(chat_backend):
    c = chat_backend.chat([{"role": "user", "content": "Write a long story about a dragon."}], max_tokens=7)
    assert c.completion_tokens == 7 and c.finish_reason == "length"


@pytest.mark.slow
@pytest.mark.network_server
def test_complete_and_count_tokens(chat_backend):
    from harness.backends.registry import open_backend

    with open_backend("llama-cpp", "smollm2-135m", threads=1) as local:
        want = local.count_tokens("The capital of France is")
    assert chat_backend.count_tokens("The capital of France is") == want
    assert chat_backend.complete("The capital of France is", max_tokens=4).completion_tokens == 4


@pytest.mark.slow
@pytest.mark.network_server
def test_embedding_model_missing_then_pulled_then_embeds(ollama_server, monkeypatch, capsys):
    monkeypatch.setenv("OLLAMA_HOST", ollama_server)
    with pytest.raises(ModelNotFound) as e:
        OllamaBackend("minilm-l6-v2", role="embedding")
    assert "ollama pull all-minilm" in e.value.hint

    assert pull("minilm-l6-v2") == "all-minilm"
    assert "all-minilm" in capsys.readouterr().err  # the progress bar went to stderr
    assert {"smollm2:135m", "all-minilm:latest"} <= {m["name"] for m in list_models()}

    b = OllamaBackend("minilm-l6-v2", role="embedding")
    v = b.embed(["a small cat", "a little kitten", "the stock market fell"])
    b.close()
    assert v.shape == (3, 384) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2

    # The same vectors as the in-process embedder.
    from harness.backends.registry import open_backend

    with open_backend("llama-cpp", "minilm-l6-v2", role="embedding", threads=1) as local:
        here = local.embed(["a small cat", "a little kitten", "the stock market fell"])
    assert np.allclose(v, here, atol=1e-3)


@pytest.mark.slow
@pytest.mark.network_server
def test_pull_of_an_unknown_tag(ollama_server):
    with pytest.raises(ModelNotFound, match="no model 'nope:1b'"):
        pull("nope:1b", base_url=ollama_server)


@pytest.mark.slow
@pytest.mark.network_server
def test_chat_model_has_no_embeddings(chat_backend, ollama_server):
    with pytest.raises(BackendError, match="does not support embeddings"):
        chat_backend.embed(["x"])
    with pytest.raises(BackendError, match="does not support embeddings"):
        OllamaBackend("smollm2-135m", role="embedding", base_url=ollama_server)


@pytest.mark.slow
@pytest.mark.network_server
def test_registry_opens_ollama_without_leaking_the_host(ollama_server, monkeypatch):
    from harness.backends.registry import open_backend

    monkeypatch.setenv("OLLAMA_HOST", ollama_server)
    b = open_backend("ollama", "smollm2-135m")
    info = b.info()
    b.close()
    assert info.backend == "ollama" and info.model == "smollm2:135m" and info.version
    assert "127.0.0.1" not in json.dumps(info.to_dict())


def test_server_down_says_where_and_how_to_start_it(monkeypatch):
    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("OLLAMA_HOST", url)
    with pytest.raises(BackendUnavailable) as e:
        OllamaBackend("smollm2-135m")
    assert url in e.value.message and "ollama serve" in e.value.hint


SHOW = (
    200,
    "application/json",
    json.dumps({"capabilities": ["completion"], "details": {"family": "llama"}, "model_info": {}}).encode(),
)


@pytest.mark.parametrize(
    "route,call",
    [
        (("/api/chat", (200, "application/json", b"<html>not json</html>")), "chat"),
        (
            (
                "/api/chat",
                (
                    200,
                    "application/x-ndjson",
                    b'{"message": {"role": "assistant", "content": "hi"}, "done": false}\n{"oops\n',
                ),
            ),
            "stream",
        ),
        (
            (
                "/api/chat",
                (200, "application/x-ndjson", b'{"message": {"role": "assistant", "content": "hi"}, "done": false}\n'),
            ),
            "stream",
        ),
        (("/api/chat", (200, "application/json", b'{"message": "not an object", "done": true}')), "chat"),
        (("/api/embed", (200, "application/json", b'{"embeddings": "none"}')), "embed"),
    ],
)
def test_malformed_responses_become_clear_errors(route, call):
    path, answer = route
    with canned_server({"/api/show": SHOW, path: answer}) as url:
        b = OllamaBackend("m:1", base_url=url)
        with pytest.raises(BackendError, match="cannot read|ended the stream"):
            if call == "chat":
                b.chat(QUESTION)
            elif call == "stream":
                list(b.stream(QUESTION))
            else:
                b.embed(["x"])
        b.close()


@pytest.mark.slow
@pytest.mark.network_server
def test_server_killed_mid_stream(tmp_path, chat_model_path):
    ctx, url = _start(tmp_path, chat_model_path)
    with ctx as server:
        b = OllamaBackend("smollm2:135m", base_url=url)
        stream = b.stream([{"role": "user", "content": "Count from 1 to 300, one number per line."}], max_tokens=1500)
        first = next(stream)
        assert first.text and not first.done
        server.kill()
        with pytest.raises(BackendError, match="closed the connection|ended the stream"):
            for _ in stream:
                pass
        b.close()


def test_doctor_reports_ollama_and_its_models(ollama_server, monkeypatch):
    from typer.testing import CliRunner

    from harness.cli.app import app

    monkeypatch.setenv("OLLAMA_HOST", ollama_server)
    r = CliRunner().invoke(app, ["doctor", "--json"])
    assert r.exit_code == 0, r.output
    ol = json.loads(r.stdout)["ollama"]
    assert ol["reachable"] and ol["host"] == ollama_server and "smollm2:135m" in ol["models"]
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{free_port()}")
    r = CliRunner().invoke(app, ["doctor"])
    assert "not reachable" in r.stdout and "ollama serve" in r.stdout
