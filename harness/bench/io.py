"""Reading and writing result files. A reader either understands a file or says exactly why not:
malformed JSON, another tool's file, a newer or unknown schema version, or a file too big to be ours.
Older schema versions are migrated step by step (MIGRATIONS) or refused, never read as if current."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness.atomic import atomic_write_text
from harness.bench.schema import SCHEMA_VERSION, TOOL, ResultFile
from harness.errors import ResultFileError

MAX_BYTES = 64 * 1024 * 1024  # a real result is well under 1 MiB; refuse before reading a huge file


def _v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    # v2 added optional fields only (the host probe): a v1 file is a v2 file without a probe.
    return {**data, "schema_version": 2}


def _v2_to_v3(data: dict[str, Any]) -> dict[str, Any]:
    # v3 added SystemInfo.llama_cpp_build (optional): a v2 file did not record how llama.cpp was built.
    return {**data, "schema_version": 3}


def _v3_to_v4(data: dict[str, Any]) -> dict[str, Any]:
    # v4 added Settings.prefix_cache (optional): a v3 file did not record it, and there was no
    # prefix reuse then (every prompt was cold), so it reads as unknown, not as on.
    return {**data, "schema_version": 4}


def _v4_to_v5(data: dict[str, Any]) -> dict[str, Any]:
    # v5 added RunResult.fingerprint (optional): a v4 file has none, so compare cannot tell whether
    # its answers match another file's and says so.
    return {**data, "schema_version": 5}


def _v5_to_v6(data: dict[str, Any]) -> dict[str, Any]:
    # v6 added optional fields only: threads / embedding quantisation as matrix dimensions (absent: the
    # file ran one thread count and the pinned embedder, as every v5 file did) and per-item outcomes
    # (absent: a v5 cell can be plotted on the frontier but not tested, and the frontier says so).
    return {**data, "schema_version": 6}


# from-version -> function returning the dict at from-version + 1. Version 1 is the first public one;
# add an entry here (and a test) whenever SCHEMA_VERSION is bumped.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {
    1: _v1_to_v2,
    2: _v2_to_v3,
    3: _v3_to_v4,
    4: _v4_to_v5,
    5: _v5_to_v6,
}


def read_result(path: Path | str) -> ResultFile:
    path = Path(path)
    if not path.is_file():
        raise ResultFileError(
            f"{path}: no such file", "check the path; results are written by `harness bench -o FILE.json`"
        )
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise ResultFileError(
            f"{path}: {size:,} bytes is too big for a harness result file (limit {MAX_BYTES:,})",
            "pass the JSON file written by `harness bench -o`, not a model or a log",
        )
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ResultFileError(
            f"{path}: not UTF-8 text ({e.reason} at byte {e.start})", "pass a JSON file written by `harness bench -o`"
        ) from None
    except json.JSONDecodeError as e:
        raise ResultFileError(
            f"{path}: malformed JSON at line {e.lineno}, column {e.colno}: {e.msg}",
            "the file is damaged or truncated; run `harness bench` again or restore it",
        ) from None
    return parse_result(data, source=str(path))


def parse_result(data: Any, *, source: str = "<data>") -> ResultFile:
    if not isinstance(data, dict) or "tool" not in data and "schema_version" not in data:
        raise ResultFileError(
            f"{source}: not a harness result file (no 'tool' or 'schema_version' key)",
            "pass a file written by `harness bench -o`",
        )
    if data.get("tool") != TOOL:
        raise ResultFileError(
            f"{source}: written by another tool ({data.get('tool')!r}), expected {TOOL!r}",
            "only files written by `harness bench` can be compared or merged",
        )
    version = data.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ResultFileError(
            f"{source}: schema_version {version!r} is not an integer", "the file is damaged; run `harness bench` again"
        )
    if version > SCHEMA_VERSION:
        raise ResultFileError(
            f"{source}: schema version {version} is newer than this harness reads ({SCHEMA_VERSION})",
            "upgrade the harness (pip install -U local-lab-harness) to read it",
        )
    while version < SCHEMA_VERSION:
        step = MIGRATIONS.get(version)
        if step is None:
            raise ResultFileError(
                f"{source}: schema version {version} is older than this harness can migrate (reads {SCHEMA_VERSION})",
                f"re-run the benchmark with this harness, or read it with the harness version that wrote it ({data.get('harness_version', 'unknown')})",
            )
        data = step(dict(data))
        version = data["schema_version"]
    try:
        return ResultFile.model_validate(data)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<top>'}: {err['msg']}" for err in e.errors()[:5]
        )
        more = f" (+{e.error_count() - 5} more)" if e.error_count() > 5 else ""
        raise ResultFileError(
            f"{source}: does not match result schema v{SCHEMA_VERSION}: {problems}{more}",
            "the file was edited or damaged; run `harness bench` again",
        ) from None


def dump_result(result: ResultFile) -> str:
    return json.dumps(result.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"


def write_result(path: Path | str, result: ResultFile) -> None:
    atomic_write_text(Path(path), dump_result(result))


def json_schema() -> dict[str, Any]:
    schema = ResultFile.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://local-lab-harness/schemas/result.v{SCHEMA_VERSION}.schema.json"
    return schema


def json_schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
