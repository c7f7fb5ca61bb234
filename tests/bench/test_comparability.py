"""compare says first whether two files can be compared and whether their answers should agree
(harness/bench/comparability.py), from the model file, the settings, the lab versions, the builds and
the greedy-output fingerprints; a different fingerprint gets the likely cause from what was recorded."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from harness.bench import io as bio
from harness.bench.compare import compare, to_markdown
from harness.bench.report import render_html
from harness.bench.schema import Fingerprint, LlamaCppBuild, SystemInfo
from harness.llama_build import LLAMA_CPP_PYTHON_VERSION


def _fp(
    sha: str = "0123456789abcdef", *, threads: int = 2, flash_attn: bool = False, device: str = "cpu"
) -> Fingerprint:
    return Fingerprint(
        method="greedy-v1: test",
        sha256=sha,
        prompts=4,
        tokens=150,
        threads=threads,
        flash_attn=flash_attn,
        device_used=device,
        n_gpu_layers=0 if device == "cpu" else 30,
    )


def _file(
    run_factory,
    result_factory,
    fp: Fingerprint | None = None,
    *,
    model: str = "smollm2-135m",
    accuracy: float = 0.5,
    features: tuple[str, ...] = ("AVX2",),
    version: str = LLAMA_CPP_PYTHON_VERSION,
    **run_kw,
):
    runs = [run_factory(model=model, **run_kw), run_factory(lab="rag", model=model, accuracy=accuracy, **run_kw)]
    runs[0].fingerprint = fp
    system = SystemInfo(
        os="Linux test",
        python="3.11",
        harness_version="0.1.0",
        cpu_model="Test CPU",
        cpu_cores_logical=2,
        llama_cpp_version=version,
        llama_cpp_build=LlamaCppBuild(cpu_features=["SSE3", *features, "REPACK"], amx=False),
    )
    return result_factory(runs, system=system)


def _verdicts(a, b):
    cmp = compare([a, b], ["a.json", "b.json"])
    return cmp, cmp.verdicts


def test_identical_runs_with_one_fingerprint_are_comparable_with_the_same_answers(run_factory, result_factory):
    cmp, (v,) = _verdicts(_file(run_factory, result_factory, _fp()), _file(run_factory, result_factory, _fp()))
    assert v.comparable and v.same_answers is True and v.group == "smollm2-135m · llama-cpp · cpu"
    assert cmp.verdict_lines() == [
        "b.json vs a.json: smollm2-135m · llama-cpp · cpu: comparable (same greedy "
        "outputs (fingerprint 0123456789abcdef): accuracy should be equal)"
    ]
    assert not cmp.findings


def test_another_model_is_not_comparable(run_factory, result_factory):
    cmp, (v,) = _verdicts(
        _file(run_factory, result_factory, _fp()), _file(run_factory, result_factory, _fp("ffff"), model="gemma3-270m")
    )
    assert not v.comparable and v.group is None
    assert cmp.verdict_lines() == ["b.json vs a.json: not comparable: different model (smollm2-135m vs gemma3-270m)"]


def test_the_same_name_with_another_file_or_seed_or_lab_version_is_not_comparable(run_factory, result_factory):
    a, b = _file(run_factory, result_factory, _fp()), _file(run_factory, result_factory, _fp())
    for run in b.runs:
        run.model_sha256 = "cd" * 32
        run.settings.seed = 1
    b.runs[1].lab.lab_version = "2"
    (v,) = _verdicts(a, b)[1]
    assert not v.comparable
    assert v.reasons == [
        "different model file (sha256 abababababab… vs cdcdcdcdcdcd…)",
        "different seed (0 vs 1)",
        "lab rag version 1 vs 2",
    ]


@pytest.mark.parametrize(
    "fp_b, want",
    [
        (_fp("1111", flash_attn=True), "likely cause: flash attention off vs on"),
        (_fp("1111", device="gpu"), "likely cause: cpu vs gpu: GPU and CPU kernels round differently"),
    ],
)
def test_different_fingerprints_name_the_setting_that_changed(run_factory, result_factory, fp_b, want):
    (v,) = _verdicts(_file(run_factory, result_factory, _fp()), _file(run_factory, result_factory, fp_b))[1]
    assert v.comparable and v.same_answers is False
    assert "greedy outputs differ (fingerprint 0123456789abcdef vs 1111), so accuracy may differ" in v.caveats[-1]
    assert want in v.caveats[-1]


def test_flash_attention_thread_split_and_other_simd_kernels_are_named(run_factory, result_factory):
    a = _file(run_factory, result_factory, _fp(threads=1, flash_attn=True))
    b = _file(run_factory, result_factory, _fp("2222", threads=2, flash_attn=True), features=("AVX2", "AVX512"))
    (v,) = _verdicts(a, b)[1]
    assert v.comparable and v.same_answers is False
    assert "llama.cpp builds differ" in v.caveats[0]
    cause = v.caveats[-1]
    assert "1 vs 2 threads with flash attention on" in cause and "other SIMD kernels (AVX2 vs AVX2 AVX512)" in cause


def test_no_recorded_cause_is_said_so(run_factory, result_factory):
    (v,) = _verdicts(_file(run_factory, result_factory, _fp()), _file(run_factory, result_factory, _fp("3333")))[1]
    assert "no recorded cause" in v.caveats[-1]


def test_a_file_without_a_fingerprint_leaves_the_answers_unknown(run_factory, result_factory):
    (v,) = _verdicts(_file(run_factory, result_factory, _fp()), _file(run_factory, result_factory, None))[1]
    assert v.comparable and v.same_answers is None
    assert "no greedy-output fingerprint in b.json (written before schema v5" in v.caveats[-1]


def test_an_accuracy_difference_is_expected_only_when_the_fingerprints_differ(run_factory, result_factory):
    a = _file(run_factory, result_factory, _fp())
    cmp, _ = _verdicts(a, _file(run_factory, result_factory, _fp("4444", flash_attn=True), accuracy=0.6))
    (finding,) = cmp.findings
    assert "accuracy 0.5 vs 0.6" in finding and ": expected, the greedy outputs differ" in finding
    assert "flash attention off vs on" in finding
    cmp, _ = _verdicts(a, _file(run_factory, result_factory, _fp(), accuracy=0.6))
    (finding,) = cmp.findings
    assert "NOT expected, the greedy-output fingerprints are equal" in finding


def test_every_output_says_the_verdict_first(run_factory, result_factory, tmp_path):
    from harness.cli.app import app

    pa, pb = tmp_path / "a.json", tmp_path / "b.json"
    bio.write_result(pa, _file(run_factory, result_factory, _fp()))
    bio.write_result(pb, _file(run_factory, result_factory, _fp("5555", flash_attn=True)))
    runner = CliRunner()
    r = runner.invoke(app, ["compare", str(pa), str(pb), "--json"])
    assert r.exit_code == 0, r.output
    (v,) = json.loads(r.stdout)["verdicts"]
    assert v["comparable"] is True and v["same_answers"] is False and "flash attention off vs on" in v["text"]
    r = runner.invoke(app, ["compare", str(pa), str(pb)], env={"COLUMNS": "200"})
    assert r.exit_code == 0 and r.stdout.index("comparable (greedy outputs differ") < r.stdout.index("harness compare")
    results = [bio.read_result(pa), bio.read_result(pb)]
    cmp = compare(results, [str(pa), str(pb)])
    assert to_markdown(cmp).startswith("- **b.json vs a.json: smollm2-135m · llama-cpp · cpu: comparable")
    page = render_html(cmp, results)
    assert "<h2>Comparable?</h2>" in page and page.index("Comparable?") < page.index("Decode tok/s per model")
