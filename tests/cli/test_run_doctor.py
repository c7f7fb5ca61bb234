"""`harness run` and `harness doctor` through typer's runner; `harness --help` stays light."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from harness.backends.base import BackendInfo, Completion, Timings
from harness.cli.app import app
from harness.cli.doctor import cuda_install_command, diagnose
from harness.cli.run import run_result, timing_lines
from harness.llama_build import is_x86

runner = CliRunner()


def test_help_imports_no_heavy_library():
    code = (
        "import sys; from harness.cli.app import app\n"
        "from typer.testing import CliRunner\n"
        "r = CliRunner().invoke(app, ['--help']); assert r.exit_code == 0, r.output\n"
        "heavy = [m for m in ('llama_cpp', 'dspy', 'litellm', 'faiss') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


@pytest.mark.slow
def test_run_json_prints_one_object(chat_model_path):
    r = runner.invoke(
        app, ["run", "smollm2-135m", "Say hello.", "--max-tokens", "8", "--threads", "1", "--device", "cpu", "--json"]
    )
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)  # stdout holds the JSON and nothing else
    assert d["model"] == "smollm2-135m" and d["text"] and d["completion_tokens"] > 0
    assert d["decode_tok_s"] == d["timings"]["decode_tok_s"]
    assert d["timings"]["ttft_s"] > 0 and d["info"]["device"] == "cpu" and d["info"]["n_gpu_layers"] == 0


@pytest.mark.slow
def test_run_streams_text_then_timings(chat_model_path):
    r = runner.invoke(
        app,
        [
            "run",
            "smollm2-135m",
            "Say hello.",
            "--max-tokens",
            "8",
            "--threads",
            "1",
            "--device",
            "cpu",
            "--system",
            "You are terse.",
        ],
    )
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() and r.stdout.endswith("\n")
    assert "eval rate:" in r.stderr and "time to first token:" in r.stderr and "load duration:" in r.stderr
    # stdout and stderr shown one after the other still keep the reply and the timings on their own lines
    assert r.stderr.startswith("\n") and "\nload duration:" in (r.stdout.rstrip("\n") + r.stderr)


def test_run_rejects_unknown_device():
    from harness.errors import HarnessError

    r = runner.invoke(app, ["run", "smollm2-135m", "hi", "--device", "tpu"])
    assert isinstance(r.exception, HarnessError) and "unknown device" in str(r.exception)


def test_run_unknown_model_says_how_to_fix():
    out = subprocess.run(
        [sys.executable, "-m", "harness", "run", "no-such-model", "hi", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode != 0 and out.stdout == ""
    assert "Traceback" not in out.stderr and "no-such-model" in out.stderr


def test_timing_block_and_json_shape():
    c = Completion("hi", 10, 5, Timings(0.5, 0.1, 100.0, 40.0, 0.2), "length")
    info = BackendInfo("llama-cpp", "m", device="cpu", device_reason="CPU: test", threads=2)
    rows = dict(timing_lines(c, info))
    assert rows["eval rate"] == "40.00 tokens/s" and rows["prompt eval count"] == "10 token(s)"
    assert rows["device"] == "cpu (CPU: test)"
    d = run_result(c, info, model="m", backend="llama-cpp")
    assert d["decode_tok_s"] == 40.0 and d["timings"]["ttft_s"] == 0.1 and d["info"]["threads"] == 2


@pytest.mark.slow
def test_doctor_json(chat_model_path):
    r = runner.invoke(app, ["doctor", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    for key in ("system", "llama_cpp", "ollama", "disk", "models", "problems"):
        assert key in d
    s = d["system"]
    assert s["cpu_physical_cores"] >= 1 and s["ram_total_bytes"] > 0 and s["python"]
    assert isinstance(s["gpus"], list)
    assert d["llama_cpp"]["importable"] and d["llama_cpp"]["version"]
    # the build's facts and a real test generation (the tiny model is pulled by the test command)
    build, smoke = d["llama_cpp"]["build"], d["llama_cpp"]["smoke"]
    assert build["amx"] is False and build["extra_bufts"] is True and build["cpu_features"]
    assert smoke["ok"] is True and smoke["tokens"] > 0 and smoke["decode_tok_s"] > 0
    assert isinstance(d["ollama"]["reachable"], bool)
    import socket
    from pathlib import Path

    assert socket.gethostname() not in r.stdout
    assert str(Path.home()) not in r.stdout  # the cache dir is shown as ~/...


def test_doctor_tells_cpu_only_build_with_nvidia_card_what_to_run():
    report = {
        "system": {"os": "Linux 6", "gpus": [{"name": "NVIDIA GeForce RTX 4070", "compute_capability": "8.9"}]},
        "llama_cpp": {"importable": True, "gpu_offload": False},
        "models": [],
        "disk": {"free_bytes": 10**12},
        "ollama": {"reachable": True},
    }
    problems = diagnose(report)
    assert len(problems) == 1
    assert "CPU-only" in problems[0]["problem"]
    assert problems[0]["fix"] == cuda_install_command("8.9")
    assert "-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=89'" in problems[0]["fix"]  # after the CPU flags
    assert "-mno-amx-int8" in problems[0]["fix"] or not is_x86()


def test_doctor_flags_missing_default_models_and_low_disk():
    report = {
        "system": {"os": "Linux", "gpus": []},
        "llama_cpp": {"importable": True, "gpu_offload": False},
        "models": [{"name": "smollm2-135m", "role": "chat", "status": "not pulled"}],
        "disk": {"free_bytes": 10 * 1024**2, "cache_dir": "~/x"},
        "ollama": {"reachable": False, "host": "h"},
    }
    fixes = [p["fix"] for p in diagnose(report)]
    assert "harness models pull smollm2-135m" in fixes
    assert any("HARNESS_HOME" in f for f in fixes) and any("ollama serve" in f for f in fixes)
