"""compare marks real differences (beyond the spreads), not noise; accuracy differences are findings;
the HTML report is one self-contained page with every file string escaped."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from harness.bench import io as bio
from harness.bench.compare import compare, exceeds_noise, to_markdown
from harness.bench.report import render_html
from harness.bench.schema import Stat
from harness.bench.stats import summarize
from harness.llama_build import LLAMA_CPP_PYTHON_VERSION


def _row(cmp, metric):
    return next(r for r in cmp.rows if r.metric == metric)


def test_two_x_speed_difference_is_marked(run_factory, result_factory):
    a = result_factory([run_factory(tg=100.0)])
    b = result_factory([run_factory(tg=200.0)])
    cmp = compare([a, b], ["a.json", "b.json"])
    row = _row(cmp, "tg128 tok/s")
    assert abs(row.ratios[1] - 2.0) < 1e-9
    assert row.marks == ["", "better"]
    assert cmp.findings == []


def test_one_percent_difference_is_not_marked(run_factory, result_factory):
    a = result_factory([run_factory(tg=100.0, pp=300.0)])
    b = result_factory([run_factory(tg=101.0, pp=297.0)])
    cmp = compare([a, b], ["a.json", "b.json"])
    assert all(m == "" for r in cmp.rows for m in r.marks), [(r.metric, r.marks) for r in cmp.rows]


def test_noise_rule():
    wide_a = Stat(mean=100, stddev=30, n=5)
    wide_b = Stat(mean=160, stddev=30, n=5)
    assert not exceeds_noise(wide_a, wide_b)  # 60 < 2*sqrt(30²+30²) ≈ 85
    assert exceeds_noise(Stat(mean=100, stddev=1, n=5), Stat(mean=110, stddev=1, n=5))
    # measured once each: no spread known, so only a large relative change counts
    assert not exceeds_noise(Stat(mean=100, stddev=0, n=1), Stat(mean=120, stddev=0, n=1))
    assert exceeds_noise(Stat(mean=100, stddev=0, n=1), Stat(mean=200, stddev=0, n=1))


def test_slower_latency_is_worse(run_factory, result_factory):
    a = result_factory([run_factory(pp=300.0)])
    b = result_factory([run_factory(pp=100.0)])  # TTFT triples
    row = _row(compare([a, b], ["a", "b"]), "ttft 512+32 s")
    assert row.marks[1] == "worse" and row.ratios[1] > 2.9


def test_accuracy_difference_same_settings_is_a_finding(run_factory, result_factory):
    a = result_factory([run_factory(lab="rag", accuracy=0.50, threads=1)])
    b = result_factory([run_factory(lab="rag", accuracy=0.52, threads=2)])
    cmp = compare([a, b], ["a.json", "b.json"])
    assert _row(cmp, "accuracy").marks[1] == "differs"
    assert len(cmp.findings) == 1 and "same model and settings" in cmp.findings[0]
    same = compare([a, result_factory([run_factory(lab="rag", accuracy=0.50, threads=2)])], ["a", "b"])
    assert same.findings == [] and _row(same, "accuracy").marks[1] == ""


def test_a_difference_the_host_probe_shows_too_is_host_drift(run_factory, result_factory):
    """The same bench twice on one machine: the host ran 30% slower during B's cell (its probe says so)."""
    a = result_factory([run_factory(tg=100.0, pp=300.0, probe=90.0)])
    b = result_factory([run_factory(tg=70.0, pp=210.0, probe=63.0)])
    cmp = compare([a, b], ["a.json", "b.json"])
    row = _row(cmp, "tg128 tok/s")
    assert row.marks[1] == "host" and row.host_ratios[1] == pytest.approx(0.7)
    assert _row(cmp, "ttft 512+32 s").marks[1] == "host"  # seconds scale inversely
    assert cmp.notes[0].startswith("b.json: 6 of 6 speed/latency figures differ beyond their spreads; 6 of them follow")
    assert "host drift" in cmp.notes[0] and "0 remain marked" in cmp.notes[0]
    assert "0.70x ~" in to_markdown(cmp)


