"""The real tiny models through real llama.cpp (marked slow; they run in CI)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from harness.backends.base import Backend
from harness.backends.registry import open_backend
from harness.errors import BackendError, DeviceError

pytestmark = pytest.mark.slow

QUESTION = [{"role": "user", "content": "What is the capital of France? Answer in one sentence."}]


@pytest.fixture(scope="module")
def chat(chat_model_path):
    # One thread: the test machine is shared, and two llama.cpp threads collapse under contention.
    be = open_backend("llama-cpp", "smollm2-135m", device="cpu", threads=1, n_ctx=1024)
    yield be
    be.close()


@pytest.fixture(scope="module")
def embedder(embed_model_path):
    be = open_backend("llama-cpp", "minilm-l6-v2", role="embedding", device="cpu", threads=1)
    yield be
    be.close()


def test_is_a_backend(chat):
    assert isinstance(chat, Backend)


def test_temperature_zero_is_deterministic(chat):
    a = chat.chat(QUESTION, max_tokens=24)
    b = chat.chat(QUESTION, max_tokens=24)
    assert a.text == b.text and a.text.strip()
    assert a.completion_tokens == b.completion_tokens > 0


def test_same_tokens_as_llama_cpp_python_chat_completion(chat):
    ours = chat.chat(QUESTION, max_tokens=24)
    theirs = chat._llm.create_chat_completion(QUESTION, max_tokens=24, temperature=0.0)
    assert ours.text == theirs["choices"][0]["message"]["content"]
    assert ours.prompt_tokens == theirs["usage"]["prompt_tokens"]
    assert ours.completion_tokens == theirs["usage"]["completion_tokens"]


def _three_ways(be, prompt: str):
    """The same greedy completion through the fast path, Llama.generate and create_completion."""
    be.fast = True
    fast = be.complete(prompt, max_tokens=24)
    assert be.last_path == "fast"
    be.fast = False
    try:
        slow = be.complete(prompt, max_tokens=24)
        assert be.last_path == "llama.generate"
    finally:
        be.fast = True
    theirs = be._llm.create_completion(prompt, max_tokens=24, temperature=0.0)["choices"][0]["text"]
    return fast, slow, theirs


@pytest.mark.parametrize("prompt", ["Once upon a time", "def fibonacci(n):", "The three primary colors are"])
def test_fast_path_gives_the_same_tokens_as_the_high_level_api(chat, prompt):
    fast, slow, theirs = _three_ways(chat, prompt)
    assert fast.text == slow.text == theirs
    assert fast.completion_tokens == slow.completion_tokens == 24


@pytest.fixture(scope="module")
def gemma(second_family_model_path):
    be = open_backend("llama-cpp", "gemma3-270m", device="cpu", threads=1, n_ctx=512)
    yield be
    be.close()


def test_fast_path_gives_the_same_tokens_on_a_second_model_family(gemma):
    """Gemma 3 (another tokenizer, vocabulary and architecture) through both paths."""
    for prompt in ["Once upon a time", "def fibonacci(n):", "The capital of France is"]:
        fast, slow, theirs = _three_ways(gemma, prompt)
        assert fast.text == slow.text == theirs and fast.text.strip()
        assert fast.completion_tokens == slow.completion_tokens


def test_fast_path_samples_like_the_high_level_api_with_a_seed(chat):
    kw = dict(max_tokens=16, temperature=0.8, seed=7)
    a, b = chat.complete("Once upon a time", **kw), chat.complete("Once upon a time", **kw)
    chat.fast = False
    try:
        slow = chat.complete("Once upon a time", **kw)
    finally:
        chat.fast = True
    assert a.text == b.text == slow.text


SCHEMAS = [
    {"type": "object", "properties": {"a": {"type": "string"}}},
    {
        "type": "object",
        "properties": {"answer": {"type": "string", "maxLength": 40}, "n": {"type": "integer"}},
        "required": ["answer", "n"],
    },
    {
        "type": "object",
        "properties": {"expression": {"type": "string", "pattern": "^[0-9][0-9+*/(). -]{0,30}$"}},
        "required": ["expression"],
        "additionalProperties": False,
    },
]


def _schema_both_ways(be, schema, **kw):
    be.fast = True
    fast = be.chat(QUESTION, max_tokens=32, schema=schema, **kw)
    assert be.last_path == "fast" and be.info().extra["generation_path"] == "fast"
    be.fast = False
    try:
        slow = be.chat(QUESTION, max_tokens=32, schema=schema, **kw)
        assert be.last_path == "llama.generate"
    finally:
        be.fast = True
    return fast, slow


@pytest.mark.parametrize("schema", SCHEMAS)
def test_schema_requests_give_the_tokens_of_the_high_level_api(chat, gemma, schema):
    """Greedy under a grammar checks the argmax first (grammar_greedy.py): the same tokens as
    llama.cpp's grammar over every candidate, on both model families; seeded sampling too."""
    for be in (chat, gemma):
        fast, slow = _schema_both_ways(be, schema)
        assert fast.text == slow.text and fast.completion_tokens == slow.completion_tokens
        if fast.finish_reason == "stop":
            json.loads(fast.text)
        fast, slow = _schema_both_ways(be, schema, temperature=0.8, seed=3)
        assert fast.text == slow.text


