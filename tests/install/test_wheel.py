"""A built wheel works outside the clone (pip install ., pipx, uv tool): it carries labs/,
models.lock and schemas/, and `harness labs`, `harness models list` and a real lab check run from a
temporary directory. The fresh venv gets the wheel alone (--no-deps); its dependencies come from
the test command's .venv through a path entry, so no second llama.cpp build is needed."""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from harness.paths import REPO_ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # --no-build-isolation: hatchling comes from the test extras, nothing is fetched
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "--disable-pip-version-check",
            str(REPO_ROOT),
            "-w",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    (whl,) = out.glob("local_lab_harness-*.whl")
    return whl


@pytest.fixture(scope="module")
def venv(tmp_path_factory, wheel) -> Path:
    root = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, timeout=120)
    purelib = Path(
        subprocess.run(
            [str(root / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    # The .venv's packages as a plain path entry: its .pth files (the editable install of this
    # clone among them) are not processed, so `import harness` can only find the wheel's copy.
    (purelib / "deps-from-test-venv.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(root / "bin" / "python"),
            "install",
            "-q",
            "--no-deps",
            "--disable-pip-version-check",
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    return root


def _run(venv: Path, *args: str, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    from harness.paths import models_dir

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "HARNESS_LABS", "HARNESS_LOCK")}
    # A home of its own (progress is recorded there), with the pulled models of the real store.
    home = cwd / "home"
    if not home.exists():
        home.mkdir()
        (home / "models").symlink_to(models_dir(), target_is_directory=True)
    env["HARNESS_HOME"] = str(home)
    return subprocess.run(
        [str(venv / "bin" / "harness"), *args], capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env
    )


def test_the_wheel_carries_the_curriculum_lock_and_schema(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    for must in (
        "harness/_bundled/models.lock",
        "harness/_bundled/labs/first-tokens/lab.toml",
        "harness/_bundled/labs/first-tokens/solution.py",
        "harness/_bundled/schemas/result.schema.json",
        "harness/cli/entry.py",
    ):
        assert must in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert not [n for n in names if n.startswith(("tests/", "labs/", "scripts/"))]


def test_the_installed_harness_is_the_wheel_not_the_clone(venv, tmp_path):
    r = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import harness.paths as p; print(p.labs_root())"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    root = Path(r.stdout.strip())
    assert root.is_relative_to(venv) and root.name == "labs" and (root / "first-tokens" / "lab.toml").is_file()


def test_labs_and_models_list_from_any_directory(venv, tmp_path):
    r = _run(venv, "labs", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "first-tokens" in {row["id"] for row in json.loads(r.stdout)["labs"]}
    r = _run(venv, "models", "list", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "smollm2-135m" in r.stdout


@pytest.mark.slow
def test_a_real_lab_check_from_any_directory(venv, tmp_path, chat_model_path):
    r = _run(venv, "check", "first-tokens", "--reference", "--threads", "1", "--json", cwd=tmp_path)
    report = json.loads(r.stdout)
    assert r.returncode == 0 and report["passed"], (report.get("error"), r.stderr[-2000:])
