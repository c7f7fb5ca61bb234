"""vector-index without a model: its spec, the synthetic vectors, recall@k.
The starter, the reference (on the lab's data and its [dev] reference_datasets) and the wrong
solutions are graded on the real models by tests/labs/test_curriculum.py and `harness dev check`."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from harness.labs.spec import get_lab

LABS = Path(__file__).resolve().parents[2]  # labs/


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
    assert {c.name for c in spec.criteria} == {
        "flat_recall@10",
        "ivf_recall@10",
        "ivf_speedup",
        "hnsw_recall@10",
        "hnsw_speedup",
    }


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
