"""Bad result files through `harness compare` and `harness merge`: the reader (harness/bench/io.py)
is unit-tested by the bench engineer; here each bad file goes through the real command, which must
answer with the file's name, what is wrong, what to do, and write no output file."""

from __future__ import annotations

import json

import pytest

from harness.bench.io import MAX_BYTES, write_result
from harness.bench.schema import SCHEMA_VERSION

from .helpers import bench_helpers


@pytest.fixture
def good(tmp_path):
    p = tmp_path / "good.json"
    write_result(p, bench_helpers.make_result([bench_helpers.make_run()]))
    return p


def _data(good) -> dict:
    return json.loads(good.read_text())


def _rejected(cli, tmp_path, good, bad, *needles: str):
    for args in (("compare", str(good), str(bad)), ("merge", str(good), str(bad), "-o", str(tmp_path / "merged.json"))):
        r = cli(*args)
        assert r.code == 1 and not r.traceback, r
        assert r.has("error:") and r.has("->") and r.has(bad.name), r
        for n in needles:
            assert r.has(n), (n, str(r))
    assert not (tmp_path / "merged.json").exists()


@pytest.mark.bad_input("result JSON: malformed")
@pytest.mark.parametrize(
    "text", ['{"schema_version": 1, "tool": ', "\x00\x01garbage", ""], ids=["truncated", "binary", "empty"]
)
def test_malformed_result(cli, tmp_path, good, text):
    bad = tmp_path / "bad.json"
    bad.write_text(text)
    _rejected(cli, tmp_path, good, bad, "malformed JSON")


@pytest.mark.bad_input("result JSON: another schema version")
@pytest.mark.parametrize("version", [SCHEMA_VERSION + 1, 0, "1"], ids=["newer", "older", "string"])
def test_other_schema_version(cli, tmp_path, good, version):
    data = _data(good)
    data["schema_version"] = version
    bad = tmp_path / "other-version.json"
    bad.write_text(json.dumps(data))
    _rejected(cli, tmp_path, good, bad, "schema")


@pytest.mark.bad_input("result JSON: another tool's file")
@pytest.mark.parametrize(
    "doc",
    [
        {"schema_version": 1, "tool": "llama-bench", "runs": []},
        {"build_commit": "abc", "model_type": "llama 7B", "avg_ts": 12.5},
        [{"tool": "local-lab-harness"}],
    ],
    ids=["llama-bench-tool", "no-markers", "a-list"],
)
def test_other_tools_file(cli, tmp_path, good, doc):
    bad = tmp_path / "llama-bench.json"
    bad.write_text(json.dumps(doc))
    _rejected(cli, tmp_path, good, bad)
    r = cli("compare", str(good), str(bad))
    assert r.has("another tool") or r.has("not a harness result file"), r


@pytest.mark.bad_input("result JSON: huge")
def test_huge_result_is_refused_before_reading(cli, tmp_path, good):
    bad = tmp_path / "huge.json"
    with open(bad, "wb") as f:  # sparse: no real disk use, and reading it would take seconds
        f.truncate(MAX_BYTES + 1)
    _rejected(cli, tmp_path, good, bad, "too big")


@pytest.mark.bad_input("result JSON: edited into an invalid shape")
def test_invalid_shape(cli, tmp_path, good):
    data = _data(good)
    data["runs"][0]["status"] = "great"
    data["runs"][0]["settings"]["threads"] = "many"
    bad = tmp_path / "edited.json"
    bad.write_text(json.dumps(data))
    _rejected(cli, tmp_path, good, bad, "does not match result schema", "runs.0.status")
