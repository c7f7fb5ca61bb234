"""The in-process llama.cpp backend (llama-cpp-python), the harness's embedded default.

Generation runs the harness's own token loop, so every count is exact (prompt tokens are the
tokens we evaluated, completion tokens the tokens we sampled), on one of two paths:
  "fast" (default): llama_decode on plain batches + llama.cpp's native sampler chain through the
      low-level bindings; a few ctypes calls per token (issue 8). Same tokens as the high-level
      API at temperature 0 (and with the same seed above it), with and without a JSON schema:
      tested. Greedy under a schema checks the argmax against the grammar first
      (grammar_greedy.py): 1.4-2.6x faster decode than Llama.generate's grammar over every token.
  "llama.generate": llama-cpp-python's high-level generator, when fast=False (the tests' second
      opinion). The path a call used is in info().extra["generation_path"].

Timings (wall clock, `time.perf_counter`, the same way for every path):
  load_s        Llama(...) construction; reported on the first call after load, 0 after that
  ttft_s        request start (before templating/tokenizing) -> first generated token sampled
  prefill_tok_s prompt_tokens / ttft_s
  decode_tok_s  (completion_tokens - 1) / (total_s - ttft_s): tokens after the first, per second
  total_s       request start -> last token handled
Wall clock includes the Python per-token work, which is what a user of the harness waits for;
llama.cpp's own perf counters (llama_perf_context: pure compute time) are kept beside them in
`last_perf` / info().extra["last_perf"] to show how much of a call Python cost.

Prefix reuse (prefix_cache=True, the default for chat; HARNESS_PREFIX_CACHE=0 or
`--no-prefix-cache` turns it off): the KV cache of the last call is kept, the longest common token
prefix with the next prompt is reused and only the rest is evaluated, as llama-server's
cache_prompt does. Completion.cached_tokens says how many prompt tokens were reused; ttft_s is
still request start -> first token, and prefill_tok_s counts only the tokens evaluated. The
throughput benchmark and the host probe open their backend with prefix_cache=False: cold prompts,
as llama-bench measures them.
"""

from __future__ import annotations

import codecs
import ctypes
import json
import os
import signal
import time
from collections.abc import Generator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from harness.backends.base import BackendInfo, Chunk, Completion, Message, Timings, final_completion
from harness.backends.device import ModelFootprint, choose_device, read_footprint
from harness.backends.grammar_greedy import GreedyGrammar, grammar_sampler
from harness.backends.llama_prefix import (
    RESTORE_MIN_GAIN,
    REUSE_ALIGN,
    STASH_MIN_ROWS,
    SavedPrefixes,
    exact_rows,
    prompt_cache_summary,
    reusable_prefix,
)
from harness.errors import BackendError, BackendUnavailable
from harness.hw.cpu import default_threads
from harness.hw.gpu import detect_gpus, process_vram_bytes
from harness.hw.llama_info import build_flags
from harness.llama_build import amx_guard_needed

DEFAULT_CHAT_CTX = 4096
EMBED_MAX_CTX = 512  # BERT position tables stop at 512: larger n_ctx aborts the process (FINDINGS)

# Same sampling defaults as llama-cpp-python's create_completion, so temperature-0 outputs match it.
SAMPLING: dict[str, Any] = dict(top_k=40, top_p=0.95, min_p=0.05, typical_p=1.0, repeat_penalty=1.0)


def _import_llama_cpp():
    try:
        import llama_cpp
    except ImportError as e:  # pragma: no cover - the package depends on it
        raise BackendUnavailable(
            f"llama-cpp-python is not importable: {e}", hint="./scripts/setup builds and installs it"
        ) from e
    return llama_cpp


class _StopScanner:
    """Finds stop strings in streamed text and holds back a tail that may start one."""

    def __init__(self, stops: Sequence[str]):
        self.stops = [s for s in stops if s]
        self.text = ""
        self.emitted = 0

    def feed(self, piece: str) -> tuple[str, bool]:
        """Append `piece`; return (text safe to emit now, whether a stop string was hit)."""
        start = max(0, len(self.text) - max((len(s) for s in self.stops), default=0))
        self.text += piece
        hit = min((i for i in (self.text.find(s, start) for s in self.stops) if i >= 0), default=-1)
        if hit >= 0:
            self.text = self.text[:hit]
            out, self.emitted = self.text[self.emitted :], len(self.text)
            return out, True
        hold = 0
        for s in self.stops:  # longest suffix of text that is a proper prefix of a stop string
            for k in range(min(len(s) - 1, len(self.text)), hold, -1):
                if self.text.endswith(s[:k]):
                    hold = k
                    break
        end = len(self.text) - hold
        out = self.text[self.emitted : end] if end > self.emitted else ""
        self.emitted = max(self.emitted, end)
        return out, False

    def flush(self) -> str:
        out, self.emitted = self.text[self.emitted :], len(self.text)
        return out


