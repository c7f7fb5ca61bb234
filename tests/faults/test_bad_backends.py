"""Server backends that are down, die mid-stream or send malformed data, through `harness run`
(streaming and --json). The HTTP-backend engineer's tests do this against real servers (slow:
they load the model); these use a scripted server on 127.0.0.1 (helpers.ApiServer) so each case
takes milliseconds, and check what the user sees: a message naming the server and what to do,
exit code 1, no traceback."""

from __future__ import annotations

import json

import pytest

from .helpers import Answer, ApiServer, closed_port_url

SHOW = Answer([json.dumps({"capabilities": ["completion"], "details": {"family": "llama"}, "model_info": {}}).encode()])
MODELS = Answer([json.dumps({"object": "list", "data": [{"id": "m", "object": "model"}]}).encode()])


def _ndjson(text: str, done: bool = False) -> bytes:
    return (
        json.dumps(
            {
                "model": "m",
                "created_at": "2026-11-23T00:00:00Z",
                "message": {"role": "assistant", "content": text},
                "done": done,
            }
        ).encode()
        + b"\n"
    )


def _sse(text: str) -> bytes:
    return b"data: " + json.dumps({"choices": [{"index": 0, "delta": {"content": text}}]}).encode() + b"\n\n"


def _run(cli, backend: str, url: str, *extra: str):
    return cli("run", "m", "Say hello.", "--backend", backend, "--base-url", url, *extra)


def _clean(r, *needles: str):
    assert r.code == 1 and not r.traceback, r
    assert r.has("error:") and r.has("->"), r
    for n in needles:
        assert r.has(n), (n, str(r))


# ----------------------------------------------------------------------------- Ollama


@pytest.mark.bad_input("Ollama server down")
def test_ollama_down(cli):
    url = closed_port_url()
    r = _run(cli, "ollama", url)
    _clean(r, "Ollama is not reachable at", url, "ollama serve")


@pytest.mark.bad_input("Ollama dies mid-stream")
@pytest.mark.parametrize("mode", ["stream", "json"])
def test_ollama_dies_mid_stream(cli, mode):
    chat = Answer([_ndjson("Hel"), _ndjson("lo")], ctype="application/x-ndjson", die=True)
    if mode == "json":  # one JSON object, cut off
        chat = Answer([b'{"model": "m", "message": {"role": "assis'], die=True)
    with ApiServer({"/api/show": SHOW, "/api/chat": chat}) as srv:
        r = _run(cli, "ollama", srv.url, *(["--json"] if mode == "json" else []))
    _clean(r, "closed the connection in the middle of a response")
    if mode == "stream":
        assert r.out.startswith("Hello"), r  # what arrived before the crash was shown


@pytest.mark.bad_input("Ollama sends malformed data")
@pytest.mark.parametrize(
    "mode,chat",
    [
        ("json", Answer([b"<html><body>nginx: 502 Bad Gateway</body></html>"], ctype="text/html")),
        ("stream", Answer([_ndjson("Hel"), b'{"message": {"role": "assist\n'], ctype="application/x-ndjson")),
        ("stream", Answer([_ndjson("Hel")], ctype="application/x-ndjson")),  # ends without done=true
    ],
    ids=["html-instead-of-json", "broken-ndjson-line", "stream-ends-early"],
)
def test_ollama_malformed(cli, mode, chat):
    with ApiServer({"/api/show": SHOW, "/api/chat": chat}) as srv:
        r = _run(cli, "ollama", srv.url, *(["--json"] if mode == "json" else []))
    _clean(r, "Ollama")
    assert r.has("cannot read") or r.has("ended the stream"), r


# ----------------------------------------------------------------------------- OpenAI-compatible


@pytest.mark.bad_input("OpenAI-compatible server down")
def test_openai_down(cli):
    url = closed_port_url() + "/v1"
    r = _run(cli, "openai", url)
    _clean(r, "is not reachable at", url, "--base-url")


@pytest.mark.bad_input("OpenAI-compatible server dies mid-stream")
def test_openai_dies_mid_stream(cli):
    chat = Answer([_sse("Hel"), _sse("lo")], ctype="text/event-stream", die=True)
    with ApiServer({"/v1/models": MODELS, "/v1/chat/completions": chat}) as srv:
        r = _run(cli, "openai", srv.url + "/v1")
    _clean(r, "closed the connection in the middle of a response")
    assert r.out.startswith("Hello"), r


@pytest.mark.bad_input("OpenAI-compatible server sends malformed data")
@pytest.mark.parametrize(
    "routes",
    [
        {"/v1/models": Answer([b"<html>login page</html>"], ctype="text/html")},
        {"/v1/models": Answer([b'{"models": ["m"]}'])},
        {
            "/v1/models": MODELS,
            "/v1/chat/completions": Answer([_sse("Hel"), b"data: {not json\n\n"], ctype="text/event-stream"),
        },
        {"/v1/models": MODELS, "/v1/chat/completions": Answer([_sse("Hel")], ctype="text/event-stream")},
    ],
    ids=["html-models", "wrong-shape-models", "broken-event", "stream-ends-early"],
)
def test_openai_malformed(cli, routes):
    with ApiServer(routes) as srv:
        r = _run(cli, "openai", srv.url + "/v1")
    _clean(r, "OpenAI-compatible server")
    assert r.has("cannot read") or r.has("ended the stream"), r
