"""The fault suite's summary line (see conftest.py beside this file for what it counts), as a plugin
that tests/conftest.py loads: under pytest-xdist the summary is printed by the process that receives
the workers' reports, which never loads this folder's conftest.py."""

from __future__ import annotations

from collections import defaultdict

CATEGORIES = ("fault", "bad_input", "security", "limitation")

# Counted from the test reports, which is where pytest-xdist's workers send what they saw to the
# process that prints the summary: each test's kind and its store scan travel as user_properties.
_kind_of: dict[str, tuple[str, str]] = {}  # nodeid -> (category, kind)
_outcome: dict[str, str] = {}  # nodeid -> passed | failed | skipped | xfailed | xpassed
_scan = {"tests": 0, "problems": []}
KIND_PROPERTY, SCAN_PROPERTY = "fault_kind", "store_scan"


def pytest_runtest_logreport(report):
    props = dict(report.user_properties)
    if report.when == "teardown" and SCAN_PROPERTY in props:
        _scan["tests"] += 1
        _scan["problems"] += list(props[SCAN_PROPERTY])
    if KIND_PROPERTY not in props:
        return
    _kind_of[report.nodeid] = tuple(props[KIND_PROPERTY])
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
    tr.write_line(
        f"faults survived: {f_ok}/{f_n}, bad inputs rejected cleanly: {b_ok}/{b_n}, files lost or partial: {lost}"
    )
    tr.write_line(f"security and privacy checks passed: {s_ok}/{s_n}; store scanned after {_scan['tests']} tests")
    for label, kinds in (("known bug (xfail)", f_bugs + b_bugs + s_bugs), ("NOT survived", f_bad + b_bad + s_bad)):
        for k in kinds:
            tr.write_line(f"  {label}: {k}")
    if config.option.verbose > 0:  # -v: every kind and how it fared
        for cat in CATEGORIES:
            for k, outs in sorted(by.get(cat, {}).items()):
                tr.write_line(
                    f"  [{cat}] {k}: {', '.join(sorted(set(outs)))} ({len(outs)} test{'s' * (len(outs) > 1)})"
                )
    for k in by.get("limitation", {}):
        tr.write_line(f"  limitation (documented, not contained): {k}")
    for p in _scan["problems"]:
        tr.write_line(f"  store problem: {p}")
