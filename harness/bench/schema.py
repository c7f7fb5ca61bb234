"""The result file of `harness bench`: one pydantic model, exported to schemas/result.schema.json.

A file carries everything needed to compare it with one from another machine without guessing:
what ran (lab, model + sha256, backend + version, device), with which settings, on what hardware,
and every figure with its spread. Bump SCHEMA_VERSION on any change that an older reader could
misread, and add a migration in harness/bench/io.py.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.hw.gpu import GpuInfo  # the one GPU type; its card fields are the file's SystemInfo.gpus[]

SCHEMA_VERSION = 6  # 2: host probe (RunResult.host_probe, SystemInfo.host_probe_method); 3: llama_cpp_build; 4: Settings.prefix_cache; 5: RunResult.fingerprint, ThroughputResult.depths/trace/energy; 6: threads and embedding quantisation as matrix dimensions (Cell, MatrixSpec, Settings.embed_quant, RunResult.embed_model), LabFigures.outcomes
TOOL: Literal["local-lab-harness"] = "local-lab-harness"


class _Model(BaseModel):
    # Unknown keys are an error: a typo or a newer writer must not be silently dropped.
    model_config = ConfigDict(extra="forbid")


class Stat(_Model):
    """One figure with its spread over `n` observations (repetitions or items)."""

    mean: float | None = None
    median: float | None = None
    p95: float | None = None
    stddev: float | None = Field(None, description="sample standard deviation (n-1); 0 when n == 1")
    min: float | None = None
    max: float | None = None
    n: int = 0
    unit: str | None = None


class Bandwidth(_Model):
    """Memory bandwidth measured on the spot (see docs/benchmarks.md for what it means)."""

    cpu_copy_gb_s: Stat | None = None  # numpy copy, counts bytes read + bytes written
    cpu_method: str | None = None
    gpu_copy_gb_s: Stat | None = None
    gpu_method: str | None = None
    note: str | None = None


class HostInfo(_Model):
    """Only present with --include-host: these files are meant to be posted publicly."""

    hostname: str
    user: str
    home: str


class LlamaCppBuild(_Model):
    """How the llama.cpp that ran was built (harness/llama_build.py): speeds depend on it."""

    cpu_features: list[str] = Field(default_factory=list, description="compiled in, from llama.cpp's system info")
    amx: bool | None = Field(None, description="ggml's AMX code compiled in")
    extra_bufts: bool | None = Field(None, description="models loaded with extra buffer types (weight repacking)")
    cmake_args: str | None = Field(None, description="as scripts/setup built it; None: built elsewhere, unknown")
    built_by: str | None = None


class SystemInfo(_Model):
    os: str
    python: str
    harness_version: str
    git_commit: str | None = None
    git_dirty: bool | None = None
    cpu_model: str | None = None
    cpu_cores_physical: int | None = None
    cpu_cores_logical: int | None = None
    ram_bytes: int | None = None
    gpus: list[GpuInfo] = Field(default_factory=list)
    llama_cpp_version: str | None = None
    llama_cpp_gpu_offload: bool | None = None
    llama_cpp_build: LlamaCppBuild | None = None
    backend_versions: dict[str, str | None] = Field(default_factory=dict)
    bandwidth: Bandwidth | None = None
    host_probe_method: str | None = Field(
        None, description="the fixed work behind RunResult.host_probe (harness/bench/probe.py); None: no probe ran"
    )
    host_probe_note: str | None = None  # why no probe ran
    host: HostInfo | None = None


class Settings(_Model):
    """The settings a run used; two runs are comparable when these match."""

    n_ctx: int | None = None
    threads: int | None = None
    n_gpu_layers: int | None = None
    n_batch: int | None = None
    n_ubatch: int | None = None
    flash_attn: bool | None = None  # llama.cpp backend only; None where the backend does not say
    prefix_cache: bool | None = Field(
        None,
        description="llama.cpp backend: the KV cache of a prompt's common prefix with the call before reused; "
        "the throughput cell is always cold",
    )
    seed: int
    temperature: float
    repetitions: int
    warmup: int
    limit: int | None = None
    embed_quant: str | None = Field(
        None,
        description="schema v6: the embedding model's quantisation asked with --embed-quant (F16: the pinned file)",
    )


class ThroughputPoint(_Model):
    """One (prompt length, generation length) pair, LocalScore style."""

    n_prompt: int
    n_gen: int
    ttft_s: Stat
    prefill_tok_s: Stat
    decode_tok_s: Stat
    generated_tokens: Stat  # < n_gen when the model stopped early (end of text)


class Quantiles(_Model):
    """Tail figures of many small observations pooled over repetitions (e.g. every inter-token gap)."""

    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    max: float | None = None
    n: int = 0
    unit: str | None = None


class DepthPoint(_Model):
    """Streamed generation after `depth` tokens already in the KV cache (llama-bench -d), timed per token."""

    depth: int = Field(description="prompt tokens asked for; 0: a prompt of a few tokens, as tg<N> uses")
    n_gen: int
    prompt_tokens: Stat
    decode_tok_s: Stat = Field(description="(tokens - 1) / (last token - first token), per repetition")
    itl_ms: Quantiles = Field(description="inter-token latency: the gaps between streamed tokens, all repetitions")
    generated_tokens: Stat


class TokenTrace(_Model):
    """Every streamed token's time of one repetition (bench --trace), ms from the request's start."""

    depth: int
    repetition: int
    token_ms: list[float]


class Energy(_Model):
    """Joules per token over the measured pp/tg repetitions (harness/bench/energy.py), where the machine can tell."""

    sources: list[str] = Field(default_factory=list, description="e.g. rapl:package-0, nvml; empty: none available")
    pp_j_per_token: float | None = None
    tg_j_per_token: float | None = None
    tg_tok_per_s_per_w: float | None = Field(None, description="= generated tokens per joule")
    tg_mean_w: float | None = None
    note: str | None = Field(
        None, description="why a figure is missing, e.g. 'energy not available on this machine: ...'"
    )


class ThroughputResult(_Model):
    """llama-bench-comparable figures: pp<N> = prefill of an N-token prompt, tg<N> = N generated tokens."""

    pp_tokens: int
    tg_tokens: int
    load_s: Stat | None = None  # model load (open_backend), measured once per cell
    pp_tok_s: Stat  # mean ± stddev over repetitions after warm-up, as llama-bench reports
    tg_tok_s: Stat
    tg_generated_tokens: Stat
    pairs: list[ThroughputPoint] = Field(default_factory=list)
    depths: list[DepthPoint] = Field(default_factory=list, description="schema v5: decode speed and ITL by depth")
    trace: list[TokenTrace] | None = Field(None, description="schema v5, with --trace: every token's time")
    energy: Energy | None = Field(None, description="schema v5")


class Fingerprint(_Model):
    """The greedy-output fingerprint of a chat model as the labs run it (harness/bench/fingerprint.py):
    equal fingerprints, equal answers on its prompts; different ones name a numerics difference."""

    method: str
    sha256: str = Field(description="first 16 hex digits of the sha256 of the replies")
    prompts: int
    tokens: int = Field(description="tokens generated in all")
    threads: int | None = None
    flash_attn: bool | None = None
    device_used: str | None = None
    n_gpu_layers: int | None = None


class Criterion(_Model):
    name: str
    value: float | None
    op: str | None = None
    threshold: float | None = None
    passed: bool | None = None


class ItemOutcomes(_Model):
    """Right (1) or wrong (0) per item of the lab's frontier criterion (lab.toml `frontier = true`), in the
    grader's item order: what the paired test of harness/bench/frontier.py needs."""

    figure: str = Field(description="the criterion the outcomes are of; their mean is its value")
    items_sha256: str = Field(
        description="first 16 hex digits of the sha256 of the item ids, in order: equal = the same items"
    )
    correct: list[int]


