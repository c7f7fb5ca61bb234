"""Security and privacy: result files are safe to post, reports escape what files contain, nothing
shared is unpickled, and no mirror folder or lock makes the harness write outside its cache."""

from __future__ import annotations

import ast
import json
import re
import shutil
import socket
from pathlib import Path

import pytest

from harness.bench.io import read_result, write_result

from .helpers import (
    FIXTURES,
    REPO,
    TOY_LABS,
    FaultServer,
    Route,
    bench_helpers,
    blob,
    entry,
    https,
    scan_store,
    sha,
    tree,
)

DATA = blob(40_000, seed=21)


# ----------------------------------------------------------------------------- result files


def _private_user_env(tmp_path: Path, monkeypatch) -> tuple[Path, str]:
    """HOME and USER set to values no result file could contain by chance, and every path the
    bench touches (labs, backend, store, cwd) placed under that HOME: any leak would show."""
    home = tmp_path / "home-of-zqlearner"
    user = "zqlearner"
    labs = home / "course" / "labs"
    shutil.copytree(TOY_LABS, labs)
    shutil.copy(FIXTURES / "fake_backend.py", home / "course" / "fake_backend.py")
    for var, val in {
        "HOME": str(home),
        "USER": user,
        "LOGNAME": user,
        "HARNESS_LABS": str(labs),
        "HARNESS_HOME": str(home / ".local" / "harness"),
    }.items():
        monkeypatch.setenv(var, val)
    monkeypatch.chdir(home / "course")
    return home, user


def _bench(home: Path, include_host: bool) -> Path:
    from harness.bench.runner import BenchOptions, run_bench

    backend = f"{home / 'course' / 'fake_backend.py'}:open_fake"  # a path under HOME goes into the cell
    opts = BenchOptions(
        labs=["toy-lab"],
        models=["fake-model"],
        backends=[backend],
        devices=["cpu"],
        include_host=include_host,
        measure_bandwidth=False,
    )
    result = run_bench(opts)
    assert result.runs[0].status == "ok", result.runs[0].error
    out = home / "course" / ("with-host.json" if include_host else "public.json")
    write_result(out, result)
    return out


def _leaks(text: str, home: Path, user: str) -> list[str]:
    found = [s for s in (str(home), str(home.resolve())) if s in text]
    for word in (user, socket.gethostname()):
        if re.search(rf"(?<![\w.-]){re.escape(word)}(?![\w-])", text):
            found.append(word)
    return found


@pytest.mark.security("result files carry no host name, user name or home path unless asked")
def test_result_file_is_anonymous_unless_asked(tmp_path, monkeypatch):
    home, user = _private_user_env(tmp_path, monkeypatch)
    public = _bench(home, include_host=False).read_text()
    assert _leaks(public, home, user) == [], _leaks(public, home, user)
    assert "~/course/fake_backend.py:open_fake" in public  # the home path was there, and was replaced
    # The same check finds them when the user opts in: it is not blind.
    private = _bench(home, include_host=True)
    assert set(_leaks(private.read_text(), home, user)) >= {str(home), user, socket.gethostname()}
    host = read_result(private).systems[next(iter(read_result(private).systems))].host
    assert (host.user, host.home) == (user, str(home))


@pytest.mark.security("HTML report escapes strings from result files")
def test_html_report_escapes_script_in_model_name(tmp_path, cli):
    evil = '<script>alert("owned")</script>'
    files = []
    for i, err in enumerate((None, f"failed on {evil}")):
        run = bench_helpers.make_run(model=evil, tg=100.0 + 10 * i)
        if err:
            run.status, run.error = "error", err
        p = tmp_path / f"r{i}.json"
        write_result(p, bench_helpers.make_result([run]))
        files.append(str(p))
    out = tmp_path / "report.html"
    r = cli("compare", *files, "--html", str(out))
    assert r.code == 0 and not r.traceback, r
    page = out.read_text()
    assert "<script" not in page.lower()  # the page has no script at all; none was injected
    assert "&lt;script&gt;alert(&quot;owned&quot;)&lt;/script&gt;" in page  # shown, as text
    assert r.has("<script>alert") or r.has("script"), r  # the terminal table shows it as text too


# ----------------------------------------------------------------------------- no pickle


# Loaders that can run code from the bytes they read.
_UNSAFE_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "shelve", "marshal"}


