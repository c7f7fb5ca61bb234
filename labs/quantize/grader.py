"""Grader of the quantize lab: quantise the embedding model with llama.cpp's own quantiser, measure
what each type costs (file size, speed, retrieval recall, how far the vectors move), and choose.

The learner gets a copy of the pinned F16 file (never the model store's own file) and a folder to
write into. Each embedder the learner opens goes through the grader's opener, which passes every
embed() call through to the model and keeps the raw vectors it returned, by text. The grader's own
figures are computed from those vectors with its own normalisation, search and statistics (texts
the learner did not embed with a file, the grader embeds itself), so they are the model's figures,
not the learner's arithmetic, and checking them costs no second pass over the corpus.
"""

from __future__ import annotations

import hashlib
import math
import random
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from harness.errors import HarnessError
from harness.grading.squad import read_squad
from harness.grading.stats import paired_bootstrap
from harness.labs.api import GraderSettings, LabContext, LearnerError, Measurement


class Settings(GraderSettings):
    """lab.toml's [grader] table."""

    n_paragraphs: int
    question_seed: int
    types: list[str]
    tolerance: float
    bootstrap_seed: int


BASELINE = "F16"
KS = (1, 5)
ROW_KEYS = ("size_bytes", "passages_per_s", "recall@1", "recall@5", "hits@1", "cosine_to_f16", "vectors")
NUMBERS = ("size_bytes", "passages_per_s", "recall@1", "recall@5", "cosine_to_f16")


def squad_path(ctx: LabContext) -> Path:
    return ctx.lab_dir.parent / "_data" / "squad" / "dev.json"


def load_articles(path: Path) -> list[dict]:
    return read_squad(path, LearnerError)


def items(articles: list[dict], n: int, seed: int) -> tuple[list[str], list[str], list[int]]:
    """The first n paragraphs of the file, in order (each "Title: text"), and one question per
    paragraph drawn with a fixed seed: (passages, questions, gold), gold[i] being the index of
    question i's own paragraph. The other paragraphs are its distractors."""
    rng = random.Random(seed)
    passages, questions, gold = [], [], []
    for a in articles:
        title = str(a.get("title", "")).replace("_", " ")
        for p in a["paragraphs"]:
            if len(passages) == n:
                return passages, questions, gold
            qs = [
                q["question"].strip()
                for q in p["qas"]
                if q["question"].strip() and any(x["text"].strip() for x in q["answers"])
            ]
            passages.append(f"{title}: {p['context'].strip()}" if title else p["context"].strip())
            if qs:
                questions.append(rng.choice(qs))
                gold.append(len(passages) - 1)
    return passages, questions, gold


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def unit(vectors: np.ndarray) -> np.ndarray:
    v = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    return v / np.where(norms == 0, 1.0, norms)


def hits_at(passage_vecs: np.ndarray, question_vecs: np.ndarray, gold: list[int], k: int) -> list[bool]:
    """Flat (exact) search by cosine: is each question's own paragraph among its k nearest?
    Rank = how many paragraphs score strictly higher than the gold one."""
    scores = unit(question_vecs) @ unit(passage_vecs).T
    own = scores[np.arange(len(gold)), gold]
    rank = (scores > own[:, None]).sum(axis=1)
    return [bool(r < k) for r in rank]


def figures(passage_raw: np.ndarray, question_raw: np.ndarray, gold: list[int], baseline_raw: np.ndarray) -> dict:
    """The grader's own figures for one file, from the raw vectors its model returned."""
    out = {}
    for k in KS:
        h = hits_at(passage_raw, question_raw, gold, k)
        out[f"hits@{k}"] = h
        out[f"recall@{k}"] = sum(h) / len(h)
    out["cosine_to_f16"] = float(np.mean(np.sum(unit(passage_raw) * unit(baseline_raw), axis=1)))
    return out


def non_inferior(base_hits: list[bool], hits: list[bool], tolerance: float, seed: int) -> dict:
    """The choice rule: a type may replace F16 when the lower end of the 95% paired-bootstrap
    interval of (type - F16) recall@1 is at least -tolerance."""
    b = paired_bootstrap([float(x) for x in base_hits], [float(x) for x in hits], seed=seed)
    return {"delta": b.delta, "ci_low": b.ci_low, "ci_high": b.ci_high, "ok": b.ci_low >= -tolerance}


def accepted_choices(sizes: dict[str, int], lows: dict[str, float], tolerance: float, band: float) -> list[str]:
    """The smallest type that passes the rule, and any smaller type whose interval end lies within
    `band` of -tolerance (a borderline case another bootstrap could decide either way)."""
    out = []
    for t in sorted(sizes, key=lambda t: (sizes[t], t)):
        margin = lows[t] + tolerance
        if abs(margin) <= band + 1e-9:
            out.append(t)
        elif margin > 0:
            out.append(t)
            break
    return out


