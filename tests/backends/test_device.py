"""Device choice and the VRAM-fit estimate: pure functions on synthetic headers, no GPU needed.
(GPU detection and the VRAM probe are harness/hw/gpu.py's: tests/hw/test_gpu.py.)"""

from __future__ import annotations

import numpy as np
import pytest

from harness.backends.device import (
    CUDA_OVERHEAD_BYTES,
    GiB,
    MiB,
    ModelFootprint,
    choose_device,
    compute_buffer_bytes,
    footprint_from_header,
    plan_offload,
    read_footprint,
    safety_margin,
)
from harness.errors import CorruptModelFile, DeviceError
from harness.hw.gpu import GpuInfo


def llama7b(n_head_kv: int = 32) -> ModelFootprint:
    """Llama-2-7B Q4_K_M-like numbers: 32 blocks of ~113 MiB, Q6_K output head, 32k vocab."""
    return ModelFootprint(
        arch="llama",
        n_layers=32,
        layer_bytes=(113 * MiB,) * 32,
        output_bytes=103 * MiB,
        input_bytes=70 * MiB,
        n_embd=4096,
        n_head=32,
        n_head_kv=n_head_kv,
        head_dim_k=128,
        head_dim_v=128,
        n_vocab=32000,
        n_ctx_train=4096,
    )


def tiny() -> ModelFootprint:
    """SmolLM2-135M Q4_1's header numbers (30 blocks of 2.1 MiB, 3 KV heads)."""
    return ModelFootprint(
        arch="llama",
        n_layers=30,
        layer_bytes=(2216448,) * 30,
        output_bytes=30083328,
        input_bytes=30081024,
        n_embd=576,
        n_head=9,
        n_head_kv=3,
        head_dim_k=64,
        head_dim_v=64,
        n_vocab=49152,
        n_ctx_train=8192,
    )


def gpu(free_gib: float, name: str = "RTX test", total_gib: float | None = None) -> GpuInfo:
    return GpuInfo(
        index=0,
        name=name,
        vram_bytes=int((total_gib or free_gib) * GiB),
        free_bytes=int(free_gib * GiB),
        driver="550.00",
        compute_capability="8.9",
    )


def test_kv_cache_size_matches_llama_cpp_formula():
    # 2 (K and V) * n_ctx * n_head_kv * head_dim * 2 bytes (f16), per layer: 4096 ctx, 32 heads -> 64 MiB.
    assert llama7b().kv_bytes_per_layer(4096) == 64 * MiB
    assert llama7b(n_head_kv=8).kv_bytes_per_layer(4096) == 16 * MiB


def test_7b_fits_entirely_on_24gb_card():
    plan = plan_offload(llama7b(), n_ctx=8192, free_vram_bytes=23 * GiB)
    assert plan.fits_all and plan.n_gpu_layers == 33  # 32 blocks + the output head
    assert plan.needed_bytes <= plan.budget_bytes


def test_7b_with_long_context_is_split_on_8gb_card():
    fp = llama7b()
    plan = plan_offload(fp, n_ctx=8192, free_vram_bytes=int(7.5 * GiB))
    assert not plan.fits_all
    assert 0 < plan.n_gpu_layers < fp.n_layers
    # The chosen layers fit the budget, one more would not.
    fixed = CUDA_OVERHEAD_BYTES + compute_buffer_bytes(fp, 8192, 512)
    per_layer = fp.layer_bytes[0] + fp.kv_bytes_per_layer(8192)
    assert fixed + plan.n_gpu_layers * per_layer <= plan.budget_bytes
    assert fixed + (plan.n_gpu_layers + 1) * per_layer > plan.budget_bytes
    assert f"{plan.n_gpu_layers} of 32 layers" in plan.reason


def test_7b_gqa_at_4k_fits_8gb_card():
    assert plan_offload(llama7b(n_head_kv=8), n_ctx=4096, free_vram_bytes=int(7.5 * GiB)).fits_all


def test_more_vram_never_means_fewer_layers():
    fp, layers = llama7b(), []
    for free in np.linspace(0.5, 24, 40):
        layers.append(plan_offload(fp, n_ctx=4096, free_vram_bytes=int(free * GiB)).n_gpu_layers)
    assert layers == sorted(layers) and layers[0] == 0 and layers[-1] == 33


def test_tiny_model_fits_any_card():
    for free in (2, 4, 8, 24, 80):
        plan = plan_offload(tiny(), n_ctx=4096, free_vram_bytes=free * GiB)
        assert plan.fits_all and plan.n_gpu_layers == 31


def test_nothing_fits_in_a_nearly_full_card():
    plan = plan_offload(llama7b(), n_ctx=4096, free_vram_bytes=600 * MiB)
    assert plan.n_gpu_layers == 0 and "not one layer fits" in plan.reason


def test_safety_margin_grows_with_the_card():
    assert safety_margin(1 * GiB) == 256 * MiB
    assert safety_margin(80 * GiB) == 4 * GiB


# ------------------------------------------------------------------ choose_device


def test_cpu_never_uses_the_gpu():
    plan = choose_device("cpu", offload_supported=True, gpus=[gpu(24)], footprint=tiny(), n_ctx=4096)
    assert plan.device == "cpu" and plan.n_gpu_layers == 0


def test_auto_on_cpu_only_build_says_why():
    plan = choose_device("auto", offload_supported=False, gpus=[], footprint=tiny(), n_ctx=4096)
    assert plan.device == "cpu" and plan.n_gpu_layers == 0 and "cannot offload" in plan.reason
    plan = choose_device("auto", offload_supported=False, gpus=[gpu(8)], footprint=tiny(), n_ctx=4096)
    assert plan.device == "cpu" and "CPU-only" in plan.reason and "install-cuda" in plan.reason


