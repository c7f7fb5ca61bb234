"""The fault suite's counting: every test names its category and the kind of fault or bad input
it stands for, and the run ends with

    faults survived: N/N, bad inputs rejected cleanly: M/M, files lost or partial: 0

N and M count KINDS (a kind may have several tests; it survives when all of them pass). A test
marked xfail(strict=True) is a known bug: its kind is NOT counted as survived. "files lost or
partial" is measured, not assumed: every test that uses the `store` fixture has the store scanned
(helpers.scan_store) when it ends, and each problem found counts here.

Markers (the first argument is the kind, in words):
    @pytest.mark.fault("body cut off mid-way")        download / store faults
    @pytest.mark.bad_input("models.lock: bad TOML")   bad inputs answered by a clear error
    @pytest.mark.security("no pickle from shared files")
    @pytest.mark.limitation("learner code writes outside its workspace")  documented, not contained
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

import pytest

from .helpers import FaultServer, run_cli_inprocess, scan_store, write_lock

CATEGORIES = ("fault", "bad_input", "security", "limitation")

_kind_of: dict[str, tuple[str, str]] = {}  # nodeid -> (category, kind)
_outcome: dict[str, str] = {}  # nodeid -> passed | failed | skipped | xfailed | xpassed
_scan = {"tests": 0, "problems": []}


def pytest_configure(config):
    config.addinivalue_line("markers", "fault(kind): a download/store fault the harness must survive (tests/faults)")
    config.addinivalue_line("markers", "bad_input(kind): a bad input the harness must reject cleanly (tests/faults)")
    config.addinivalue_line("markers", "security(kind): a security/privacy property (tests/faults)")
    config.addinivalue_line("markers", "limitation(kind): documented behaviour the harness does NOT contain (tests/faults)")


def pytest_collection_modifyitems(config, items):
    for item in items:
        for cat in CATEGORIES:
            m = item.get_closest_marker(cat)
            if m is not None:
                _kind_of[item.nodeid] = (cat, m.args[0] if m.args else item.originalname)
                break


def pytest_runtest_logreport(report):
    if report.nodeid not in _kind_of:
        return
    prev = _outcome.get(report.nodeid)
    if hasattr(report, "wasxfail"):
        now = "xfailed" if report.skipped else "xpassed"
    elif report.failed:
        now = "failed"
    elif report.skipped:
        now = "skipped"
    elif report.when == "call":
        now = "passed"
    else:
        return
    # A failure in any phase wins over a pass in another.
    rank = {"failed": 4, "xpassed": 3, "xfailed": 2, "skipped": 1, "passed": 0}
    if prev is None or rank[now] > rank[prev]:
        _outcome[report.nodeid] = now


def _kinds() -> dict[str, dict[str, list[str]]]:
    by: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for nodeid, (cat, kind) in _kind_of.items():
        if nodeid in _outcome:
            by[cat][kind].append(_outcome[nodeid])
    return by


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    by = _kinds()
    if not by:
        return
    tr = terminalreporter

    def tally(cat: str) -> tuple[int, int, list[str], list[str]]:
        ran = {k: [o for o in v if o != "skipped"] for k, v in by.get(cat, {}).items()}
        ran = {k: v for k, v in ran.items() if v}
        ok = [k for k, v in ran.items() if all(o == "passed" for o in v)]
        bugs = [k for k, v in ran.items() if "xfailed" in v or "xpassed" in v]
        bad = [k for k in ran if k not in ok and k not in bugs]
        return len(ok), len(ran), bugs, bad

    f_ok, f_n, f_bugs, f_bad = tally("fault")
    b_ok, b_n, b_bugs, b_bad = tally("bad_input")
    s_ok, s_n, s_bugs, s_bad = tally("security")
    lost = len(_scan["problems"])
    tr.section("fault suite")
    tr.write_line(f"faults survived: {f_ok}/{f_n}, bad inputs rejected cleanly: {b_ok}/{b_n}, files lost or partial: {lost}")
    tr.write_line(f"security and privacy checks passed: {s_ok}/{s_n}; store scanned after {_scan['tests']} tests")
    for label, kinds in (("known bug (xfail)", f_bugs + b_bugs + s_bugs), ("NOT survived", f_bad + b_bad + s_bad)):
        for k in kinds:
            tr.write_line(f"  {label}: {k}")
    if config.option.verbose > 0:  # -v: every kind and how it fared
        for cat in CATEGORIES:
            for k, outs in sorted(by.get(cat, {}).items()):
                tr.write_line(f"  [{cat}] {k}: {', '.join(sorted(set(outs)))} ({len(outs)} test{'s' * (len(outs) > 1)})")
    for k in by.get("limitation", {}):
        tr.write_line(f"  limitation (documented, not contained): {k}")
    for p in _scan["problems"]:
        tr.write_line(f"  store problem: {p}")


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """No test here may touch the user's store, labs, servers or pip configuration."""
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HARNESS_LABS", str(Path(__file__).resolve().parent.parent / "fixtures" / "labs"))
    for var in ("HARNESS_MIRROR", "HARNESS_LOCK", "OLLAMA_HOST", "HARNESS_OPENAI_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PIP_DISABLE_PIP_VERSION_CHECK", "1")


class StoreEnv:
    """A temp HARNESS_HOME + HARNESS_LOCK. `keep(name)` declares a model that must still be there,
    verified, when the test ends (otherwise the scan counts it as lost)."""

    def __init__(self, home: Path, lock: Path):
        self.home, self.lock = home, lock
        self.must_have: set[str] = set()

    def write(self, *entries: str) -> Path:
        return write_lock(self.lock, list(entries))

    def keep(self, name: str) -> None:
        self.must_have.add(name)

    def final(self, name: str, file: str) -> Path:
        return self.home / "models" / name / file

    def parts(self) -> list[Path]:
        tmp = self.home / "models" / ".tmp"
        return sorted(tmp.glob("*.part")) if tmp.is_dir() else []

    def scan(self) -> list[str]:
        return scan_store(self.home, self.lock, self.must_have)


@pytest.fixture
def store(tmp_path, monkeypatch, request):
    env = StoreEnv(tmp_path / "home", tmp_path / "models.lock")
    monkeypatch.setenv("HARNESS_HOME", str(env.home))
    monkeypatch.setenv("HARNESS_LOCK", str(env.lock))
    yield env
    problems = env.scan()
    _scan["tests"] += 1
    _scan["problems"] += [f"{request.node.name}: {p}" for p in problems]
    if problems and request.node.get_closest_marker("xfail") is None:
        pytest.fail("store left in a bad state:\n  " + "\n  ".join(problems))


@pytest.fixture
def server():
    s = FaultServer()
    yield s
    s.close()


@pytest.fixture
def fast_http():
    from harness.models.sources import HttpSettings

    return HttpSettings(attempts=1, backoff_s=0.01, connect_timeout_s=5, read_timeout_s=5)


@pytest.fixture
def cli(capsys):
    """Run `harness ARGS...` in this process through the console script's main()."""

    def run(*args, env: dict[str, str] | None = None, cwd: Path | None = None):
        return run_cli_inprocess(list(args), capsys, env=env, cwd=cwd)

    return run


os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
