"""vector-index on real FAISS: the reference passes, the starter and plausible wrong solutions
fail, each on the criterion that names its mistake. No model is loaded by this lab."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from harness.labs.check import run_check
from harness.labs.spec import get_lab

REPO = Path(__file__).resolve().parents[2]
WRONG = Path(__file__).resolve().parent / "wrong"
LABS = REPO / "labs"


pytestmark = pytest.mark.usefixtures("real_labs")


def _grader():
    spec = importlib.util.spec_from_file_location("_vector_index_grader", LABS / "vector-index" / "grader.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_spec_is_valid():
    spec = get_lab("vector-index")
    assert spec.order == 5 and spec.models.chat is None and spec.models.embedding is None
    assert spec.grader["n_base"] >= 100_000
    assert {c.name for c in spec.criteria} == {"flat_recall@10", "ivf_recall@10", "ivf_speedup",
                                               "hnsw_recall@10", "hnsw_speedup"}


def test_synthetic_vectors_are_fixed_unit_and_clustered():
    g = _grader()
    a = g.make_vectors(2000, 64, n_clusters=20, intrinsic_dim=8, seed=1)
    b = g.make_vectors(2000, 64, n_clusters=20, intrinsic_dim=8, seed=1)
    assert a.dtype == np.float32 and a.shape == (2000, 64)
    assert np.array_equal(a, b)  # same seed, same vectors
    assert np.allclose(np.linalg.norm(a, axis=1), 1, atol=1e-5)
    nearest = np.sort(a[:200] @ a.T, axis=1)[:, -2]  # best match other than itself
    assert nearest.mean() > 0.5 > abs(float((a[:200] @ a[200:400].T).mean()))  # topics, not noise


def test_recall_counts_shared_ids():
    g = _grader()
    exact = np.array([[1, 2, 3], [4, 5, 6]])
    assert g.recall_at_k(np.array([[3, 2, 1], [4, 9, 9]]), exact, 3) == pytest.approx(4 / 6)


@pytest.mark.slow
def test_reference_passes(lab_threads):
    r = run_check("vector-index", reference=True, threads=lab_threads)
    assert r.error is None, r.error
    assert r.passed, [(c.name, c.value, c.required) for c in r.criteria if not c.passed]
    assert r.metrics["hnsw_index"] == "IndexHNSWFlat" and r.metrics["ivf_index"] == "IndexIVFFlat"
    assert len(r.metrics["hnsw_sweep"]) == 5 and len(r.metrics["ivf_sweep"]) == 6


@pytest.mark.slow
def test_starter_fails_not_implemented(lab_threads):
    r = run_check("vector-index", get_lab("vector-index").starter_path, threads=lab_threads)
    assert not r.passed
    assert r.error.kind == "not_implemented" and r.error.message == "not implemented yet: build_flat"


@pytest.mark.slow
@pytest.mark.parametrize(
    "wrong, must_fail, must_pass",
    [
        ("vector_index_low_ef.py", {"hnsw_recall@10"}, {"hnsw_speedup", "flat_recall@10"}),
        ("vector_index_flat_as_hnsw.py", {"hnsw_speedup", "ivf_speedup"}, {"hnsw_recall@10", "ivf_recall@10"}),
    ],
)
def test_wrong_solution_fails_on_its_mistake(lab_threads, wrong, must_fail, must_pass):
    r = run_check("vector-index", WRONG / wrong, limit=100, threads=lab_threads)
    assert r.error is None, r.error
    assert not r.passed
    assert must_fail <= r.failed_criteria(), {c.name: c.value for c in r.criteria}
    assert not (must_pass & r.failed_criteria()), {c.name: c.value for c in r.criteria}
    assert all(any(s.startswith(f"{name}:") for s in r.next_steps) for name in must_fail)