class LabFigures(_Model):
    lab_version: str | None = None
    passed: bool | None = None
    criteria: list[Criterion] = Field(default_factory=list)
    accuracy: dict[str, Stat] = Field(default_factory=dict)  # grader values per metric, over repetitions
    latency: dict[str, Stat] = Field(default_factory=dict)  # load_s, ttft_s, item_s, prefill/decode tok/s
    retrieval: dict[str, Stat] = Field(default_factory=dict)  # recall@k, queries_per_s
    tokens_in: int | None = None
    tokens_out: int | None = None
    extra: dict[str, Any] = Field(default_factory=dict)  # other grader metrics, as reported
    outcomes: ItemOutcomes | None = Field(None, description="schema v6: per-item outcomes of the frontier criterion")
    outcomes_note: str | None = Field(None, description="schema v6: why there are no outcomes")


class Cell(_Model):
    """One point of the matrix. threads and embed_quant are set only where the matrix varies them
    (several --threads, any --embed-quant), so a one-thread-count file lines up with older ones."""

    lab: str
    model: str
    backend: str
    device: Literal["cpu", "gpu", "auto"]
    threads: int | None = Field(None, description="schema v6: when the bench ran several thread counts")
    embed_quant: str | None = Field(None, description="schema v6: the embedding model's quantisation (--embed-quant)")


