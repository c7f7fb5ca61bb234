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


# ----------------------------------------------------------------------------- the reader itself


def _every_kind_gguf(path):
    """Scalars of several types, strings, arrays of numbers, bools and strings, float16/float32 tensors."""
    import gguf

    w = gguf.GGUFWriter(str(path), "llama")
    w.add_block_count(2)
    w.add_file_type(7)
    w.add_float32("llama.rope.freq_base", 10000.0)
    w.add_bool("llama.use_parallel_residual", True)
    w.add_string("general.name", "tiny ünïcode")
    w.add_token_list([f"tok{i}" for i in range(300)])
    w.add_token_scores([float(i) for i in range(300)])
    w.add_array("llama.attention.head_count", [4, 4])  # per-layer head counts: an array
    w.add_array("test.flags", [True, False, True])
    w.add_tensor("token_embd.weight", np.zeros((300, 8), dtype=np.float32))
    w.add_tensor("blk.0.attn_q.weight", np.zeros((8, 8), dtype=np.float16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def test_reader_agrees_with_the_stock_gguf_reader(tmp_path):
    """The header reader overrides two internals of the pinned GGUFReader (harness/models/gguf_check.py):
    what it returns must be what the stock reader returns, arrays as their lengths."""
    import gguf

    from harness.models.gguf_check import ArrayInfo, read_gguf_header

    p = _every_kind_gguf(tmp_path / "every.gguf")
    ours, stock = read_gguf_header(p), gguf.GGUFReader(str(p))
    stock_kv = {k: f for k, f in stock.fields.items() if not k.startswith("GGUF.")}
    assert set(ours.kv) == set(stock_kv)
    for key, field in stock_kv.items():
        if field.types[0] == gguf.GGUFValueType.ARRAY:
            assert ours.kv[key] == ArrayInfo(field.types[-1].name, len(field.contents())), key
        else:
            assert ours.kv[key] == field.contents(), key
    assert [(t.name, t.ggml_type, t.n_elements, t.n_bytes) for t in ours.tensors] == [
        (t.name, int(t.tensor_type), int(t.n_elements), int(t.n_bytes)) for t in stock.tensors
    ]
    assert ours.kv["tokenizer.ggml.tokens"] == ArrayInfo("STRING", 300) and ours.file_type == 7
    assert ours.kv["general.name"] == "tiny ünïcode" and ours.architecture == "llama"


def test_unknown_tensor_type(tiny_gguf):
    data = bytearray(tiny_gguf.read_bytes())
    name = b"token_embd.weight"
    at = bytes(data).index(name) + len(name) + 4 + 2 * 8  # n_dims, then two dims: the type field
    data[at : at + 4] = (999).to_bytes(4, "little")
    tiny_gguf.write_bytes(bytes(data))
    with pytest.raises(
        CorruptModelFile, match="tiny.gguf is not a valid GGUF file: tensor token_embd.weight has unknown type 999"
    ):
        check_gguf_header(tiny_gguf)


def test_truncated_tensor_data_says_how_many_bytes_are_missing(tiny_gguf):
    data = tiny_gguf.read_bytes()
    tiny_gguf.write_bytes(data[:-1])
    with pytest.raises(
        CorruptModelFile, match=rf"its tensors need {len(data)} bytes but the file has {len(data) - 1} \(truncated\)"
    ):
        check_gguf_header(tiny_gguf)


@pytest.mark.slow  # needs the pulled models (read here, not loaded)
def test_real_headers_read_in_well_under_a_second(chat_model_path, second_family_model_path):
    """The stock GGUFReader takes ~5 s on SmolLM2's header and ~21 s on Gemma 3's (a numpy view per
    vocabulary item); the backends read it on every open."""
    import time

    from harness.models.gguf_check import ArrayInfo, read_gguf_header

    for path, vocab in ((chat_model_path, 49152), (second_family_model_path, 262144)):
        t = time.perf_counter()
        h = read_gguf_header(path)
        took = time.perf_counter() - t
        assert h.kv["tokenizer.ggml.tokens"] == ArrayInfo("STRING", vocab) and h.tensors
        assert took < 1.0, f"{path.name}: {took:.2f} s"


def test_unknown_metadata_value_type(tiny_gguf):
    data = bytearray(tiny_gguf.read_bytes())
    at = 24 + 8 + len(b"general.architecture")  # fixed header, key length, key: the value type
    data[at : at + 4] = (99).to_bytes(4, "little")
    tiny_gguf.write_bytes(bytes(data))
    with pytest.raises(CorruptModelFile, match="not a valid GGUF file: unknown metadata value type 99"):
        check_gguf_header(tiny_gguf)


def test_any_cut_or_flipped_byte_gives_a_clear_error_or_a_valid_header(tiny_gguf):
    """Never an IndexError or a numpy error from deep inside the reader: CorruptModelFile, or (a byte
    flipped inside a name or a value) a header that reads."""
    import random

    data = tiny_gguf.read_bytes()
    rng = random.Random(0)
    header = len(data) - 2048 - 32  # the tensor data: 64x8 and 8 float32s
    variants = [data[:n] for n in [*range(0, header, 3), len(data) - 1000, len(data) - 1]]
    for _ in range(150):
        flipped = bytearray(data)
        flipped[rng.randrange(header)] ^= 1 << rng.randrange(8)
        variants.append(bytes(flipped))
    refused = 0
    for v in variants:
        tiny_gguf.write_bytes(v)
        try:
            check_gguf_header(tiny_gguf)
        except CorruptModelFile as e:
            assert e.message.startswith("tiny.gguf is not a valid GGUF file: "), e.message
            refused += 1
    assert refused > len(variants) // 2  # every cut, and the flips that break the structure
