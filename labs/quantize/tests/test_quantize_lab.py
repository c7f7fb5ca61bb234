"""quantize: the grader's logic on hand-made inputs and on a fake embedder over tiny GGUF files (no
model); on the real model its checks.py also checks that the pinned model file in the store is never
changed.
The starter, the reference (on the lab's data and its [dev] reference_datasets) and the wrong
solutions are graded on the real models by tests/labs/test_curriculum.py and `harness dev check`."""

from __future__ import annotations

import hashlib
import types
from pathlib import Path

import numpy as np
import pytest

from harness.labs.api import LabContext, LearnerError
from harness.labs.child import import_file
from harness.labs.spec import get_lab

LABS = Path(__file__).resolve().parents[2]  # labs/
WRONG = Path(__file__).resolve().parents[1] / "wrong"
DATA = LABS / "_data" / "squad"
# Articles 30-35 of SQuAD v1.1 dev: not in the lab's given folder (articles 0-11).
HELDOUT = LABS / "_heldout" / "squad" / "heldout-30-35.json"
TYPES = ["Q8_0", "Q4_K_M", "Q4_0", "TQ2_0"]

pytestmark = pytest.mark.usefixtures("real_labs")


@pytest.fixture(scope="module")
def grader():
    return import_file("_quantize_grader", LABS / "quantize" / "grader.py")


@pytest.fixture(scope="module")
def reference():
    return import_file("_quantize_solution", LABS / "quantize" / "solution.py")


def _config(**over) -> dict:
    return {**get_lab("quantize", LABS).grader, **over}


def test_spec_is_valid():
    spec = get_lab("quantize", LABS)
    assert spec.order == 9 and spec.version == "1"
    assert spec.models.chat is None and spec.models.embedding == "minilm-l6-v2"
    assert spec.entry == ["quantize", "measure", "choose"]
    assert set(spec.grader) == {"n_paragraphs", "question_seed", "types", "tolerance", "bootstrap_seed"}
    assert spec.grader["types"] == TYPES
    assert {c.name for c in spec.criteria} == {
        "input_untouched",
        "files_valid",
        "size_error_bytes",
        "recall_max_error",
        "cosine_max_error",
        "choice_correct",
    }
    assert not spec.data_dir.exists()  # the paragraphs come from labs/_data/squad


def test_items_are_the_first_paragraphs_with_one_seeded_question_each(grader):
    articles = grader.load_articles(DATA / "dev.json")
    passages, questions, gold = grader.items(articles, 50, 0)
    assert len(passages) == len(questions) == len(gold) == 50 and gold == list(range(50))
    assert all(p.startswith("Super Bowl 50: ") for p in passages)  # dev's first article has 54 paragraphs
    assert grader.items(articles, 50, 0) == (passages, questions, gold)
    assert grader.items(articles, 50, 1)[1] != questions
    small = grader.items(articles, 15, 0)  # --limit: a prefix of the same items
    assert small == (passages[:15], questions[:15], gold[:15])
    texts = {q["question"].strip(): p["context"] for a in articles for p in a["paragraphs"] for q in p["qas"]}
    assert all(texts[q] in passages[g] for q, g in zip(questions, gold))
    held = grader.load_articles(HELDOUT)
    assert not {a["title"] for a in articles} & {a["title"] for a in held}
    hp, hq, _ = grader.items(held, 50, 0)
    assert len(hp) == len(hq) == 50 and hp[0].startswith("Private school: ")


def test_hits_are_an_exact_cosine_search_whatever_the_lengths(grader):
    p = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0]], dtype=np.float32)
    q = np.array([[0.9, 0.1, 0], [0, 0, 5], [1, 1.1, 0]], dtype=np.float32)
    assert grader.hits_at(p, q, [0, 2, 3], 1) == [True, True, True]
    assert grader.hits_at(p * np.array([[1], [10], [1], [1]], dtype=np.float32), q, [0, 2, 3], 1) == [True, True, True]
    assert grader.hits_at(p, q, [1, 0, 1], 1) == [False, False, False]
    assert grader.hits_at(p, q, [1, 0, 1], 2) == [False, True, True]  # q0: p0 and p3 are nearer than p1
    f = grader.figures(p * 3, q, [0, 2, 3], p)
    assert f["recall@1"] == 1.0 and f["cosine_to_f16"] == pytest.approx(1.0)
    assert grader.figures(p[[1, 0, 2, 3]], q, [0, 2, 3], p)["cosine_to_f16"] == pytest.approx(0.5)


