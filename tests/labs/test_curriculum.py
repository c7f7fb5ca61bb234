"""Every lab proves itself on the real default models, one test item per graded run: the starter
fails as lab.toml's [dev] says, the reference passes (also on its [dev] reference_datasets, and
meets labs/<id>/checks.py), each wrong solution in labs/<id>/wrong/ fails on the criteria that
name its mistake. The same functions run `harness dev check` (harness/labs/curriculum.py); the
ids (test_reference_passes[rag], test_wrong_solution_fails[rag-ignores_query]) let ./scripts/test
deal them out one by one, the longest references first (conftest.py ranks them by lab)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.labs import curriculum
from harness.labs.spec import LabSpec, discover

REAL_LABS = Path(__file__).resolve().parents[2] / "labs"
# By id: conftest.py deals the references of equal time limits in this order (as the per-lab files were).
SPECS = {s.id: s for s in sorted(discover(REAL_LABS), key=lambda s: s.id)}
WRONG = [pytest.param(lab, w.file, id=f"{lab}-{w.name}") for lab, s in SPECS.items() for w in s.dev.wrong]

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("real_labs")]


def _spec(request, lab: str) -> LabSpec:
    """The lab's spec, once the models its [models] names are in the store (the fixtures fail if not)."""
    spec = SPECS[lab]
    if spec.models.chat:
        request.getfixturevalue("chat_model_path")
    if spec.models.embedding:
        request.getfixturevalue("embed_model_path")
    return spec


@pytest.mark.parametrize("lab", list(SPECS))
def test_starter_fails(request, lab_threads, lab):
    result = curriculum.check_starter(_spec(request, lab), threads=lab_threads)
    assert not result.problems, result.problems


@pytest.mark.parametrize("lab", list(SPECS))
def test_reference_passes(request, lab_threads, lab):
    results = curriculum.check_reference(_spec(request, lab), threads=lab_threads)
    assert not [p for r in results for p in r.problems], [(r.run, r.problems) for r in results]


@pytest.mark.parametrize("lab, wrong", WRONG)
def test_wrong_solution_fails(request, lab_threads, lab, wrong):
    spec = _spec(request, lab)
    result = curriculum.check_wrong(spec, next(w for w in spec.dev.wrong if w.file == wrong), threads=lab_threads)
    assert not result.problems, result.problems
