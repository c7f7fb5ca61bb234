"""--embed-quant's files (harness/bench/embed_quant.py) and the matrix dimensions (threads, quantisations).
The quantiser is a fake here (it writes known bytes); the real one runs in test_bench_real.py."""

from __future__ import annotations

import hashlib
import json
import types
from pathlib import Path

import pytest

from harness.bench import embed_quant as eq
from harness.bench.matrix import cell_key, expand
from harness.bench.schema import MatrixSpec
from harness.errors import HarnessError


@pytest.fixture
def store(tmp_path, monkeypatch):
    """A pinned 'F16' file in a model folder, found by name as the store would."""
    folder = tmp_path / "minilm-l6-v2"
    folder.mkdir()
    pinned = folder / "all-MiniLM-L6-v2.F16.gguf"
    pinned.write_bytes(b"F16 weights")
    entry = types.SimpleNamespace(quant="F16", sha256=hashlib.sha256(b"F16 weights").hexdigest(), size=11)
    import harness.models.gguf_check
    import harness.models.lock
    import harness.models.store

    monkeypatch.setattr(harness.models.lock, "get_entry", lambda name: entry)
    monkeypatch.setattr(harness.models.store, "resolve_model_path", lambda name: pinned)
    monkeypatch.setattr(harness.models.gguf_check, "check_gguf_header", lambda path: None)
    return pinned


def fake_quantizer(calls: list):
    def quantize(src: Path, dst: Path, qtype: str) -> None:
        calls.append((src.name, dst.name, qtype))
        assert dst.parent == src.parent and dst.name.startswith(".")  # a hidden temp file, never the final name
        dst.write_bytes(src.read_bytes() + qtype.encode())

    return quantize


def test_made_next_to_the_pinned_file_pinned_by_its_sha_and_reused(store):
    calls: list = []
    path, facts = eq.ensure_embed_model("minilm-l6-v2", "Q8_0", fake_quantizer(calls))
    assert path == store.parent / "all-MiniLM-L6-v2.Q8_0.gguf" and store.read_bytes() == b"F16 weights"
    assert facts.sha256 == hashlib.sha256(b"F16 weightsQ8_0").hexdigest() and facts.source_sha256 is not None
    pins = json.loads((store.parent / eq.PINS).read_text())
    assert pins["Q8_0"]["sha256"] == facts.sha256
    assert not [p for p in store.parent.iterdir() if p.name.endswith(".tmp.gguf")]  # no temp file left
    again, facts2 = eq.ensure_embed_model("minilm-l6-v2", "Q8_0", fake_quantizer(calls))
    assert again == path and facts2 == facts and len(calls) == 1  # reused, not made again


def test_a_changed_file_is_refused(store):
    path, _ = eq.ensure_embed_model("minilm-l6-v2", "Q4_0", fake_quantizer([]))
    path.write_bytes(b"tampered")
    with pytest.raises(HarnessError, match="changed since the harness made it"):
        eq.ensure_embed_model("minilm-l6-v2", "Q4_0", fake_quantizer([]))


def test_the_pinned_type_is_the_pinned_file(store):
    calls: list = []
    path, facts = eq.ensure_embed_model("minilm-l6-v2", "F16", fake_quantizer(calls))
    assert path == store and not calls and facts.quant == "F16"


def test_a_failed_quantisation_leaves_no_file(store):
    def broken(src, dst, qtype):
        dst.write_bytes(b"half")
        raise HarnessError("llama.cpp could not quantise", "x")

    with pytest.raises(HarnessError):
        eq.ensure_embed_model("minilm-l6-v2", "Q4_0", broken)
    assert sorted(p.name for p in store.parent.iterdir()) == [".all-MiniLM-L6-v2.Q4_0.gguf.lock", store.name]


def test_type_names_are_checked_and_parsed():
    assert eq.parse_quants(["f16,Q8_0", "q8_0", "Q4_0"]) == ["F16", "Q8_0", "Q4_0"]
    eq.check_quant_names(["F16", "Q8_0", "Q4_0"])
    with pytest.raises(HarnessError, match="'Q9_9' is not a llama.cpp quantisation type"):
        eq.check_quant_names(["Q9_9"])


def test_threads_and_quantisations_as_dimensions():
    spec = MatrixSpec(
        labs=["structured-output", "embeddings"],
        models=["a"],
        backends=["llama-cpp"],
        devices=["cpu"],
        threads=[1, 2],
        embed_quants=["F16", "Q4_0"],
        embed_quant_labs=["embeddings"],
    )
    keys = [cell_key(c) for c in expand(spec)]
    assert keys == [
        ("structured-output", "a", "llama-cpp", "cpu", 1, None),
        ("structured-output", "a", "llama-cpp", "cpu", 2, None),
        ("embeddings", "a", "llama-cpp", "cpu", 1, "F16"),
        ("embeddings", "a", "llama-cpp", "cpu", 1, "Q4_0"),
        ("embeddings", "a", "llama-cpp", "cpu", 2, "F16"),
        ("embeddings", "a", "llama-cpp", "cpu", 2, "Q4_0"),
    ]
    one = spec.model_copy(update={"threads": [2], "embed_quants": []})
    assert [cell_key(c) for c in expand(one)] == [
        ("structured-output", "a", "llama-cpp", "cpu", None, None),
        ("embeddings", "a", "llama-cpp", "cpu", None, None),
    ]


def test_bench_cli_parses_thread_lists():
    from harness.cli.bench import _parse_threads

    assert _parse_threads(["1,2", "2"]) == [1, 2]
    with pytest.raises(HarnessError, match="'0' is not a whole number of at least 1"):
        _parse_threads(["0"])
