"""Can two result files be compared, and should their answers agree? Said before any figure.

Per model · backend · device that both files ran (the cells that line up in `harness compare`):
- **not comparable** when the model file (sha256), the settings that decide the answers (seed,
  temperature, item limit) or a lab's version differ, or when nothing lines up at all;
- otherwise **comparable**, with caveats: the llama.cpp builds differ (speed then compares the builds
  too), and whether the greedy-output fingerprints (harness/bench/fingerprint.py) agree. Equal
  fingerprints: accuracy should be equal. Different ones: accuracy may differ, and the likely cause is
  named from what the files recorded (flash attention, its thread split, SIMD kernels, GPU vs CPU).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.bench.matrix import dimensions_text
from harness.bench.schema import Cell, Fingerprint, ResultFile, RunResult, SystemInfo

# ggml's baseline features say nothing about which kernels ran (compare, comparability, leaderboard)
BASELINE_FEATURES = {"SSE3", "SSSE3", "LLAMAFILE", "OPENMP", "REPACK"}


@dataclass
class Verdict:
    file: str  # the file compared with the first one
    group: str | None  # "model · backend · device"; None when no cell lines up
    comparable: bool
    reasons: list[str] = field(default_factory=list)  # why not comparable
    caveats: list[str] = field(default_factory=list)
    same_answers: bool | None = None  # the fingerprints agree (True), differ (False), or cannot tell (None)

    def text(self, first: str) -> str:
        where = f"{self.group}: " if self.group else ""
        head = f"{Path(self.file).name} vs {Path(first).name}: {where}"
        if not self.comparable:
            return head + "not comparable: " + "; ".join(self.reasons)
        return head + "comparable" + (f" ({'; '.join(self.caveats)})" if self.caveats else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "group": self.group,
            "comparable": self.comparable,
            "reasons": self.reasons,
            "caveats": self.caveats,
            "same_answers": self.same_answers,
        }


def group_key(cell: Cell) -> str:
    """The cells one chat model ran in alike: one fingerprint serves them all (a thread count of its
    own where the bench varied it: with flash attention on, threads change the answers)."""
    return (
        f"{cell.model} · {cell.backend} · {cell.device}{dimensions_text(cell.model_copy(update={'embed_quant': None}))}"
    )


def _groups(result: ResultFile) -> dict[str, list[RunResult]]:
    out: dict[str, list[RunResult]] = {}
    for run in result.runs:
        if run.status == "ok":
            out.setdefault(group_key(run.cell), []).append(run)
    return out


def fingerprint_of(runs: list[RunResult]) -> Fingerprint | None:
    return next((r.fingerprint for r in runs if r.fingerprint), None)


def _features(system: SystemInfo | None) -> list[str] | None:
    build = system.llama_cpp_build if system else None
    if build is None:
        return None
    return sorted(f for f in build.cpu_features if f not in BASELINE_FEATURES)


def _build(system: SystemInfo | None) -> tuple[Any, ...] | None:
    if system is None:
        return None
    build = system.llama_cpp_build
    return (
        system.llama_cpp_version,
        tuple(_features(system) or ()),
        build.amx if build else None,
        build.extra_bufts if build else None,
    )


def likely_cause(
    fa: Fingerprint, fb: Fingerprint, sys_a: SystemInfo | None, sys_b: SystemInfo | None, a: RunResult, b: RunResult
) -> str:
    """The recorded differences that change llama.cpp's numerics, most specific first."""
    causes = []
    if fa.device_used != fb.device_used:
        causes.append(f"{fa.device_used} vs {fb.device_used}: GPU and CPU kernels round differently")
    elif fa.device_used == "gpu" and fa.n_gpu_layers != fb.n_gpu_layers:
        causes.append(f"{fa.n_gpu_layers} vs {fb.n_gpu_layers} layers offloaded")
    if fa.flash_attn != fb.flash_attn:
        causes.append(f"flash attention {'on' if fa.flash_attn else 'off'} vs {'on' if fb.flash_attn else 'off'}")
    else:  # the backends' measured effects (harness/backends/catalog.py)
        from harness.backends.catalog import numerics_effects

        sa, sb = (f.model_dump() | {"device": f.device_used} for f in (fa, fb))
        causes += [e.text(sa, sb) for e in numerics_effects() if e.applies(sa, sb)]
    fea, feb = _features(sys_a), _features(sys_b)
    if fea is not None and feb is not None and fea != feb and "cpu" in (fa.device_used, fb.device_used):
        causes.append(f"other SIMD kernels ({' '.join(fea) or 'none'} vs {' '.join(feb) or 'none'})")
    va, vb = (s.llama_cpp_version if s else None for s in (sys_a, sys_b))
    if va != vb:
        causes.append(f"llama.cpp (llama-cpp-python) {va} vs {vb}")
    if a.backend_version != b.backend_version and a.cell.backend != "llama-cpp":
        causes.append(f"{a.cell.backend} server {a.backend_version} vs {b.backend_version}")
    return "; ".join(causes) or (
        "no recorded cause: same model, build and settings, where llama.cpp is "
        "deterministic (please report it with both files)"
    )


