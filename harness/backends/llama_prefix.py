"""Prompt-prefix reuse for the in-process llama.cpp backend: which cached rows a new prompt may
take without changing its logits, and a few saved prefixes besides the live KV cache.

Labs often alternate prompts (a chain's two steps, a baseline and a solution, each item's
retrieval and answer), so the live cache alone would hold the wrong one half the time. As
llama-server's host-memory prompt cache does, the prefix about to be overwritten is copied out
(llama_state_seq_get_data: the keys and values of its rows) and copied back in when a later
prompt shares more with it than with the live cache.
"""

from __future__ import annotations

import ctypes
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# When a prompt evaluated after a cached prefix gets the logits of the same prompt evaluated cold
# (measured on SmolLM2 Q4_1 and Gemma 3 Q4_K_M, both with and without repacked weights, at 2
# threads, flash attention off; tests/backends/test_prefix_cache.py checks it on every run):
# - a row's result does not depend on the other rows of its batch, except that llama.cpp's CPU
#   kernels take other paths for a batch of fewer than 8 tokens (a one-token batch on SmolLM2,
#   up to 7 on Gemma 3: max |dlogit| 0.45-0.9, on an AMD EPYC with AVX2; not on an Intel Xeon with
#   AVX-512), and the repacked-weight kernels compute rows in groups of 4 from the batch start, the
#   leftover rows another way (both CPUs: Gemma 3 max |dlogit| 0.57-0.87 on the Xeon).
# So a reused prefix ends on a multiple of REUSE_ALIGN, every piece evaluated has at least
# MIN_PIECE tokens and ends where a cold prompt's n_batch pieces end, and only prompt rows that
# were computed in a full group of their batch (not generated tokens) are kept for reuse.
REUSE_ALIGN = 4
MIN_PIECE = 8


def reusable_prefix(cached: Sequence[int], tokens: Sequence[int], n_batch: int) -> int:
    """How many leading prompt tokens to take from the cache, which holds `cached` (rows fit for
    reuse), so that the rest evaluates as in a cold prompt (the rules above)."""
    n, limit = 0, min(len(cached), len(tokens) - MIN_PIECE)
    while n < limit and cached[n] == tokens[n]:
        n += 1
    n -= n % REUSE_ALIGN
    if n % n_batch > n_batch - MIN_PIECE:  # the first piece, up to the n_batch boundary, is too short
        n -= n % n_batch - (n_batch - MIN_PIECE)
    return max(n, 0)


def exact_rows(start: int, end: int) -> int:
    """After evaluating a prompt's rows start..end-1 in one batch, the end of the rows fit for reuse."""
    if end - start < MIN_PIECE:
        return start
    return start + (end - start) // REUSE_ALIGN * REUSE_ALIGN


def prompt_cache_summary(log: Sequence[tuple[int, int, float]]) -> dict[str, Any]:
    """Calls, prompt tokens and how many came from the cache, and the median TTFT of cold calls
    (nothing reused) and of cached ones: the figures a lab cell reports next to its timings."""

    def median(xs: list[float]) -> float | None:
        return statistics.median(xs) if xs else None

    return {
        "calls": len(log),
        "prompt_tokens": sum(p for p, _, _ in log),
        "cached_tokens": sum(c for _, c, _ in log),
        "ttft_cold_p50_s": median([t for _, c, t in log if c == 0]),
        "ttft_cached_p50_s": median([t for _, c, t in log if c > 0]),
    }


# Copy a prefix out only when at least this many reusable rows would be lost; copy one back in
# only when it saves at least this many rows of prefill (a copy of a few MB takes ~1-5 ms here,
# evaluating 32 rows of SmolLM2 ~50 ms on 2 cores).
STASH_MIN_ROWS = 32
RESTORE_MIN_GAIN = 32
MAX_SAVED = 4
MAX_SAVED_BYTES = 256 * 2**20


@dataclass
class SavedPrefix:
    tokens: list[int]  # the rows it holds, all fit for reuse
    data: Any  # ctypes uint8 array: llama_state_seq_get_data of sequence 0


class SavedPrefixes:
    """The most recently used prefixes copied out of a llama.cpp context (sequence 0)."""

    def __init__(self, lc: Any, ctx: Any, *, max_entries: int = MAX_SAVED, max_bytes: int = MAX_SAVED_BYTES):
        self._lc, self._ctx = lc, ctx
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self.entries: list[SavedPrefix] = []  # most recent last
        self.saves = self.restores = 0

    def best(self, tokens: Sequence[int], n_batch: int) -> tuple[SavedPrefix | None, int]:
        found, most = None, 0
        for entry in self.entries:
            n = reusable_prefix(entry.tokens, tokens, n_batch)
            if n > most:
                found, most = entry, n
        return found, most

    def save(self, tokens: list[int]) -> None:
        """Copy the context's sequence 0, which holds exactly `tokens`, out."""
        if any(e.tokens[: len(tokens)] == tokens for e in self.entries):
            return  # an entry already holds these rows (or more)
        lc = self._lc
        size = lc.llama_state_seq_get_size(self._ctx, 0)
        if not size or size > self.max_bytes:
            return
        data = (ctypes.c_uint8 * size)()
        if lc.llama_state_seq_get_data(self._ctx, data, size, 0) != size:
            return
        self.entries = [e for e in self.entries if tokens[: len(e.tokens)] != e.tokens]  # superseded
        self.entries.append(SavedPrefix(list(tokens), data))
        self._evict()
        self.saves += 1

    def _evict(self) -> None:
        while len(self.entries) > self.max_entries or sum(len(e.data) for e in self.entries) > self.max_bytes:
            self.entries.pop(0)

    def restore(self, entry: SavedPrefix) -> bool:
        """Make sequence 0 hold `entry`'s rows (the caller has cleared the context's memory)."""
        self.entries = [e for e in self.entries if e is not entry] + [entry]  # a save may have evicted it
        self._evict()
        ok = self._lc.llama_state_seq_set_data(self._ctx, entry.data, len(entry.data), 0) > 0
        self.restores += ok
        return ok