def test_stream_equals_chat(chat):
    chunks = list(chat.stream(QUESTION, max_tokens=24))
    assert chunks[-1].done and chunks[-1].completion is not None
    assert all(not c.done for c in chunks[:-1]) and len(chunks) > 2
    streamed = "".join(c.text for c in chunks)
    assert streamed == chunks[-1].completion.text == chat.chat(QUESTION, max_tokens=24).text


def test_stop_sequence_cuts_the_text(chat):
    prompt = "Count: 1, 2, 3, 4, 5,"
    free = chat.complete(prompt, max_tokens=16)
    assert " 8," in free.text  # the model does count on, so the stop below has something to cut
    stopped = chat.complete(prompt, max_tokens=16, stop=[" 8,"])
    assert stopped.finish_reason == "stop"
    assert stopped.text == free.text[: free.text.index(" 8,")]
    streamed = "".join(c.text for c in chat.stream_complete(prompt, max_tokens=16, stop=[" 8,"]))
    assert streamed == stopped.text


def test_max_tokens_is_respected(chat):
    c = chat.complete("Once upon a time", max_tokens=5)
    assert c.completion_tokens == 5 and c.finish_reason == "length"


def test_json_schema_output_parses_and_validates(chat):
    import jsonschema

    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
        "required": ["city", "population"],
    }
    c = chat.chat(
        [{"role": "user", "content": "Give a city and its population as JSON."}], max_tokens=64, schema=schema
    )
    data = json.loads(c.text)
    jsonschema.validate(data, schema)


def test_timings_are_positive_and_consistent(chat_model_path):
    be = open_backend("llama-cpp", "smollm2-135m", device="cpu", threads=1, n_ctx=512)
    try:
        first = be.chat(QUESTION, max_tokens=16)
        second = be.chat(QUESTION, max_tokens=16)
    finally:
        be.close()
    assert first.timings.load_s > 0 and second.timings.load_s == 0
    for c in (first, second):
        t = c.timings
        assert 0 < t.ttft_s < t.total_s
        # over the tokens evaluated: the second call took most of the same prompt from the cache
        assert t.prefill_tok_s == pytest.approx((c.prompt_tokens - c.cached_tokens) / t.ttft_s)
        assert t.decode_tok_s == pytest.approx((c.completion_tokens - 1) / (t.total_s - t.ttft_s))
        assert t.decode_tok_s > 0
    assert first.cached_tokens == 0 and second.cached_tokens == (first.prompt_tokens - 8) // 4 * 4


def test_count_tokens_and_info(chat):
    assert 0 < chat.count_tokens("Hello world, how are you?") < 20
    info = chat.info()
    assert info.backend == "llama-cpp" and info.model == "smollm2-135m"
    assert info.version and info.device == "cpu" and info.n_gpu_layers == 0 and info.threads == 1
    assert info.device_reason and info.n_ctx == 1024 and info.n_layers == 30
    assert "/" not in json.dumps(info.extra.get("model_file"))  # a file name, never a path


def test_context_overflow_is_a_clear_error(chat):
    with pytest.raises(BackendError, match="context holds"):
        chat.complete("word " * 1100, max_tokens=4)


def test_gpu_request_on_cpu_only_build_fails_clearly(chat_model_path):
    import llama_cpp

    if llama_cpp.llama_supports_gpu_offload():
        pytest.skip("this llama-cpp-python build can offload; the CPU-only error cannot happen here")
    with pytest.raises(DeviceError) as e:
        open_backend("llama-cpp", "smollm2-135m", device="gpu")
    assert "install-cuda" in e.value.hint


def test_auto_picks_cpu_and_says_why(chat):
    import llama_cpp

    be = open_backend("llama-cpp", "smollm2-135m", device="auto", threads=1, n_ctx=256)
    try:
        info = be.info()
    finally:
        be.close()
    if not llama_cpp.llama_supports_gpu_offload():
        assert info.device == "cpu" and "cannot offload" in info.device_reason


# ------------------------------------------------------------------ embeddings


def test_embeddings_shape_and_norm(embedder):
    texts = ["A cat sits on the mat.", "A kitten is sitting on a rug.", "Stock markets fell sharply today."]
    v = embedder.embed(texts)
    assert v.shape == (3, 384) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    sims = v @ v.T
    assert sims[0, 1] > sims[0, 2] + 0.2  # paraphrases closer than an unrelated sentence
    raw = embedder.embed(texts, normalize=False)
    assert not np.allclose(np.linalg.norm(raw, axis=1), 1.0, atol=1e-3)
    assert np.allclose(raw / np.linalg.norm(raw, axis=1, keepdims=True), v, atol=1e-6)