class RecordingEmbedder:
    """An embedder as the learner's code sees it: each embed() goes through to the model; the raw
    vectors are kept by text (for the grader) and normalised afterwards as the backend does."""

    def __init__(self, inner, store: dict[str, np.ndarray], calls: list):
        self._inner, self._store, self._calls = inner, store, calls

    def embed(self, texts, *, normalize: bool = True, truncate: bool = False) -> np.ndarray:
        texts = list(texts) if not isinstance(texts, str) else texts
        t0 = time.perf_counter()
        raw = np.asarray(self._inner.embed(texts, normalize=False, truncate=truncate), dtype=np.float32)
        self._calls.append((list(texts[:1]), len(raw), time.perf_counter() - t0))
        for text, vec in zip(texts, raw):
            self._store.setdefault(text, vec.copy())
        out = raw.copy()
        if normalize and len(out):
            norms = np.linalg.norm(out, axis=1, keepdims=True)
            out /= np.where(norms == 0, 1.0, norms)
        return out

    def close(self) -> None:
        if self._inner is not None:
            self._inner.close()
            self._inner = None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._inner, name)


class Opener:
    """open_embedder(path) for the learner: the file opened as ctx.embedder is (same backend,
    device, threads), recorded. Vectors are kept per file content (sha256), so a copy of a file
    shares them."""

    def __init__(self, ctx: LabContext):
        self._ctx = ctx
        self.vectors: dict[str, dict[str, np.ndarray]] = {}
        self.calls: dict[str, list] = {}
        self.opened: list[RecordingEmbedder] = []
        self._sha: dict[tuple, str] = {}

    def sha(self, path: Path) -> str:
        st = path.stat()
        key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
        if key not in self._sha:
            self._sha[key] = sha256_file(path)
        return self._sha[key]

    def __call__(self, path) -> RecordingEmbedder:
        path = Path(path)
        if path.suffix != ".gguf" or not path.is_file():
            raise LearnerError(f"open_embedder() needs the path of an existing .gguf file, got {str(path)!r}")
        sha = self.sha(path)
        emb = RecordingEmbedder(
            self._ctx.open_embedder(path), self.vectors.setdefault(sha, {}), self.calls.setdefault(sha, [])
        )
        self.opened.append(emb)
        return emb

    def close_all(self) -> None:
        for emb in self.opened:
            try:
                emb.close()
            except Exception:
                pass

    def raw(self, path: Path, texts: list[str], fallback=None) -> np.ndarray:
        """The raw vectors of `texts` with this file: the ones the learner's calls produced, the
        rest embedded here (with `fallback`, or a fresh embedder over the file)."""
        store = self.vectors.setdefault(self.sha(path), {})
        missing = [t for t in dict.fromkeys(texts) if t not in store]
        if missing:
            emb = fallback if fallback is not None else self._ctx.open_embedder(path)
            try:
                vecs = np.asarray(emb.embed(missing, normalize=False, truncate=True), dtype=np.float32)
            finally:
                if fallback is None:
                    emb.close()
            store.update(zip(missing, vecs))
        return np.stack([store[t] for t in texts])


def file_type(path: Path) -> int | None:
    """general.file_type of a GGUF file (llama.cpp's LLAMA_FTYPE_*), from the harness's structural
    check of the whole header and tensor table (harness/models/gguf_check.py; CorruptModelFile when
    the file is not a complete GGUF)."""
    from harness.models.gguf_check import check_gguf_header

    return check_gguf_header(path)["file_type"]


def expected_ftype(qtype: str) -> int:
    import gguf

    return int(gguf.LlamaFileType[f"MOSTLY_{qtype}"])


def check_file(path, out_dir: Path, qtype: str) -> str | None:
    """Why the file returned for qtype is not a GGUF of that type in out_dir, or None when it is."""
    if not isinstance(path, (str, Path)):
        return f"quantize() returned {type(path).__name__}, not a path"
    path = Path(path)
    if not path.is_file():
        return f"no file at the returned path {path.name}"
    try:
        path.resolve().relative_to(out_dir.resolve())
    except ValueError:
        return f"{path.name} is not in out_dir"
    try:
        got = file_type(path)
    except (HarnessError, ValueError, OSError) as e:
        return f"{path.name} is not a valid GGUF file ({getattr(e, 'message', e)})"
    want = expected_ftype(qtype)
    if got != want:
        return f"{path.name} has file type {got}, not {want} ({qtype})"
    return None


