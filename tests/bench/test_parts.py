"""Bandwidth, privacy scrubbing, stats and the throughput driver against a Backend stand-in."""

from __future__ import annotations

import getpass
import json
import socket
from pathlib import Path

import pytest

from harness.backends.base import Completion, Timings
from harness.bench import bandwidth
from harness.bench import io as bio
from harness.bench.stats import summarize
from harness.bench.system import collect, private_strings, scrub
from harness.bench.throughput import make_prompt, needed_ctx, run_throughput


def test_summarize():
    s = summarize([1.0, 2.0, 3.0, 4.0, None])
    assert (s.n, s.mean, s.median, s.min, s.max) == (4, 2.5, 2.5, 1.0, 4.0)
    assert abs(s.stddev - 1.2909944) < 1e-6 and abs(s.p95 - 3.85) < 1e-9
    assert summarize([5.0]).stddev == 0.0 and summarize([]).n == 0


def test_cpu_bandwidth_is_measured():
    b = bandwidth.cpu_copy_bandwidth(n_bytes=32 * 1024 * 1024, repeats=3)
    assert b.cpu_copy_gb_s.n == 3 and 0.1 < b.cpu_copy_gb_s.max < 2000


def test_decode_efficiency():
    # 10 GB/s over a 100 MB model: ceiling 100 tok/s; 50 measured -> 0.5
    assert abs(bandwidth.decode_efficiency(50.0, 10.0, 100_000_000) - 0.5) < 1e-12
    assert bandwidth.decode_efficiency(50.0, None, 100) is None


def test_system_info_and_scrub_leave_no_host_user_or_home(tmp_path, run_factory, result_factory):
    info = collect(None, include_host=False)
    assert info.host is None and info.harness_version
    run = run_factory()
    run.error = f"failed to open {Path.home()}/models/x.gguf on {socket.gethostname()} as {getpass.getuser()}"
    res = result_factory([run], system=info)
    clean = scrub(res.model_dump(mode="json"), private_strings())
    path = tmp_path / "r.json"
    bio.write_result(path, bio.parse_result(clean))
    text = path.read_text()
    for secret in (socket.gethostname(), getpass.getuser(), str(Path.home())):
        assert secret not in text
    assert "~/models/x.gguf" in json.loads(text)["runs"][0]["error"]
    assert collect(None, include_host=True).host.hostname == socket.gethostname()


class FakeBackend:
    """Word tokenizer and clock-free timings: lets the driver's bookkeeping be checked exactly."""

    name = "fake"

    def __init__(self):
        self.prompts: list[str] = []
        self.max_tokens: list[int] = []

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def complete(self, prompt, *, max_tokens=256, temperature=0.0, seed=0, stop=None):
        self.prompts.append(prompt)
        self.max_tokens.append(max_tokens)
        n = self.count_tokens(prompt)
        return Completion(
            "x",
            n,
            max_tokens,
            Timings(ttft_s=n / 1000, prefill_tok_s=1000.0, decode_tok_s=100.0 + len(self.prompts) % 3, total_s=1.0),
        )


def test_throughput_driver_counts_and_unique_prompts():
    fb = FakeBackend()
    res = run_throughput(fb, pp=40, tg=8, pairs=((10, 4), (30, 2)), repetitions=3, warmup=1, seed=1, depths=())
    assert len(fb.prompts) == 4 * (1 + 3)  # pp, tg, two pairs; each 1 warm-up + 3 measured
    assert len(set(fb.prompts)) == len(fb.prompts)  # no two prompts share a KV-cache prefix
    # round by round (pp, tg, pairs), so a slow spell of the host hits every test alike
    assert fb.max_tokens == [1, 8, 4, 2] * 4
    assert res.pp_tok_s.n == 3 and res.pp_tok_s.mean == 1000.0
    assert res.tg_tok_s.n == 3 and res.tg_generated_tokens.mean == 8
    assert [p.n_prompt for p in res.pairs] == [10, 30]
    assert res.pairs[1].ttft_s.mean == 0.03  # 30 tokens each time
    assert needed_ctx(512, 128, ((1024, 32),)) == 1280


