"""rag without a model: its spec, the given and held-out SQuAD files, the questions, the scores,
the model-reply rule, bad datasets, the reference's chunks.
The starter, the reference (on the lab's data and its [dev] reference_datasets) and the wrong
solutions are graded on the real models by tests/labs/test_curriculum.py and `harness dev check`."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.labs.api import LabContext, LearnerError
from harness.labs.child import import_file
from harness.labs.spec import get_lab

LABS = Path(__file__).resolve().parents[2]  # labs/
DATA = LABS / "_data" / "squad"
# Articles 30-35 of SQuAD v1.1 dev: not in the lab's given folder (articles 0-11).
HELDOUT = LABS / "_heldout" / "squad" / "heldout-30-35.json"


pytestmark = pytest.mark.usefixtures("real_labs")


@pytest.fixture(scope="module")
def grader():
    return import_file("_rag_grader", LABS / "rag" / "grader.py")


def _ctx(dataset: Path | None = None, **config) -> LabContext:
    cfg = {"n_articles": 4, "n_questions": 60, "question_seed": 0, "k": 2, **config}
    return LabContext(
        lab_id="rag",
        lab_dir=LABS / "rag",
        data_dir=LABS / "rag" / "data",
        dataset_path=dataset,
        limit=None,
        seed=0,
        config=cfg,
    )


def test_spec_is_valid():
    spec = get_lab("rag")
    assert spec.order == 6 and spec.models.chat == "smollm2-135m" and spec.models.embedding == "minilm-l6-v2"
    assert spec.entry == ["chunk", "build_index", "retrieve", "answer"]
    assert set(spec.grader) == {"n_articles", "n_questions", "question_seed", "k"}


def test_given_and_heldout_articles_are_disjoint_squad_files(grader):
    given, held = grader.load_articles(DATA / "dev.json"), grader.load_articles(HELDOUT)
    assert len(given) == 12 and len(held) == 6
    assert not {a["title"] for a in given} & {a["title"] for a in held}
    assert (DATA / "LICENSE").read_text().startswith("SQuAD v1.1")


def test_questions_are_seeded_one_per_paragraph_from_the_asked_articles(grader):
    articles = grader.load_articles(DATA / "dev.json")[:4]
    a, b = grader.pick_questions(articles, 40, 0), grader.pick_questions(articles, 40, 0)
    assert a == b and len(a) == 40 and len({q["doc"] for q in a}) == 40
    docs = {d["id"]: d for d in grader.documents(articles)}
    for q in a:  # SQuAD is extractive: every gold answer is a span of the question's paragraph
        assert all(g in docs[q["doc"]]["text"] for g in q["answers"])
    assert grader.pick_questions(articles, 40, 1) != a
    # a file with fewer paragraphs than questions: every paragraph once, then a second question
    small = grader.pick_questions(articles[2:3], 60, 0)
    assert len(small) == 60 and len({q["doc"] for q in small}) == len(articles[2]["paragraphs"]) == 45
    assert len({q["id"] for q in small}) == 60


def test_scores_use_squad_normalisation_and_the_best_gold(grader):
    s = grader.scores("It was the Denver Broncos.", ["Broncos", "Denver Broncos"])
    assert (
        s["contained"] and s["f1"] == pytest.approx(2 / 3) and not s["em"]
    )  # "it was denver broncos" vs the 2-word gold
    assert grader.scores("denver broncos", ["The Denver Broncos"])["em"]
    assert not grader.scores("Carolina Panthers", ["Denver Broncos"])["contained"]


def test_only_short_replies_of_the_model_count(grader):
    replies = ["The Denver Broncos won   Super Bowl 50."]
    assert grader.is_model_reply("The Denver Broncos won Super Bowl 50.", replies)
    assert grader.is_model_reply(" Denver Broncos", replies)  # a piece cut out of the reply
    assert not grader.is_model_reply("Denver Broncos", [])  # no model call in this answer()
    assert not grader.is_model_reply("Denver Broncos defeated", replies)
    assert not grader.is_model_reply("", replies)
    long = " ".join(["word"] * (grader.MAX_REPLY_WORDS + 1))
    assert not grader.is_model_reply(long, [long])  # the model copying the passage back


@pytest.mark.parametrize(
    "body, needle",
    [
        ('[{"question": "x"}]', "SQuAD v1.1's format"),
        (
            '{"data": [{"title": "t", "paragraphs": [{"context": "c", "qas": [{"question": "q"}]}]}]}',
            "SQuAD v1.1's format",
        ),
        ("not json", "cannot read the dataset"),
    ],
)
def test_bad_dataset_is_a_clear_error(grader, tmp_path, body, needle):
    bad = tmp_path / "bad.json"
    bad.write_text(body)
    with pytest.raises(LearnerError, match=needle):
        grader.grade(None, _ctx(bad))


def test_reference_chunks_fit_and_keep_the_text():
    ref = import_file("_rag_solution", LABS / "rag" / "solution.py")
    g = import_file("_rag_grader3", LABS / "rag" / "grader.py")
    for doc in g.documents(g.load_articles(DATA / "dev.json")):
        chunks = ref.chunk(doc)
        title_words = len(f"{doc['title']}:".split())
        # a chunk fits, or it is one sentence longer than MAX_WORDS (never cut inside a sentence)
        assert all(len(c.split()) <= ref.MAX_WORDS + title_words or len(ref.SENTENCE_END.split(c)) == 1 for c in chunks)
        assert sum(len(c.split()) - title_words for c in chunks) == len(doc["text"].split())  # nothing dropped