def _row(raw, qtype: str, n_passages: int, n_questions: int) -> dict:
    if not isinstance(raw, dict):
        raise LearnerError(f"measure() must return a dict, got {type(raw).__name__} ({qtype})")
    missing = [k for k in ROW_KEYS if k not in raw]
    if missing:
        raise LearnerError(f"measure() left out {', '.join(missing)} ({qtype}); it returns {', '.join(ROW_KEYS)}")
    row = dict(raw)
    try:
        for k in NUMBERS:
            row[k] = float(row[k])
        hits = [bool(h) for h in row["hits@1"]]
        vecs = np.asarray(row["vectors"], dtype=np.float32)
    except (TypeError, ValueError):
        raise LearnerError(
            f"measure() returned a value of the wrong type ({qtype}): numbers, a list of "
            "booleans (hits@1) and an array (vectors)"
        ) from None
    if len(hits) != n_questions:
        raise LearnerError(f"hits@1 must hold one boolean per question ({n_questions}), got {len(hits)} ({qtype})")
    if vecs.ndim != 2 or len(vecs) != n_passages:
        raise LearnerError(
            f"vectors must be one row per passage, shape ({n_passages}, dim), got {vecs.shape} ({qtype})"
        )
    if not all(math.isfinite(row[k]) for k in NUMBERS):
        raise LearnerError(f"measure() returned a figure that is not a finite number ({qtype})")
    return row


def grade(solution, ctx: LabContext) -> Measurement:
    cfg = ctx.settings
    types = list(cfg.types)
    tolerance, boot_seed = cfg.tolerance, cfg.bootstrap_seed
    path = ctx.dataset_path or squad_path(ctx)
    passages, questions, gold = items(load_articles(path), ctx.item_limit(cfg.n_paragraphs), cfg.question_seed)
    if len(questions) < 2:
        raise LearnerError(f"{Path(path).name}: its first paragraphs hold fewer than 2 questions")
    progress = ctx.progress
    steps = len(types) + (1 + len(types)) + 1  # quantise each type, measure F16 and each, choose

    pinned_embedder = ctx.embedder  # the pinned model, loaded first (its load time is the engine's)
    pinned = getattr(pinned_embedder, "model_path", None)
    if pinned is None or Path(pinned).suffix != ".gguf":
        raise HarnessError(
            "the quantize lab needs the embedding model as a GGUF file in this process",
            hint="run it with the default backend (--backend llama-cpp)",
        )
    pinned = Path(pinned)
    pinned_sha = sha256_file(pinned)
    opener = Opener(ctx)
    tmp = Path(tempfile.mkdtemp(prefix="harness-quantize-"))
    try:
        src_dir, out_dir = tmp / "model", tmp / "out"
        src_dir.mkdir()
        out_dir.mkdir()
        src = src_dir / pinned.name
        shutil.copyfile(pinned, src)

        # 1. quantise
        files, quantize_s, problems = {}, {}, {}
        for i, t in enumerate(types):
            progress(i, steps, "step")
            t0 = time.perf_counter()
            files[t] = solution.quantize(src, t, out_dir)
            quantize_s[t] = round(time.perf_counter() - t0, 3)
            problems[t] = check_file(files[t], out_dir, t)
        beside = sorted(p.name for p in src_dir.iterdir() if p != src)
        input_same = src.is_file() and sha256_file(src) == pinned_sha
        values = {
            "input_untouched": float(input_same and not beside),
            "files_valid": sum(p is None for p in problems.values()) / len(types),
        }
        notes = [f"{t}: {p}" for t, p in problems.items() if p]
        if beside:
            notes.append(f"quantize() wrote beside its input: {', '.join(beside)}; write the new files in out_dir")
        if not input_same:
            notes.append(
                "quantize() changed its input file (the copy of the pinned F16 model): the F16 baseline "
                "is gone, so nothing else was measured; write each new file in out_dir, never over src"
            )
            return Measurement(values=values, notes=notes, metrics={"quantize_s": quantize_s})
        paths = {BASELINE: src, **{t: Path(files[t]) for t in types if problems[t] is None}}

        # 2. the learner measures each file
        table = {}
        for j, t in enumerate([BASELINE] + [t for t in types if t in paths]):
            progress(len(types) + j, steps, "step")
            raw = solution.measure(
                opener,
                paths[t],
                list(passages),
                list(questions),
                list(gold),
                None if t == BASELINE else table[BASELINE],
            )
            table[t] = _row(raw, t, len(passages), len(questions))
        opener.close_all()
        progress(steps - 1, steps, "step")
        choice = solution.choose({t: dict(r) for t, r in table.items()}, tolerance)
        if choice not in table:
            raise LearnerError(f"choose() must return one of {', '.join(table)}, got {choice!r}")

        # 3. the grader's own figures, from the model's raw vectors
        base_p = opener.raw(paths[BASELINE], passages, fallback=pinned_embedder)
        own = {}
        for t in table:
            fb = pinned_embedder if t == BASELINE else None
            own[t] = figures(opener.raw(paths[t], passages, fb), opener.raw(paths[t], questions, fb), gold, base_p)
            own[t]["size_bytes"] = paths[t].stat().st_size
        rule = {t: non_inferior(own[BASELINE]["hits@1"], own[t]["hits@1"], tolerance, boot_seed) for t in own}
        sizes = {t: own[t]["size_bytes"] for t in own}
        # one question's worth: another bootstrap (seed, resamples) can move the interval's end by that much
        accepted = accepted_choices(sizes, {t: r["ci_low"] for t, r in rule.items()}, tolerance, 1 / len(questions))
        rule_choice = min((t for t in own if rule[t]["ok"]), key=lambda t: (sizes[t], t))
        by_size = min(sizes, key=lambda t: (sizes[t], t))
        speeds = {t: _harness_rate(opener.calls.get(opener.sha(paths[t]), []), passages) for t in own}
    finally:
        opener.close_all()
        shutil.rmtree(tmp, ignore_errors=True)

    values.update(
        {
            "size_error_bytes": max(abs(table[t]["size_bytes"] - own[t]["size_bytes"]) for t in table),
            "recall_max_error": max(abs(table[t][f"recall@{k}"] - own[t][f"recall@{k}"]) for t in table for k in KS),
            "cosine_max_error": max(abs(table[t]["cosine_to_f16"] - own[t]["cosine_to_f16"]) for t in table),
            "choice_correct": float(choice in accepted),
        }
    )
    rows = []
    for t in sorted(own, key=lambda t: -sizes[t]):
        rows.append(
            {
                "type": t,
                "size_bytes": sizes[t],
                "size_mb": round(sizes[t] / 1e6, 1),
                "passages_per_s": round(table[t]["passages_per_s"], 1),
                "harness_passages_per_s": speeds[t],
                "recall@1": own[t]["recall@1"],
                "recall@5": own[t]["recall@5"],
                "cosine_to_f16": round(own[t]["cosine_to_f16"], 4),
                "recall@1_delta": round(rule[t]["delta"], 4),
                "ci_low": round(rule[t]["ci_low"], 4),
                "ci_high": round(rule[t]["ci_high"], 4),
                "non_inferior": rule[t]["ok"],
                "learner": {k: table[t][k] for k in ("size_bytes", "recall@1", "recall@5", "cosine_to_f16")},
            }
        )
    metrics = {
        "dataset": Path(path).name,
        "passages": len(passages),
        "questions": len(questions),
        "types": types,
        "tolerance": tolerance,
        "table": rows,
        "choice": choice,
        "rule_choice": rule_choice,
        "accepted_choices": accepted,
        "smallest_file": by_size,
        "quantize_s": quantize_s,
        "pinned_sha256_unchanged": sha256_file(pinned) == pinned_sha,
    }
    notes += [
        f"{len(questions)} questions against {len(passages)} paragraphs (flat search, unit vectors); the figures "
        "below are the grader's own, from the vectors the model returned to your code.",
        *(_table_line(r) for r in rows),
        _choice_line(tolerance, rule_choice, accepted, choice, by_size),
    ]
    if not metrics["pinned_sha256_unchanged"]:
        notes.append(
            "the pinned model file changed during the check: pull it again (harness models pull minilm-l6-v2 --force)"
        )
    timings = {"quantize_s": round(sum(quantize_s.values()), 3)}
    return Measurement(values=values, metrics=metrics, timings=timings, notes=notes)