class StreamingFake(FakeBackend):
    """Streams one piece per token on a fake clock: 5 ms apart, 20 ms at every 4th token (a stall)."""

    def __init__(self, clock):
        super().__init__()
        self.clock = clock

    def stream_complete(self, prompt, *, max_tokens=256, temperature=0.0, seed=0, stop=None):
        from harness.backends.base import Chunk

        self.prompts.append(prompt)
        n = self.count_tokens(prompt)
        self.clock.now += n / 1000  # prefill
        for i in range(max_tokens):
            self.clock.now += 0.020 if i and i % 4 == 0 else 0.005
            yield Chunk(text="t")
        yield Chunk(text="", done=True, completion=Completion("t" * max_tokens, n, max_tokens, Timings()))


def test_depths_time_every_token_and_give_the_itl_tail(monkeypatch):
    from types import SimpleNamespace

    from harness.bench import throughput

    clock = SimpleNamespace(now=0.0)
    monkeypatch.setattr(throughput, "time", SimpleNamespace(perf_counter=lambda: clock.now))
    fb = StreamingFake(clock)
    res = run_throughput(
        fb, pp=40, tg=8, pairs=(), repetitions=2, warmup=1, seed=1, depths=(0, 100), depth_gen=9, trace=True
    )
    d0, d100 = res.depths
    assert (d0.depth, d100.depth, d0.n_gen) == (0, 100, 9) and d100.prompt_tokens.mean == 100
    # 8 gaps per run: 6 of 5 ms and 2 stalls of 20 ms (tokens 4 and 8), over 2 repetitions
    assert d0.itl_ms.n == 16 and round(d0.itl_ms.p50, 6) == 5.0 and round(d0.itl_ms.max, 6) == 20.0
    assert d0.itl_ms.p95 > 5.0 and round(d0.itl_ms.p99, 6) == 20.0
    assert round(d0.decode_tok_s.mean, 6) == round(8 / 0.070, 6)  # (tokens - 1) / (last - first)
    assert [(t.depth, t.repetition, len(t.token_ms)) for t in res.trace] == [
        (0, 0, 9),
        (0, 1, 9),
        (100, 0, 9),
        (100, 1, 9),
    ]
    assert res.trace[2].token_ms[0] == 105.0  # 100 prompt tokens at 1000 tok/s, then the first token's 5 ms
    assert needed_ctx(512, 128, ((1024, 32),), (4096,), 32) == 4352
    assert run_throughput(fb, pp=40, tg=8, pairs=(), repetitions=1, warmup=0, depths=(0,)).trace is None


def test_make_prompt_hits_the_token_count():
    import random

    fb = FakeBackend()
    for n in (5, 64, 512):
        assert fb.count_tokens(make_prompt(fb, n, random.Random(n))) == n


def test_lab_figures_fold_repetitions_and_sort_metrics():
    from harness.bench.cell import lab_figures

    def report(acc, p50):
        return {
            "lab_version": "2",
            "passed": True,
            "wall_s": 3.0,
            "criteria": [{"name": "answers_correct", "value": acc, "op": ">=", "threshold": 0.8, "passed": True}],
            "metrics": {"closed_book_accuracy": 0.4, "recall@5": 0.9, "calls": 12, "n_questions": 6, "model_note": "x"},
            "timings": {
                "item_p50_s": p50,
                "decode_tok_s_p50": 100.0,
                "queries_per_s": 50.0,
                "tokens_in": 300,
                "tokens_out": 90,
            },
        }

    kinds = {
        "answers_correct": "accuracy",
        "closed_book_accuracy": "accuracy",
        "recall@5": "retrieval",
        "queries_per_s": "retrieval",
    }  # as a lab.toml declares them (criteria, [metric_kinds])
    figs = lab_figures([report(0.9, 0.2), report(0.9, 0.4)], kinds)
    assert figs.accuracy["answers_correct"].n == 2 and figs.accuracy["answers_correct"].stddev == 0.0
    assert "closed_book_accuracy" in figs.accuracy
    assert set(figs.retrieval) == {"recall@5", "queries_per_s"}
    assert abs(figs.latency["item_p50_s"].mean - 0.3) < 1e-12 and figs.latency["item_p50_s"].unit == "s"
    assert figs.latency["decode_tok_s_p50"].unit == "tok/s"
    assert figs.extra == {"calls": 12, "n_questions": 6, "model_note": "x"}  # counts and text are context
    assert (figs.tokens_in, figs.tokens_out, figs.lab_version) == (300, 90, "2")


