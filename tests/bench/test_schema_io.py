"""Result schema: the committed JSON Schema matches the model; files round-trip; bad files get clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from pydantic import ValidationError

from harness.bench import io as bio
from harness.bench.schema import SCHEMA_VERSION, ResultFile
from harness.errors import ResultFileError
from harness.paths import REPO_ROOT

SCHEMA_FILE = REPO_ROOT / "schemas" / "result.schema.json"


def test_committed_schema_matches_the_model():
    committed = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert committed == bio.json_schema(), "schemas/result.schema.json is stale: run scripts/export-schema"


def test_schema_version_is_the_first_key(run_factory, result_factory, tmp_path):
    path = tmp_path / "r.json"
    bio.write_result(path, result_factory([run_factory()]))
    assert next(iter(json.loads(path.read_text()))) == "schema_version"


def test_round_trip_and_validates_against_schema_file(run_factory, result_factory, tmp_path):
    res = result_factory([run_factory(), run_factory(lab="rag", accuracy=0.7)])
    path = tmp_path / "r.json"
    bio.write_result(path, res)
    data = json.loads(path.read_text())
    jsonschema.validate(data, json.loads(SCHEMA_FILE.read_text()))
    back = bio.read_result(path)
    assert back == res
    assert back.runs[0].throughput.tg_tok_s.n == 5


def _write(tmp_path: Path, text: str | bytes) -> Path:
    p = tmp_path / "bad.json"
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    return p


def test_malformed_json_names_file_and_position(tmp_path):
    p = _write(tmp_path, '{"schema_version": 1, "tool": ')
    with pytest.raises(ResultFileError, match=r"bad\.json: malformed JSON at line 1, column \d+"):
        bio.read_result(p)


def test_other_tool(tmp_path):
    p = _write(tmp_path, json.dumps({"schema_version": 1, "tool": "llama-bench", "runs": []}))
    with pytest.raises(ResultFileError, match="written by another tool \\('llama-bench'\\)"):
        bio.read_result(p)
    p = _write(tmp_path, json.dumps([1, 2, 3]))
    with pytest.raises(ResultFileError, match="not a harness result file"):
        bio.read_result(p)


def test_newer_version_is_refused(run_factory, result_factory, tmp_path):
    data = result_factory([run_factory()]).model_dump(mode="json")
    data["schema_version"] = SCHEMA_VERSION + 1
    with pytest.raises(ResultFileError, match="newer than this harness reads") as e:
        bio.read_result(_write(tmp_path, json.dumps(data)))
    assert "upgrade" in e.value.hint


def test_older_version_without_migration_is_refused_not_misread(run_factory, result_factory, tmp_path):
    data = result_factory([run_factory()]).model_dump(mode="json")
    data["schema_version"] = 0
    with pytest.raises(ResultFileError, match="older than this harness can migrate"):
        bio.read_result(_write(tmp_path, json.dumps(data)))


def test_older_version_is_migrated_when_a_migration_exists(run_factory, result_factory, tmp_path, monkeypatch):
    # A hypothetical v0 that named the field "wall_seconds": the migration renames it, nothing is guessed.
    data = result_factory([run_factory()]).model_dump(mode="json")
    data["schema_version"] = 0
    for run in data["runs"]:
        run["wall_seconds"] = run.pop("wall_s")

    def v0_to_v1(d):
        for run in d["runs"]:
            run["wall_s"] = run.pop("wall_seconds")
        return {**d, "schema_version": 1}

    monkeypatch.setitem(bio.MIGRATIONS, 0, v0_to_v1)
    assert bio.read_result(_write(tmp_path, json.dumps(data))).runs[0].wall_s == 10.0


def test_field_errors_are_listed(run_factory, result_factory, tmp_path):
    data = result_factory([run_factory()]).model_dump(mode="json")
    data["runs"][0]["status"] = "maybe"
    data["runs"][0]["surprise"] = 1
    with pytest.raises(ResultFileError, match=r"runs\.0\.status.*runs\.0\.surprise"):
        bio.read_result(_write(tmp_path, json.dumps(data)))


def test_huge_file_is_refused_before_reading(tmp_path, monkeypatch):
    monkeypatch.setattr(bio, "MAX_BYTES", 1000)
    p = _write(tmp_path, b" " * 1001)
    with pytest.raises(ResultFileError, match="too big"):
        bio.read_result(p)


def test_not_utf8_and_missing(tmp_path):
    with pytest.raises(ResultFileError, match="not UTF-8"):
        bio.read_result(_write(tmp_path, b"\xff\xfe{"))
    with pytest.raises(ResultFileError, match="no such file"):
        bio.read_result(tmp_path / "nope.json")


def test_model_rejects_unknown_tool():
    with pytest.raises(ValidationError):
        ResultFile.model_validate({"schema_version": 1, "tool": "other"})


def test_a_v1_file_is_migrated_and_has_no_probe(run_factory, result_factory, tmp_path):
    """v1 (before the host probe) is read as the current version without a probe, never refused or misread."""
    data = result_factory([run_factory()]).model_dump(mode="json", exclude_none=True)
    data["schema_version"] = 1
    for run in data["runs"]:
        assert "host_probe" not in run
    path = tmp_path / "v1.json"
    path.write_text(json.dumps(data))
    res = bio.read_result(path)
    assert res.schema_version == SCHEMA_VERSION == 6
    assert res.runs[0].host_probe is None and res.systems["sys-test"].host_probe_method is None
    assert res.systems["sys-test"].llama_cpp_build is None
    assert res.runs[0].throughput.tg_tok_s == result_factory([run_factory()]).runs[0].throughput.tg_tok_s


def test_a_v2_file_is_migrated_and_has_no_build_record(run_factory, result_factory, tmp_path):
    """v2 (before llama_cpp_build) reads as the current version with the build unknown."""
    data = result_factory([run_factory()]).model_dump(mode="json", exclude_none=True)
    data["schema_version"] = 2
    for system in data["systems"].values():
        system.pop("llama_cpp_build", None)
    path = tmp_path / "v2.json"
    path.write_text(json.dumps(data))
    res = bio.read_result(path)
    assert res.schema_version == SCHEMA_VERSION and res.systems["sys-test"].llama_cpp_build is None


def test_a_v3_file_is_migrated_and_has_no_prefix_cache_setting(run_factory, result_factory, tmp_path):
    """v3 (before prefix reuse) reads as the current version with settings.prefix_cache unknown."""
    data = result_factory([run_factory()]).model_dump(mode="json", exclude_none=True)
    data["schema_version"] = 3
    for run in data["runs"]:
        run["settings"].pop("prefix_cache", None)
    path = tmp_path / "v3.json"
    path.write_text(json.dumps(data))
    res = bio.read_result(path)
    assert res.schema_version == SCHEMA_VERSION and res.runs[0].settings.prefix_cache is None


def test_a_v4_file_is_migrated_and_has_no_fingerprint(run_factory, result_factory, tmp_path):
    """v4 (before the greedy-output fingerprint) reads as the current version with no fingerprint."""
    data = result_factory([run_factory()]).model_dump(mode="json", exclude_none=True)
    data["schema_version"] = 4
    for run in data["runs"]:
        assert "fingerprint" not in run
    path = tmp_path / "v4.json"
    path.write_text(json.dumps(data))
    res = bio.read_result(path)
    assert res.schema_version == SCHEMA_VERSION and res.runs[0].fingerprint is None


def test_a_v5_file_is_migrated_and_has_no_outcomes_threads_or_embedding_quantisation(
    run_factory, result_factory, tmp_path
):
    """v5 (before threads / embedding quantisation as dimensions and per-item outcomes) reads as the current
    version: one thread count, the pinned embedder, a lab cell the frontier plots but cannot test."""
    data = result_factory([run_factory(lab="rag")]).model_dump(mode="json", exclude_none=True)
    data["schema_version"] = 5
    for key in ("threads", "embed_quants", "embed_quant_labs"):
        del data["matrix"][key]
    for run in data["runs"]:
        assert not {"embed_model", "threads", "embed_quant"} & (set(run) | set(run["cell"]))
        assert "outcomes" not in run["lab"]
    path = tmp_path / "v5.json"
    path.write_text(json.dumps(data))
    res = bio.read_result(path)
    run = res.runs[0]
    assert res.schema_version == SCHEMA_VERSION == 6 and res.matrix.threads == [] and res.matrix.embed_quants == []
    assert run.cell.threads is None and run.cell.embed_quant is None and run.embed_model is None
    assert run.lab.outcomes is None and run.settings.embed_quant is None


def test_the_committed_v5_results_still_read():
    """benchmarks/results holds files written before v6; they must stay readable (the leaderboard reads them)."""
    from pathlib import Path

    files = sorted((Path(__file__).resolve().parents[2] / "benchmarks" / "results").glob("*.json"))
    assert files
    for f in files:
        assert bio.read_result(f).runs