class EmbedModel(_Model):
    """The embedding model file a lab cell used (harness/bench/embed_quant.py)."""

    name: str
    quant: str
    sha256: str = Field(description="of the file: the lock's for the pinned one, measured for a quantised copy")
    bytes: int | None = None
    source_sha256: str | None = Field(None, description="the pinned file it was quantised from")


class RunResult(_Model):
    cell: Cell
    system: str = Field(description="key into ResultFile.systems: the machine this cell ran on")
    status: Literal["ok", "error"]
    error: str | None = None
    device_used: str | None = None
    model_sha256: str | None = None
    model_bytes: int | None = None
    backend_version: str | None = None
    backend_info: dict[str, Any] = Field(default_factory=dict)
    settings: Settings
    wall_s: float
    peak_rss_bytes: int | None = None
    peak_vram_bytes: int | None = None  # None off GPU
    throughput: ThroughputResult | None = None
    lab: LabFigures | None = None
    host_probe: Stat | None = Field(
        None, description="the host's speed around this cell: the fixed probe's tok/s, before and after it"
    )
    decode_efficiency: float | None = Field(
        None, description="decode tok/s / (memory bandwidth / model bytes); see docs/benchmarks.md"
    )
    fingerprint: Fingerprint | None = Field(
        None, description="of the chat model with the labs' settings, on the first cell of each model/backend/device"
    )
    embed_model: EmbedModel | None = Field(None, description="schema v6: the embedding model of a lab with that role")


class MatrixSpec(_Model):
    labs: list[str]
    models: list[str]
    backends: list[str]
    devices: list[str]
    threads: list[int] = Field(
        default_factory=list, description="schema v6: thread counts as a dimension (two or more)"
    )
    embed_quants: list[str] = Field(default_factory=list, description="schema v6: --embed-quant")
    embed_quant_labs: list[str] = Field(
        default_factory=list,
        description="schema v6: the labs with an embedding model, the only ones embed_quants multiply",
    )


class Shard(_Model):
    index: int  # 1-based
    count: int


class ResultFile(_Model):
    schema_version: Literal[SCHEMA_VERSION] = SCHEMA_VERSION  # type: ignore[valid-type]  # one place for the number
    tool: Literal["local-lab-harness"] = TOOL
    harness_version: str
    created_at: str  # ISO 8601, UTC
    matrix: MatrixSpec
    shards: list[Shard] = Field(default_factory=list)  # which shards this file holds; empty = whole matrix
    systems: dict[str, SystemInfo]
    runs: list[RunResult]
