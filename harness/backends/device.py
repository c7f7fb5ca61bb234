"""Where a model runs: a VRAM-fit estimate from the GGUF header, and the cpu | gpu | auto decision
with the reason for it. The GPUs themselves (detection, VRAM) are harness/hw/gpu.py's.

Everything here but read_footprint is a pure function (of the GPUs it is given), so the decisions
are unit-tested on machines without a GPU (CI never has one).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import DeviceError
from harness.hw.gpu import GpuInfo
from harness.hw.memory import GiB, MiB

# What a CUDA process costs before any tensor: the context, cuBLAS workspace, pools.
CUDA_OVERHEAD_BYTES = 400 * MiB
# Free VRAM we leave alone: other apps (the desktop, a browser) grow while we run.
SAFETY_MARGIN_FRACTION = 0.05
SAFETY_MARGIN_MIN_BYTES = 256 * MiB
KV_BYTES_PER_VALUE = 2  # llama.cpp's default KV cache type is f16

INSTALL_CUDA_HINT = (
    "install a CUDA build of llama-cpp-python: ./scripts/install-cuda (it rebuilds it with -DGGML_CUDA=on and "
    "scripts/setup's CPU flags), then check with `harness doctor`; or use --device cpu"
)


# ----------------------------------------------------------------------------- GGUF header


@dataclass(frozen=True)
class ModelFootprint:
    """The numbers from a GGUF header that decide how much VRAM a model needs."""

    arch: str
    n_layers: int
    layer_bytes: tuple[int, ...]  # weights of each repeating block (blk.N.*)
    output_bytes: int  # output head + final norm: offloaded only when every block is
    input_bytes: int  # token embeddings: llama.cpp keeps them in host memory
    n_embd: int
    n_head: int
    n_head_kv: int
    head_dim_k: int
    head_dim_v: int
    n_vocab: int
    n_ctx_train: int | None = None
    pooling_type: int | None = None  # embedding models declare one (BERT: 1 = mean)

    @property
    def weights_bytes(self) -> int:
        return sum(self.layer_bytes) + self.output_bytes + self.input_bytes

    def kv_bytes_per_layer(self, n_ctx: int) -> int:
        return n_ctx * self.n_head_kv * (self.head_dim_k + self.head_dim_v) * KV_BYTES_PER_VALUE


def read_footprint(path: Path | str) -> ModelFootprint:
    """The footprint from the GGUF header (harness/models/gguf_check.py): milliseconds, no tensor
    data read; a truncated or corrupt file raises CorruptModelFile."""
    from harness.models.gguf_check import read_gguf_header

    header = read_gguf_header(path)
    return footprint_from_header(header.kv, [(t.name, t.n_bytes) for t in header.tensors])


def footprint_from_header(kv: Mapping[str, Any], tensors: Sequence[tuple[str, int]]) -> ModelFootprint:
    """Build the footprint from header key/values and (tensor name, bytes) pairs."""
    arch = str(kv.get("general.architecture", "llama"))

    def get(key: str, default=None):
        return kv.get(f"{arch}.{key}", default)

    n_layers = int(get("block_count", 0))
    n_embd = int(get("embedding_length", 0))
    n_head = _first(get("attention.head_count", 0))
    n_head_kv = _first(get("attention.head_count_kv", n_head))
    head_dim = n_embd // n_head if n_head else 0
    layer_bytes = [0] * n_layers
    output_bytes = input_bytes = 0
    has_output = False
    for name, size in tensors:
        if name.startswith("blk."):
            idx = int(name.split(".")[1])
            if idx < n_layers:
                layer_bytes[idx] += size
        elif name.startswith("token_embd") and not name.startswith("token_embd_norm"):
            input_bytes += size
        elif name.startswith("output"):
            has_output = has_output or name == "output.weight"
            output_bytes += size
        else:
            input_bytes += size  # position embeddings, token types: host side
    if not has_output and f"{arch}.pooling_type" not in kv:
        # Tied embeddings: llama.cpp copies token_embd to the output's device.
        # (Embedding models, which declare a pooling type, have no LM head at all.)
        output_bytes += sum(s for n, s in tensors if n == "token_embd.weight")
    n_vocab = kv.get(f"{arch}.vocab_size") or _length(kv.get("tokenizer.ggml.tokens"))
    ctx = get("context_length")
    return ModelFootprint(
        arch=arch,
        n_layers=n_layers,
        layer_bytes=tuple(layer_bytes),
        output_bytes=output_bytes,
        input_bytes=input_bytes,
        n_embd=n_embd,
        n_head=n_head,
        n_head_kv=n_head_kv,
        head_dim_k=int(get("attention.key_length", head_dim)),
        head_dim_v=int(get("attention.value_length", head_dim)),
        n_vocab=int(n_vocab),
        n_ctx_train=int(ctx) if ctx else None,
        pooling_type=int(get("pooling_type")) if get("pooling_type") is not None else None,
    )


def _first(v) -> int:
    # Some archs store per-layer head counts as an array (read as an ArrayInfo, its items not
    # kept): fall back to 0 (no KV estimate) rather than guess.
    return int(v) if isinstance(v, (int, float)) else 0


def _length(v) -> int:
    """The vocabulary's size: an array's length (ArrayInfo), or a count given directly."""
    count = getattr(v, "count", v)
    return int(count) if isinstance(count, (int, float)) else 0


# ----------------------------------------------------------------------------- the estimate


@dataclass(frozen=True)
class OffloadPlan:
    n_gpu_layers: int  # llama.cpp's count: n_layers + 1 means every block and the output head
    fits_all: bool
    needed_bytes: int  # estimated VRAM for a full offload
    budget_bytes: int  # free VRAM we allowed ourselves to use
    reason: str


def compute_buffer_bytes(fp: ModelFootprint, n_ctx: int, n_ubatch: int) -> int:
    """llama.cpp's scratch for one ubatch: logits, attention scores (as without flash attention:
    the worst case, though chat models run with it on), activations. An over-estimate on purpose."""
    logits = n_ubatch * fp.n_vocab * 4
    scores = n_ubatch * n_ctx * max(fp.n_head, 1) * 4
    activations = n_ubatch * fp.n_embd * 4 * 8
    return logits + scores + activations


def safety_margin(total_or_free_bytes: int) -> int:
    return max(SAFETY_MARGIN_MIN_BYTES, int(total_or_free_bytes * SAFETY_MARGIN_FRACTION))


def plan_offload(fp: ModelFootprint, *, n_ctx: int, free_vram_bytes: int, n_ubatch: int = 512) -> OffloadPlan:
    """How many layers fit in free_vram_bytes. Blocks are offloaded from the last one down
    (llama.cpp's order), each with its KV cache; the output head only with all of them."""
    fixed = CUDA_OVERHEAD_BYTES + compute_buffer_bytes(fp, n_ctx, n_ubatch)
    budget = max(0, free_vram_bytes - safety_margin(free_vram_bytes))
    kv = fp.kv_bytes_per_layer(n_ctx)
    needed = fixed + sum(fp.layer_bytes) + kv * fp.n_layers + fp.output_bytes
    gib = lambda b: f"{b / GiB:.2f} GiB"  # noqa: E731
    if needed <= budget:
        return OffloadPlan(
            fp.n_layers + 1,
            True,
            needed,
            budget,
            f"all {fp.n_layers} layers + output fit: needs ~{gib(needed)} of {gib(budget)} usable VRAM",
        )
    used, k = fixed, 0
    for size in reversed(fp.layer_bytes):
        if used + size + kv > budget:
            break
        used += size + kv
        k += 1
    if k == 0:
        return OffloadPlan(
            0, False, needed, budget, f"not one layer fits: needs ~{gib(needed)} in all, {gib(budget)} usable VRAM"
        )
    return OffloadPlan(
        k,
        False,
        needed,
        budget,
        f"{k} of {fp.n_layers} layers fit (~{gib(used)} of {gib(budget)} usable VRAM; "
        f"a full offload needs ~{gib(needed)}); the rest run on the CPU",
    )


# ----------------------------------------------------------------------------- the decision


@dataclass(frozen=True)
class DevicePlan:
    device: str  # "cpu" | "gpu"
    n_gpu_layers: int
    reason: str


def choose_device(
    requested: str,
    *,
    offload_supported: bool,
    gpus: Sequence[GpuInfo],
    footprint: ModelFootprint | None,
    n_ctx: int,
    n_ubatch: int = 512,
    platform: str = sys.platform,
) -> DevicePlan:
    """cpu: never touch the GPU. gpu: offload or fail with how to fix it. auto: offload what fits."""
    from harness.backends.catalog import check_device

    check_device(requested)
    if requested == "cpu":
        return DevicePlan("cpu", 0, "--device cpu: the GPU is not used")
    if not offload_supported:
        if requested == "gpu":
            why = "an NVIDIA GPU is present but " if gpus else ""
            raise DeviceError(
                f"--device gpu: {why}this llama-cpp-python build is CPU-only (llama_supports_gpu_offload() is false)",
                hint=INSTALL_CUDA_HINT,
            )
        if gpus:
            return DevicePlan(
                "cpu",
                0,
                f"CPU: {gpus[0].name} found but this llama-cpp-python build is "
                "CPU-only (run scripts/install-cuda to use it)",
            )
        return DevicePlan("cpu", 0, "CPU: this llama-cpp-python build cannot offload to a GPU")
    if platform == "darwin" and not gpus:
        # Metal build: unified memory, llama.cpp's own default is to offload everything.
        layers = footprint.n_layers + 1 if footprint else 999
        return DevicePlan("gpu", layers, "GPU: Apple Metal build (unified memory), all layers offloaded")
    if not gpus:
        if requested == "gpu":
            raise DeviceError(
                "--device gpu: no NVIDIA GPU found (nvidia-smi / NVML see none)",
                hint="check the driver with `nvidia-smi`; or use --device cpu",
            )
        return DevicePlan("cpu", 0, "CPU: no NVIDIA GPU detected (nvidia-smi / NVML see none)")
    if footprint is None:
        return DevicePlan("gpu", 999, "GPU: model size unknown, offloading all layers")
    # llama.cpp splits layers across GPUs in proportion to free memory; each GPU pays its own overhead.
    free = sum(g.free_bytes or 0 for g in gpus) - CUDA_OVERHEAD_BYTES * (len(gpus) - 1)
    plan = plan_offload(footprint, n_ctx=n_ctx, free_vram_bytes=free, n_ubatch=n_ubatch)
    names = ", ".join(f"{g.name} ({(g.free_bytes or 0) / GiB:.1f} GiB free)" for g in gpus)
    if plan.n_gpu_layers == 0:
        if requested == "gpu":
            raise DeviceError(
                f"--device gpu: the model does not fit on {names}: {plan.reason}",
                hint="use a smaller model or --n-ctx, free VRAM, or use --device cpu",
            )
        return DevicePlan("cpu", 0, f"CPU: {plan.reason} on {names}")
    where = "GPU" if plan.fits_all else "GPU+CPU"
    return DevicePlan("gpu", plan.n_gpu_layers, f"{where}: {plan.reason} on {names}")
