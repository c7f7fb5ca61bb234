"""Pulls against a real HTTP server on 127.0.0.1. After each: the store holds the verified
file or nothing (no partial or wrong file at the model's path)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from harness.errors import DownloadError, ModelNotFound, VerifyError
from harness.models import store

from .conftest import Route, blob, entry, https, sha, store_files, write_lock

pytestmark = pytest.mark.network_server

DATA = blob(300_000, seed=1)


def _lock(tmp_path, *entries):
    return write_lock(tmp_path / "models.lock", list(entries))


def _final(home):
    return home / "models" / "m" / "m.bin"


def _only_final(home):
    assert store_files(home) == ["models/m/.stamp.json", "models/m/m.bin"]
    assert _final(home).read_bytes() == DATA


def _nothing_stored(home):
    files = store_files(home)
    assert not [f for f in files if f.startswith("models/m/")], files
    return files


def test_clean_pull_then_noop_then_resolve(tmp_path, home, server, fast_http):
    server.routes["/m.bin"] = Route.of(body=DATA)
    lock = _lock(tmp_path, entry("m", "m.bin", DATA, [https(server.url("/m.bin"))]))
    r = store.pull("m", lock_path=lock, http=fast_http)
    assert (r.status, r.sha256, r.checked_against) == ("pulled", sha(DATA), "lock")
    _only_final(home)
    t0 = time.perf_counter()
    again = store.pull("m", lock_path=lock, http=fast_http)
    assert again.status == "present" and time.perf_counter() - t0 < 1.0
    assert len(server.requests("/m.bin")) == 1  # the second pull did not touch the network
    assert store.resolve_model_path("m", lock) == _final(home)


def test_body_cut_off_then_resumed_with_range(tmp_path, home, server, fast_http):
    server.routes["/m.bin"] = Route.of(body=DATA, cut_after=120_000)
    lock = _lock(tmp_path, entry("m", "m.bin", DATA, [https(server.url("/m.bin"))]))
    store.pull("m", lock_path=lock, http=fast_http)
    _only_final(home)
    ranges = [r[1] for r in server.requests("/m.bin")]
    assert ranges == [None, "bytes=120000-"]


def test_cut_off_on_every_attempt_keeps_part_and_next_pull_resumes(tmp_path, home, server, fast_http):
    server.routes["/m.bin"] = Route.of(body=DATA, cut_after=100_000)
    lock = _lock(tmp_path, entry("m", "m.bin", DATA, [https(server.url("/m.bin"))]))
    fast_http.attempts = 1
    with pytest.raises(DownloadError, match="the next pull resumes it"):
        store.pull("m", lock_path=lock, http=fast_http)
    parts = [f for f in _nothing_stored(home) if f.endswith(".part")]
    assert len(parts) == 1 and parts[0].startswith("models/.tmp/")
    store.pull("m", lock_path=lock, http=fast_http)
    _only_final(home)
    assert server.requests("/m.bin")[-1][1] == "bytes=100000-"


def test_server_ignoring_range_restarts_from_zero(tmp_path, home, server, fast_http):
    server.routes["/m.bin"] = Route.of(body=DATA, cut_after=150_000, ignore_range=True)
    lock = _lock(tmp_path, entry("m", "m.bin", DATA, [https(server.url("/m.bin"))]))
    store.pull("m", lock_path=lock, http=fast_http)
    _only_final(home)  # a spliced file would fail the hash: this one is whole
    assert [r[1] for r in server.requests("/m.bin")] == [None, "bytes=150000-"]


def test_wrong_size_fails_and_leaves_nothing(tmp_path, home, server, fast_http):
    server.routes["/m.bin"] = Route.of(body=DATA[:-1])
    lock = _lock(tmp_path, entry("m", "m.bin", DATA, [https(server.url("/m.bin"))]))
    with pytest.raises(DownloadError) as e:
        store.pull("m", lock_path=lock, http=fast_http)
    assert server.url("/m.bin") in e.value.message and "299999 of 300000" in e.value.message
    files = _nothing_stored(home)
    assert files == [f for f in files if f.endswith(".part")]  # only a resumable part, never at the model's path


def test_oversized_body_fails(tmp_path, home, server, fast_http):
    server.routes["/m.bin"] = Route.of(body=DATA + b"x")
    lock = _lock(tmp_path, entry("m", "m.bin", DATA, [https(server.url("/m.bin"))]))
    with pytest.raises(DownloadError, match="more than the 300000 bytes"):
        store.pull("m", lock_path=lock, http=fast_http)
    _nothing_stored(home)


def test_wrong_hash_fails_and_leaves_nothing(tmp_path, home, server, fast_http):
    bad = bytearray(DATA)
    bad[1000] ^= 1
    server.routes["/m.bin"] = Route.of(body=bytes(bad))
    lock = _lock(tmp_path, entry("m", "m.bin", DATA, [https(server.url("/m.bin"))]))
    with pytest.raises(DownloadError, match="sha256 .* does not match models.lock"):
        store.pull("m", lock_path=lock, http=fast_http)
    assert _nothing_stored(home) == []  # a wrong file is not kept as a resumable part either


def test_404_and_500_then_success_from_the_next_source(tmp_path, home, server, fast_http):
    server.routes["/gone.bin"] = Route.of(status=404)
    server.routes["/broken.bin"] = Route.of(status=500)
    server.routes["/m.bin"] = Route.of(body=DATA)
    srcs = [https(server.url(p)) for p in ("/gone.bin", "/broken.bin", "/m.bin")]
    lock = _lock(tmp_path, entry("m", "m.bin", DATA, srcs))
    r = store.pull("m", lock_path=lock, http=fast_http)
    assert r.source == server.url("/m.bin")
    _only_final(home)
    assert len(server.requests("/gone.bin")) == 1  # 4xx: not retried
    assert len(server.requests("/broken.bin")) == fast_http.attempts  # 5xx: retried with backoff


def test_500_then_recovers_on_retry(tmp_path, home, server, fast_http):
    server.routes["/m.bin"] = Route.of(body=DATA, statuses=[503])
    lock = _lock(tmp_path, entry("m", "m.bin", DATA, [https(server.url("/m.bin"))]))
    store.pull("m", lock_path=lock, http=fast_http)
    _only_final(home)


def test_every_source_failing_lists_each_one(tmp_path, home, server, fast_http):
    server.routes["/a.bin"] = Route.of(status=404)
    server.routes["/b.bin"] = Route.of(status=500)
    srcs = [https(server.url("/a.bin")), https(server.url("/b.bin")), '{ kind = "mirror", path = "/nonexistent/usb" }']
    lock = _lock(tmp_path, entry("m", "m.bin", DATA, srcs))
    with pytest.raises(DownloadError) as e:
        store.pull("m", lock_path=lock, http=fast_http)
    msg = e.value.message
    assert "/a.bin: HTTP 404" in msg and "/b.bin: gave up after 3 attempts; last: HTTP 500" in msg
    assert "mirror /nonexistent/usb: folder /nonexistent/usb does not exist" in msg
    assert e.value.hint and e.value.exit_code != 0
    assert _nothing_stored(home) == []


def test_unverified_entry_is_pinned_on_first_pull(tmp_path, home, server, fast_http):
    server.routes["/m.bin"] = Route.of(body=DATA)
    lock = _lock(tmp_path, entry("m", "m.bin", None, [https(server.url("/m.bin"))]))
    r = store.pull("m", lock_path=lock, http=fast_http)
    assert r.checked_against == "pinned now"
    assert store.load_pins()["m"]["sha256"] == sha(DATA)
    assert store.pull("m", lock_path=lock, http=fast_http).checked_against == "pin"
    # Upstream changes the file: the pin catches it.
    server.routes["/m.bin"] = Route.of(body=blob(300_000, seed=2))
    with pytest.raises(DownloadError, match="pin from your first download"):
        store.pull("m", lock_path=lock, http=fast_http, force=True)
    assert _final(home).read_bytes() == DATA  # the verified file stays in place
    store.remove("m", lock)
    assert "m" not in store.load_pins()


def test_verify_after_one_changed_byte(tmp_path, home, server, fast_http):
    server.routes["/m.bin"] = Route.of(body=DATA)
    lock = _lock(tmp_path, entry("m", "m.bin", DATA, [https(server.url("/m.bin"))]))
    store.pull("m", lock_path=lock, http=fast_http)
    assert store.verify("m", lock)["ok"]
    with open(_final(home), "r+b") as f:
        f.seek(5000)
        b = f.read(1)
        f.seek(5000)
        f.write(bytes([b[0] ^ 0xFF]))
    with pytest.raises(VerifyError) as e:
        store.verify("m", lock)
    assert "pull m --force" in e.value.hint
    with pytest.raises(VerifyError):
        store.resolve_model_path("m", lock)  # the stamp no longer matches: rehash catches it
    store.pull("m", lock_path=lock, http=fast_http)  # not trusted as present: pulled again
    _only_final(home)


def test_resolve_before_pull_says_what_to_do(tmp_path, home, server):
    lock = _lock(tmp_path, entry("m", "m.bin", DATA, [https(server.url("/m.bin"))]))
    with pytest.raises(ModelNotFound) as e:
        store.resolve_model_path("m", lock)
    assert e.value.hint == "harness models pull m"


def test_offline_uses_only_mirrors(tmp_path, home, server, fast_http):
    server.routes["/m.bin"] = Route.of(body=DATA)
    lock = _lock(tmp_path, entry("m", "m.bin", DATA, [https(server.url("/m.bin"))]))
    with pytest.raises(DownloadError, match="offline"):
        store.pull("m", lock_path=lock, http=fast_http, offline=True)
    assert server.log == []


def test_export_then_pull_from_mirror_offline(tmp_path, home, server, fast_http, monkeypatch):
    server.routes["/m.bin"] = Route.of(body=DATA)
    lock = _lock(tmp_path, entry("m", "m.bin", DATA, [https(server.url("/m.bin"))]))
    store.pull("m", lock_path=lock, http=fast_http)
    usb = tmp_path / "usb"
    done = store.export(usb, lock_path=lock)
    assert [d["name"] for d in done] == ["m"] and (usb / "m.bin").read_bytes() == DATA
    assert (usb / "MANIFEST.json").is_file()
    # A second machine: empty home, no network source that works.
    other = tmp_path / "other"
    monkeypatch.setenv("HARNESS_HOME", str(other))
    server.routes["/m.bin"] = Route.of(status=500)
    r = store.pull("m", lock_path=lock, http=fast_http, offline=True, mirrors=[str(usb)])
    assert r.source == f"mirror {usb}"
    assert (other / "models/m/m.bin").read_bytes() == DATA
    # Same through HARNESS_MIRROR.
    store.remove("m", lock)
    monkeypatch.setenv("HARNESS_MIRROR", str(usb))
    assert store.pull("m", lock_path=lock, offline=True).source == f"mirror {usb}"


def test_corrupt_mirror_copy_is_rejected(tmp_path, home, fast_http):
    usb = tmp_path / "usb"
    usb.mkdir()
    (usb / "m.bin").write_bytes(DATA[:-10] + b"0123456789")
    lock = _lock(tmp_path, entry("m", "m.bin", DATA, [f'{{ kind = "mirror", path = "{usb}" }}']))
    with pytest.raises(DownloadError, match="does not match models.lock"):
        store.pull("m", lock_path=lock, http=fast_http)
    assert _nothing_stored(home) == []


_PULL = """
import sys
from harness.models.store import pull
from harness.models.sources import HttpSettings
r = pull("m", lock_path=sys.argv[1], http=HttpSettings(attempts=2, backoff_s=0.01))
print(r.status)
"""


def test_two_pulls_of_one_model_at_once(tmp_path, home, server):
    # Slow body (~1 s) so the second process starts while the first still downloads.
    server.routes["/m.bin"] = Route.of(body=DATA, delay_s=0.2)
    lock = _lock(tmp_path, entry("m", "m.bin", DATA, [https(server.url("/m.bin"))]))
    env = {**os.environ, "HARNESS_HOME": str(home)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _PULL, str(lock)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
    ]
    time.sleep(0.4)
    procs.append(
        subprocess.Popen(
            [sys.executable, "-c", _PULL, str(lock)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
    )
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert sorted(o[0].strip() for o in outs) == ["present", "pulled"]
    assert len(server.requests("/m.bin")) == 1  # one download; the other waited and found it
    _only_final(home)


def test_stale_part_from_an_older_file_is_discarded(tmp_path, home, server, fast_http):
    server.routes["/m.bin"] = Route.of(body=DATA)
    lock = _lock(tmp_path, entry("m", "m.bin", DATA, [https(server.url("/m.bin"))]))
    # A .part left by an earlier pull of a file that has since changed upstream.
    from harness.models.lock import load_lock

    e = load_lock(lock).get("m")
    part = store._part_path(e, e.sources[0])
    part.parent.mkdir(parents=True)
    part.write_bytes(blob(200_000, seed=9))
    r = store.pull("m", lock_path=lock, http=fast_http)
    assert r.status == "pulled"
    _only_final(home)
    assert [x[1] for x in server.requests("/m.bin")] == ["bytes=200000-", None]  # resumed, failed the hash, restarted