def _table_line(r: dict) -> str:
    verdict = "" if r["non_inferior"] else "  not shown within the tolerance"
    return (
        f"{r['type']:7s} {r['size_mb']:5.1f} MB  {r['passages_per_s']:5.1f} paragraphs/s  "
        f"recall@1 {r['recall@1']:.3f}  recall@5 {r['recall@5']:.3f}  cosine to F16 {r['cosine_to_f16']:.4f}  "
        f"recall@1 - F16 {r['recall@1_delta']:+.3f} [{r['ci_low']:+.3f}, {r['ci_high']:+.3f}]{verdict}"
    )


def _choice_line(tolerance: float, rule_choice: str, accepted: list[str], choice: str, by_size: str) -> str:
    others = [t for t in accepted if t != rule_choice]
    also = f" ({', '.join(others)} also counts: within one question of the bar)" if others else ""
    return (
        f"The rule (the smallest file whose 95% interval of recall@1 - F16 starts at -{tolerance:g} or above) "
        f"picks {rule_choice}{also}; you chose {choice}. The smallest file is {by_size}."
    )


def _harness_rate(calls: list, passages: list[str]) -> float | None:
    """Paragraphs per second of the learner's first embed() call of the whole corpus, timed here."""
    spans = [dt for first, n, dt in calls if n == len(passages) and first == passages[:1]]
    return round(len(passages) / spans[0], 1) if spans and spans[0] > 0 else None