def test_undeclared_figures_are_context_not_accuracy():
    """No kind guessed from a name: a criterion or metric the lab does not declare is kept in extra."""
    from harness.bench.cell import lab_figures

    rep = {
        "lab_version": "1",
        "passed": True,
        "wall_s": 1.0,
        "timings": {"item_p50_s": 0.5},
        "criteria": [{"name": "decode_error", "value": 0.1}],
        "metrics": {"single_accuracy": 0.4},
    }
    figs = lab_figures([rep])
    assert figs.extra == {"decode_error": 0.1, "single_accuracy": 0.4} and not figs.accuracy and not figs.retrieval
    assert set(figs.latency) == {"item_p50_s", "check_wall_s"}  # timings are the machine's: latency


def test_every_lab_declares_the_kind_of_its_figures():
    from harness.labs.spec import discover

    for spec in discover():
        kinds = spec.figure_kinds()
        assert {c.name for c in spec.criteria} <= set(kinds), spec.id
        assert set(kinds.values()) <= {"accuracy", "retrieval", "latency"}, spec.id


@pytest.mark.parametrize(
    "damage, problem",
    [
        (lambda t: t.replace('kind = "accuracy"\n', "", 1), "criteria[0].kind: Field required"),
        (lambda t: t.replace('kind = "accuracy"', 'kind = "speed"', 1), "criteria[0].kind"),
        (lambda t: t + '\n[metric_kinds]\nn = "score"\n', "metric_kinds.n"),
        (lambda t: t + '\n[metric_kinds]\naccuracy = "accuracy"\n', "metric_kinds names criteria (accuracy)"),
    ],
)
def test_a_figure_kind_is_declared_and_checked(tmp_path, damage, problem):
    from harness.errors import LabError
    from harness.labs.spec import load_spec

    toy = Path(__file__).resolve().parents[1] / "fixtures" / "labs" / "toy-lab" / "lab.toml"
    (tmp_path / "toy-lab").mkdir()
    bad = tmp_path / "toy-lab" / "lab.toml"
    bad.write_text(damage(toy.read_text()))
    with pytest.raises(LabError) as e:
        load_spec(bad)
    assert problem in e.value.message


def test_backend_facts_live_in_the_backend_records():
    """compare knows no backend: the measured effect of threads with flash attention is llama-cpp's record."""
    import inspect

    from harness.backends import catalog
    from harness.bench import compare

    assert "flash" not in inspect.getsource(compare).lower()
    (effect,) = catalog.record("llama-cpp").numerics_effects
    a, b = {"threads": 1, "flash_attn": True, "device": "cpu"}, {"threads": 2, "flash_attn": True, "device": "cpu"}
    assert effect.applies(a, b) and effect.text(a, b).startswith("1 vs 2 threads with flash attention on")
    assert not effect.applies(a | {"flash_attn": False}, b | {"flash_attn": False})
    assert not effect.applies(a | {"device": "gpu"}, b | {"device": "gpu"}) and not effect.applies(a, a)


def test_timing_criteria_are_not_accuracy():
    from harness.bench.cell import lab_figures

    rep = {
        "lab_version": "1",
        "passed": True,
        "wall_s": 1.0,
        "metrics": {},
        "timings": {},
        "criteria": [
            {"name": n, "value": v}
            for n, v in (
                ("latency_p95_s", 15.1),
                ("hnsw_speedup", 30.0),
                ("ttft_error", 0.01),
                ("hnsw_recall@10", 0.99),
                ("valid_answer_rate", 1.0),
            )
        ],
    }
    kinds = {
        "latency_p95_s": "latency",
        "hnsw_speedup": "latency",
        "ttft_error": "latency",
        "hnsw_recall@10": "retrieval",
        "valid_answer_rate": "accuracy",
    }
    figs = lab_figures([rep], kinds)
    assert set(figs.latency) == {"latency_p95_s", "hnsw_speedup", "ttft_error", "check_wall_s"}
    assert set(figs.retrieval) == {"hnsw_recall@10"} and set(figs.accuracy) == {"valid_answer_rate"}


def test_without_the_probe_model_a_bench_runs_without_a_probe_and_says_why(monkeypatch):
    from harness.bench import probe

    monkeypatch.setattr(probe, "PROBE_MODEL", "no-such-model")
    opened, note = probe.open_probe()
    assert opened is None and note.startswith("no host probe:") and "no-such-model" in note