def _answers(
    verdict: Verdict,
    a_runs: list[RunResult],
    b_runs: list[RunResult],
    sys_a: SystemInfo | None,
    sys_b: SystemInfo | None,
    name_a: str,
    name_b: str,
) -> None:
    fa, fb = fingerprint_of(a_runs), fingerprint_of(b_runs)
    missing = [Path(n).name for n, f in ((name_a, fa), (name_b, fb)) if f is None]
    if missing:
        verdict.caveats.append(
            f"whether the answers should agree is unknown: no greedy-output fingerprint in "
            f"{', '.join(missing)} (written before schema v5, or its fingerprint failed)"
        )
        return
    assert fa is not None and fb is not None
    if fa.method != fb.method:
        verdict.caveats.append("the fingerprints were made differently, so whether the answers should agree is unknown")
        return
    verdict.same_answers = fa.sha256 == fb.sha256
    if verdict.same_answers:
        verdict.caveats.append(f"same greedy outputs (fingerprint {fa.sha256}): accuracy should be equal")
    else:
        a = next(r for r in a_runs if r.fingerprint)
        b = next(r for r in b_runs if r.fingerprint)
        verdict.caveats.append(
            f"greedy outputs differ (fingerprint {fa.sha256} vs {fb.sha256}), so accuracy may "
            f"differ; likely cause: {likely_cause(fa, fb, sys_a, sys_b, a, b)}"
        )


def _describe_mismatch(a: dict[str, list[RunResult]], b: dict[str, list[RunResult]]) -> str:
    def parts(groups, index):
        return sorted(
            {
                r.cell.model if index == 0 else r.cell.backend if index == 1 else r.cell.device
                for runs in groups.values()
                for r in runs
            }
        )

    for index, what in ((0, "model"), (1, "backend"), (2, "device")):
        pa, pb = parts(a, index), parts(b, index)
        if pa != pb:
            return f"different {what} ({', '.join(pa) or 'none'} vs {', '.join(pb) or 'none'})"
    return "no cell in common"


def verdicts(results: list[ResultFile], names: list[str]) -> list[Verdict]:
    """One verdict per file after the first and per model · backend · device both ran."""
    base = _groups(results[0])
    out: list[Verdict] = []
    for res, name in zip(results[1:], names[1:]):
        groups = _groups(res)
        common = [g for g in base if g in groups]
        if not common:
            out.append(Verdict(file=name, group=None, comparable=False, reasons=[_describe_mismatch(base, groups)]))
            continue
        for g in common:
            a_runs, b_runs = base[g], groups[g]
            a, b = a_runs[0], b_runs[0]
            sys_a, sys_b = results[0].systems.get(a.system), res.systems.get(b.system)
            v = Verdict(file=name, group=g, comparable=True)
            if a.model_sha256 and b.model_sha256 and a.model_sha256 != b.model_sha256:
                v.reasons.append(f"different model file (sha256 {a.model_sha256[:12]}… vs {b.model_sha256[:12]}…)")
            emb_a = {(r.cell.lab, r.cell.embed_quant): r.embed_model for r in a_runs if r.embed_model}
            emb_b = {(r.cell.lab, r.cell.embed_quant): r.embed_model for r in b_runs if r.embed_model}
            for key in sorted(emb_a.keys() & emb_b.keys(), key=str):
                ea, eb = emb_a[key], emb_b[key]
                if ea.sha256 != eb.sha256:
                    v.reasons.append(
                        f"lab {key[0]}: different embedding model file ({ea.name} {ea.quant} "
                        f"{ea.sha256[:12]}… vs {eb.name} {eb.quant} {eb.sha256[:12]}…)"
                    )
            for setting in ("seed", "temperature", "limit"):
                va, vb = getattr(a.settings, setting), getattr(b.settings, setting)
                if va != vb:
                    v.reasons.append(f"different {setting} ({va} vs {vb})")
            versions_a = {r.cell.lab: r.lab.lab_version for r in a_runs if r.lab}
            versions_b = {r.cell.lab: r.lab.lab_version for r in b_runs if r.lab}
            for lab in versions_a.keys() & versions_b.keys():
                if versions_a[lab] != versions_b[lab]:
                    v.reasons.append(f"lab {lab} version {versions_a[lab]} vs {versions_b[lab]}")
            v.comparable = not v.reasons
            if v.comparable:
                if _build(sys_a) != _build(sys_b):
                    v.caveats.append(
                        "llama.cpp builds differ: speed figures compare the builds as well as the machines"
                    )
                _answers(v, a_runs, b_runs, sys_a, sys_b, names[0], name)
            out.append(v)
    return out
