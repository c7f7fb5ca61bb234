"""A llama.cpp crash is reported with its signal, where it happened and the fix, never as a bare
"Segmentation fault": in `harness run` (supervised), the doctor's test generation, a lab check and a
bench cell. HARNESS_TEST_NATIVE_CRASH makes the real backend die of the signal where llama.cpp's
AMX bug did (the first prompt decode), on the real tiny model."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from harness.native_crash import crash_advice, signal_name
from harness.paths import REPO_ROOT

pytestmark = pytest.mark.slow


def _harness(*args: str, crash: str | None, cwd=None, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    env.pop("HARNESS_TEST_NATIVE_CRASH", None)
    if crash:
        env["HARNESS_TEST_NATIVE_CRASH"] = crash
    return subprocess.run(
        [sys.executable, "-m", "harness", *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd
    )


def _assert_advice(text: str, sig: str) -> None:
    assert f"{sig} (" in text and "inside llama.cpp" in text, text[-2000:]
    assert "harness doctor" in text and "rebuild" in text.lower(), text[-2000:]


@pytest.mark.parametrize("sig", ["SIGSEGV", "SIGILL"])
def test_harness_run_reports_a_native_crash_with_its_cause(chat_model_path, sig):
    r = _harness("run", "smollm2-135m", "Name three primary colours.", "--max-tokens", "8", crash=sig)
    assert r.returncode == 128 + signal.Signals[sig].value
    last = r.stderr.strip().splitlines()[-2:]  # the last word is the explanation, not the stack
    assert last[0].startswith(f"error: harness run crashed: {sig}"), r.stderr[-2000:]
    _assert_advice("\n".join(last), sig)
    assert "backends/llama_cpp.py" in r.stderr  # the Python stack of the crash is shown above it


def test_harness_run_without_a_crash_is_unchanged(chat_model_path):
    r = _harness("run", "smollm2-135m", "Say hello.", "--max-tokens", "8", "--json", crash=None)
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(r.stdout)["completion_tokens"] > 0


def test_doctor_build_check_reports_the_crash_and_fails(chat_model_path):
    r = _harness("doctor", "--build-check", "--json", crash="SIGSEGV")
    assert r.returncode == 1
    smoke = json.loads(r.stdout)
    assert smoke["ok"] is False and smoke["signal"] == "SIGSEGV"
    assert "SIGSEGV (a segmentation fault)" in smoke["message"] and "inside llama.cpp" in smoke["message"]
    assert "does not work on this CPU" in smoke["hint"] and "rebuild" in smoke["hint"]


def test_doctor_build_check_passes_on_a_working_build(chat_model_path):
    r = _harness("doctor", "--build-check", crash=None)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "llama.cpp: test generation ok" in r.stdout and "tok/s decode" in r.stdout


def test_a_lab_check_reports_a_native_crash(chat_model_path, monkeypatch):
    from harness.labs.check import run_check

    monkeypatch.setenv("HARNESS_LABS", str(REPO_ROOT / "labs"))
    monkeypatch.setenv("HARNESS_TEST_NATIVE_CRASH", "SIGSEGV")  # the child inherits it
    r = run_check("first-tokens", reference=True, threads=1)
    assert not r.passed and r.error is not None and r.error.kind == "crash"
    _assert_advice(r.error.message + " " + (r.error.hint or ""), "SIGSEGV")


def test_a_bench_cell_reports_a_native_crash(chat_model_path, tmp_path):
    out = tmp_path / "crash.json"
    r = _harness(
        "bench",
        "--labs",
        "throughput",
        "--model",
        "smollm2-135m",
        "--repetitions",
        "1",
        "--warmup",
        "0",
        "--pp",
        "16",
        "--tg",
        "4",
        "--pairs",
        "8:2",
        "--threads",
        "1",
        "--device",
        "cpu",
        "--no-host-probe",
        "-o",
        str(out),
        "--json",
        crash="SIGSEGV",
        cwd=tmp_path,
    )
    assert r.returncode != 0 or json.loads(r.stdout)["failed"] == 1, r.stderr[-2000:]
    run = json.loads(out.read_text())["runs"][0]
    assert run["status"] == "error"
    _assert_advice(run["error"], "SIGSEGV")


def test_signal_names_and_advice_without_a_llama_cpp_frame():
    assert signal_name(-11) == signal_name(139) == "SIGSEGV" and signal_name(0) is None and signal_name(1) is None
    message, hint = crash_advice("SIGSEGV", 'Fatal Python error: Segmentation fault\n  File "mine.py", line 3')
    assert "inside llama.cpp" not in message and "harness doctor" in hint  # no guess where it was
    message, _ = crash_advice("SIGKILL")
    assert "perhaps memory" in message
