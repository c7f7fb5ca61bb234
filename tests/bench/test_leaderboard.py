"""`harness leaderboard`: ranking by the documented score, skipped files said, escaping, the
"like this machine" mark and the --json shape, all from synthetic files (no model)."""

from __future__ import annotations

import json
import sys

import pytest

from harness.bench import io as bio
from harness.bench import leaderboard as lb
from harness.bench.schema import GpuInfo, HostInfo, SystemInfo
from harness.llama_build import LLAMA_CPP_PYTHON_VERSION

GiB = 2**30


def system(cpu: str, cores: int = 8, ram_gib: float = 32, gpus: tuple[str, ...] = ()) -> SystemInfo:
    return SystemInfo(
        os="Linux test",
        python="3.11",
        harness_version="0.1.0",
        cpu_model=cpu,
        cpu_cores_logical=cores,
        ram_bytes=int(ram_gib * GiB),
        gpus=[GpuInfo(name=g) for g in gpus],
        llama_cpp_version=LLAMA_CPP_PYTHON_VERSION,
    )


def expected_score(pp: float, tg: float) -> float:
    # make_run's 512-token pair has TTFT 512 / pp seconds
    return 10 * (pp * tg / (512 / pp)) ** (1 / 3)


def cli(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """The console script's main(), as a user runs it (HarnessError -> message + exit code)."""
    from harness.cli.app import main

    monkeypatch.setattr(sys, "argv", ["harness", *args])
    capsys.readouterr()
    try:
        main()
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def folder(tmp_path, run_factory, result_factory):
    """Three machines with throughput (scores B > A > C although C decodes fastest), one with a lab only,
    a malformed file, another tool's file, and a .git folder that must not be read."""
    d = tmp_path / "results"
    (d / "gpu").mkdir(parents=True)
    bio.write_result(
        d / "a.json",
        result_factory([run_factory(pp=300, tg=100), run_factory(lab="rag", accuracy=0.6)], system=system("CPU A")),
    )
    bio.write_result(d / "b.json", result_factory([run_factory(pp=600, tg=40)], system=system("CPU B")))
    bio.write_result(
        d / "gpu" / "c.json", result_factory([run_factory(pp=100, tg=200)], system=system("CPU C", gpus=("RTX 1",)))
    )
    bio.write_result(d / "d.json", result_factory([run_factory(lab="rag", accuracy=0.3)], system=system("CPU D")))
    (d / "broken.json").write_text('{"schema_version": 5, "tool": ')
    (d / "llama-bench.json").write_text(json.dumps([{"build_commit": "abc", "avg_ts": 12.5}]))
    (d / "foreign.json").write_text(json.dumps({"tool": "llama-bench", "schema_version": 1}))
    (d / ".git").mkdir()
    (d / ".git" / "config.json").write_text("not json")
    (d / "README.md").write_text("not a result")
    return d


def test_ranking_follows_the_formula(folder, run_factory):
    board = lb.read_folder(folder)
    rows = board.models["smollm2-135m"]
    assert [r.machine.cpu_model for r in rows] == ["CPU B", "CPU A", "CPU C", "CPU D"]
    assert [r.rank for r in rows] == [1, 2, 3, None]  # no throughput cell: no score, listed last
    for r, (pp, tg) in zip(rows, [(600, 40), (300, 100), (100, 200)]):
        assert r.score == pytest.approx(expected_score(pp, tg))
        assert r.figure("ttft_s") == pytest.approx(512 / pp)  # the 512-token pair, not the 64 one
    assert rows[1].labs["rag"][1].criteria[0].value == 0.6 and rows[3].labs["rag"][1].passed is False
    # LocalScore's reference machine scores 1000 on this scale
    ref = run_factory(pp=5000, tg=40).throughput
    ref.pairs[1].ttft_s = ref.pairs[1].ttft_s.model_copy(update={"mean": 0.2})
    assert lb.throughput_figures(ref)["score"] == pytest.approx(1000)


def test_models_machines_and_merged_files(tmp_path, run_factory, result_factory):
    """One table per model; a merged file from two machines counts for each; RAM to the GiB, so two
    files of one machine share a row (its score the median of their cells)."""
    d = tmp_path / "r"
    d.mkdir()
    merged = result_factory(
        [
            run_factory(pp=300, tg=100, system="sys-x"),
            run_factory(pp=300, tg=50, system="sys-y"),
            run_factory(model="gemma3-270m", pp=100, tg=30, system="sys-x"),
        ]
    )
    merged = merged.model_copy(update={"systems": {"sys-x": system("X"), "sys-y": system("Y", gpus=("RTX 1",))}})
    bio.write_result(d / "merged.json", merged)
    same = system("X").model_copy(update={"ram_bytes": 32 * GiB - 5 * 2**20})
    bio.write_result(d / "x-again.json", result_factory([run_factory(pp=300, tg=120)], system=same))
    orphan = result_factory([run_factory(system="sys-gone")])
    bio.write_result(d / "orphan.json", orphan)
    board = lb.read_folder(d)
    assert board.skipped == [
        (
            "orphan.json",
            "orphan.json: run throughput · smollm2-135m points at system 'sys-gone', which the file does not hold",
        )
    ]
    assert list(board.models) == ["gemma3-270m", "smollm2-135m"]
    rows = board.models["smollm2-135m"]
    assert [(r.machine.cpu_model, len(r.throughput)) for r in rows] == [("X", 2), ("Y", 1)]
    assert rows[0].score == pytest.approx((expected_score(300, 100) + expected_score(300, 120)) / 2)
    assert rows[0].files == ["merged.json", "x-again.json"]
    assert rows[0].build == f"llama-cpp {LLAMA_CPP_PYTHON_VERSION} (features not recorded)"


def test_bad_files_are_reported_and_skipped(folder, monkeypatch, capsys):
    monkeypatch.setattr(lb, "local_machine", lambda: lb.Machine.of(system("CPU A")))
    out = folder.parent / "lb.html"
    code, stdout, err = cli(monkeypatch, capsys, "leaderboard", str(folder), "-o", str(out))
    assert code == 0, err
    assert "skipped broken.json: broken.json: malformed JSON at line 1" in err
    assert "skipped foreign.json: foreign.json: written by another tool ('llama-bench')" in err
    assert "skipped llama-bench.json: llama-bench.json: not a harness result file" in err
    assert "config.json" not in err and str(folder.parent) not in err  # .git is not read; no local path
    page = out.read_text()
    skipped = page.split("<h2>Skipped files</h2>")[1]
    assert all(n in skipped for n in ("broken.json", "foreign.json", "llama-bench.json", "malformed JSON"))
    assert "CPU B" in stdout  # the terminal table
    # no file readable: a clear error, non-zero
    empty = folder.parent / "empty"
    empty.mkdir()
    (empty / "x.json").write_text("{")
    code, _, err = cli(monkeypatch, capsys, "leaderboard", str(empty), "--no-local")
    assert code == 1 and "no result file could be read (1 .json file, none readable)" in " ".join(err.split())
    assert "skipped x.json" in err
    (empty / "x.json").unlink()
    code, _, err = cli(monkeypatch, capsys, "leaderboard", str(empty), "--no-local")
    assert code == 1 and "no result file could be read (no .json files)" in " ".join(err.split())
    code, _, err = cli(monkeypatch, capsys, "leaderboard", str(empty / "missing"), "--no-local")
    assert code == 1 and "missing: not a folder" in " ".join(err.split())


def test_hostile_strings_are_escaped_and_the_page_is_self_contained(tmp_path, run_factory, result_factory):
    evil = "<script>alert(1)</script>"
    d = tmp_path / "r"
    d.mkdir()
    run = run_factory(model=evil)
    lab = run_factory(lab=evil, model=evil)
    lab.lab.criteria[0].name = evil
    hosted = system(evil, gpus=(evil,)).model_copy(
        update={"host": HostInfo(hostname="myhost", user="alice", home="/home/alice")}
    )
    bio.write_result(d / "x.json", result_factory([run, lab], system=hosted))
    (d / "<img src=x onerror=alert(1)>.json").write_text("{")  # a file name cannot hold "/"
    page = lb.render_html(lb.read_folder(d, local=lb.Machine(evil, 8, 32 * GiB, (evil,))))
    assert "<script" not in page.lower()
    assert "<img" not in page and "&lt;img src=x onerror=alert(1)&gt;.json" in page  # the skipped file
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 5  # model, lab, criterion, CPU, GPU
    assert "myhost" not in page and "alice" not in page  # a file's --include-host facts stay out
    assert str(tmp_path) not in page  # only the folder's name, not where it lies
    assert "http://" not in page and "https://" not in page and "<link" not in page


def test_like_this_machine_mark(tmp_path, monkeypatch, capsys, run_factory, result_factory):
    d = tmp_path / "r"
    d.mkdir()
    for name, sysinfo in {
        "same": system("Intel Xeon  8480", 16, 128, ("H200",)),
        "less-ram": system("Intel Xeon 8480", 16, 64, ("H200",)),
        "other": system("AMD EPYC", 2, 8),
    }.items():
        bio.write_result(d / f"{name}.json", result_factory([run_factory()], system=sysinfo))
    # doctor's facts of this machine: RAM a little under the file's, CPU name spaced differently
    here = lb.Machine("intel xeon 8480", 16, int(127.5 * GiB), ("H200",))
    monkeypatch.setattr(lb, "local_machine", lambda: here)
    code, stdout, _ = cli(monkeypatch, capsys, "leaderboard", str(d), "--json")
    assert code == 0
    rows = {r["files"][0]: r["like_this_machine"] for r in json.loads(stdout)["models"][0]["rows"]}
    assert rows["same.json"] == {"matches": 4, "of": 4, "mark": "like this machine"}
    assert rows["less-ram.json"]["mark"] == "close to this machine"
    assert rows["other.json"] == {"matches": 0, "of": 4, "mark": ""}
    page = lb.render_html(lb.read_folder(d, local=here))
    assert page.count("<tr class='like'>") == 1 and page.count("<tr class='close'>") == 1
    assert "like this machine" in page and lb.SIMILARITY_RULE in page
    code, stdout, _ = cli(monkeypatch, capsys, "leaderboard", str(d), "--json", "--no-local")
    assert json.loads(stdout)["this_machine"] is None


def test_json_shape(folder, monkeypatch, capsys):
    monkeypatch.setattr(lb, "local_machine", lambda: lb.Machine.of(system("CPU C", gpus=("RTX 1",))))
    code, stdout, err = cli(monkeypatch, capsys, "leaderboard", str(folder), "--json")
    assert code == 0
    data = json.loads(stdout)  # stdout holds the JSON and nothing else; the skipped lines went to stderr
    assert "skipped broken.json" in err
    assert set(data) == {"source", "formula", "similarity_rule", "this_machine", "files_read", "skipped", "models"}
    assert data["source"] == "results" and data["files_read"] == ["a.json", "b.json", "d.json", "gpu/c.json"]
    assert [s["file"] for s in data["skipped"]] == ["broken.json", "foreign.json", "llama-bench.json"]
    (model,) = data["models"]
    assert model["model"] == "smollm2-135m"
    top = model["rows"][0]
    assert top["rank"] == 1 and top["score"] == pytest.approx(expected_score(600, 40))
    assert top["tests"] == {"pp_test": "pp512", "tg_test": "tg128", "ttft_pair": "512+32"}
    assert top["machine"]["cpu_model"] == "CPU B" and top["device"] == "cpu" and top["backend"] == "llama-cpp"
    a = model["rows"][1]
    assert a["labs"]["rag"]["passed"] is True and a["labs"]["rag"]["criteria"][0]["value"] == 0.6
    assert [r["like_this_machine"]["mark"] for r in model["rows"]].count("like this machine") == 1