def test_the_rule_is_non_inferiority_with_a_borderline_band(grader):
    same = [True] * 30 + [False] * 20
    assert grader.non_inferior(same, same, 0.1, 0)["ok"]
    lossy = [True] * 20 + [False] * 30  # 10 of 50 lost: delta -0.2
    r = grader.non_inferior(same, lossy, 0.1, 0)
    assert not r["ok"] and r["delta"] == pytest.approx(-0.2) and r["ci_low"] < -0.1
    sizes = {"F16": 46, "Q8_0": 25, "Q4_0": 20, "TQ2_0": 19}
    assert grader.accepted_choices(sizes, {"F16": 0, "Q8_0": 0, "Q4_0": -0.06, "TQ2_0": -0.26}, 0.1, 0.02) == ["Q4_0"]
    # within one question of the bar: either side counts; the clear pass above it too
    assert grader.accepted_choices(sizes, {"F16": 0, "Q8_0": 0, "Q4_0": -0.12, "TQ2_0": -0.26}, 0.1, 0.02) == [
        "Q4_0",
        "Q8_0",
    ]
    assert grader.accepted_choices(sizes, {"F16": 0, "Q8_0": -0.5, "Q4_0": -0.5, "TQ2_0": -0.5}, 0.1, 0.02) == ["F16"]


