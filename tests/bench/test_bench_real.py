"""One real run of `harness bench --labs throughput` on the tiny default model, through the CLI,
with small sizes (CI budget). The file must validate against the committed JSON Schema and carry
no host name, user name or home path."""

from __future__ import annotations

import getpass
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from harness.bench.io import read_result
from harness.paths import REPO_ROOT


@pytest.mark.slow
def test_bench_throughput_cli_writes_a_valid_private_file(tmp_path, chat_model_path):
    out = tmp_path / "cpu.json"
    cmd = [
        sys.executable,
        "-m",
        "harness",
        "bench",
        "--labs",
        "throughput",
        "--model",
        "smollm2-135m",
        "--repetitions",
        "2",
        "--warmup",
        "1",
        "--pp",
        "32",
        "--tg",
        "8",
        "--pairs",
        "16:4",
        "--threads",
        "1",
        "--device",
        "cpu",
        "--depths",
        "0,40",
        "--depth-gen",
        "6",
        "--trace",
        "-o",
        str(out),
        "--json",
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)  # --json: stdout is JSON only
    assert summary["cells"] == 1 and summary["failed"] == 0

    text = out.read_text(encoding="utf-8")
    schema = json.loads((REPO_ROOT / "schemas" / "result.schema.json").read_text())
    jsonschema.validate(json.loads(text), schema)
    for secret in (socket.gethostname(), getpass.getuser(), str(Path.home())):
        assert secret not in text, f"result file leaks {secret!r}"

    res = read_result(out)
    run = res.runs[0]
    tp = run.throughput
    assert run.status == "ok" and run.device_used == "cpu" and run.settings.threads == 1
    assert run.settings.flash_attn is True  # as llama-bench measures pp/tg (lab cells: off)
    fp = run.fingerprint  # ... but the fingerprint is of the model as the labs run it
    assert fp.flash_attn is False and fp.threads == 1 and fp.device_used == "cpu" and fp.tokens > 0
    build = res.systems[run.system].llama_cpp_build  # how the llama.cpp that ran was built
    assert build.amx is False and build.built_by == "scripts/setup" and "-mno-amx-int8" in build.cmake_args
    assert tp.pp_tokens == 32 and tp.pp_tok_s.n == 2 and tp.pp_tok_s.mean > 0
    assert tp.tg_tok_s.n == 2 and tp.tg_tok_s.mean > 0 and tp.tg_generated_tokens.max <= 8
    assert tp.pairs[0].ttft_s.n == 2 and tp.pairs[0].ttft_s.mean > 0
    d0, d40 = tp.depths  # streamed, every token timed
    assert d40.prompt_tokens.mean <= 40 and d40.decode_tok_s.n == 2 and d0.decode_tok_s.mean > 0
    assert d0.itl_ms.n >= 2 and 0 < d0.itl_ms.p50 <= d0.itl_ms.p99 <= d0.itl_ms.max
    assert len(tp.trace) == 4 and all(len(t.token_ms) >= 2 for t in tp.trace)
    assert tp.energy.sources or tp.energy.note.startswith("energy not available on this machine")
    assert run.peak_rss_bytes > run.model_bytes // 2  # the weights were mapped and touched
    assert run.peak_vram_bytes is None
    system = res.systems[run.system]
    assert system.bandwidth.cpu_copy_gb_s.max > 0 and system.host is None
    assert 0 < run.decode_efficiency < 10
    # the host probe ran before and after the cell, at its own fixed threads (not the cell's 1)
    assert run.host_probe.n == 6 and run.host_probe.min > 0
    assert "smollm2-135m" in system.host_probe_method and system.host_probe_note is None