def test_a_difference_the_probe_does_not_show_stays_marked(run_factory, result_factory):
    """1 vs 2 threads: the probe runs at fixed threads, so it stays put and the speed difference is real."""
    a = result_factory([run_factory(tg=100.0, threads=2, probe=90.0)])
    b = result_factory([run_factory(tg=64.0, threads=1, probe=89.0)])
    assert _row(compare([a, b], ["a", "b"]), "tg128 tok/s").marks[1] == "worse"
    # the host slowed by 10% but the figure by 36%: more than drift explains
    b = result_factory([run_factory(tg=64.0, threads=1, probe=81.0)])
    assert _row(compare([a, b], ["a", "b"]), "tg128 tok/s").marks[1] == "worse"


def test_a_small_drift_does_not_explain_a_large_difference_with_a_wide_spread(run_factory, result_factory):
    """1 vs 2 threads while the host ran 8% slower: p95 latency 1.38x with a wide item spread is within
    the noise once the 8% is divided out, but the probe moved far less than the figure: still real."""
    a = result_factory([run_factory(lab="rag", probe=100.0)])
    b = result_factory([run_factory(lab="rag", probe=92.0)])
    a.runs[0].lab.latency["item_p95_s"] = summarize([0.88] * 3 + [1.12] * 3, "s")
    b.runs[0].lab.latency["item_p95_s"] = summarize([1.26] * 3 + [1.50] * 3, "s")
    expected_at_b_speed = summarize([x / 0.92 for x in [0.88] * 3 + [1.12] * 3], "s")
    assert not exceeds_noise(expected_at_b_speed, b.runs[0].lab.latency["item_p95_s"])  # drift "fits" ...
    assert _row(compare([a, b], ["a", "b"]), "item_p95_s").marks[1] == "worse"  # ... but explains too little


def test_a_one_off_model_load_needs_a_quarter_second(run_factory, result_factory):
    """Measured: one load of the same model took 0.38-0.56 s in identical fresh processes."""
    a = result_factory([run_factory(lab="rag")])
    b = result_factory([run_factory(lab="rag")])
    for res, load, p50 in ((a, 0.65, 0.255), (b, 0.44, 0.495)):
        res.runs[0].lab.latency["load_s"] = summarize([load], "s")
        res.runs[0].lab.latency["item_p50_s"] = summarize([p50], "s")
    cmp = compare([a, b], ["a", "b"])
    assert _row(cmp, "load_s").marks[1] == ""
    assert _row(cmp, "item_p50_s").marks[1] == "worse"  # not a load: 25% of the value is its floor
    b.runs[0].lab.latency["load_s"] = summarize([1.3], "s")
    assert _row(compare([a, b], ["a", "b"]), "load_s").marks[1] == "worse"


def test_the_probe_explains_nothing_across_machines_or_on_a_gpu(run_factory, result_factory):
    from harness.bench.schema import SystemInfo

    a = result_factory([run_factory(tg=100.0, probe=90.0)])
    other = SystemInfo(
        os="Linux test",
        python="3.11",
        harness_version="0.1.0",
        cpu_model="Other CPU",
        cpu_cores_logical=2,
        host_probe_method="probe v1",
    )
    b = result_factory([run_factory(tg=70.0, probe=63.0)], system=other)
    assert _row(compare([a, b], ["a", "b"]), "tg128 tok/s").marks[1] == "worse"
    ga = result_factory([run_factory(tg=100.0, probe=90.0, device="gpu")])
    gb = result_factory([run_factory(tg=70.0, probe=63.0, device="gpu")])
    assert _row(compare([ga, gb], ["a", "b"]), "tg128 tok/s").marks[1] == "worse"
    # accuracy is never explained by the host
    la = result_factory([run_factory(lab="rag", accuracy=0.5, probe=90.0)])
    lb = result_factory([run_factory(lab="rag", accuracy=0.6, probe=63.0)])
    assert _row(compare([la, lb], ["a", "b"]), "accuracy").marks[1] == "differs"


def test_files_without_a_probe_say_drift_cannot_be_told(run_factory, result_factory):
    a = result_factory([run_factory(tg=100.0)])
    b = result_factory([run_factory(tg=70.0)])
    cmp = compare([a, b], ["a", "b"])
    assert _row(cmp, "tg128 tok/s").marks[1] == "worse"
    assert any("without a host probe" in n for n in cmp.notes)


