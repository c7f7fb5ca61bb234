"""embeddings without a model: its spec, the corpus, the cosine check, the keyword baseline.
The starter, the reference (on the lab's data and its [dev] reference_datasets) and the wrong
solutions are graded on the real models by tests/labs/test_curriculum.py and `harness dev check`."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.labs.api import LabContext
from harness.labs.child import import_file
from harness.labs.spec import get_lab

LABS = Path(__file__).resolve().parents[2]  # labs/
WRONG = Path(__file__).resolve().parents[1] / "wrong"


pytestmark = pytest.mark.usefixtures("real_labs")


def test_spec_is_valid():
    spec = get_lab("embeddings")
    assert spec.order == 4 and spec.models.embedding == "minilm-l6-v2" and spec.models.chat is None
    assert {c.name for c in spec.criteria} == {
        "cosine_check",
        "dense_recall@5",
        "keyword_recall@5",
        "dense_gain@1_ci_low",
    }


def test_corpus_leaves_out_first_paragraphs_and_adds_distractors():
    g = import_file("_embeddings_grader", LABS / "embeddings" / "grader.py")
    lab = LABS / "embeddings"
    ctx = LabContext(
        lab_id="embeddings",
        lab_dir=lab,
        data_dir=lab / "data",
        dataset_path=None,
        limit=10,
        seed=0,
        config=get_lab("embeddings").grader,
    )
    c = g.build_corpus(ctx)
    assert len(c.questions) == 10 and len(set(c.gold)) == 10
    assert set(c.gold) < set(c.passage_pmid)  # every question's abstract is there, plus others
    assert len(set(c.passage_pmid) - set(c.gold)) == 50
    import json

    data = json.loads((LABS / "_data" / "pubmedqa" / "dev.json").read_text())
    first_paragraphs = {data[p]["CONTEXTS"][0] for p in c.gold}
    assert not first_paragraphs & set(c.passages)


def test_cosine_check_catches_a_plain_dot_product():
    g = import_file("_embeddings_grader2", LABS / "embeddings" / "grader.py")
    ref = import_file("_embeddings_solution", LABS / "embeddings" / "solution.py")
    wrong = import_file("_embeddings_dot", WRONG / "dot_no_norm.py")
    assert g.cosine_check(ref, 0)[0] == 1.0
    assert g.cosine_check(wrong, 0)[0] < 0.2


def test_reference_tfidf_ranks_the_matching_document_first():
    ref = import_file("_embeddings_solution2", LABS / "embeddings" / "solution.py")
    docs = [
        "insulin therapy in type 2 diabetes",
        "helicopter transport of trauma patients",
        "mammography screening among older women",
    ]
    m = ref.build_tfidf(docs)
    top = ref.tfidf_top_k(m, ["Does telephone counselling raise mammography screening?"], 2)
    assert top.shape == (1, 2) and top[0, 0] == 2
