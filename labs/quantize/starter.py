"""Quantize lab: shrink the embedding model with llama.cpp's own quantiser and measure what it costs.

Fill in the three functions. The grader calls them like this:

    for qtype in ["Q8_0", "Q4_K_M", "Q4_0", "TQ2_0"]:
        files[qtype] = quantize(src, qtype, out_dir)      # src: a copy of the pinned F16 model
    table = {"F16": measure(open_embedder, src, passages, questions, gold, None)}
    for qtype, path in files.items():
        table[qtype] = measure(open_embedder, path, passages, questions, gold, table["F16"])
    choice = choose(table, tolerance)                     # one of table's keys

passages: SQuAD paragraphs ("Title: text"); questions[i] was written about passages[gold[i]].
`open_embedder(path)` opens a GGUF file as the lab's embedder is opened (same backend, threads);
use it as `with open_embedder(path) as emb: ...`. `emb.embed(texts, normalize=True)` -> float32
array (len(texts), 384), unit rows.

Run `harness check quantize` to grade this file, `harness hint quantize` when stuck.
"""

from __future__ import annotations

from pathlib import Path


def quantize(src: Path, qtype: str, out_dir: Path) -> Path:
    """Write src quantised to qtype as a new .gguf file in out_dir; return its path."""
    # TODO: params = llama_cpp.llama_model_quantize_default_params(); params.ftype = the
    #       LLAMA_FTYPE_MOSTLY_<qtype> constant; llama_cpp.llama_model_quantize(src bytes, dst bytes,
    #       params) returns 0 on success. Never write over src or beside it.
    raise NotImplementedError("quantize")


def measure(
    open_embedder, path: Path, passages: list[str], questions: list[str], gold: list[int], baseline: dict | None = None
) -> dict:
    """Measure one file. Return a dict with
    size_bytes      the file's size
    passages_per_s  paragraphs embedded per second
    recall@1, recall@5   share of questions whose own paragraph (gold[i]) is among the k nearest
    hits@1          one bool per question: its own paragraph came first
    cosine_to_f16   mean cosine between this file's vector and F16's (baseline["vectors"]) of each
                    paragraph; 1.0 for F16 itself (baseline is None)
    vectors         this file's paragraph vectors, one row per paragraph
    """
    # TODO: open the file, time the paragraphs' embedding, embed the questions, search every
    #       paragraph exactly (faiss.IndexFlatIP on unit vectors), compare with the baseline.
    raise NotImplementedError("measure")


def choose(table: dict[str, dict], tolerance: float) -> str:
    """The smallest file whose recall@1 is not worse than F16's by more than `tolerance`, shown
    with a paired test on the same questions (F16 always qualifies)."""
    # TODO: for each type, paired_bootstrap(F16's hits@1, its hits@1, seed=0).ci_low >= -tolerance;
    #       of those, the one with the smallest size_bytes.
    raise NotImplementedError("choose")
