"""One record per backend (harness/backends/catalog.py): the docs table, the CLI's choices, doctor,
the base-URL variables and the loading of backends all come from it."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import pytest

from harness.backends import catalog
from harness.errors import BackendError, HarnessError

DOCS = Path(__file__).resolve().parents[2] / "docs" / "backends.md"
HERE = Path(__file__).resolve()


def test_the_docs_table_is_the_records():
    text = DOCS.read_text()
    start, end = text.index(catalog.DOCS_TABLE_START), text.index(catalog.DOCS_TABLE_END)
    in_docs = text[start + len(catalog.DOCS_TABLE_START) : end].strip()
    assert in_docs == catalog.docs_table(), (
        "docs/backends.md's backends table differs from harness/backends/catalog.py: run scripts/gen-cli-docs"
    )


def test_every_record_loads_and_takes_the_common_options():
    common = dict(role="chat", device="auto", threads=None, n_ctx=None, base_url=None, verbose=False)
    for record in catalog.BACKENDS:
        factory = catalog.load_callable(record.factory)
        inspect.signature(factory).bind("some-model", **common)  # TypeError when a factory drifts
        if record.status:
            assert callable(catalog.load_callable(record.status))
        assert record.is_server == (record.status is not None) == bool(record.start_hint), record.name
    assert catalog.DEFAULT_BACKEND == "llama-cpp"
    assert len(set(catalog.names())) == len(catalog.BACKENDS)


def test_every_backend_option_offers_the_records():
    """A command that grew its own list of backend names would differ here."""
    import typer.main

    from harness.cli.app import app

    group = typer.main.get_command(app)
    seen = []
    for name, command in group.commands.items():
        for param in command.params:
            if "--backend" in getattr(param, "opts", []):
                assert catalog.choices_help() in param.help, name
                assert param.default in (catalog.DEFAULT_BACKEND, [catalog.DEFAULT_BACKEND]), name
                seen.append(name)
            if "--base-url" in getattr(param, "opts", []):
                for server in catalog.server_backends():
                    assert server.base_url_env in param.help, name
    assert {"run", "check", "watch", "bench"} <= set(seen)


def test_importing_the_catalog_loads_no_engine_and_no_numpy():
    code = (
        "import sys, harness.backends.catalog, harness.backends.registry\n"
        "print(','.join(m for m in ('numpy', 'llama_cpp', 'httpx', 'ollama') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ""


def _toy_status():
    return {"host": "http://toy:1", "reachable": False, "hint": "start the toy"}


def open_toy(model, *, role, device, threads, n_ctx, base_url, verbose, **kw):
    return ("toy", model, role, base_url)


TOY = catalog.BackendRecord(
    name="toy",
    factory=f"{HERE}:open_toy",
    description="a toy",
    title="Toy",
    capabilities=catalog.Capabilities(
        chat=True, embeddings=False, streaming=False, json_schema=False, gpu_offload=False
    ),
    base_url_env="TOY_HOST",
    status=f"{HERE}:_toy_status",
    start_hint="start the toy",
)


@pytest.fixture
def with_toy(monkeypatch):
    monkeypatch.setattr(catalog, "BACKENDS", (*catalog.BACKENDS, TOY))
    monkeypatch.delenv("TOY_HOST", raising=False)


def test_a_new_record_reaches_doctor_the_env_and_open_backend(with_toy, monkeypatch):
    """Adding a backend is one record: nothing in doctor, http_common or the registry names one."""
    import os

    from harness.backends.http_common import export_base_url, export_base_urls
    from harness.backends.registry import embed_backend_for, open_backend
    from harness.cli.doctor import _servers_info, diagnose, server_line

    monkeypatch.setattr(catalog, "BACKENDS", (catalog.record("llama-cpp"), TOY))  # no network for the others
    servers = _servers_info()
    assert servers == {"toy": _toy_status()}
    problems = diagnose({"system": {}, "llama_cpp": {"importable": True}, **servers})
    assert problems == [
        {
            "level": "warn",
            "problem": "the server for --backend toy is not reachable at http://toy:1",
            "fix": "start the toy",
        }
    ]
    assert server_line(servers["toy"]) == "http://toy:1: not reachable"
    assert "toy" in catalog.choices_help()

    monkeypatch.setenv("TOY_HOST", "unset")
    export_base_url("toy", "http://toy:2")
    assert os.environ["TOY_HOST"] == "http://toy:2"
    export_base_urls(["llama-cpp", "toy"], ["http://toy:3"])
    assert os.environ["TOY_HOST"] == "http://toy:3"
    assert embed_backend_for("toy") == "llama-cpp"

    assert open_backend("toy", "m", base_url="http://toy:4") == ("toy", "m", "chat", "http://toy:4")
    with pytest.raises(HarnessError, match="the toy backend cannot serve embedding models") as e:
        open_backend("toy", "m", role="embedding")
    assert "--embed-backend llama-cpp" in e.value.hint


def test_doctor_rows_from_synthetic_statuses():
    from harness.cli.doctor import server_line

    assert server_line({"configured": False, "reachable": False, "hint": "set X"}) == "not configured (set X)"
    assert (
        server_line({"host": "http://h:1", "reachable": True, "version": "0.9", "models": ["a", "b"]})
        == "http://h:1: reachable, version 0.9, serving a, b"
    )
    assert server_line({"configured": True, "base_url": "http://h:2/v1", "reachable": True, "models": []}) == (
        "http://h:2/v1: reachable, serving no models listed"
    )


def test_a_custom_backend_gets_only_the_options_that_were_set(tmp_path):
    from harness.backends.registry import open_backend

    module = tmp_path / "mine.py"
    module.write_text(
        "def open_mine(model, *, role, device, threads, **kw):\n    return (model, role, device, threads, kw)\n"
    )
    spec = f"{module}:open_mine"
    assert open_backend(spec, "m", threads=2) == ("m", "chat", "auto", 2, {})
    assert open_backend(spec, "m", role="embedding", n_ctx=64) == ("m", "embedding", "auto", None, {"n_ctx": 64})
    with pytest.raises(HarnessError, match="unknown backend 'nope'") as e:
        open_backend("nope", "m")
    assert "llama-cpp, ollama, openai" in e.value.hint


def test_base_url_is_refused_where_no_record_has_a_variable():
    from harness.backends.http_common import export_base_url

    with pytest.raises(BackendError, match="--base-url is for --backend ollama or openai, not 'llama-cpp'"):
        export_base_url("llama-cpp", "http://x:1")
