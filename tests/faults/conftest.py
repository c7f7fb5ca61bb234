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
from pathlib import Path

import pytest

from .helpers import FaultServer, run_cli_inprocess, scan_store, write_lock
from .summary import CATEGORIES, KIND_PROPERTY, SCAN_PROPERTY


def pytest_configure(config):
    config.addinivalue_line("markers", "fault(kind): a download/store fault the harness must survive (tests/faults)")
    config.addinivalue_line("markers", "bad_input(kind): a bad input the harness must reject cleanly (tests/faults)")
    config.addinivalue_line("markers", "security(kind): a security/privacy property (tests/faults)")
    config.addinivalue_line(
        "markers", "limitation(kind): documented behaviour the harness does NOT contain (tests/faults)"
    )


def pytest_collection_modifyitems(config, items):
    for item in items:
        for cat in CATEGORIES:
            m = item.get_closest_marker(cat)
            if m is not None:
                item.user_properties.append((KIND_PROPERTY, (cat, m.args[0] if m.args else item.originalname)))
                break


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
    request.node.user_properties.append((SCAN_PROPERTY, [f"{request.node.name}: {p}" for p in problems]))
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
