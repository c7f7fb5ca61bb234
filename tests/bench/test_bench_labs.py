"""A lab cell end to end through `harness bench`, on the engine's toy lab and fake backend
(tests/fixtures): the lab engine runs the reference solution in its own child, the bench folds the
CheckReports of the repetitions into figures with spread. Fast: no model is loaded."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from harness.bench.io import read_result
from harness.paths import REPO_ROOT

FIXTURES = REPO_ROOT / "tests" / "fixtures"
FAKE_BACKEND = f"{FIXTURES / 'fake_backend.py'}:open_fake"


def _bench(tmp_path, *args):
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "HARNESS_LABS": str(FIXTURES / "labs"),
        "HARNESS_HOME": str(tmp_path / "home"),
    }
    return subprocess.run(
        [sys.executable, "-m", "harness", "bench", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=env,
    )


def test_lab_cell_figures(tmp_path):
    out = tmp_path / "labs.json"
    p = _bench(
        tmp_path,
        "--labs",
        "toy-lab",
        "--model",
        "fake-model",
        "--backend",
        FAKE_BACKEND,
        "--device",
        "cpu",
        "--lab-repetitions",
        "2",
        "-o",
        str(out),
    )
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    run = read_result(out).runs[0]
    assert run.status == "ok", run.error
    lab = run.lab
    assert lab.lab_version == "1" and [c.name for c in lab.criteria] == ["accuracy", "returned_str"]
    assert lab.accuracy["accuracy"].n == 2 and lab.accuracy["accuracy"].stddev == 0.0  # temperature 0: same answers
    assert lab.accuracy["returned_str"].mean == 1.0
    assert lab.latency["item_p50_s"].n == 2 and lab.latency["item_p50_s"].mean > 0
    assert lab.extra.get("n") == 2 and "n" not in lab.accuracy  # a count is context, not an accuracy
    assert run.settings.repetitions == 2 and run.peak_rss_bytes > 10 * 2**20
    assert run.backend_info["roles"]["chat"]["backend"] == "fake" and run.backend_info["backend"] == "fake"
    fp = run.fingerprint  # the first cell of a model · backend · device carries the greedy-output fingerprint
    assert fp.method.startswith("greedy-v1") and fp.prompts == 4 and fp.tokens > 0 and len(fp.sha256) == 16


def test_unknown_lab_fails_before_running(tmp_path):
    p = _bench(tmp_path, "--labs", "no-such-lab", "-o", str(tmp_path / "x.json"))
    assert p.returncode == 1 and "unknown lab 'no-such-lab'" in p.stderr and "toy-lab" in p.stderr
    assert not (tmp_path / "x.json").exists()


def test_failed_cell_is_recorded_and_exit_code_2(tmp_path):
    out = tmp_path / "bad.json"
    p = _bench(
        tmp_path,
        "--labs",
        "toy-lab",
        "--model",
        "fake-model",
        "--backend",
        "no-such-backend",
        "--device",
        "cpu",
        "-o",
        str(out),
        "--json",
    )
    assert p.returncode == 2, p.stderr[-2000:]
    assert json.loads(p.stdout)["failed"] == 1
    run = read_result(out).runs[0]
    assert run.status == "error" and "unknown backend 'no-such-backend'" in run.error
