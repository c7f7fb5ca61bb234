"""The greedy-output fingerprint on the real tiny model (harness/bench/fingerprint.py) tells flash
attention on from off. Measured 2026-12-01 on smollm2-135m: off, 1 and 2 threads both gave
efd9db447376b148; on, 1 thread 61ab110e7f31c57b and 2 threads 66f0de6a81dd5aaa. CI loads it twice
only, for time: test_llama_cpp.py pins the rest at the logits (bit-identical at 1 and 2 threads with
flash attention off; the thread split with it on)."""

from __future__ import annotations

import pytest

from harness.backends.registry import open_backend
from harness.bench.fingerprint import greedy_fingerprint


def _fingerprint(threads: int, flash_attn: bool) -> str:
    backend = open_backend(
        "llama-cpp", "smollm2-135m", role="chat", device="cpu", threads=threads, flash_attn=flash_attn
    )
    try:
        return greedy_fingerprint(backend)["sha256"]
    finally:
        backend.close()


@pytest.mark.slow
@pytest.mark.whole_cpu  # 2 threads
def test_the_fingerprint_tells_flash_attention_on_from_off(chat_model_path):
    assert _fingerprint(2, True) != _fingerprint(2, False)