def test_auto_without_a_card_uses_the_cpu():
    plan = choose_device("auto", offload_supported=True, gpus=[], footprint=tiny(), n_ctx=4096, platform="linux")
    assert plan.device == "cpu" and "no NVIDIA GPU" in plan.reason


def test_auto_offloads_what_fits():
    full = choose_device(
        "auto", offload_supported=True, gpus=[gpu(24)], footprint=llama7b(), n_ctx=4096, platform="linux"
    )
    assert full.device == "gpu" and full.n_gpu_layers == 33 and full.reason.startswith("GPU:")
    part = choose_device(
        "auto", offload_supported=True, gpus=[gpu(4)], footprint=llama7b(), n_ctx=4096, platform="linux"
    )
    assert part.device == "gpu" and 0 < part.n_gpu_layers < 32 and part.reason.startswith("GPU+CPU:")
    none = choose_device(
        "auto", offload_supported=True, gpus=[gpu(0.5)], footprint=llama7b(), n_ctx=4096, platform="linux"
    )
    assert none.device == "cpu" and none.n_gpu_layers == 0


def test_two_cards_pool_their_memory():
    one = choose_device(
        "auto", offload_supported=True, gpus=[gpu(4)], footprint=llama7b(), n_ctx=4096, platform="linux"
    )
    two = choose_device(
        "auto", offload_supported=True, gpus=[gpu(4), gpu(4)], footprint=llama7b(), n_ctx=4096, platform="linux"
    )
    assert two.n_gpu_layers > one.n_gpu_layers


def test_gpu_on_cpu_only_build_fails_with_the_fix():
    with pytest.raises(DeviceError) as e:
        choose_device("gpu", offload_supported=False, gpus=[gpu(8)], footprint=tiny(), n_ctx=4096)
    assert "CPU-only" in e.value.message
    assert "scripts/install-cuda" in e.value.hint and "-DGGML_CUDA=on" in e.value.hint


def test_gpu_without_card_or_room_fails():
    with pytest.raises(DeviceError, match="no NVIDIA GPU"):
        choose_device("gpu", offload_supported=True, gpus=[], footprint=tiny(), n_ctx=4096, platform="linux")
    with pytest.raises(DeviceError, match="does not fit"):
        choose_device("gpu", offload_supported=True, gpus=[gpu(0.5)], footprint=llama7b(), n_ctx=4096, platform="linux")
    with pytest.raises(DeviceError, match="unknown device"):
        choose_device("tpu", offload_supported=True, gpus=[], footprint=tiny(), n_ctx=4096)


def test_metal_build_offloads_everything():
    plan = choose_device("auto", offload_supported=True, gpus=[], footprint=tiny(), n_ctx=4096, platform="darwin")
    assert plan.device == "gpu" and plan.n_gpu_layers == 31 and "Metal" in plan.reason


# ------------------------------------------------------------------ GGUF headers


def test_footprint_from_header_counts_tied_output():
    kv = {
        "general.architecture": "llama",
        "llama.block_count": 2,
        "llama.embedding_length": 64,
        "llama.attention.head_count": 4,
        "llama.attention.head_count_kv": 2,
        "tokenizer.ggml.tokens": 100,
    }
    tensors = [
        ("token_embd.weight", 1000),
        ("blk.0.attn_q.weight", 10),
        ("blk.0.ffn_up.weight", 20),
        ("blk.1.attn_q.weight", 30),
        ("output_norm.weight", 4),
    ]
    fp = footprint_from_header(kv, tensors)
    assert fp.layer_bytes == (30, 30) and fp.input_bytes == 1000
    assert fp.output_bytes == 4 + 1000  # no output.weight: llama.cpp puts a copy of token_embd there
    assert fp.head_dim_k == 16 and fp.n_vocab == 100


def _write_gguf(path, n_layers=2, n_embd=32):
    import gguf

    w = gguf.GGUFWriter(str(path), "llama")
    w.add_block_count(n_layers)
    w.add_embedding_length(n_embd)
    w.add_head_count(4)
    w.add_head_count_kv(2)
    w.add_context_length(256)
    w.add_token_list([f"tok{i}" for i in range(50)])  # an array of strings the reader must walk
    w.add_tensor("token_embd.weight", np.zeros((50, n_embd), dtype=np.float32))
    for i in range(n_layers):
        w.add_tensor(f"blk.{i}.attn_q.weight", np.zeros((n_embd, n_embd), dtype=np.float16))
    w.add_tensor("output.weight", np.zeros((50, n_embd), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def test_read_footprint_of_a_real_gguf_file(tmp_path):
    p = tmp_path / "m.gguf"
    _write_gguf(p)
    fp = read_footprint(p)
    assert (fp.arch, fp.n_layers, fp.n_embd, fp.n_head, fp.n_head_kv, fp.n_ctx_train) == ("llama", 2, 32, 4, 2, 256)
    assert fp.layer_bytes == (32 * 32 * 2,) * 2
    assert fp.input_bytes == 50 * 32 * 4 and fp.output_bytes == 50 * 32 * 4
    assert fp.n_vocab == 50


def test_read_footprint_rejects_bad_files(tmp_path):
    p = tmp_path / "m.gguf"
    _write_gguf(p)
    data = p.read_bytes()
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(data[:200])
    with pytest.raises(CorruptModelFile, match="ends early|past the end"):
        read_footprint(cut)
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGML" + data[4:])
    with pytest.raises(CorruptModelFile, match="not a GGUF"):
        read_footprint(bad)
