"""`harness models ...` through typer's runner, and once through the real console entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from harness.cli.app import app
from harness.errors import ModelNotFound

from .conftest import Route, blob, entry, https, sha, write_lock

DATA = blob(150_000, seed=4)
runner = CliRunner()


@pytest.fixture
def lock(tmp_path, home, server, monkeypatch):
    server.routes["/m.bin"] = Route.of(body=DATA)
    p = write_lock(tmp_path / "models.lock", [entry("m", "m.bin", DATA, [https(server.url("/m.bin"))]),
                                              entry("u", "u.bin", None, [https(server.url("/m.bin"))])])  # fmt: skip
    monkeypatch.setenv("HARNESS_LOCK", str(p))
    return p


def _json(result):
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_list_pull_path_verify_rm_json(lock, home):
    rows = _json(runner.invoke(app, ["models", "list", "--json"]))["models"]
    assert [(r["name"], r["status"], r["verified"]) for r in rows] == [
        ("m", "not pulled", True),
        ("u", "not pulled", False),
    ]
    pulled = _json(runner.invoke(app, ["models", "pull", "m", "--json"]))["pulled"]
    assert pulled[0]["status"] == "pulled" and pulled[0]["sha256"] == sha(DATA)
    assert str(home) not in json.dumps(pulled)  # no local paths in machine output
    assert _json(runner.invoke(app, ["models", "pull", "m", "--json"]))["pulled"][0]["status"] == "present"
    assert _json(runner.invoke(app, ["models", "path", "m", "--json"]))["path"] == str(home / "models/m/m.bin")
    v = _json(runner.invoke(app, ["models", "verify", "--json"]))
    assert v["ok"] and [x["name"] for x in v["verified"]] == ["m"]
    assert _json(runner.invoke(app, ["models", "rm", "m", "--json"]))["removed"] is True
    res = runner.invoke(app, ["models", "path", "m"])
    assert isinstance(res.exception, ModelNotFound) and res.exception.hint == "harness models pull m"


def test_unverified_pull_says_it_pinned(lock, home):
    res = runner.invoke(app, ["models", "pull", "u"])
    assert res.exit_code == 0, res.output
    assert "pinned sha256" in res.output and sha(DATA) in res.output.replace("\n", "")


def test_export_and_pull_from(lock, home, tmp_path, monkeypatch, server):
    assert runner.invoke(app, ["models", "pull", "m"]).exit_code == 0
    usb = tmp_path / "usb"
    assert [d["name"] for d in _json(runner.invoke(app, ["models", "export", str(usb), "--json"]))["exported"]] == ["m"]
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "fresh"))
    server.routes["/m.bin"] = Route.of(status=404)
    r = _json(runner.invoke(app, ["models", "pull", "m", "--offline", "--from", str(usb), "--json"]))["pulled"][0]
    assert r["status"] == "pulled" and r["source"].startswith("mirror ")


def test_verify_after_one_changed_byte_through_the_real_command(lock, home):
    assert runner.invoke(app, ["models", "pull", "m"]).exit_code == 0
    f = home / "models/m/m.bin"
    data = bytearray(f.read_bytes())
    data[777] ^= 0x01
    f.write_bytes(bytes(data))
    env = {**os.environ, "HARNESS_HOME": str(home), "HARNESS_LOCK": str(lock), "COLUMNS": "200"}
    p = subprocess.run(
        [sys.executable, "-m", "harness", "models", "verify", "m"], env=env, capture_output=True, text=True, timeout=60
    )
    assert p.returncode != 0
    assert "FAILED m: sha256" in p.stderr and "harness models pull m --force" in p.stderr
    assert "Traceback" not in p.stderr


def test_unknown_model_is_a_user_error(lock):
    env = {**os.environ, "HARNESS_LOCK": str(lock)}
    p = subprocess.run(
        [sys.executable, "-m", "harness", "models", "pull", "nope"], env=env, capture_output=True, text=True, timeout=60
    )
    assert p.returncode == 1 and "no model 'nope'" in p.stderr and "Traceback" not in p.stderr


def test_pull_defaults(tmp_path, home, server, monkeypatch):
    server.routes["/m.bin"] = Route.of(body=DATA)
    server.routes["/d.bin"] = Route.of(body=DATA[::-1])
    d = entry("d", "d.bin", DATA[::-1], [https(server.url("/d.bin"))]).replace("sources =", "default = true\nsources =")
    p = write_lock(tmp_path / "models.lock", [entry("m", "m.bin", DATA, [https(server.url("/m.bin"))]), d])
    monkeypatch.setenv("HARNESS_LOCK", str(p))
    pulled = _json(runner.invoke(app, ["models", "pull", "--defaults", "--json"]))["pulled"]
    assert [x["name"] for x in pulled] == ["d"]
    res = runner.invoke(app, ["models", "pull"])
    assert res.exit_code != 0 and "--defaults" in str(res.exception.hint)
