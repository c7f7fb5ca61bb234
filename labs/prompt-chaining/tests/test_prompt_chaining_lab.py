"""prompt-chaining on one-operation SVAMP problems: the grader's pieces on hand-made inputs and a
fake model (no real model): the evaluator, the candidates, the step check, bad datasets.
The starter, the reference (on the lab's data and its [dev] reference_datasets) and the wrong
solutions are graded on the real models by tests/labs/test_curriculum.py and `harness dev check`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.labs.api import LabContext, LearnerError
from harness.labs.child import import_file
from harness.labs.recording import RecordingLLM
from harness.labs.spec import get_lab

LABS = Path(__file__).resolve().parents[2]  # labs/
WRONG = Path(__file__).resolve().parents[1] / "wrong"
LAB = "prompt-chaining"
LAB_DIR = LABS / LAB
GIVEN = LABS / "_data" / "svamp" / "given.json"
# chal-501 to chal-700 of SVAMP: not in the lab's given file (chal-1 to chal-500).
HELDOUT = LABS / "_heldout" / "svamp" / "heldout-501-700.json"


pytestmark = pytest.mark.usefixtures("real_labs")


@pytest.fixture(scope="module")
def grader():
    return import_file("_pc_grader", LAB_DIR / "grader.py")


@pytest.fixture
def load(monkeypatch):
    """Import a lab file (or a wrong solution, which imports the reference as `solution`) and put
    sys.path and sys.modules back afterwards."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    saved = sys.modules.pop("solution", None)
    names: list[str] = []

    def _load(path: Path):
        names.append(f"_pc_{path.stem}_{len(names)}")
        return import_file(names[-1], path)

    yield _load
    for name in names + ["solution"]:
        sys.modules.pop(name, None)
    if saved is not None:
        sys.modules["solution"] = saved


@pytest.fixture
def ref(load):
    return load(LAB_DIR / "solution.py")


class FakeLLM:
    """Replies as the real model would under each schema: the first enum value, or 51 for a number."""

    def __init__(self):
        self.calls = []

    def chat(self, messages, **kw):
        schema = kw.get("schema") or {}
        self.calls.append(schema)
        props = schema.get("properties", {})
        if "expression" in props:
            return SimpleNamespace(text=json.dumps({"expression": props["expression"]["enum"][0]}))
        return SimpleNamespace(text='{"answer": 51}')


def _ctx(dataset: Path | None = None) -> LabContext:
    return LabContext(
        lab_id=LAB,
        lab_dir=LAB_DIR,
        data_dir=LAB_DIR / "data",
        dataset_path=dataset,
        limit=None,
        seed=0,
        config={"n_items": 60, "question_seed": 0, "file": "given.json"},
    )


def test_spec_is_valid():
    spec = get_lab(LAB)
    assert spec.order == 3 and spec.version == "2" and spec.models.chat == "smollm2-135m"
    assert spec.entry == [
        "extract_numbers",
        "candidate_expressions",
        "choose_expression",
        "safe_eval",
        "solve_chain",
        "solve_single",
    ]
    assert {c.name for c in spec.criteria} == {
        "evaluator_exact",
        "evaluator_safe",
        "candidate_coverage",
        "chain_steps_used",
        "single_answer_from_model",
        "chain_accuracy",
        "chain_minus_single_ci_low",
        "chain_vs_single_mcnemar_p",
    }
    assert set(spec.grader) == {"n_items", "question_seed", "file"}


def test_given_and_heldout_are_disjoint_svamp_files(grader):
    given, held = grader.load_problems(GIVEN), grader.load_problems(HELDOUT)
    assert (len(given), len(held)) == (500, 200)
    assert not {p["id"] for p in given} & {p["id"] for p in held}
    assert (len(grader.one_operation(given)), len(grader.one_operation(held))) == (390, 146)
    assert "MIT" in (GIVEN.parent / "LICENSE").read_text()