@contextmanager
def _model_params(llama_cpp, *, use_extra_bufts: bool):
    """Llama() takes its llama_model_params from llama_model_default_params() and has no argument
    for use_extra_bufts (weight repacking, the AMX buffer): set it there while the model loads."""
    if use_extra_bufts:
        yield
        return
    bindings = llama_cpp.llama_cpp
    default = bindings.llama_model_default_params

    def params():
        p = default()
        p.use_extra_bufts = False
        return p

    bindings.llama_model_default_params = params
    try:
        yield
    finally:
        bindings.llama_model_default_params = default


def _crash_for_tests() -> None:
    """HARNESS_TEST_NATIVE_CRASH=SIGSEGV makes a generation die of that signal where llama.cpp's
    AMX bug did (the first prompt decode): tests prove that every caller reports such a crash."""
    name = os.environ.get("HARNESS_TEST_NATIVE_CRASH")
    if name:
        os.kill(os.getpid(), signal.Signals[name])


# Flash attention for chat models, unless HARNESS_FLASH_ATTN says otherwise. Off: llama.cpp's logits
# are then bit-identical at any thread count, while with it on decode depends on the thread count
# past 512 KV cells (docs/benchmarks.md), and the dspy lab's reference, calibrated with it on an
# AVX-512 Xeon, fell below its McNemar bar on an AVX2 EPYC (p 0.0625; off: 0.016 there, 0.0039 on
# the Xeon). Cold-prompt speed figures (the throughput cell, the host probe, bench-decode) turn it
# on, as llama.cpp's own tools do ("auto"): prefill ~1.2x faster here (pp512, 2 cores).
CHAT_FLASH_ATTN = False


def _env_switch(name: str) -> bool | None:
    """An on/off environment variable: 1 -> True, 0 -> False, unset -> None (the caller's default)."""
    value = os.environ.get(name, "").strip()
    if value not in ("", "0", "1"):
        raise BackendError(
            f"{name}={value!r} is neither 0 nor 1", hint="unset it (the harness's default), or set 0 (off) or 1 (on)"
        )
    return None if value == "" else value == "1"


def flash_attn_setting(default: bool = CHAT_FLASH_ATTN) -> bool:
    """HARNESS_FLASH_ATTN=1 / 0 when set, else `default`."""
    asked = _env_switch("HARNESS_FLASH_ATTN")
    return default if asked is None else asked


def prefix_cache_setting() -> bool | None:
    """HARNESS_PREFIX_CACHE=1 / 0 when set (`--no-prefix-cache` sets 0), else None: the default."""
    return _env_switch("HARNESS_PREFIX_CACHE")


