"""The greedy-output fingerprint on the real tiny model (harness/bench/fingerprint.py): it does not
depend on the thread count with flash attention off (llama.cpp's logits are bit-identical then), and
it tells flash attention on from off. With it on, 1 and 2 threads gave two fingerprints as well
(measured 2026-12-01: 61ab110e7f31c57b vs 66f0de6a81dd5aaa; off: efd9db447376b148 at both); CI
leaves that fourth load out for time: test_llama_cpp.py pins the thread split at the logits."""

from __future__ import annotations

import pytest

from harness.backends.registry import open_backend
from harness.bench.fingerprint import greedy_fingerprint


def _fingerprint(threads: int, flash_attn: bool) -> str:
    backend = open_backend("llama-cpp", "smollm2-135m", role="chat", device="cpu", threads=threads, flash_attn=flash_attn)
    try:
        return greedy_fingerprint(backend)["sha256"]
    finally:
        backend.close()


@pytest.mark.slow
def test_the_fingerprint_follows_the_numerics_not_the_thread_count(chat_model_path):
    off2 = _fingerprint(2, False)
    assert _fingerprint(1, False) == off2
    assert _fingerprint(2, True) != off2