def test_equations_are_read_by_the_grader(grader):
    assert grader.one_step("( 76.0 - 25.0 )") == ("-", 76.0, 25.0)
    assert grader.one_step("( ( 4.0 - 2.0 ) + 3.0 )") is None and grader.one_step("__import__('os')") is None
    assert grader.gold_value("( ( 4.0 - 2.0 ) + 3.0 )") == 5.0 and grader.gold_value("( 3.0 / 0.0 )") is None
    assert grader.same_step(("+", 3.0, 4.0), ("+", 4.0, 3.0)) and grader.same_step(("*", 3.0, 4.0), ("*", 4.0, 3.0))
    assert not grader.same_step(("-", 3.0, 4.0), ("-", 4.0, 3.0)) and not grader.same_step(
        ("+", 3.0, 4.0), ("*", 3.0, 4.0)
    )
    assert grader.always_subtract("Dan had $ 3 left. If he had $ 4 at the start and 9 more") == 1.0


def test_items_are_seeded_and_limit_takes_a_prefix(grader):
    pool = grader.one_operation(grader.load_problems(GIVEN))
    a, b = grader.pick_items(pool, 60, 0), grader.pick_items(pool, 60, 0)
    assert a == b and len({p["id"] for p in a}) == 60
    assert grader.pick_items(pool, 20, 0) == a[:20]
    assert grader.pick_items(pool, 60, 1) != a


def test_grader_catches_eval_behind_the_guard(grader):
    used: list[str] = []
    with grader.no_dynamic_code(used):
        import ast

        ast.parse("1+2", mode="eval")  # parsing stays allowed
        with pytest.raises(RuntimeError):
            eval("1+2")  # noqa: S307 - the point of the test
    assert used == ["eval"]
    assert eval("1+2") == 3  # restored  # noqa: S307


def test_reference_evaluator_is_exact_and_safe_and_eval_is_caught(grader, ref, load):
    assert ref.safe_eval("( 76.0 - 25.0 )") == 51.0 and ref.safe_eval("-(2+3)*1.5") == -7.5
    for bad in grader.HOSTILE:
        with pytest.raises(ValueError):
            ref.safe_eval(bad)
    values, metrics, notes = grader.check_evaluator(ref, grader.load_problems(GIVEN))
    assert values == {"evaluator_exact": 1.0, "evaluator_safe": 1.0} and metrics["gold_equations"] == 500
    # held-out: chal-680's Answer (1) is not its Equation's value (5): left out, and said so
    values, metrics, notes = grader.check_evaluator(ref, grader.load_problems(HELDOUT))
    assert values["evaluator_exact"] == 1.0 and metrics["equations_skipped"] == ["chal-680"]
    assert any("chal-680" in n for n in notes)
    wrong = load(WRONG / "uses_eval.py")
    values, _, notes = grader.check_evaluator(wrong, grader.load_problems(GIVEN))
    assert values == {"evaluator_exact": 0.0, "evaluator_safe": 0.0} and any("['eval']" in n for n in notes)


def test_candidates_cover_the_gold_only_with_the_larger_number_first(grader, ref, load):
    assert ref.extract_numbers("Dan had $ 3 left. He had $ 4 at the start, and 1,200 more; 3 again") == [
        3.0,
        4.0,
        1200.0,
    ]
    assert ref.candidate_expressions([3.0, 4.0]) == ["3 + 4", "4 - 3", "3 * 4", "4 / 3"]
    assert ref.candidate_expressions([5.0]) == []
    pool = grader.one_operation(grader.load_problems(GIVEN))
    coverage, by_id = grader.check_candidates(ref, pool)
    assert coverage == pytest.approx(374 / 390) and len(by_id) == 390
    held = grader.one_operation(grader.load_problems(HELDOUT))
    assert grader.check_candidates(ref, held)[0] == pytest.approx(141 / 146)
    text_order = load(WRONG / "text_order.py")
    assert grader.check_candidates(text_order, pool)[0] == pytest.approx(254 / 390)


