"""Download and store faults, each against a real HTTP server on 127.0.0.1 (helpers.FaultServer)
or a real filesystem/process condition. After each one the `store` fixture scans the store: the
right file or no file at the model's path, never a partial or wrong one; resumable .part files
only inside models/.tmp. Each test then shows that the next pull resumes or starts clean, and that
the error message says what happened and what to do.

The models engineer's tests (tests/models/test_pull_http.py) check the pull logic case by case;
these add the faults they do not stage (connection reset, lying Content-Length, stalls, disk
full, SIGINT, SIGKILL, hand-copied partial files) and run every case through the same scan.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time

import pytest

from harness.errors import DownloadError, VerifyError
from harness.models import store as st
from harness.models.sources import HttpSettings

from .helpers import (
    Fault,
    Route,
    blob,
    entry,
    file_size_limit,
    harness_cmd,
    harness_env,
    https,
    run_cli_process,
    sha,
    wait_for,
)

pytestmark = pytest.mark.network_server

DATA = blob(300_000, seed=7)
PATH = "/m.bin"


def _setup(store, server, *plan: Fault, then: Fault | None = None):
    server.routes[PATH] = Route(DATA, plan=list(plan), then=then or Fault())
    store.write(entry("m", "m.bin", DATA, [https(server.url(PATH))]))


def _pull(**kw):
    return st.pull("m", **kw)


def _right_file(store) -> bool:
    f = store.final("m", "m.bin")
    return f.is_file() and sha(f.read_bytes()) == sha(DATA)


def _says_what_to_do(err: DownloadError) -> None:
    assert err.hint and ("mirror" in err.hint or "network" in err.hint), err.hint
    assert err.exit_code != 0


def _resumable_failure(store, server, fast_http, sent: int):
    """The first pull fails, keeps a .part of what arrived, and says the next pull resumes it."""
    with pytest.raises(DownloadError) as e:
        _pull(http=fast_http)
    assert "partial file kept; the next pull resumes it" in e.value.message, e.value.message
    _says_what_to_do(e.value)
    assert not store.final("m", "m.bin").exists()
    parts = store.parts()
    assert len(parts) == 1 and 0 < parts[0].stat().st_size <= sent, parts
    return parts[0].stat().st_size


@pytest.mark.fault("body cut off mid-way")
def test_body_cut_off_then_next_pull_resumes(store, server, fast_http):
    _setup(store, server, Fault(cut_after=120_000))
    kept = _resumable_failure(store, server, fast_http, 120_000)
    assert kept == 120_000
    assert _pull(http=fast_http).status == "pulled"
    assert server.ranges(PATH) == [None, "bytes=120000-"] and _right_file(store)
    store.keep("m")


@pytest.mark.fault("connection reset (RST) mid-way")
def test_connection_reset_then_next_pull_resumes(store, server, fast_http):
    _setup(store, server, Fault(reset_after=150_000))
    with pytest.raises(DownloadError) as e:
        _pull(http=fast_http)
    assert "ReadError" in e.value.message or "reset" in e.value.message.lower(), e.value.message
    _says_what_to_do(e.value)
    assert not store.final("m", "m.bin").exists()
    kept = sum(p.stat().st_size for p in store.parts())  # the kernel may drop unread bytes on RST
    assert kept <= 150_000
    _pull(http=fast_http)
    assert _right_file(store)
    assert server.ranges(PATH)[-1] == (f"bytes={kept}-" if kept else None)
    store.keep("m")


@pytest.mark.fault("server ignores Range on resume")
def test_range_ignored_on_resume_restarts_cleanly(store, server, fast_http):
    _setup(store, server, Fault(cut_after=100_000), Fault(ignore_range=True))
    _resumable_failure(store, server, fast_http, 100_000)
    _pull(http=fast_http)  # asked for bytes=100000-, got the whole file with 200: must not splice
    assert server.ranges(PATH) == [None, "bytes=100000-"] and _right_file(store)
    store.keep("m")


@pytest.mark.fault("wrong Content-Length")
@pytest.mark.parametrize("lie", [+50_000, -50_000], ids=["claims-more", "claims-less"])
def test_wrong_content_length(store, server, lie):
    _setup(store, server, Fault(extra_length=lie))
    r = _pull(http=HttpSettings(attempts=2, backoff_s=0.01, read_timeout_s=5))
    assert r.status == "pulled" and _right_file(store)
    if lie < 0:  # it stopped where the header said, then resumed the rest
        assert server.ranges(PATH) == [None, f"bytes={len(DATA) + lie}-"]
    store.keep("m")


@pytest.mark.fault("wrong hash")
def test_wrong_hash_never_replaces_a_good_file(store, server, fast_http):
    bad = bytearray(DATA)
    bad[4242] ^= 0x01
    _setup(store, server)
    _pull(http=fast_http)
    store.keep("m")
    server.routes[PATH] = Route(bytes(bad))  # upstream now serves a corrupted copy
    with pytest.raises(DownloadError) as e:
        _pull(http=fast_http, force=True)
    assert "sha256" in e.value.message and "does not match models.lock" in e.value.message
    _says_what_to_do(e.value)
    assert _right_file(store)  # the verified file stayed in place
    assert store.parts() == []  # a wrong body is not kept for resuming
    server.routes[PATH] = Route(DATA)
    assert _pull(http=fast_http, force=True).status == "pulled" and _right_file(store)


@pytest.mark.fault("HTTP 404")
def test_404_is_not_retried_and_the_cli_says_what_to_do(store, server, cli):
    _setup(store, server, then=Fault(status=404))
    r = cli("models", "pull", "m")
    assert r.code == DownloadError.exit_code and not r.traceback, r
    assert "HTTP 404" in r.text and "->" in r.text and "mirror" in r.text, r
    assert len(server.ranges(PATH)) == 1  # a 4xx is final: no retry storm
    assert not store.final("m", "m.bin").exists() and store.parts() == []
    server.routes[PATH].then = Fault()  # the file is back upstream: the next pull starts clean
    assert cli("models", "pull", "m").code == 0
    assert server.ranges(PATH)[-1] is None and _right_file(store)
    store.keep("m")


@pytest.mark.fault("HTTP 500, then success")
def test_500_then_success(store, server):
    _setup(store, server, Fault(status=500), Fault(status=503))
    r = _pull(http=HttpSettings(attempts=3, backoff_s=0.01, read_timeout_s=5))
    assert r.status == "pulled" and len(server.ranges(PATH)) == 3 and _right_file(store)
    store.keep("m")


@pytest.mark.fault("very slow server: timeout, then resume")
def test_stalled_server_times_out_then_resumes(store, server):
    _setup(store, server, Fault(stall_after=100_000))
    slow = HttpSettings(attempts=1, backoff_s=0.01, connect_timeout_s=5, read_timeout_s=0.5)
    t0 = time.monotonic()
    kept = _resumable_failure(store, server, slow, 100_000)
    assert time.monotonic() - t0 < 10  # the read timeout fired; the pull did not hang
    _pull(http=HttpSettings(attempts=1, read_timeout_s=10))
    assert server.ranges(PATH) == [None, f"bytes={kept}-"] and _right_file(store)
    store.keep("m")


@pytest.mark.fault("partial file left by another version of the upstream file")
def test_stale_part_from_another_file_version_starts_clean(store, server, fast_http):
    old = blob(300_000, seed=99)  # same size, other bytes: a resume would splice two files
    server.routes[PATH] = Route(old, plan=[Fault(cut_after=100_000)])
    store.write(entry("m", "m.bin", DATA, [https(server.url(PATH))]))
    with pytest.raises(DownloadError):
        _pull(http=fast_http)
    assert store.parts()
    server.routes[PATH] = Route(DATA)
    for _ in range(2):  # this pull or the next must start from byte 0 and succeed
        try:
            _pull(http=fast_http)
            break
        except DownloadError as e:
            assert "does not match" in e.message, e.message
    assert _right_file(store) and store.parts() == []
    assert None in server.ranges(PATH)[1:]  # a request from byte 0 after the stale resume
    store.keep("m")


@pytest.mark.fault("partial file copied by hand to the model's path")
def test_partial_file_at_final_path_is_not_trusted(store, server, fast_http):
    _setup(store, server)
    final = store.final("m", "m.bin")
    final.parent.mkdir(parents=True)
    final.write_bytes(DATA[:200_000])
    with pytest.raises(VerifyError) as e:  # the backends never get it
        st.resolve_model_path("m")
    assert "pull m --force" in e.value.hint
    assert _pull(http=fast_http).status == "pulled" and _right_file(store)
    store.keep("m")


# ----------------------------------------------------------------------------- disk full


def _tmpfs(path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    return (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
        ).returncode
        == 0
    )


@pytest.fixture(params=["ulimit -f", "full tmpfs"])
def full_disk(request, tmp_path):
    """(preexec_fn, free_space()) for a pull that runs out of room after ~100 kB of a 300 kB file.
    Tests list it BEFORE `store`, so the store is scanned while the tmpfs is still mounted."""
    home = tmp_path / "home"  # the `store` fixture's HARNESS_HOME
    if request.param == "ulimit -f":
        yield file_size_limit(100_000), lambda: None
        return
    if not _tmpfs(home, "128k"):
        pytest.skip("cannot mount a tmpfs here (needs root); the ulimit -f variant covers disk full")
    try:
        yield None, lambda: subprocess.run(["mount", "-o", "remount,size=2m", str(home)], check=True)
    finally:
        subprocess.run(["umount", "-l", str(home)], capture_output=True)


def _disk_full_pull(store, server, full_disk):
    limit, free_space = full_disk
    _setup(store, server)
    env = harness_env(HARNESS_HOME=str(store.home), HARNESS_LOCK=str(store.lock))
    r = run_cli_process(["models", "pull", "m"], env, preexec_fn=limit)
    return r, env, free_space


@pytest.mark.fault("disk full while writing")
def test_disk_full_leaves_nothing_in_place_and_next_pull_resumes(full_disk, store, server):
    r, env, free_space = _disk_full_pull(store, server, full_disk)
    assert r.code != 0, r
    assert not store.final("m", "m.bin").exists()
    kept = sum(p.stat().st_size for p in store.parts())
    assert 0 < kept < len(DATA)
    free_space()
    store_scan_before = store.scan()
    assert store_scan_before == []
    again = run_cli_process(["models", "pull", "m"], env)
    assert again.code == 0, again
    assert server.ranges(PATH)[-1] == f"bytes={kept}-" and _right_file(store)
    store.keep("m")


@pytest.mark.fault("disk full while writing")
def test_disk_full_is_a_clear_message_not_a_traceback(full_disk, store, server):
    r, _, _ = _disk_full_pull(store, server, full_disk)
    assert r.code != 0 and not r.traceback, r
    assert any(w in r.text.lower() for w in ("disk", "space", "file too large")), r
    assert "->" in r.text, r  # and a hint: free space or point HARNESS_HOME elsewhere


@pytest.fixture(params=["read-only tmpfs", "chmod 555"])
def readonly_home(request, tmp_path):
    """A HARNESS_HOME the harness cannot write to (listed BEFORE `store`, like full_disk)."""
    home = tmp_path / "home"
    home.mkdir()
    if request.param == "chmod 555":
        if os.geteuid() == 0:
            pytest.skip("root ignores file modes; the read-only tmpfs variant covers this")
        home.chmod(0o555)
        yield
        home.chmod(0o755)
        return
    if not _tmpfs(home, "1m"):
        pytest.skip("cannot mount a tmpfs here (needs root); the chmod variant covers this")
    try:
        subprocess.run(["mount", "-o", "remount,ro", str(home)], check=True)
        yield
    finally:
        subprocess.run(["umount", "-l", str(home)], capture_output=True)


@pytest.mark.fault("store folder not writable (read-only disk, wrong permissions)")
def test_unwritable_store_is_a_clear_message(readonly_home, store, server, cli):
    _setup(store, server)
    r = cli("models", "pull", "m")
    assert r.code != 0 and not r.traceback, r
    assert r.has("HARNESS_HOME") and r.has("->"), r


# ----------------------------------------------------------------------------- processes


HELD = 65_536  # bytes the server sends before it holds the transfer until the test opens its gate


def _held(store, server):
    """The server sends 64 KiB, then holds: the test acts while a pull is surely mid-download."""
    _setup(store, server, then=Fault(hold_after=HELD))
    return harness_env(HARNESS_HOME=str(store.home), HARNESS_LOCK=str(store.lock))


def _popen(env):
    # SIGINT back to default: a CI runner may start us with it ignored, and Python keeps that.
    return subprocess.Popen(
        harness_cmd("models", "pull", "m"),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _mid_download(store):
    # >= half: the client's file buffer may still hold the last few KiB of what the server sent.
    wait_for(lambda: sum(x.stat().st_size for x in store.parts()) >= HELD // 2, what="the held transfer")


class _Lines:
    """Collect a pipe's lines in a thread, so the test can wait for one of them."""

    def __init__(self, stream):
        self.lines: list[str] = []
        self.thread = threading.Thread(target=lambda: self.lines.extend(iter(stream.readline, "")), daemon=True)
        self.thread.start()

    def text(self) -> str:
        return "".join(self.lines)


