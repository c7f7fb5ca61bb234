import math

import pytest

from harness.grading import metrics as m


def test_normalize_and_exact_match():
    assert m.normalize_text("  The  Answer, is: PARIS! ") == "answer is paris"
    assert m.exact_match("Paris.", "paris")
    assert m.exact_match("the Paris", ["London", "Paris"])
    assert not m.exact_match("Paris, France", "Paris")
    assert not m.exact_match("Paris.", "paris", normalize=False)


def test_contains_answer_whole_words():
    assert m.contains_answer("The capital is Paris.", "paris")
    assert not m.contains_answer("Parisian food", "paris")
    assert m.contains_answer("It has 4 legs", ["four", "4"])


def test_numbers():
    assert m.parse_number("so 1,234.5 apples and 7 pears") == 7
    assert m.parse_number("so 1,234.5 apples and 7 pears", which="first") == 1234.5
    assert m.parse_number("Janet ... #### 42") == 42
    assert m.parse_number("no digits") is None
    assert m.parse_number("it is -3") == -3
    assert m.numeric_match("The answer is 18.", "#### 18")
    assert m.numeric_match("18.0", 18)
    assert not m.numeric_match("19", 18)
    assert not m.numeric_match(None, 18)


def test_token_f1():
    assert m.token_f1("the cat sat", "cat sat") == 1.0
    assert m.token_f1("cat", "dog") == 0.0
    assert m.token_f1("cat dog", "cat") == pytest.approx(2 * 0.5 * 1 / 1.5)
    assert m.token_f1("", "") == 1.0


def test_recall_at_k():
    assert m.recall_at_k(["a", "b", "c"], {"c"}, 2) == 0.0
    assert m.recall_at_k(["a", "b", "c"], {"c"}, 3) == 1.0
    assert m.recall_at_k(["a", "b", "c"], {"a", "z"}, 3) == 0.5
    assert m.hit_at_k(["a", "b"], {"b", "z"}, 2)
    assert m.mean_recall_at_k([["a"], ["b"]], [{"a"}, {"c"}], 1) == 0.5
    with pytest.raises(ValueError):
        m.recall_at_k(["a"], set(), 1)
    with pytest.raises(ValueError):
        m.recall_at_k(["a"], {"a"}, 0)


def test_wilson_interval_known_values():
    # 8/10 at 95%: Wilson interval (0.4902, 0.9433), a textbook value
    lo, hi = m.wilson_interval(8, 10)
    assert lo == pytest.approx(0.4902, abs=1e-4) and hi == pytest.approx(0.9433, abs=1e-4)
    lo, hi = m.wilson_interval(0, 20)
    assert lo == 0.0 and hi == pytest.approx(0.1611, abs=1e-4)
    a = m.accuracy([True] * 8 + [False] * 2)
    assert (a.correct, a.n, a.value) == (8, 10, 0.8) and a.ci_low < 0.8 < a.ci_high
    with pytest.raises(ValueError):
        m.wilson_interval(0, 0)
    assert math.isclose(m.accuracy([True, False]).to_dict()["value"], 0.5)