def test_candidates_must_be_one_operation_on_the_given_numbers(grader):
    def module(cands):
        return SimpleNamespace(extract_numbers=lambda body: [76.0, 25.0], candidate_expressions=lambda nums: cands)

    assert grader.candidates_of(module(["76 - 25", "25 * 76"]), "x")[1] == ["76 - 25", "25 * 76"]
    for bad in (["51"], ["76 - 24"], ["(76 - 25) * 2"], ["76 ** 25"], "76 - 25"):
        with pytest.raises(LearnerError, match="candidate_expressions must return"):
            grader.candidates_of(module(bad), "x")
    with pytest.raises(LearnerError, match="extract_numbers must return a list of numbers"):
        grader.candidates_of(SimpleNamespace(extract_numbers=lambda body: ["76"]), "x")


def _chain(grader, module, body="Dan had $ 3 left. If he had $ 4 at the start", question="How much?", llm=None):
    llm = llm or RecordingLLM(FakeLLM())
    with grader.recording_steps(module.solve_chain, llm) as calls:
        answer = module.solve_chain(llm, body, question)
    return grader.chain_steps_ok(calls, answer, len(llm.schemas)), answer, calls


def test_steps_check_passes_the_reference_and_catches_the_model_doing_arithmetic(grader, ref, load):
    steps = [getattr(ref, s) for s in grader.STEPS]
    problem, answer, calls = _chain(grader, ref)
    assert problem is None and answer == 7.0  # the fake model picks the first candidate, "3 + 4"
    assert [len(calls[s]) for s in grader.STEPS] == [1, 1, 1, 1] and calls["choose_expression"][0]["schema_calls"] == 1
    assert [getattr(ref, s) for s in grader.STEPS] == steps  # the recorder put the steps back
    problem, answer, _ = _chain(grader, ref, body="Kelly has 22 games.")
    assert problem is None and answer is None  # one number: nothing to choose from, and no model call
    arithmetic = load(WRONG / "model_arithmetic.py")
    assert "not one of the candidates" in _chain(grader, arithmetic)[0]
    skips = load(WRONG / "skips_evaluator.py")
    assert _chain(grader, skips)[0] == "solve_chain did not call safe_eval"
    # the model asked for the value inside safe_eval: a model call outside choose_expression
    module, llm = load(LAB_DIR / "solution.py"), RecordingLLM(FakeLLM())
    module.safe_eval = lambda expression: float(json.loads(llm.chat([], schema={"type": "number"}).text)["answer"])
    assert "outside choose_expression" in _chain(grader, module, llm=llm)[0]
    # a chain that keeps the model out of it altogether, or calls it without a schema
    for choose, needle in (
        (lambda llm, b, q, c: c[1], "did not ask the model"),
        (lambda llm, b, q, c: (llm.chat([], max_tokens=1), c[1])[1], "without a schema"),
    ):
        module = load(LAB_DIR / "solution.py")
        module.choose_expression = choose
        assert needle in _chain(grader, module)[0]


def test_single_answer_must_be_the_models_number(grader):
    assert grader.single_from_model(51.0, ['{"answer": 51}'], [True])
    assert grader.single_from_model(None, ['{"answer": '], [True])  # a runaway number: no answer
    assert not grader.single_from_model(None, ['{"answer": 51}'], [True])  # the model answered
    assert not grader.single_from_model(52.0, ['{"answer": 51}'], [True])
    assert not grader.single_from_model(51.0, ["The answer is 51"], [False])  # no schema


@pytest.mark.parametrize(
    "body, needle",
    [
        ('[{"Body": "x"}]', "not a SVAMP problem"),
        ('{"data": []}', "is not a JSON list of SVAMP problems"),
        ("not json", "cannot read the dataset"),
        (
            '[{"Body": "b", "Question": "q", "Equation": "( ( 1.0 + 2.0 ) + 3.0 )", "Answer": 6.0}]',
            "no one-operation problem",
        ),
    ],
)
def test_bad_dataset_is_a_clear_error(grader, tmp_path, body, needle):
    bad = tmp_path / "bad.json"
    bad.write_text(body)
    with pytest.raises(LearnerError, match=needle):
        grader.grade(None, _ctx(bad))