@pytest.mark.fault("two pulls of one model at once (two processes)")
def test_two_processes_pull_one_model(store, server):
    env = _held(store, server)
    first = _popen(env)
    _mid_download(store)
    second = _popen(env)
    second_err = _Lines(second.stderr)
    wait_for(lambda: "waiting for another pull of m" in second_err.text(), what="the second pull to wait")
    server.gate.set()
    outs = [first.communicate(timeout=60), (second.stdout.read(), None)]
    second.wait(timeout=60)
    second_err.thread.join(timeout=10)
    assert [p.returncode for p in (first, second)] == [0, 0], (outs, second_err.text())
    assert "present and verified" in outs[1][0] and "pulled from" in outs[0][0]
    assert len(server.ranges(PATH)) == 1  # one download; the other waited and found the file
    assert _right_file(store)
    store.keep("m")


@pytest.mark.fault("interrupted by SIGINT (Ctrl-C), then run again")
def test_sigint_mid_download_then_run_again(store, server):
    env = _held(store, server)
    p = _popen(env)
    _mid_download(store)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 130 and "Traceback" not in err, (out, err)
    assert not store.final("m", "m.bin").exists()
    kept = sum(x.stat().st_size for x in store.parts())
    assert 0 < kept < len(DATA)
    server.routes[PATH].then = Fault()
    again = run_cli_process(["models", "pull", "m"], env)
    assert again.code == 0, again
    assert server.ranges(PATH)[-1] == f"bytes={kept}-" and _right_file(store)
    store.keep("m")


@pytest.mark.fault("interrupted by SIGINT (Ctrl-C), then run again")
def test_sigint_message_says_how_to_resume(store, server):
    env = _held(store, server)
    p = _popen(env)
    _mid_download(store)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=30)
    assert "interrupted" in err.lower() and ("harness models pull" in err or "resume" in err), err


@pytest.mark.fault("killed outright (SIGKILL / power loss), then run again")
def test_sigkill_mid_download_leaves_no_stale_lock(store, server):
    env = _held(store, server)
    p = _popen(env)
    _mid_download(store)
    os.kill(p.pid, signal.SIGKILL)
    p.communicate(timeout=30)
    assert (store.home / "models" / ".locks" / "m.lock").exists()  # the lock file stays behind ...
    server.routes[PATH].then = Fault()
    t0 = time.monotonic()
    again = run_cli_process(["models", "pull", "m"], env, timeout=60)
    assert again.code == 0, again
    assert "waiting for another pull" not in again.err  # ... but it holds no lock: flock died with the process
    assert time.monotonic() - t0 < 30
    assert server.ranges(PATH)[-1].startswith("bytes=") and _right_file(store)
    store.keep("m")
