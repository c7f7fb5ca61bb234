"""The host probe: a short, fixed llama.cpp decode run before and after every bench cell.

A shared or thermally throttled machine drifts (measured on this project's 2-core VM: 2-thread decode
read 75-105 tok/s within eight minutes with nothing else running). A cell's figures then differ between
two runs of the same bench for reasons outside the runs. The probe runs the same work every time
(same model, threads, prompt and length, whatever the cell's settings), so its figure moves only with
the host; `harness compare` uses it to tell host drift from a real difference between two runs on one
machine. It measures the CPU: it explains the drift of CPU cells only.
"""

from __future__ import annotations

from harness.backends.base import Backend
from harness.errors import HarnessError
from harness.hw.cpu import usable_cores

PROBE_MODEL = "smollm2-135m"
PROBE_TOKENS = 32
PROBE_SAMPLES = 3  # per probe point: ~1 s on 2 cores
_PROMPT = "Probe 1 2 3 4"  # counting keeps the model generating all PROBE_TOKENS


def probe_threads() -> int:
    """Fixed, not the run's --threads: a 1-thread and a 2-thread run must probe the same work."""
    return min(2, usable_cores())  # never more threads than cores this process may run on


class HostProbe:
    """Holds the probe model open for a whole bench (in the bench's own process, so cells' peak
    memory is unaffected) and returns decode tok/s samples on demand."""

    def __init__(self, backend: Backend):
        self._backend = backend
        self.method = (
            f"llama.cpp decode tok/s, {PROBE_MODEL}, {probe_threads()} CPU threads, {PROBE_TOKENS} tokens "
            f"from a fixed prompt at temperature 0, {PROBE_SAMPLES} samples before and after each cell"
        )

    @classmethod
    def open(cls) -> HostProbe:
        from harness.backends.registry import open_backend

        return cls(
            open_backend(
                "llama-cpp",
                PROBE_MODEL,
                role="chat",
                device="cpu",
                threads=probe_threads(),
                n_ctx=256,
                flash_attn=True,
                prefix_cache=False,
            )
        )  # fixed, whatever the cells' settings

    def sample(self) -> list[float]:
        out = []
        for _ in range(PROBE_SAMPLES):
            c = self._backend.complete(_PROMPT, max_tokens=PROBE_TOKENS, temperature=0.0, seed=0)
            if c.timings.decode_tok_s is None or c.completion_tokens < PROBE_TOKENS // 2:
                raise HarnessError(f"the host probe generated {c.completion_tokens} tokens, expected {PROBE_TOKENS}")
            out.append(c.timings.decode_tok_s)
        return out

    def close(self) -> None:
        self._backend.close()


def open_probe() -> tuple[HostProbe | None, str | None]:
    """The probe, or None and why not (the probe model is not pulled): a bench runs without one."""
    try:
        return HostProbe.open(), None
    except HarnessError as e:
        return None, f"no host probe: {e}"