def _unsafe_loads(source: str, filename: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            found += [f"{filename}:{node.lineno} imports {n}" for n in names if n.split(".")[0] in _UNSAFE_MODULES]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            call = ast.unparse(node.func)
            kwargs = {k.arg: ast.unparse(k.value) for k in node.keywords}
            if call in ("torch.load", "pd.read_pickle", "pandas.read_pickle") and kwargs.get("weights_only") != "True":
                found.append(f"{filename}:{node.lineno} {call}")
            elif call in ("np.load", "numpy.load") and kwargs.get("allow_pickle") not in (None, "False"):
                found.append(f"{filename}:{node.lineno} {call}(allow_pickle={kwargs['allow_pickle']})")
            elif call in ("yaml.load", "yaml.unsafe_load") and "SafeLoader" not in kwargs.get("Loader", ""):
                found.append(f"{filename}:{node.lineno} {call} without SafeLoader")
    return found


@pytest.mark.security("nothing is loaded with pickle from a shared file")
def test_no_pickle_in_the_harness_or_the_labs():
    files = sorted((REPO / "harness").rglob("*.py")) + sorted((REPO / "labs").rglob("*.py"))
    assert len(files) > 20
    found = [f for p in files for f in _unsafe_loads(p.read_text(encoding="utf-8"), str(p.relative_to(REPO)))]
    assert found == [], found
    # The scanner is not blind: it flags each kind of unsafe load.
    planted = (
        "import pickle\nfrom joblib import load\nimport torch\ntorch.load(f)\n"
        "np.load(f, allow_pickle=True)\nyaml.load(s)\nimport dill.settings\n"
    )
    assert len(_unsafe_loads(planted, "planted.py")) == 6
    assert (
        _unsafe_loads("np.load(f)\ntorch.load(f, weights_only=True)\nyaml.load(s, Loader=yaml.SafeLoader)\n", "ok.py")
        == []
    )


# ----------------------------------------------------------------------------- writes outside


@pytest.mark.security("a hostile mirror folder or lock cannot make the harness write outside its cache")
def test_hostile_mirror_and_lock_write_nothing_outside(store, tmp_path, cli, monkeypatch):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "notes.txt").write_text("precious")
    usb = tmp_path / "usb"
    usb.mkdir()
    # A mirror someone else prepared: the model file is a symlink to a file outside (wrong bytes),
    # MANIFEST.json names paths that climb out, and NAME/ is a symlink to the victim folder.
    (usb / "m.bin").symlink_to(victim / "notes.txt")
    (usb / "MANIFEST.json").write_text(
        json.dumps({"models": [{"name": "m", "file": "../victim/notes.txt", "size": 8, "sha256": "0" * 64}]})
    )
    (usb / "m").symlink_to(victim, target_is_directory=True)
    srv = FaultServer()
    srv.routes["/victim/m.bin"] = Route(DATA)  # httpx removes the dot segments (RFC 3986) before sending
    try:
        store.write(
            entry(
                "m",
                "m.bin",
                DATA,
                [
                    f'{{ kind = "mirror", path = "{tmp_path}/usb/../victim" }}',
                    https(srv.url("/a/../../victim/m.bin") + "?file=../../victim/notes.txt"),
                ],
            )
        )
        before = tree(tmp_path, skip=store.home)
        r = cli("models", "pull", "m", "--from", str(usb))
        assert r.code == 0 and not r.traceback, r  # the hostile mirror failed verification; https delivered
        assert r.has("pulled from http://127.0.0.1")
        monkeypatch.setenv("HARNESS_MIRROR", str(usb))
        r = cli("models", "pull", "m", "--force", "--offline")
        assert r.code != 0 and not r.traceback and r.has("models.lock says 40000"), r  # the 8-byte file outside
    finally:
        srv.close()
    assert tree(tmp_path, skip=store.home) == before
    assert (victim / "notes.txt").read_text() == "precious"
    assert sha(store.final("m", "m.bin").read_bytes()) == sha(DATA)
    store.keep("m")
    assert scan_store(store.home, store.lock, {"m"}) == []


@pytest.mark.security("export into a mirror folder prepared by someone else writes nothing outside it")
def test_export_into_a_hostile_mirror_writes_nothing_outside(store, tmp_path, cli):
    srv = FaultServer()
    srv.routes["/m.bin"] = Route(DATA)
    try:
        store.write(entry("m", "m.bin", DATA, [https(srv.url("/m.bin"))]))
        assert cli("models", "pull", "m").code == 0
    finally:
        srv.close()
    store.keep("m")
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    usb = tmp_path / "usb"
    usb.mkdir()
    (usb / ".m.bin.partial").symlink_to(victim)
    r = cli("models", "export", str(usb))
    assert not r.traceback, r
    assert victim.read_bytes() == b"precious"


@pytest.mark.security("a symlink planted at a model's path is replaced, not written through")
def test_symlink_planted_at_a_model_path_is_replaced_not_written_through(store, tmp_path):
    """If something put a symlink where the model goes, the pull replaces the link (os.replace)
    instead of writing the model through it."""
    from harness.models import store as st

    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    srv = FaultServer()
    srv.routes["/m.bin"] = Route(DATA)
    try:
        store.write(entry("m", "m.bin", DATA, [https(srv.url("/m.bin"))]))
        final = store.final("m", "m.bin")
        final.parent.mkdir(parents=True)
        final.symlink_to(victim)
        (final.parent / ".stamp.json").symlink_to(victim)
        st.pull("m")
    finally:
        srv.close()
    assert victim.read_text() == "precious"
    assert not final.is_symlink() and sha(final.read_bytes()) == sha(DATA)
    assert not (final.parent / ".stamp.json").is_symlink()
    store.keep("m")
