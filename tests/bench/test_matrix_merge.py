"""Shards cover the matrix exactly once; merge puts them back together and refuses mismatches."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from harness.bench import io as bio
from harness.bench.matrix import cell_key, expand, parse_shard, shard_cells
from harness.bench.merge import merge_files
from harness.bench.schema import SCHEMA_VERSION, MatrixSpec, Shard
from harness.errors import HarnessError, ResultFileError

SPEC = MatrixSpec(
    labs=["throughput", "rag", "prompting"], models=["a", "b"], backends=["llama-cpp"], devices=["cpu", "auto"]
)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 12, 13])
def test_shards_cover_the_matrix_exactly_once(n):
    cells = expand(SPEC)
    assert len(cells) == 12
    got = Counter(cell_key(c) for i in range(1, n + 1) for c in shard_cells(cells, Shard(index=i, count=n)))
    assert set(got) == {cell_key(c) for c in cells}
    assert set(got.values()) == {1}
    sizes = [len(shard_cells(cells, Shard(index=i, count=n))) for i in range(1, n + 1)]
    assert max(sizes) - min(sizes) <= 1


def test_split_is_deterministic_and_duplicates_are_dropped():
    again = MatrixSpec(
        labs=["throughput", "rag", "rag", "prompting"],
        models=["a", "b"],
        backends=["llama-cpp"],
        devices=["cpu", "auto"],
    )
    assert expand(again) == expand(SPEC)


@pytest.mark.parametrize("bad", ["0/2", "3/2", "1-2", "", "a/b"])
def test_bad_shard_spec(bad):
    with pytest.raises(HarnessError, match="i/n"):
        parse_shard(bad)


def _shard_files(tmp_path, run_factory, result_factory, n=2, harness_version="0.1.0"):
    labs, models, devices = ["throughput", "rag"], ["a", "b"], ["cpu"]
    spec = MatrixSpec(labs=labs, models=models, backends=["llama-cpp"], devices=devices)
    paths = []
    for i in range(1, n + 1):
        cells = shard_cells(expand(spec), Shard(index=i, count=n))
        res = result_factory(
            [run_factory(lab=c.lab, model=c.model, device=c.device) for c in cells],
            labs=labs,
            models=models,
            devices=devices,
        )
        res.shards = [Shard(index=i, count=n)]
        res.harness_version = harness_version if i == n else "0.1.0"
        p = tmp_path / f"shard{i}.json"
        bio.write_result(p, res)
        paths.append(p)
    return spec, paths


def test_merge_combines_shards_in_matrix_order(tmp_path, run_factory, result_factory):
    spec, paths = _shard_files(tmp_path, run_factory, result_factory)
    merged, warnings = merge_files(paths)
    assert warnings == []
    assert [cell_key(r.cell) for r in merged.runs] == [cell_key(c) for c in expand(spec)]
    assert [(s.index, s.count) for s in merged.shards] == [(1, 2), (2, 2)]


def test_merge_warns_about_a_missing_shard(tmp_path, run_factory, result_factory):
    _, paths = _shard_files(tmp_path, run_factory, result_factory, n=3)
    merged, warnings = merge_files(paths[:2])
    assert len(merged.runs) == 3 and "shard is missing" in warnings[0]


def test_merge_refuses_other_harness_version(tmp_path, run_factory, result_factory):
    _, paths = _shard_files(tmp_path, run_factory, result_factory, harness_version="0.2.0")
    with pytest.raises(ResultFileError, match="written by harness 0.2.0"):
        merge_files(paths)


def test_merge_refuses_other_schema_version(tmp_path, run_factory, result_factory):
    _, paths = _shard_files(tmp_path, run_factory, result_factory)
    data = json.loads(paths[1].read_text())
    data["schema_version"] = SCHEMA_VERSION + 1
    paths[1].write_text(json.dumps(data))
    with pytest.raises(ResultFileError, match="newer than this harness reads"):
        merge_files(paths)


def test_merge_refuses_the_same_cell_twice_and_other_matrices(tmp_path, run_factory, result_factory):
    _, paths = _shard_files(tmp_path, run_factory, result_factory)
    with pytest.raises(ResultFileError, match="is also in"):
        merge_files([paths[0], paths[0]])
    other = result_factory([run_factory(model="zzz")])
    bio.write_result(tmp_path / "other.json", other)
    with pytest.raises(ResultFileError, match="matrix differs"):
        merge_files([paths[0], tmp_path / "other.json"])


def test_merge_cli(tmp_path, run_factory, result_factory):
    from typer.testing import CliRunner

    from harness.cli.app import app

    _, paths = _shard_files(tmp_path, run_factory, result_factory)
    out = tmp_path / "all.json"
    r = CliRunner().invoke(app, ["merge", *map(str, paths), "-o", str(out), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["cells"] == 4
    assert len(bio.read_result(out).runs) == 4