def test_accuracy_finding_across_thread_counts_names_flash_attention(run_factory, result_factory):
    a = result_factory([run_factory(lab="dspy", accuracy=0.30, threads=2, flash_attn=True)])
    b = result_factory([run_factory(lab="dspy", accuracy=0.27, threads=1, flash_attn=True)])
    a.runs[0].lab.accuracy["baseline_accuracy"] = summarize([0.30])
    b.runs[0].lab.accuracy["baseline_accuracy"] = summarize([0.2667])
    (finding,) = compare([a, b], ["a", "b"]).findings  # one per cell: both figures, the cause once
    assert "accuracy 0.3 vs 0.27; baseline_accuracy 0.3 vs 0.2667 in a vs b" in finding
    assert finding.count("known cause") == 1 and "2 vs 1 threads with flash attention on" in finding
    c = result_factory([run_factory(lab="dspy", accuracy=0.27, threads=1, flash_attn=False)])
    a_off = result_factory([run_factory(lab="dspy", accuracy=0.30, threads=2, flash_attn=False)])
    (finding,) = compare([a_off, c], ["a", "c"]).findings
    assert "known cause" not in finding


def test_markdown_escapes_pipes(run_factory, result_factory):
    a = result_factory([run_factory(model="x|y")])
    md = to_markdown(compare([a, a], ["a.json", "b.json"]))
    assert "x\\|y" in md and md.count("\n|") > 3


def test_html_escapes_strings_and_embeds_plots(run_factory, result_factory):
    evil = "<script>alert(1)</script>"
    runs = [run_factory(model=evil), run_factory(lab="rag", model=evil, accuracy=0.6)]
    runs[1].error = evil
    a = result_factory(runs)
    b = result_factory([run_factory(model=evil, tg=150.0), run_factory(lab="rag", model=evil, accuracy=0.6)])
    page = render_html(compare([a, b], [f"{evil}.json", "b.json"]), [a, b])
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    pngs = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", page)
    assert len(pngs) == 3  # decode tok/s, the rag lab's accuracy-vs-speed frontier, TTFT by prompt length
    assert "http://" not in page and "https://" not in page  # self-contained: no external resource


def test_html_shows_cold_and_cached_ttft_where_a_lab_has_both(run_factory, result_factory):
    both, cold_only = run_factory(lab="dspy"), run_factory(lab="rag")
    both.lab.latency.update(ttft_cold_p50_s=summarize([0.9]), ttft_cached_p50_s=summarize([0.3]))
    cold_only.lab.latency.update(ttft_cold_p50_s=summarize([1.7]))
    a = result_factory([both, cold_only])
    page = render_html(compare([a, a], ["a.json", "b.json"]), [a, a])
    section = page.split("Time to first token: cold prompts vs a cached prefix")[1].split("</table>")[0]
    assert section.count("dspy") == 2 and "rag" not in section and "3.0x" in section
    rows = {r.metric for r in compare([a, a], ["a.json", "b.json"]).rows}
    assert {"ttft_cold_p50_s", "ttft_cached_p50_s"} <= rows  # side by side too


def test_compare_cli_json_markdown_html(tmp_path, run_factory, result_factory):
    from harness.cli.app import app

    pa, pb = tmp_path / "a.json", tmp_path / "b.json"
    bio.write_result(pa, result_factory([run_factory(tg=100.0)]))
    bio.write_result(pb, result_factory([run_factory(tg=200.0)]))
    runner = CliRunner()
    r = runner.invoke(app, ["compare", str(pa), str(pb), "--json", "--html", str(tmp_path / "r.html")])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert any(row["metric"] == "tg128 tok/s" and row["marks"][1] == "better" for row in data["rows"])
    assert (tmp_path / "r.html").read_text().startswith("<!doctype html>")
    r = runner.invoke(app, ["compare", str(pa), str(pb), "--markdown"])
    assert r.exit_code == 0 and "| tg128 tok/s |" in r.stdout and "2.00x ▲" in r.stdout
    r = runner.invoke(app, ["compare", str(pa), str(tmp_path / "missing.json")])
    assert r.exit_code != 0


