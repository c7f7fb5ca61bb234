"""`harness merge`: shards of one matrix (possibly from several machines) into one result file."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from harness.bench.io import read_result
from harness.bench.matrix import cell_key, expand
from harness.bench.schema import ResultFile
from harness.errors import ResultFileError


def _raw_schema_version(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("schema_version")
    except Exception:
        return None


def _key_text(key: tuple) -> str:
    return "/".join(str(x) for x in key if x is not None)  # threads / embedding quantisation only where set


def merge_files(paths: list[Path]) -> tuple[ResultFile, list[str]]:
    """Returns the merged result and warnings (e.g. shards still missing)."""
    if len(paths) < 2:
        raise ResultFileError(
            "merge needs at least two result files", "pass every shard: harness merge a.json b.json -o all.json"
        )
    results = [read_result(p) for p in paths]
    first, first_path = results[0], paths[0]
    raw_first = _raw_schema_version(first_path)
    for path, res in zip(paths[1:], results[1:]):
        if _raw_schema_version(path) != raw_first:
            raise ResultFileError(
                f"{path}: schema version {_raw_schema_version(path)} differs from {first_path} ({raw_first})",
                "run every shard with the same harness version, then merge",
            )
        if res.harness_version != first.harness_version:
            raise ResultFileError(
                f"{path}: written by harness {res.harness_version}, {first_path} by {first.harness_version}",
                "run every shard with the same harness version, then merge",
            )
        if res.matrix != first.matrix:
            raise ResultFileError(
                f"{path}: its matrix differs from {first_path}'s ({res.matrix.model_dump()} vs {first.matrix.model_dump()})",
                "shards of one matrix are runs with the same --labs/--model/--backend/--device and different --shard",
            )
    seen: dict[tuple, Path] = {}
    runs, systems, shards = [], {}, []
    for path, res in zip(paths, results):
        for run in res.runs:
            k = cell_key(run.cell)
            if k in seen:
                raise ResultFileError(
                    f"{path}: cell {_key_text(k)} is also in {seen[k]}",
                    "merge each shard once; two runs of the same cell are two files to compare, not to merge",
                )
            seen[k] = path
            runs.append(run)
        systems.update(res.systems)
        shards += res.shards
    order = {cell_key(c): i for i, c in enumerate(expand(first.matrix))}
    runs.sort(key=lambda r: order.get(cell_key(r.cell), len(order)))
    warnings = []
    missing = [c for c in expand(first.matrix) if cell_key(c) not in seen]
    if missing:
        warnings.append(
            f"{len(missing)} of {len(order)} cells are in no file (e.g. {_key_text(cell_key(missing[0]))}): a shard is missing"
        )
    merged = ResultFile(
        harness_version=first.harness_version,
        created_at=dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
        matrix=first.matrix,
        shards=sorted({(s.index, s.count): s for s in shards}.values(), key=lambda s: s.index),
        systems=systems,
        runs=runs,
    )
    return merged, warnings
