"""Wrong solution of quantize: raw vectors (normalize=False) everywhere. The inner product of raw
MiniLM vectors is not a cosine (they are ~2.5 long), so the "mean cosine to F16" comes out near
6, and the search ranks long vectors first. cosine_max_error must fail.

The reference's measure() runs unchanged on embedders that drop normalize=True: that is the mistake."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from harness.labs.child import import_file

# The lab's reference, ../solution.py wherever the lab folder is, as module `solution`:
import_file("solution", Path(__file__).resolve().parents[1] / "solution.py")
from solution import choose, quantize  # noqa: E402,F401  (quantising and choosing are right)
from solution import measure as reference_measure  # noqa: E402


class _RawVectors:
    def __init__(self, embedder):
        self._embedder = embedder

    def embed(self, texts, normalize=True, **kw):
        return self._embedder.embed(texts, normalize=False, **kw)


@contextmanager
def _open_raw(open_embedder, path):
    with open_embedder(path) as embedder:
        yield _RawVectors(embedder)


def measure(open_embedder, path, passages, questions, gold, baseline=None):
    return reference_measure(lambda p: _open_raw(open_embedder, p), path, passages, questions, gold, baseline)