def test_bench_summary_says_na_where_a_server_reports_no_prefill(run_factory, result_factory):
    """llama-cpp-python's server sends no prompt token counts in streams: pp has no figure (n=0)."""
    from io import StringIO

    from rich.console import Console

    from harness.bench.stats import summarize
    from harness.cli.bench import _print_summary

    run = run_factory()
    run.throughput.pp_tok_s = summarize([None, None, None], "tok/s")
    out = StringIO()
    _print_summary(Console(file=out, width=200), result_factory([run]))
    assert "pp512 n/a (not measurable on this backend), tg128 100.0 ± 0.8 tok/s" in out.getvalue()


def test_one_multi_backend_file_compares_backend_by_backend(run_factory, result_factory):
    from harness.bench.compare import split_by_backend

    a, b = run_factory(tg=100.0), run_factory(tg=50.0)
    b.cell = b.cell.model_copy(update={"backend": "ollama"})
    results, names = split_by_backend([result_factory([a, b])], ["x.json"])
    assert names == ["x.json [llama-cpp]", "x.json [ollama]"]
    row = _row(compare(results, names), "tg128 tok/s")
    assert row.cell == "throughput · smollm2-135m · * · cpu"
    assert row.ratios[1] == pytest.approx(0.5) and row.marks[1] == "worse"


def test_bench_summary_reports_the_host_probe_and_a_drift(run_factory, result_factory):
    from io import StringIO

    from rich.console import Console

    from harness.cli.bench import _print_summary

    def printed(*probes: float) -> str:
        out = StringIO()
        _print_summary(Console(file=out, width=200), result_factory([run_factory(probe=p) for p in probes]))
        return out.getvalue()

    assert re.search(r"host probe: 9\d\.\d-9\d\.\d tok/s around the 2 cells \(3% apart\)\n", printed(95.0, 98.0))
    assert "(17% apart: the machine drifted during this run)" in printed(90.0, 105.0)


def test_a_different_llama_cpp_build_is_noted(run_factory, result_factory):
    from harness.bench.schema import LlamaCppBuild, SystemInfo

    def result(build):
        system = SystemInfo(
            os="Linux test",
            python="3.11",
            harness_version="0.1.0",
            cpu_model="Test CPU",
            cpu_cores_logical=2,
            llama_cpp_version=LLAMA_CPP_PYTHON_VERSION,
            llama_cpp_build=build,
        )
        return result_factory([run_factory()], system=system)

    no_amx = LlamaCppBuild(
        cpu_features=["AVX2", "AVX512", "REPACK"],
        amx=False,
        extra_bufts=True,
        cmake_args="-DCMAKE_C_FLAGS=-mno-amx-int8",
        built_by="scripts/setup",
    )
    amx = LlamaCppBuild(cpu_features=["AVX2", "AVX512", "AMX_INT8", "REPACK"], amx=True, extra_bufts=False)
    same = compare([result(no_amx), result(no_amx)], ["a", "b"])
    assert not any("builds differ" in n for n in same.notes)
    cmp = compare([result(no_amx), result(amx), result(None)], ["a", "b", "c"])
    notes = [n for n in cmp.notes if "llama.cpp builds differ" in n]
    assert len(notes) == 2
    assert "AMX off" in notes[0] and "AMX on, extra buffer types off; flags unknown" in notes[0]
    assert "build not recorded" in notes[1]
    assert "builds differ" in to_markdown(cmp)


def test_depth_figures_are_compared_and_plotted(run_factory, result_factory):
    from harness.bench.schema import DepthPoint, Quantiles

    def with_depths(tg):
        run = run_factory(tg=tg)
        run.throughput.depths = [
            DepthPoint(
                depth=d,
                n_gen=32,
                prompt_tokens=summarize([d] * 3),
                decode_tok_s=summarize([tg - d / 100] * 3),
                itl_ms=Quantiles(p50=1000 / tg, p95=1100 / tg, p99=1500 / tg, max=2000 / tg, n=93, unit="ms"),
                generated_tokens=summarize([32] * 3),
            )
            for d in (0, 1024)
        ]
        return result_factory([run])

    results = [with_depths(100.0), with_depths(200.0)]
    cmp = compare(results, ["a.json", "b.json"])
    assert _row(cmp, "decode at depth 1024 tok/s").marks[1] == "better"
    itl = _row(cmp, "ITL p99 at depth 0 ms")
    assert itl.kind == "latency" and itl.ratios[1] == 0.5 and itl.marks[1] == "better"
    assert "Decode speed by context depth" in render_html(cmp, results)