def _tiny_gguf(path: Path, ftype: int, pad: int) -> Path:
    import gguf

    w = gguf.GGUFWriter(str(path), "bert")
    w.add_file_type(ftype)
    w.add_tensor("pad", np.zeros(pad, dtype=np.int8))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def test_check_file_wants_a_gguf_of_the_asked_type_in_out_dir(grader, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    good = _tiny_gguf(out / "m.Q8_0.gguf", 7, 100)
    assert grader.check_file(good, out, "Q8_0") is None
    assert "has file type 7, not 2" in grader.check_file(good, out, "Q4_0")
    assert "not in out_dir" in grader.check_file(_tiny_gguf(tmp_path / "m.gguf", 7, 100), out, "Q8_0")
    (out / "junk.gguf").write_bytes(b"GGUF" + b"\0" * 40)
    assert "not a valid GGUF" in grader.check_file(out / "junk.gguf", out, "Q8_0")
    assert "no file" in grader.check_file(out / "missing.gguf", out, "Q8_0")
    assert "not a path" in grader.check_file(None, out, "Q8_0")


# ----------------------------------------------------------------------------------------------
# The whole grader on a fake embedder: each "model" is a tiny GGUF whose file type sets how much
# noise its vectors carry; vectors have random lengths (so normalising matters) and a question lies
# near its own paragraph.

FTYPE = {"F16": 1, "Q8_0": 7, "Q4_K_M": 15, "Q4_0": 2, "TQ2_0": 37}
PAD = {"F16": 16000, "Q8_0": 8500, "Q4_K_M": 4800, "Q4_0": 4500, "TQ2_0": 2100}
NOISE = {1: 0.0, 7: 0.01, 15: 0.05, 2: 0.08, 37: 2.0}


def _vec(text: str, dim: int = 24) -> np.ndarray:
    return np.random.default_rng(int(hashlib.sha256(text.encode()).hexdigest()[:12], 16)).normal(size=dim)


class FakeEmbedder:
    def __init__(self, path, grader, paragraph_of: dict):
        self.model_path = Path(path)
        self.ftype = grader.file_type(self.model_path)
        self.paragraph_of = paragraph_of
        self.closed = False

    def embed(self, texts, *, normalize=True, truncate=False):
        rows = []
        for t in texts:
            own = self.paragraph_of.get(t)
            v = _vec(own) + 0.5 * _vec("q" + t) if own else _vec(t)
            v = v + NOISE[self.ftype] * _vec(f"{self.ftype}:{t}")
            rows.append(v * (1 + 3 * abs(_vec("len" + t)[0])))
        out = np.asarray(rows, dtype=np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True) if normalize else out

    def close(self):
        self.closed = True


def _fake_quantize(src, qtype, out_dir):
    return _tiny_gguf(Path(out_dir) / f"m.{qtype}.gguf", FTYPE[qtype], PAD[qtype])


@pytest.fixture
def fake_ctx(grader, tmp_path):
    articles = grader.load_articles(DATA / "dev.json")
    passages, questions, gold = grader.items(articles, 40, 0)
    paragraph_of = {q: passages[g] for q, g in zip(questions, gold)}
    pinned = _tiny_gguf(tmp_path / "store.F16.gguf", 1, PAD["F16"])
    ctx = LabContext(
        lab_id="quantize",
        lab_dir=LABS / "quantize",
        data_dir=LABS / "quantize" / "data",
        dataset_path=None,
        limit=40,
        seed=0,
        config=_config(),
        _embedder_factory=lambda: FakeEmbedder(pinned, grader, paragraph_of),
        _embedder_opener=lambda p: FakeEmbedder(p, grader, paragraph_of),
    )
    ctx.pinned = pinned
    return ctx


def _solution(reference, **over):
    return types.SimpleNamespace(
        **{"quantize": _fake_quantize, "measure": reference.measure, "choose": reference.choose, **over}
    )


def test_the_reference_passes_the_grader_on_a_fake_embedder(grader, reference, fake_ctx):
    before = fake_ctx.pinned.read_bytes()
    m = grader.grade(_solution(reference), fake_ctx)
    assert m.values == {
        "input_untouched": 1.0,
        "files_valid": 1.0,
        "size_error_bytes": 0.0,
        "recall_max_error": 0.0,
        "cosine_max_error": pytest.approx(0.0, abs=1e-6),
        "choice_correct": 1.0,
    }
    rows = {r["type"]: r for r in m.metrics["table"]}
    assert not rows["TQ2_0"]["non_inferior"] and rows["Q8_0"]["non_inferior"]
    assert m.metrics["smallest_file"] == "TQ2_0" and m.metrics["choice"] != "TQ2_0"
    assert rows["Q8_0"]["cosine_to_f16"] > 0.999 > rows["TQ2_0"]["cosine_to_f16"]
    assert fake_ctx.pinned.read_bytes() == before and m.metrics["pinned_sha256_unchanged"]
    # the grader's figures came from the vectors the model returned to the learner: nothing re-embedded
    assert all(r["harness_passages_per_s"] is not None for r in rows.values())


def test_fake_wrong_solutions_fail_on_their_criterion(grader, reference, fake_ctx):
    wrong = import_file("_quantize_wrong_unnorm", WRONG / "unnormalised.py")
    m = grader.grade(_solution(reference, measure=wrong.measure), fake_ctx)
    assert m.values["cosine_max_error"] > 1.0
    smallest = import_file("_quantize_wrong_smallest", WRONG / "smallest_file.py")
    m = grader.grade(_solution(reference, choose=smallest.choose), fake_ctx)
    assert m.values["choice_correct"] == 0.0 and m.metrics["choice"] == "TQ2_0"

    def measure_f16_again(open_embedder, path, passages, questions, gold, baseline=None):
        return reference.measure(open_embedder, fake_ctx.pinned, passages, questions, gold, baseline) | {
            "size_bytes": Path(path).stat().st_size
        }

    m = grader.grade(_solution(reference, measure=measure_f16_again), fake_ctx)  # the grader embeds the files itself
    assert m.values["cosine_max_error"] > 0.1 and m.values["size_error_bytes"] == 0.0


def test_writing_over_the_input_stops_the_check(grader, reference, fake_ctx):
    def over_input(src, qtype, out_dir):
        Path(src).write_bytes(_fake_quantize(src, qtype, out_dir).read_bytes())
        return src

    m = grader.grade(_solution(reference, quantize=over_input), fake_ctx)
    assert m.values == {"input_untouched": 0.0, "files_valid": 0.0}  # nothing else measured: reported as failing
    assert any("changed its input file" in n for n in m.notes)
    assert fake_ctx.pinned.read_bytes()[:4] == b"GGUF"  # the learner only ever had a copy


@pytest.mark.parametrize(
    "bad, needle",
    [
        (lambda row: {k: v for k, v in row.items() if k != "hits@1"}, "left out hits@1"),
        (lambda row: row | {"hits@1": row["hits@1"][:-1]}, "one boolean per question"),
        (lambda row: row | {"vectors": row["vectors"][:3]}, "one row per passage"),
        (lambda row: row | {"recall@1": "high"}, "wrong type"),
        (lambda row: None, "must return a dict"),
    ],
)
def test_unusable_measurements_are_a_clear_error(grader, reference, fake_ctx, bad, needle):
    sol = _solution(reference, measure=lambda *a: bad(reference.measure(*a)))
    with pytest.raises(LearnerError, match=needle):
        grader.grade(sol, fake_ctx)


def test_a_choice_outside_the_table_is_a_clear_error(grader, reference, fake_ctx):
    with pytest.raises(LearnerError, match="must return one of F16, Q8_0"):
        grader.grade(_solution(reference, choose=lambda table, tol: "Q5_0"), fake_ctx)


# ----------------------------------------------------------------------------------------------
# The real model
