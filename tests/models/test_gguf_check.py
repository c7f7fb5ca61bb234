"""check_gguf_header catches files llama.cpp would abort on, before it sees them."""

from __future__ import annotations

import numpy as np
import pytest

from harness.errors import CorruptModelFile
from harness.models.gguf_check import check_gguf_header


@pytest.fixture
def tiny_gguf(tmp_path):
    import gguf

    p = tmp_path / "tiny.gguf"
    w = gguf.GGUFWriter(str(p), "llama")
    w.add_block_count(1)
    w.add_token_list(["a", "b", "c"])
    w.add_tensor("token_embd.weight", np.arange(64 * 8, dtype=np.float32).reshape(64, 8))
    w.add_tensor("output_norm.weight", np.ones(8, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return p


def test_valid_file(tiny_gguf):
    info = check_gguf_header(tiny_gguf)
    assert info["version"] == 3 and info["tensor_count"] == 2 and info["architecture"] == "llama"


@pytest.mark.parametrize("keep", [10, 30, 200, -1])
def test_truncated_file(tiny_gguf, keep):
    data = tiny_gguf.read_bytes()
    tiny_gguf.write_bytes(data[:keep])
    with pytest.raises(CorruptModelFile, match="truncated|only"):
        check_gguf_header(tiny_gguf)


def test_not_a_gguf(tmp_path):
    p = tmp_path / "x.gguf"
    p.write_bytes(b"<html>404 Not Found</html>" * 4)
    with pytest.raises(CorruptModelFile, match="magic"):
        check_gguf_header(p)


def test_absurd_counts(tiny_gguf):
    data = bytearray(tiny_gguf.read_bytes())
    data[8:16] = (1 << 40).to_bytes(8, "little")  # tensor_count
    tiny_gguf.write_bytes(bytes(data))
    with pytest.raises(CorruptModelFile, match="implausible"):
        check_gguf_header(tiny_gguf)


def test_missing_file(tmp_path):
    with pytest.raises(CorruptModelFile, match="cannot read"):
        check_gguf_header(tmp_path / "absent.gguf")
