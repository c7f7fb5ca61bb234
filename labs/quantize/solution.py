"""Reference solution of the quantize lab: llama.cpp's quantiser with its default parameters,
unit vectors and an exact (flat) inner-product index per file, the mean cosine to F16's vector of
each paragraph, and a non-inferiority rule on recall@1 with a paired bootstrap."""

from __future__ import annotations

import time
from pathlib import Path

import faiss
import llama_cpp
import numpy as np

from harness.grading.stats import paired_bootstrap


def quantize(src: Path, qtype: str, out_dir: Path) -> Path:
    """Quantise the GGUF file src to qtype ("Q8_0", "Q4_0", ...): a new file in out_dir, named
    after the type. The input is only read."""
    ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{qtype}", None)
    if ftype is None:
        raise ValueError(f"llama.cpp has no quantisation type {qtype!r}")
    dst = Path(out_dir) / f"{Path(src).stem.split('.')[0]}.{qtype}.gguf"
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    rc = llama_cpp.llama_model_quantize(str(src).encode(), str(dst).encode(), params)
    if rc != 0:
        raise RuntimeError(f"llama_model_quantize failed for {qtype} (status {rc})")
    return dst


def measure(
    open_embedder, path: Path, passages: list[str], questions: list[str], gold: list[int], baseline: dict | None = None
) -> dict:
    """Size, speed, retrieval and how far the vectors moved, for one file."""
    with open_embedder(path) as embedder:
        t0 = time.perf_counter()
        p = np.asarray(embedder.embed(passages, normalize=True), dtype=np.float32)
        passages_per_s = len(passages) / (time.perf_counter() - t0)
        q = np.asarray(embedder.embed(questions, normalize=True), dtype=np.float32)
    index = faiss.IndexFlatIP(p.shape[1])  # unit vectors: inner product = cosine
    index.add(p)
    _, ids = index.search(q, 5)
    gold = np.asarray(gold)
    hits = {k: (ids[:, :k] == gold[:, None]).any(axis=1) for k in (1, 5)}
    base = p if baseline is None else np.asarray(baseline["vectors"], dtype=np.float32)
    return {
        "size_bytes": Path(path).stat().st_size,
        "passages_per_s": passages_per_s,
        "recall@1": float(hits[1].mean()),
        "recall@5": float(hits[5].mean()),
        "hits@1": [bool(h) for h in hits[1]],
        "cosine_to_f16": float(np.mean(np.sum(p * base, axis=1))),
        "vectors": p,
    }


def choose(table: dict[str, dict], tolerance: float) -> str:
    """The smallest file whose recall@1 is not worse than F16's by more than `tolerance`: the lower
    end of the 95% paired-bootstrap interval of (type - F16), same questions, is >= -tolerance."""
    base = [float(h) for h in table["F16"]["hits@1"]]
    ok = [
        t
        for t, row in table.items()
        if paired_bootstrap(base, [float(h) for h in row["hits@1"]], seed=0).ci_low >= -tolerance
    ]
    return min(ok, key=lambda t: table[t]["size_bytes"])