class LlamaCppBackend:
    """A GGUF model loaded in this process. role="chat": chat/stream/complete; role="embedding": embed."""

    name = "llama-cpp"

    def __init__(
        self,
        model_path: Path | str,
        *,
        model_name: str | None = None,
        role: str = "chat",
        device: str = "auto",
        threads: int | None = None,
        n_ctx: int | None = None,
        n_batch: int | None = None,
        verbose: bool = False,
        fast: bool = True,
        flash_attn: bool | None = None,
        extra_bufts: bool | None = None,
        prefix_cache: bool | None = None,
    ):
        self.fast = fast  # the low-level decode loop (False: Llama.generate, the tests' second opinion)
        self.last_path: str | None = None

        if role not in ("chat", "embedding"):
            raise BackendError(f"unknown role {role!r}", hint="use role='chat' or role='embedding'")
        if threads is not None and threads < 1:
            raise BackendError(f"threads must be >= 1, got {threads}", hint="pass --threads 1 or more")
        self.model_path = Path(model_path)
        self.model_name = model_name or self.model_path.stem
        self.role = role
        llama_cpp = _import_llama_cpp()
        self._lc = llama_cpp
        self.footprint: ModelFootprint = read_footprint(self.model_path)  # also rejects a non-GGUF file early
        fp = self.footprint

        if role == "embedding":
            # n_ctx = n_batch = n_ubatch: one input always fits one ubatch, and we count tokens
            # before every call, so llama.cpp's hard aborts (FINDINGS) cannot be reached.
            limit = (
                min(fp.n_ctx_train or EMBED_MAX_CTX, EMBED_MAX_CTX)
                if fp.arch == "bert"
                else (fp.n_ctx_train or EMBED_MAX_CTX)
            )
            n_ctx = min(n_ctx or EMBED_MAX_CTX, limit)
            n_batch = n_ctx
            # All cores, as for chat: the labs embed and generate one after the other, never at
            # once (measured here, MiniLM, 150 sentences: 2 threads 61-72 texts/s, 1 thread 38-45).
            self.threads = threads or default_threads()
        else:
            n_ctx = n_ctx or min(fp.n_ctx_train or DEFAULT_CHAT_CTX, DEFAULT_CHAT_CTX)
            n_batch = min(n_batch or 512, n_ctx)
            self.threads = threads or default_threads()
        self.n_ctx, self.n_batch = n_ctx, n_batch
        # Embedding models keep llama-cpp-python's off; chat models: CHAT_FLASH_ATTN says why.
        self.flash_attn = (role == "chat" and flash_attn_setting()) if flash_attn is None else flash_attn

        offload = bool(llama_cpp.llama_supports_gpu_offload())
        gpus = [] if device == "cpu" else detect_gpus()
        self.plan = choose_device(
            device, offload_supported=offload, gpus=gpus, footprint=fp, n_ctx=n_ctx, n_ubatch=n_batch
        )
        # Prompt-prefix reuse (docs/backends.md): chat models on the CPU, flash attention off (with it
        # on, a suffix after a cached prefix gets other logits than a cold prompt: measured, 4 of 12
        # greedy replies differed). GPU kernels are unmeasured here: only when asked for.
        if prefix_cache is None:
            asked = prefix_cache_setting()
            prefix_cache = role == "chat" and (self.plan.device != "gpu" if asked is None else asked)
        # (llama_prefix.py's rules need cold pieces to start on multiples of REUSE_ALIGN)
        self.prefix_cache = prefix_cache and not self.flash_attn and self.n_batch % REUSE_ALIGN == 0
        self._kv_tokens: list[int] = []  # the leading cache rows fit for reuse (exact_rows), positions 0..n-1
        self._offload_supported = offload
        self._gpus = gpus

        kwargs: dict[str, Any] = dict(
            model_path=str(self.model_path),
            n_gpu_layers=self.plan.n_gpu_layers,
            n_threads=self.threads,
            n_threads_batch=self.threads,
            n_ctx=n_ctx,
            n_batch=n_batch,
            n_ubatch=n_batch,
            verbose=verbose,
        )
        if self.flash_attn:
            kwargs["flash_attn"] = True
        if role == "embedding":
            kwargs["embedding"] = True
            if fp.pooling_type is None:
                # A decoder used as an embedder defaults to one vector per token: pool by mean.
                kwargs["pooling_type"] = llama_cpp.LLAMA_POOLING_TYPE_MEAN
        # An AMX build (not made by scripts/setup) crashes in its AMX buffer: load without extra
        # buffer types then (harness/llama_build.py says why).
        self.extra_bufts = not amx_guard_needed(build_flags(llama_cpp)) if extra_bufts is None else extra_bufts
        t0 = time.perf_counter()
        try:
            from llama_cpp import Llama

            with _model_params(llama_cpp, use_extra_bufts=self.extra_bufts):
                self._llm: Any = Llama(**kwargs)  # None once closed
            self._warm_up()
        except (ValueError, RuntimeError, OSError) as e:
            raise BackendError(
                f"llama.cpp could not load {self.model_path.name}: {e}",
                hint="check the file with `harness models verify`, or try --device cpu",
            ) from e
        self._load_s: float | None = time.perf_counter() - t0
        if getattr(self._llm, "_is_recurrent", False) or getattr(self._llm, "_is_hybrid", False):
            self.prefix_cache = False  # a recurrent state cannot be cut back to a prefix
        self._saved = SavedPrefixes(self._lc, self._llm._ctx.ctx)
        self._vocab = self._llm._model.vocab
        self._piece_buf = ctypes.create_string_buffer(256)
        self._formatter = self._chat_formatter()
        self._grammars: dict[str, Any] = {}
        self.peak_vram_bytes = process_vram_bytes() if self.plan.device == "gpu" else None
        self.last_perf: dict[str, Any] | None = None
        self._prompt_log: list[tuple[int, int, float]] = []  # (prompt tokens, from the cache, TTFT s) per call
        self.busy_s = 0.0  # time spent generating or embedding: a lab check's profile (harness/labs/child.py)

    # ------------------------------------------------------------------ helpers

    def _warm_up(self) -> None:
        # As llama-cli and llama-bench do: one tiny decode pages the weights in and builds the
        # compute graph, so this cost lands in load_s instead of the first call's ttft.
        llm = self._llm
        bos = llm.token_bos()
        tokens = [bos if bos >= 0 else 0]
        if self.role == "embedding":
            llm._batch.reset()
            llm._batch.add_sequence(tokens, 0, True)
            llm._ctx.decode(llm._batch)
            llm._batch.reset()
            llm._ctx.kv_cache_clear()
        else:
            llm.eval(tokens)
            llm.reset()
        self._lc.llama_perf_context_reset(llm._ctx.ctx)

    def _chat_formatter(self):
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        template = self._llm.metadata.get("tokenizer.chat_template")
        if not template:
            return None
        model = self._llm._model
        eos, bos = model.token_eos(), model.token_bos()
        return Jinja2ChatFormatter(
            template=template,
            eos_token=model.token_get_text(eos) if eos != -1 else "",
            bos_token=model.token_get_text(bos) if bos != -1 else "",
            stop_token_ids=[eos],
        )

    def _take_load_s(self) -> float:
        load, self._load_s = self._load_s, 0.0
        return load or 0.0

    def _grammar(self, schema: Mapping[str, Any] | None):
        if schema is None:
            return None
        from llama_cpp import LlamaGrammar

        key = json.dumps(schema, sort_keys=True)
        if key not in self._grammars:
            try:
                self._grammars[key] = LlamaGrammar.from_json_schema(key, verbose=False)
            except Exception as e:
                raise BackendError(
                    f"cannot turn this JSON schema into a grammar: {e}",
                    hint="use a plain JSON schema (object/array/string/number/enum)",
                ) from e
        return self._grammars[key]

    def _require(self, role: str, what: str) -> None:
        if self.role != role:
            raise BackendError(
                f"{what} needs a {role} model; {self.model_name} was opened as {self.role}",
                hint=f"open it with role={role!r}",
            )

    def _chat_prompt(self, messages: Sequence[Message]) -> tuple[list[int], list[str]]:
        msgs = [dict(m) for m in messages]
        if not msgs:
            raise BackendError("chat needs at least one message", hint='pass [{"role": "user", "content": "..."}]')
        if self._formatter is None:
            # A base model without a chat template: plain text, the user's words last.
            text = "\n\n".join(m.get("content", "") for m in msgs)
            return self._llm.tokenize(text.encode("utf-8"), add_bos=True, special=True), []
        result = self._formatter(messages=msgs)
        tokens = self._llm.tokenize(result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True)
        extra_stop = result.stop if isinstance(result.stop, list) else [result.stop] if result.stop else []
        return tokens, extra_stop

    def _text_prompt(self, prompt: str) -> list[int]:
        # As create_completion does: BOS + the text, special tokens parsed.
        if prompt == "":
            return [self._llm.token_bos()]
        return self._llm.tokenize(prompt.encode("utf-8"), special=True)

    def _piece(self, token: int) -> bytes:
        # The token's bytes, as llm.detokenize([token]) gives them, without its 32-byte limit.
        n = self._lc.llama_token_to_piece(self._vocab, token, self._piece_buf, len(self._piece_buf), 0, False)
        return self._piece_buf.raw[:n] if n >= 0 else b""

    def _sampler_chain(self, temperature: float, seed: int | None, grammar=None):
        # The chain Llama._init_sampler builds (its repeat penalty of 1.0 is a no-op, left out),
        # so both paths sample alike: the grammar first, then greedy at temperature 0, else
        # top-k/typical/top-p/min-p/temp/dist.
        lc = self._lc
        chain = lc.llama_sampler_chain_init(lc.llama_sampler_chain_default_params())
        add = lambda smpl: lc.llama_sampler_chain_add(chain, smpl)  # noqa: E731  the chain owns them
        if grammar is not None:
            add(grammar_sampler(lc, self._vocab, grammar))
        if temperature == 0.0:
            add(lc.llama_sampler_init_greedy())
        else:
            s = SAMPLING
            add(lc.llama_sampler_init_top_k(s["top_k"]))
            add(lc.llama_sampler_init_typical(s["typical_p"], 1))
            add(lc.llama_sampler_init_top_p(s["top_p"], 1))
            add(lc.llama_sampler_init_min_p(s["min_p"], 1))
            add(lc.llama_sampler_init_temp(temperature))
            add(lc.llama_sampler_init_dist(lc.LLAMA_DEFAULT_SEED if seed is None else seed & 0xFFFFFFFF))
        return chain

    def _fast_tokens(
        self, prompt_tokens: list[int], *, reuse: int, temperature: float, seed: int | None, grammar=None
    ) -> Generator[int, None, None]:
        """Issue 8's path: llama_decode on plain batches and llama.cpp's own sampler chain, a few
        ctypes calls per token instead of Llama.generate's per-token Python bookkeeping. The first
        `reuse` prompt tokens are already in the KV cache; the rest of it is dropped. Greedy under
        a grammar: grammar_greedy.py (the same tokens, without the grammar over every candidate)."""
        lc, llm = self._lc, self._llm
        ctx = llm._ctx.ctx
        self._prefill(prompt_tokens, reuse, len(prompt_tokens))
        greedy_grammar = (
            GreedyGrammar(lc, self._vocab, grammar, llm.n_vocab())
            if grammar is not None and temperature == 0.0
            else None
        )
        chain = None if greedy_grammar else self._sampler_chain(temperature, seed, grammar)
        try:
            one = (lc.llama_token * 1)()
            batch_one = lc.llama_batch_get_one(one, 1)
            sample, decode = lc.llama_sampler_sample, lc.llama_decode
            while True:
                # sample() also accepts the token into the chain
                token = greedy_grammar.pick(ctx) if greedy_grammar else sample(chain, ctx, -1)
                yield token
                one[0] = token
                rc = decode(ctx, batch_one)
                if rc != 0:
                    raise BackendError(
                        f"llama_decode failed with status {rc}",
                        hint="the context may be full: use a larger n_ctx or a shorter prompt",
                    )
        finally:  # generated rows are never reused (one-token batches): _kv_tokens stays the prompt's
            if greedy_grammar:
                greedy_grammar.close()
            else:
                lc.llama_sampler_free(chain)

    def _prefill(self, tokens: list[int], start: int, end: int) -> None:
        """Decode tokens[start:end] after a cache holding tokens[:start], in pieces that end where a
        cold prompt's n_batch pieces end (Llama.eval's split), so each piece is as a cold one.
        _kv_tokens then lists the rows fit for reuse (exact_rows)."""
        lc, B = self._lc, self.n_batch
        arr = (lc.llama_token * len(tokens))(*tokens)
        size = ctypes.sizeof(lc.llama_token)
        i, exact = start, start
        while i < end:
            n = min((i // B + 1) * B, end) - i
            ptr = ctypes.cast(ctypes.addressof(arr) + i * size, ctypes.POINTER(lc.llama_token))
            try:
                self._decode(lc.llama_batch_get_one(ptr, n))
            except BaseException:
                self._kv_tokens = []  # the cache is in an unknown state: the next call is cold
                raise
            if exact == i:
                exact = exact_rows(i, i + n)
            i += n
        self._kv_tokens = list(tokens[:exact])

    def _choose_prefix(self, prompt_tokens: list[int], reuse: int) -> int:
        """The live cache's reusable rows, or a saved prefix's when it saves more prefill. Live rows
        about to be overwritten are copied out first (llama_prefix.py says why)."""
        entry, more = self._saved.best(prompt_tokens, self.n_batch)
        restore = entry is not None and more >= reuse + RESTORE_MIN_GAIN
        lost = len(self._kv_tokens) - (0 if restore else reuse)
        if lost >= STASH_MIN_ROWS and self._trim_cache(len(self._kv_tokens)) == len(self._kv_tokens):
            self._saved.save(self._kv_tokens)  # the cache now holds exactly these rows
        if entry is None or not restore:
            return reuse
        self._trim_cache(0)
        if not self._saved.restore(entry):
            self._trim_cache(0)
            self._kv_tokens = []
            return 0
        self._kv_tokens = list(entry.tokens)
        return more

    def _trim_cache(self, keep: int) -> int:
        """Drop the cache from position `keep` on (the next decode appends there); all of it when
        keep is 0 or llama.cpp cannot drop a part. Returns how many positions were kept."""
        lc = self._lc
        mem = lc.llama_get_memory(self._llm._ctx.ctx)
        if keep and lc.llama_memory_seq_rm(mem, -1, keep, -1):
            return keep
        lc.llama_memory_clear(mem, True)
        return 0

    def _hand_cache_to_llama(self, prompt_tokens: list[int], reuse: int) -> int:
        """Llama.generate finds its own prefix match in llm.input_ids[:llm.n_tokens]: tell it what
        the cache holds (its logits are stale: _requires_eval makes it decode before sampling).
        Llama.eval splits what is left in n_batch pieces from there on, so the pieces up to the last
        n_batch boundary are decoded here: the one it evaluates is the one a cold prompt ends with.
        The cache holds the first `reuse` prompt tokens. Returns where Llama.eval's piece starts."""
        llm = self._llm
        last_piece = max(reuse, (len(prompt_tokens) - 1) // self.n_batch * self.n_batch)
        self._prefill(prompt_tokens, reuse, last_piece)
        if last_piece:
            llm.input_ids[:last_piece] = prompt_tokens[:last_piece]
            llm.n_tokens = last_piece
            llm._requires_eval = True
        return last_piece

    def _decode(self, batch) -> None:
        rc = self._lc.llama_decode(self._llm._ctx.ctx, batch)
        if rc != 0:
            raise BackendError(
                f"llama_decode failed with status {rc}",
                hint="the context may be full: use a larger n_ctx or a shorter prompt",
            )

    def _perf(self) -> dict[str, Any]:
        p = self._lc.llama_perf_context(self._llm._ctx.ctx)
        return {"t_p_eval_ms": p.t_p_eval_ms, "n_p_eval": p.n_p_eval, "t_eval_ms": p.t_eval_ms, "n_eval": p.n_eval}

    # ------------------------------------------------------------------ generation

    def _generate(
        self,
        prompt_tokens: list[int],
        *,
        t_start: float,
        max_tokens: int,
        temperature: float,
        seed: int | None,
        stop: Sequence[str],
        schema: Mapping[str, Any] | None,
    ) -> Iterator[Chunk]:
        self._require("chat", "generation")
        n_prompt = len(prompt_tokens)
        if n_prompt >= self.n_ctx:
            raise BackendError(
                f"the prompt has {n_prompt} tokens, the context holds {self.n_ctx}",
                hint="shorten the prompt or open the model with a larger n_ctx",
            )
        if max_tokens is None or max_tokens <= 0:
            max_tokens = self.n_ctx - n_prompt
        max_tokens = min(max_tokens, self.n_ctx - n_prompt)
        grammar = self._grammar(schema)  # generate() builds a fresh grammar sampler from it
        llm = self._llm
        if seed is not None:
            llm.set_seed(seed)
        if not self.prefix_cache:
            self._kv_tokens = []  # an empty KV cache: every call is a cold prompt
        reuse = reusable_prefix(self._kv_tokens, prompt_tokens, self.n_batch)
        if self.prefix_cache:
            reuse = self._choose_prefix(prompt_tokens, reuse)
        _crash_for_tests()
        self._lc.llama_perf_context_reset(llm._ctx.ctx)
        load_s = self._take_load_s()

        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        scanner = _StopScanner(stop)
        n_out, ttft, finish, hit = 0, None, "length", False
        is_eog, piece_of = self._lc.llama_vocab_is_eog, self._piece
        fast = self.fast
        self.last_path = "fast" if fast else "llama.generate"
        llm.reset()  # Llama's own bookkeeping; _kv_tokens is the record of what the cache holds
        reuse = self._trim_cache(reuse)
        if fast:
            gen = self._fast_tokens(prompt_tokens, reuse=reuse, temperature=temperature, seed=seed, grammar=grammar)
        else:
            last_piece = self._hand_cache_to_llama(prompt_tokens, reuse)
            gen = llm.generate(prompt_tokens, temp=temperature, grammar=grammar, **SAMPLING)
        try:
            for token in gen:
                if ttft is None:
                    ttft = time.perf_counter() - t_start
                if is_eog(self._vocab, token):
                    finish = "stop"
                    break
                n_out += 1
                text, hit = scanner.feed(decoder.decode(piece_of(token)))
                if text:
                    yield Chunk(text)
                if hit:
                    finish = "stop"
                    break
                if n_out >= max_tokens:
                    break
        finally:
            gen.close()
            if not fast and len(self._kv_tokens) == last_piece and llm.n_tokens >= n_prompt:
                # Llama.eval evaluated the prompt's last piece in one batch (generated rows: never reused)
                self._kv_tokens = prompt_tokens[: exact_rows(last_piece, n_prompt)]
        if not hit:  # what was held back as a possible stop-string start is output after all
            scanner.feed(decoder.decode(b"", final=True))
            tail = scanner.flush()
            if tail:
                yield Chunk(tail)
        total = time.perf_counter() - t_start
        self.busy_s += total
        self.last_perf = self._perf()
        if self.plan.device == "gpu":
            vram = process_vram_bytes()
            if vram is not None:
                self.peak_vram_bytes = max(self.peak_vram_bytes or 0, vram)
        ttft = ttft if ttft is not None else total
        timings = Timings(
            load_s=load_s,
            ttft_s=ttft,
            prefill_tok_s=(n_prompt - reuse) / ttft if ttft > 0 else None,  # the tokens evaluated
            decode_tok_s=(n_out - 1) / (total - ttft) if n_out > 1 and total > ttft else None,
            total_s=total,
        )
        self._prompt_log.append((n_prompt, reuse, ttft))
        yield Chunk(
            "", done=True, completion=Completion(scanner.text, n_prompt, n_out, timings, finish, cached_tokens=reuse)
        )

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        seed: int | None = 0,
        stop: Sequence[str] | None = None,
        schema: Mapping[str, Any] | None = None,
    ) -> Iterator[Chunk]:
        t_start = time.perf_counter()
        self._require("chat", "chat")
        tokens, template_stops = self._chat_prompt(messages)
        return self._generate(
            tokens,
            t_start=t_start,
            max_tokens=max_tokens,
            temperature=temperature,
            seed=seed,
            stop=list(stop or []) + template_stops,
            schema=schema,
        )

    def chat(self, messages: Sequence[Message], **kw) -> Completion:
        return final_completion(self.stream(messages, **kw))

    def stream_complete(
        self,
        prompt: str,
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        seed: int | None = 0,
        stop: Sequence[str] | None = None,
        schema: Mapping[str, Any] | None = None,
    ) -> Iterator[Chunk]:
        t_start = time.perf_counter()
        self._require("chat", "completion")
        return self._generate(
            self._text_prompt(prompt),
            t_start=t_start,
            max_tokens=max_tokens,
            temperature=temperature,
            seed=seed,
            stop=list(stop or []),
            schema=schema,
        )

    def complete(self, prompt: str, **kw) -> Completion:
        return final_completion(self.stream_complete(prompt, **kw))

    # ------------------------------------------------------------------ embeddings

    def embed(self, texts: Sequence[str], *, normalize: bool = True, truncate: bool = False) -> np.ndarray:
        """(n, dim) float32. Each text is checked against n_ctx first: too long raises (or is cut
        when truncate=True), because llama.cpp aborts the process on an over-long input.

        One text per llama_decode, on purpose. llama-cpp-python's Llama.embed(list) packs texts
        into one batch of up to n_batch tokens; but for BERT (no KV cache) the attention of a
        batch spans all of its tokens under a mask (llama-graph.cpp build_attn_inp_no_cache:
        an n_tokens x n_tokens KQ mask), and for decoders the embedding context uses a unified
        KV cache: either way attention work grows with the square of the *packed* length, not of
        each text. Measured (scripts/bench-decode.py --embed, MiniLM F16, 1 thread, 32 texts of
        ~18 tokens, shared CPU): packed at n_batch 512 13.5 texts/s, packed at n_batch 128 26.6,
        one per decode 26.3-29.8. Packing never won, so we do not pack.
        """
        self._require("embedding", "embed")
        if isinstance(texts, str):
            raise BackendError("embed() takes a list of texts", hint="wrap a single text: embed([text])")
        self._take_load_s()
        t0 = time.perf_counter()
        llm = self._llm
        out = np.empty((len(texts), llm.n_embd()), dtype=np.float32)
        for i, text in enumerate(texts):
            tokens = llm.tokenize(text.encode("utf-8"))
            if not tokens:
                raise BackendError(f"text {i} is empty after tokenizing", hint="drop empty texts before embedding")
            if len(tokens) > self.n_ctx:
                if not truncate:
                    raise BackendError(
                        f"text {i} has {len(tokens)} tokens; {self.model_name} reads at most {self.n_ctx}",
                        hint="split it into smaller chunks, or pass truncate=True to cut it",
                    )
                tokens = tokens[: self.n_ctx]
            out[i] = self._embed_tokens(tokens)
        if normalize and len(out):
            norms = np.linalg.norm(out, axis=1, keepdims=True)
            out /= np.where(norms == 0, 1.0, norms)
        self.busy_s += time.perf_counter() - t0
        return out

    def _embed_tokens(self, tokens: list[int]) -> np.ndarray:
        llm, lc = self._llm, self._lc
        batch = llm._batch
        batch.reset()
        batch.add_sequence(tokens, 0, True)  # embeddings need every token marked as an output
        llm._ctx.kv_cache_clear()
        llm._ctx.decode(batch)
        ptr = lc.llama_get_embeddings_seq(llm._ctx.ctx, 0)
        if not ptr:
            raise BackendError(
                f"{self.model_name} returned no pooled embedding (its GGUF says pooling NONE)",
                hint="use an embedding model with mean or CLS pooling, e.g. minilm-l6-v2",
            )
        vec = np.ctypeslib.as_array(ptr, shape=(llm.n_embd(),)).copy()
        batch.reset()
        return vec

    # ------------------------------------------------------------------ misc

    def count_tokens(self, text: str) -> int:
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def info(self) -> BackendInfo:
        lc = self._lc
        extra: dict[str, Any] = {
            "role": self.role,
            # "fast" (low-level llama_decode loop) or "llama.generate" (high-level, fast=False)
            "generation_path": self.last_path or ("fast" if self.fast else "llama.generate"),
            "chat_template": self._formatter is not None,
            "gpus": [g.to_dict() for g in self._gpus],
            "peak_vram_bytes": self.peak_vram_bytes,
            "model_file": self.model_path.name,
            "arch": self.footprint.arch,
            "flash_attn": self.flash_attn,
            "n_ubatch": self.n_batch,
            "extra_bufts": self.extra_bufts,
            "prefix_cache": self.prefix_cache,
            "busy_s": round(self.busy_s, 4),
            "prompt_cache": {
                **prompt_cache_summary(self._prompt_log),
                "saved_prefixes": self._saved.saves,
                "restored_prefixes": self._saved.restores,
            },
        }
        if self.last_perf is not None:
            extra["last_perf"] = self.last_perf
        return BackendInfo(
            backend=self.name,
            model=self.model_name,
            version=getattr(lc, "__version__", None),
            device=self.plan.device,
            gpu_offload_supported=self._offload_supported,
            n_gpu_layers=self.plan.n_gpu_layers,
            n_layers=self.footprint.n_layers,
            device_reason=self.plan.reason,
            threads=self.threads,
            n_ctx=self.n_ctx,
            n_batch=self.n_batch,
            build_flags=build_flags(lc),
            extra=extra,
        )

    def close(self) -> None:
        if getattr(self, "_saved", None) is not None:
            self._saved.entries.clear()
        llm = getattr(self, "_llm", None)
        if llm is not None:
            llm.close()
            self._llm = None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def model_file(model: str) -> Path:
    """A lock name ("smollm2-135m") through the store, or an explicit path to a .gguf file."""
    p = Path(model).expanduser()
    if p.suffix == ".gguf" and p.is_file():
        # The store checks pulled files; an explicit path gets the same check, because llama.cpp
        # aborts the whole process on some corrupt files.
        from harness.models.gguf_check import check_gguf_header

        check_gguf_header(p)
        return p
    from harness.models.store import resolve_model_path

    return resolve_model_path(model)


def open_llama_cpp(
    model: str,
    *,
    role: str,
    device: str,
    threads: int | None,
    n_ctx: int | None,
    base_url: str | None,
    verbose: bool,
    **kw: Any,
) -> LlamaCppBackend:
    """The factory of the `llama-cpp` record (harness/backends/catalog.py)."""
    if base_url:
        raise BackendError(
            "the llama-cpp backend runs in this process and takes no base_url",
            hint="drop --base-url, or use --backend openai / ollama for a server",
        )
    path = model_file(model)
    name = model if Path(model).suffix != ".gguf" else path.stem
    return LlamaCppBackend(
        path, model_name=name, role=role, device=device, threads=threads, n_ctx=n_ctx, verbose=verbose, **kw
    )
