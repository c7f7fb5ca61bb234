"""Energy from RAPL counters (a fake powercap tree stands in for /sys/class/powercap, which this VM
lacks), and the plain "not available on this machine" where there is none."""

from __future__ import annotations

from pathlib import Path

from harness.backends.base import Completion, Timings
from harness.bench import energy as energy_mod
from harness.bench.energy import EnergyMeter, rapl_counters
from harness.bench.throughput import run_throughput


def _zone(root: Path, name: str, label: str, uj: int, wrap: int = 262_143_328_850) -> Path:
    zone = root / name
    zone.mkdir(parents=True)
    (zone / "name").write_text(label + "\n")
    (zone / "energy_uj").write_text(f"{uj}\n")
    (zone / "max_energy_range_uj").write_text(f"{wrap}\n")
    return zone


def test_package_counters_only_and_a_wrapped_counter_is_unwrapped(tmp_path):
    pkg = _zone(tmp_path, "intel-rapl:0", "package-0", 1_000_000, wrap=5_000_000)
    _zone(tmp_path, "intel-rapl:0:0", "core", 10)  # inside package-0: never added again
    counters, why = rapl_counters(tmp_path)
    assert why is None and [c.name for c in counters] == ["rapl:package-0"]
    meter = EnergyMeter(rapl=counters)
    started = meter.start()
    (pkg / "energy_uj").write_text("500000\n")  # wrapped: 4,000,000 to the top, then 500,000
    assert meter.stop(started) == 4.5 and meter.sources == ["rapl:package-0"]


def test_no_counters_or_unreadable_ones_say_why(tmp_path, monkeypatch):
    assert rapl_counters(tmp_path / "none")[1].startswith("no RAPL counters")
    monkeypatch.setattr(energy_mod, "POWERCAP", tmp_path / "none")
    meter = EnergyMeter.open(want_gpu=False)
    assert meter.sources == [] and energy_mod.not_available_note(meter).startswith(
        "energy not available on this machine: no RAPL"
    )


class _Warming:
    """Each call draws 0.5 J per prompt token and 2 J per generated one from the fake package."""

    def __init__(self, zone: Path):
        self.zone = zone

    def count_tokens(self, text):
        return len(text.split())

    def complete(self, prompt, *, max_tokens=256, temperature=0.0, seed=0, stop=None):
        n = self.count_tokens(prompt)
        used = int((0.5 * n if max_tokens == 1 else 2.0 * max_tokens) * 1e6)
        counter = self.zone / "energy_uj"
        counter.write_text(str(int(counter.read_text()) + used))
        return Completion(
            "x", n, max_tokens, Timings(ttft_s=0.01, prefill_tok_s=1000.0, decode_tok_s=100.0, total_s=0.1)
        )


def test_joules_per_token_over_the_measured_pp_and_tg_calls(tmp_path):
    zone = _zone(tmp_path, "intel-rapl:0", "package-0", 0)
    counters, _ = rapl_counters(tmp_path)
    res = run_throughput(
        _Warming(zone), pp=40, tg=8, pairs=(), repetitions=2, warmup=1, depths=(), energy=EnergyMeter(rapl=counters)
    )
    en = res.energy
    assert en.sources == ["rapl:package-0"] and en.note is None
    assert en.pp_j_per_token == 0.5 and en.tg_j_per_token == 2.0 and en.tg_tok_per_s_per_w == 0.5
    assert en.tg_mean_w > 0
