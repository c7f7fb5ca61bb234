"""One real --embed-quant cell: llama.cpp's quantiser makes Q8_0 of the pinned embedder next to it, and the
embeddings lab's reference runs on that file (2 questions), recording its sha256 and per-item outcomes."""

from __future__ import annotations

import pytest

from harness.bench.embed_quant import ensure_embed_model
from harness.bench.runner import BenchOptions, run_bench


@pytest.mark.slow
def test_an_embed_quant_cell_runs_on_its_own_pinned_file(embed_model_path):
    opts = BenchOptions(
        labs=["embeddings"],
        models=["smollm2-135m"],
        devices=["cpu"],
        embed_quants=("Q8_0",),
        limit=2,
        threads=1,
        measure_bandwidth=False,
        host_probe=False,
    )
    [q8] = run_bench(opts).runs
    assert q8.status == "ok", q8.error
    assert q8.cell.embed_quant == q8.settings.embed_quant == "Q8_0"
    assert q8.backend_info["roles"]["embedding"]["model"] == "all-MiniLM-L6-v2.Q8_0"  # the quantised file ran
    path, facts = ensure_embed_model("minilm-l6-v2", "Q8_0")  # a second run: reused, checked against its pin
    assert q8.embed_model == facts and path.parent == embed_model_path.parent and embed_model_path.is_file()
    assert facts.source_sha256 != facts.sha256 and 0 < facts.bytes < embed_model_path.stat().st_size
    assert q8.lab.outcomes.figure == "dense_recall@5" and len(q8.lab.outcomes.correct) == 2
