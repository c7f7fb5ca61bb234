import numpy as np
import pytest

from harness.grading import stats as s


def test_percentiles_and_spread():
    xs = [1, 2, 3, 4, 100]
    assert s.median(xs) == 3 and s.p50(xs) == 3
    assert s.p95(xs) == pytest.approx(np.percentile(xs, 95))
    assert s.stddev([2, 4, 4, 4, 5, 5, 7, 9]) == pytest.approx(2.138, abs=1e-3)  # sample sd
    assert s.stddev([5]) == 0.0
    sm = s.summarize(xs)
    assert (sm.n, sm.min, sm.max, sm.median) == (5, 1, 100, 3)
    with pytest.raises(ValueError):
        s.median([])


def test_paired_bootstrap_detects_a_real_difference():
    rng = np.random.default_rng(1)
    a = rng.random(200) < 0.5
    b = a | (rng.random(200) < 0.3)  # b is right wherever a is, and on more items
    r = s.paired_bootstrap(a.astype(float), b.astype(float), resamples=2000)
    assert r.delta > 0 and r.significant and r.ci_low > 0 and r.p_value < 0.05


def test_paired_bootstrap_no_difference():
    a = [1.0, 0.0] * 50
    r = s.paired_bootstrap(a, a, resamples=500)
    assert r.delta == 0 and not r.significant and r.p_value == 1.0
    noisy = s.paired_bootstrap([1, 0, 1, 0, 1, 0], [0, 1, 1, 0, 1, 0], resamples=2000)
    assert not noisy.significant
    with pytest.raises(ValueError):
        s.paired_bootstrap([1, 2], [1])


def test_mcnemar_exact_known_values():
    # discordant 1 vs 9: two-sided exact p = 2 * P(X<=1 | n=10, 0.5) = 2 * 11/1024
    a = [True] * 1 + [False] * 9 + [True] * 5
    b = [False] * 1 + [True] * 9 + [True] * 5
    r = s.mcnemar_exact(a, b)
    assert (r.b, r.c) == (1, 9) and r.p_value == pytest.approx(22 / 1024)
    assert s.mcnemar_exact([True, False], [True, False]).p_value == 1.0
    assert s.mcnemar_exact([True, False], [False, True]).p_value == 1.0


def test_cohen_kappa_known_values_and_the_undefined_case():
    from harness.grading.stats import cohen_kappa

    assert cohen_kappa([True, True, False, False], [True, False, False, False]) == pytest.approx(0.5)
    assert cohen_kappa([True, False], [False, True]) == pytest.approx(-1.0)
    assert cohen_kappa([True] * 4, [True, True, True, False]) == pytest.approx(0.0)  # agreement by chance only
    assert cohen_kappa([True] * 5, [True] * 5) is None  # p_e = 1: undefined
    with pytest.raises(ValueError):
        cohen_kappa([True], [])