def test_embeddings_match_llama_cpp_python(embedder):
    texts = ["first sentence here", "a second, somewhat longer sentence about something else"]
    ours = embedder.embed(texts)
    theirs = np.array(embedder._llm.embed(texts, normalize=True), dtype=np.float32)
    assert np.allclose(ours, theirs, atol=2e-3)


def test_too_long_input_raises_or_truncates(embedder):
    long_text = "word " * 600
    with pytest.raises(BackendError, match="reads at most"):
        embedder.embed([long_text])
    v = embedder.embed([long_text], truncate=True)
    assert v.shape == (1, 384)


def test_roles_are_enforced(chat, embedder):
    with pytest.raises(BackendError, match="embedding model"):
        chat.embed(["x"])
    with pytest.raises(BackendError, match="chat model"):
        embedder.chat(QUESTION)


def _decode_logits(model_path, threads: int, flash_attn: bool, prompt: str, steps: int = 24):
    """Prefill logits and greedy one-token decode logits, straight from llama-cpp-python."""
    from llama_cpp import Llama

    m = Llama(
        str(model_path),
        n_ctx=1024,
        n_threads=threads,
        n_threads_batch=threads,
        flash_attn=flash_attn,
        logits_all=True,
        verbose=False,
    )
    try:
        tokens = m.tokenize(prompt.encode())
        m.eval(tokens)
        prefill = np.array(m.scores[: m.n_tokens])
        for _ in range(steps):
            m.eval([int(np.argmax(m.scores[m.n_tokens - 1]))])
        return prefill, np.array(m.scores[len(tokens) : m.n_tokens])
    finally:
        m.close()


@pytest.mark.slow
@pytest.mark.whole_cpu  # 2 threads
def test_flash_attention_decode_depends_on_the_thread_count_past_512_cells(chat_model_path):
    """The documented cause of accuracy differing between thread counts (docs/benchmarks.md): with
    flash attention on, ggml splits a single-token query's KV cache across the threads once it holds
    512+ cells; off, 1 and 2 threads give bit-identical logits. If llama.cpp changes this, the docs and
    compare's explanation must change too."""
    prompt = " ".join(["A farmer has 12 cows and buys 7 more, then sells 5. How many cows are left?"] * 28)
    off1, off2 = (_decode_logits(chat_model_path, t, False, prompt) for t in (1, 2))
    assert off1[0].shape[0] > 512
    assert np.array_equal(off1[0], off2[0]) and np.array_equal(off1[1], off2[1])
    on1, on2 = (_decode_logits(chat_model_path, t, True, prompt) for t in (1, 2))
    assert np.array_equal(on1[0], on2[0])  # prefill (a batch of queries) is not split
    assert not np.array_equal(on1[1], on2[1])


def test_flash_attention_is_off_for_chat_models_unless_asked(chat_model_path, monkeypatch):
    for env, want in ((None, False), ("1", True), ("0", False)):
        if env is None:
            monkeypatch.delenv("HARNESS_FLASH_ATTN", raising=False)
        else:
            monkeypatch.setenv("HARNESS_FLASH_ATTN", env)
        be = open_backend("llama-cpp", "smollm2-135m", device="cpu", n_ctx=256)
        try:
            assert be.info().extra["flash_attn"] is want, env
        finally:
            be.close()
    monkeypatch.setenv("HARNESS_FLASH_ATTN", "yes")
    with pytest.raises(BackendError, match="HARNESS_FLASH_ATTN='yes' is neither 0 nor 1"):
        open_backend("llama-cpp", "smollm2-135m", device="cpu", n_ctx=256)


def test_an_amx_build_loads_without_extra_buffer_types(chat, chat_model_path, monkeypatch):
    """The AMX guard (harness/llama_build.py): on a build with AMX compiled in, models load with
    use_extra_bufts off, where llama.cpp's AMX buffer lives; the answers stay the same."""
    import llama_cpp

    from harness.backends import llama_cpp as backend_module

    monkeypatch.setattr(backend_module, "amx_guard_needed", lambda flags: True)
    be = open_backend("llama-cpp", "smollm2-135m", device="cpu", threads=1, n_ctx=1024)
    try:
        assert be.extra_bufts is False and be.info().extra["extra_bufts"] is False
        assert be._llm.model_params.use_extra_bufts is False  # what llama_model_load_from_file received
        assert be.chat(QUESTION, max_tokens=24).text == chat.chat(QUESTION, max_tokens=24).text
    finally:
        be.close()
    assert llama_cpp.llama_cpp.llama_model_default_params().use_extra_bufts is True  # restored after the load
    assert chat.extra_bufts is True  # this build has no AMX: repacking stays on
