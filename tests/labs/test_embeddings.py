"""embeddings on the real default embedding model (minilm-l6-v2 through llama.cpp): the
reference passes, the starter and plausible wrong solutions fail, each on the criterion that
names its mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.labs.api import LabContext
from harness.labs.check import run_check
from harness.labs.child import import_file
from harness.labs.spec import get_lab

REPO = Path(__file__).resolve().parents[2]
WRONG = Path(__file__).resolve().parent / "wrong"
LABS = REPO / "labs"


pytestmark = pytest.mark.usefixtures("real_labs")



def test_spec_is_valid():
    spec = get_lab("embeddings")
    assert spec.order == 4 and spec.models.embedding == "minilm-l6-v2" and spec.models.chat is None
    assert {c.name for c in spec.criteria} == {"cosine_check", "dense_recall@5", "keyword_recall@5",
                                               "dense_gain@1_ci_low"}


def test_corpus_leaves_out_first_paragraphs_and_adds_distractors():
    g = import_file("_embeddings_grader", LABS / "embeddings" / "grader.py")
    lab = LABS / "embeddings"
    ctx = LabContext(lab_id="embeddings", lab_dir=lab, data_dir=lab / "data", dataset_path=None, limit=10,
                     seed=0, config=get_lab("embeddings").grader)
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
    wrong = import_file("_embeddings_dot", WRONG / "embeddings_dot_no_norm.py")
    assert g.cosine_check(ref, 0)[0] == 1.0
    assert g.cosine_check(wrong, 0)[0] < 0.2


def test_reference_tfidf_ranks_the_matching_document_first():
    ref = import_file("_embeddings_solution2", LABS / "embeddings" / "solution.py")
    docs = ["insulin therapy in type 2 diabetes", "helicopter transport of trauma patients",
            "mammography screening among older women"]
    m = ref.build_tfidf(docs)
    top = ref.tfidf_top_k(m, ["Does telephone counselling raise mammography screening?"], 2)
    assert top.shape == (1, 2) and top[0, 0] == 2


@pytest.mark.slow
def test_reference_passes(embed_model_path):
    r = run_check("embeddings", reference=True)
    assert r.error is None, r.error
    assert r.passed, [(c.name, c.value, c.required) for c in r.criteria if not c.passed]
    assert r.metrics["questions"] == 200 and r.metrics["embedding_dim"] == 384


@pytest.mark.slow
def test_starter_fails_not_implemented():
    r = run_check("embeddings", get_lab("embeddings").starter_path)
    assert not r.passed
    assert r.error.kind == "not_implemented" and r.error.message == "not implemented yet: cosine_top_k"


# With --limit 30 the wrong solutions stay cheap; the criteria they must fail do not need 200 questions.
@pytest.mark.slow
@pytest.mark.parametrize(
    "wrong, must_fail",
    [
        ("embeddings_dot_no_norm.py", {"cosine_check"}),
        ("embeddings_ignores_query.py", {"cosine_check", "dense_recall@5", "dense_gain@1_ci_low"}),
    ],
)
def test_wrong_solution_fails_on_its_mistake(embed_model_path, wrong, must_fail):
    r = run_check("embeddings", WRONG / wrong, limit=30)
    assert r.error is None, r.error
    assert not r.passed
    assert must_fail <= r.failed_criteria(), {c.name: c.value for c in r.criteria}
    assert all(any(s.startswith(f"{name}:") for s in r.next_steps) for name in must_fail)
