"""Fixtures for the model store: a temp HARNESS_HOME, a temp models.lock, and a real HTTP
server on 127.0.0.1 whose misbehaviour each test chooses (tests/servers/file_server.py)."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "servers"))
from file_server import FaultServer, Route, make_wheel  # noqa: E402,F401  (Route, make_wheel: for the tests here)


@pytest.fixture
def server():
    with FaultServer() as s:
        yield s


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    h = tmp_path / "home"
    monkeypatch.setenv("HARNESS_HOME", str(h))
    monkeypatch.delenv("HARNESS_MIRROR", raising=False)
    return h


def blob(n: int, seed: int = 0) -> bytes:
    """Deterministic, incompressible-looking test data."""
    out, block = bytearray(), hashlib.sha256(str(seed).encode()).digest()
    while len(out) < n:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[:n])


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_lock(path: Path, entries: list[str]) -> Path:
    path.write_text("format_version = 1\n\n" + "\n".join(entries))
    return path


def entry(
    name: str, file: str, data: bytes | None, sources: list[str], *, verified: bool = True, size: int | None = None
) -> str:
    """A [[models]] table; `data` gives size and sha256 (None: unverified entry)."""
    lines = ["[[models]]", f'name = "{name}"', 'role = "chat"', 'family = "test"', 'parameters = "0"', 'quant = "none"',
             f'file = "{file}"', 'license = "MIT"']  # fmt: skip
    if data is not None and verified:
        lines += [f"size = {size if size is not None else len(data)}", f'sha256 = "{sha(data)}"']
    else:
        lines += ['sha256 = ""', "verified = false"]
    lines.append("sources = [\n" + "".join(f"  {s},\n" for s in sources) + "]")
    return "\n".join(lines) + "\n"


def https(url: str) -> str:
    return f'{{ kind = "https", url = "{url}" }}'


def store_files(home: Path) -> list[str]:
    """Every file under the store except lock files, relative to HARNESS_HOME."""
    if not home.exists():
        return []
    return sorted(str(p.relative_to(home)) for p in home.rglob("*") if p.is_file() and ".locks" not in p.parts)


@pytest.fixture
def fast_http():
    from harness.models.sources import HttpSettings

    return HttpSettings(attempts=3, backoff_s=0.01, connect_timeout_s=5, read_timeout_s=10)


os.environ.setdefault("PIP_DISABLE_PIP_VERSION_CHECK", "1")
