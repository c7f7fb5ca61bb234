"""Synthetic result files for the bench tests: built through the real pydantic model, figures chosen
per test so that what a test asserts follows from the numbers it wrote."""

from __future__ import annotations

import pytest

from harness.bench.schema import (
    Cell,
    Criterion,
    LabFigures,
    MatrixSpec,
    ResultFile,
    RunResult,
    Settings,
    Stat,
    SystemInfo,
    ThroughputPoint,
    ThroughputResult,
)
from harness.bench.stats import summarize


def stat_around(center: float, rel_spread: float = 0.01, n: int = 5) -> Stat:
    """n values spread symmetrically by ±rel_spread around center."""
    half = n // 2
    return summarize([center * (1 + rel_spread * (i - half) / max(half, 1)) for i in range(n)])


def make_run(
    *,
    lab: str = "throughput",
    model: str = "smollm2-135m",
    device: str = "cpu",
    tg: float = 100.0,
    pp: float = 300.0,
    accuracy: float = 0.5,
    threads: int = 2,
    system: str = "sys-test",
    rel_spread: float = 0.01,
    probe: float | None = None,
    flash_attn: bool | None = None,
) -> RunResult:
    settings = Settings(
        n_ctx=2048,
        threads=threads,
        n_gpu_layers=0,
        n_batch=512,
        flash_attn=flash_attn,
        seed=0,
        temperature=0.0,
        repetitions=5,
        warmup=1,
    )
    run = RunResult(
        cell=Cell(lab=lab, model=model, backend="llama-cpp", device=device),
        system=system,
        status="ok",
        device_used=device,
        model_sha256="ab" * 32,
        model_bytes=98_362_432,
        settings=settings,
        wall_s=10.0,
        peak_rss_bytes=300 * 2**20,
        host_probe=stat_around(probe, 0.03, n=6) if probe else None,
    )
    if lab == "throughput":
        run.throughput = ThroughputResult(
            pp_tokens=512,
            tg_tokens=128,
            pp_tok_s=stat_around(pp, rel_spread),
            tg_tok_s=stat_around(tg, rel_spread),
            tg_generated_tokens=summarize([128] * 5),
            pairs=[
                ThroughputPoint(
                    n_prompt=n,
                    n_gen=32,
                    ttft_s=stat_around(n / pp, rel_spread),
                    prefill_tok_s=stat_around(pp, rel_spread),
                    decode_tok_s=stat_around(tg, rel_spread),
                    generated_tokens=summarize([32] * 5),
                )
                for n in (64, 512)
            ],
        )
    else:
        run.lab = LabFigures(
            lab_version="1",
            passed=accuracy >= 0.4,
            criteria=[Criterion(name="accuracy", value=accuracy, op=">=", threshold=0.4, passed=accuracy >= 0.4)],
            accuracy={"accuracy": summarize([accuracy])},
            latency={"item_p50_s": stat_around(0.2, rel_spread), "decode_tok_s": stat_around(tg, rel_spread)},
        )
    return run


def make_result(
    runs: list[RunResult], *, labs=None, models=None, devices=None, system: SystemInfo | None = None
) -> ResultFile:
    probed = any(r.host_probe for r in runs)
    system = system or SystemInfo(
        os="Linux test",
        python="3.11",
        harness_version="0.1.0",
        cpu_model="Test CPU",
        cpu_cores_logical=2,
        host_probe_method="probe v1" if probed else None,
    )
    return ResultFile(
        harness_version="0.1.0",
        created_at="2026-11-23T10:00:00+00:00",
        matrix=MatrixSpec(
            labs=labs or list(dict.fromkeys(r.cell.lab for r in runs)),
            models=models or list(dict.fromkeys(r.cell.model for r in runs)),
            backends=["llama-cpp"],
            devices=devices or list(dict.fromkeys(r.cell.device for r in runs)),
        ),
        systems={"sys-test": system},
        runs=runs,
    )


@pytest.fixture
def result_factory():
    return make_result


@pytest.fixture
def run_factory():
    return make_run
