"""Bad labs and bad learner code, through `harness labs` / `harness check` on the engine's toy lab
(tests/fixtures/labs/toy-lab) with its fake backend: no model is loaded, so each case costs only
the child process the runner starts.

What the runner contains (harness/labs/runner.py): a wall-time limit (the whole process group is
killed), a memory cap (RLIMIT_AS on CPU), output capped to the first and last 32 KiB, no core
files, cwd = the workspace. What it does NOT contain: file writes (the learner's code runs as the
user, with the user's permissions; cwd is not a sandbox) and network access.
"""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path

import pytest

from .helpers import FAKE_BACKEND, TOY_LABS, wait_for
from .helpers import process_dead as _dead

HARNESS_FRAMES = ("harness/labs/", "harness/cli/", "harness\\labs\\")


def _solution(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "ws" / "toy_lab.py"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(textwrap.dedent(body))
    return p


def _check(cli, path: Path, *extra: str):
    return cli("check", "toy-lab", "--solution", str(path), "--backend", FAKE_BACKEND, "--device", "cpu", *extra)


def _failed_cleanly(r, kind: str, *needles: str, traceback_ok: bool = False, native_dump: bool = False):
    assert r.code == 1, r  # a failed check, not a crash of the harness
    if not native_dump:  # (a native crash dump of the learner's process names every frame; that is fine)
        assert not any(f in r.out + r.err for f in HARNESS_FRAMES), r  # no harness frames shown
    if not traceback_ok:
        assert not r.traceback, r
    assert r.has(kind), (kind, str(r))
    for n in needles:
        assert r.has(n), (n, str(r))
    assert r.has("what to try next") or r.has("hint") or r.has("->"), r


# ----------------------------------------------------------------------------- lab.toml


def _labs_with(tmp_path: Path, lab_toml: str) -> Path:
    root = tmp_path / "labs"
    (root / "bad-lab").mkdir(parents=True)
    (root / "bad-lab" / "lab.toml").write_text(lab_toml)
    return root


@pytest.mark.bad_input("a bad lab.toml")
@pytest.mark.parametrize("damage", ["bad-toml", "unknown-key", "missing-field", "bad-operator"])
def test_bad_lab_toml(tmp_path, cli, damage):
    good = (TOY_LABS / "toy-lab" / "lab.toml").read_text().replace('id = "toy-lab"', 'id = "bad-lab"')
    text = {
        "bad-toml": good.replace("[models]", "[models"),
        "unknown-key": good.replace("order = 1", 'order = 1\ncolour = "red"'),
        "missing-field": good.replace("memory_mb = 1024\n", ""),
        "bad-operator": good.replace('op = ">="', 'op = "=>"'),
    }[damage]
    root = _labs_with(tmp_path, text)
    for args in (("labs",), ("check", "bad-lab", "--reference")):
        r = cli(*args, env={"HARNESS_LABS": str(root)})
        assert r.code == 1 and not r.traceback, r
        assert r.has("lab.toml") and r.has("->"), r
        assert r.has(
            {
                "bad-toml": "not valid TOML",
                "unknown-key": "colour: unknown key",
                "missing-field": "memory_mb",
                "bad-operator": "criteria[0].op",
            }[damage]
        ), r


@pytest.mark.bad_input("user text that looks like terminal markup")
@pytest.mark.parametrize("args", [("check", "[/x]"), ("compare", "[/oops].json")], ids=["lab-id", "file-name"])
def test_markup_in_user_text_is_printed_as_text(cli, tmp_path, args):
    r = cli(*args, cwd=tmp_path)
    assert r.code != 0 and not r.traceback, r
    assert "[/" in r.err, r


# ----------------------------------------------------------------------------- learner code


@pytest.mark.bad_input("learner code that raises")
def test_learner_code_raises(tmp_path, cli):
    p = _solution(
        tmp_path,
        """
        def parse(x):
            return {"a": 1}[x]

        def answer(llm, question):
            return parse(question)
    """,
    )
    r = _check(cli, p)
    _failed_cleanly(r, "learner exception", "KeyError in parse", traceback_ok=True)
    assert 'File "toy_lab.py"' in r.out and "in answer" in r.out  # their frames, from their file only
    assert f'File "{tmp_path}' not in r.out  # shown relative to the workspace


@pytest.mark.bad_input("learner code that crashes the interpreter (segfault)")
def test_learner_code_segfaults(tmp_path, cli):
    p = _solution(
        tmp_path,
        """
        import ctypes

        def answer(llm, question):
            return ctypes.string_at(0)  # reads address 0: SIGSEGV
    """,
    )
    r = _check(cli, p)
    _failed_cleanly(r, "crash", "SIGSEGV", traceback_ok=True, native_dump=True)
    assert r.has('toy_lab.py", line 5 in answer'), r  # faulthandler's dump names their line


@pytest.mark.bad_input("learner code that hangs")
def test_learner_code_hangs_and_what_it_started_is_killed(tmp_path, cli):
    pid_file = tmp_path / "child.pid"
    p = _solution(
        tmp_path,
        f"""
        import subprocess, time

        def answer(llm, question):
            child = subprocess.Popen(["sleep", "300"])  # something it started, left behind
            open({str(pid_file)!r}, "w").write(str(child.pid))
            while True:
                time.sleep(0.05)
    """,
    )
    t0 = time.monotonic()
    r = _check(cli, p, "--timeout", "2")
    assert time.monotonic() - t0 < 20
    _failed_cleanly(r, "timeout", "stopped after 2 s")
    pid = int(pid_file.read_text())
    # The whole process group went with it: gone, or a zombie waiting for init to reap it.
    wait_for(lambda: _dead(pid), timeout=5, what=f"pid {pid} to die")


@pytest.mark.bad_input("learner code that exhausts memory")
def test_learner_code_exhausts_memory(tmp_path, cli):
    p = _solution(
        tmp_path,
        """
        def answer(llm, question):
            hog = []
            while True:
                hog.append(bytearray(64 * 1024 * 1024))
    """,
    )
    r = _check(cli, p)
    _failed_cleanly(r, "memory", "ran out of memory", "1024 MB")


@pytest.mark.bad_input("learner code that prints a gigabyte")
def test_learner_code_prints_a_gigabyte(tmp_path, cli):
    p = _solution(
        tmp_path,
        """
        import os

        def answer(llm, question):
            block = b"y" * (1 << 20)
            for _ in range(1024):  # 1 GiB, written straight to fd 1
                os.write(1, block)
            print("LAST LINE")
            return "London"
    """,
    )
    r = _check(cli, p, "--limit", "1", "--json")
    assert r.code == 1, r  # graded (wrong answer), not crashed
    report = json.loads(r.out)
    assert report["output"]["stdout_bytes"] >= 1 << 30
    assert len(report["output"]["stdout"]) < 100_000 and "LAST LINE" in report["output"]["stdout"]
    assert any("printed a lot" in n for n in report["notes"])
    assert len(r.out) < 200_000  # the terminal never sees the gigabyte either


@pytest.mark.limitation("learner code can write outside its workspace")
def test_learner_code_writes_outside_its_workspace(tmp_path, cli):
    """Documents the limit of containment honestly: the child runs with cwd = the workspace, so a
    RELATIVE path lands there; an ABSOLUTE path anywhere the user may write is NOT blocked. The
    runner is not a sandbox (see docs/guarantees.md)."""
    outside = tmp_path / "outside" / "written-by-learner.txt"
    outside.parent.mkdir()
    p = _solution(
        tmp_path,
        f"""
        def answer(llm, question):
            open("relative.txt", "w").write("in the workspace")
            open({str(outside)!r}, "w").write("outside the workspace")
            return "paris four"
    """,
    )
    r = _check(cli, p)
    assert r.code == 0, r
    assert (p.parent / "relative.txt").read_text() == "in the workspace"
    assert outside.read_text() == "outside the workspace"  # NOT contained: if this starts failing, update the docs
