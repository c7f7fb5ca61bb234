"""harness/llama_build.py: the one place that says how llama-cpp-python is built, and proof that the
build the test command installed is the one it says (no AMX, flags recorded, nothing reinstalled)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

from harness import llama_build as lb
from harness.paths import REPO_ROOT

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib


def test_the_pin_is_written_once():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    reqs = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    pins = {re.sub(r"\[.*\]", "", r) for r in reqs if r.startswith("llama-cpp-python")}
    assert pins == {f"llama-cpp-python=={lb.LLAMA_CPP_PYTHON_VERSION}"}  # pip cannot read a Python constant
    for script in ("install-cuda", "llama-bench"):  # they ask harness.llama_build, they hold no version
        assert not re.search(r"0\.\d+\.\d+", (REPO_ROOT / "scripts" / script).read_text())


@pytest.mark.skipif(not lb.is_x86(), reason="the AMX flags exist only on x86")
def test_cmake_args_turn_amx_off_for_c_and_cxx_and_add_cuda_on_request():
    import shlex

    args = shlex.split(lb.cmake_args())
    assert args == [f"-DCMAKE_C_FLAGS={' '.join(lb.NO_AMX_FLAGS)}", f"-DCMAKE_CXX_FLAGS={' '.join(lb.NO_AMX_FLAGS)}"]
    cuda = shlex.split(lb.cmake_args("89"))
    assert cuda[:2] == args and cuda[2:] == ["-DGGML_CUDA=on", "-DCMAKE_CUDA_ARCHITECTURES=89"]


@pytest.mark.skipif(not lb.is_x86() or shutil.which("cc") is None, reason="needs an x86 C compiler")
def test_the_flags_remove_amx_even_where_native_means_an_amx_cpu():
    """GGML_NATIVE compiles with -march=native; on a Sapphire Rapids Xeon that turns AMX on. The
    flags must win whatever their order (CMake puts CMAKE_C_FLAGS before -march=native)."""

    def macros(*flags: str) -> str:
        return subprocess.run(
            ["cc", *flags, "-dM", "-E", "-"], input="", capture_output=True, text=True, check=True
        ).stdout

    assert "__AMX_INT8__" in macros("-march=sapphirerapids")  # the compiler knows the CPU
    for order in ((*lb.NO_AMX_FLAGS, "-march=sapphirerapids"), ("-march=sapphirerapids", *lb.NO_AMX_FLAGS)):
        out = macros(*order)
        assert "__AMX_INT8__" not in out and "__AMX_TILE__" not in out
        assert "__AVX512F__" in out and "__AVX512VNNI__" in out  # the rest of the CPU stays


def test_the_wheel_key_follows_flags_cpu_and_python(monkeypatch):
    base = lb.wanted_build()
    assert base["key"] == lb.wanted_build()["key"]
    assert lb.wanted_build("89")["key"] != base["key"]
    monkeypatch.setattr(lb, "cpu_signature", lambda: "another CPU")
    assert lb.wanted_build()["key"] != base["key"]


def test_no_wheel_cache_when_pip_has_none(monkeypatch, tmp_path):
    monkeypatch.setenv("HARNESS_BUILD_CACHE", str(tmp_path))
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    assert lb.wheel_cache_dir() is None
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "0")
    assert lb.wheel_cache_dir() == tmp_path


def test_amx_guard_only_for_builds_with_amx(monkeypatch):
    monkeypatch.delenv(lb.ALLOW_AMX_ENV, raising=False)
    assert lb.amx_guard_needed({"AVX2": True, "AMX_INT8": True})
    assert not lb.amx_guard_needed({"AVX2": True, "AVX512": True, "AMX_INT8": False})
    monkeypatch.setenv(lb.ALLOW_AMX_ENV, "1")
    assert not lb.amx_guard_needed({"AMX_INT8": True})


def test_a_stamp_stops_describing_a_build_that_was_reinstalled(monkeypatch, tmp_path):
    monkeypatch.setattr(lb, "installed_record_sha", lambda: "abc")
    assert lb.stamp_matches({"record_sha256": "abc"})
    assert not lb.stamp_matches({"record_sha256": "other"}) and not lb.stamp_matches(None)


def test_rebuild_hint_fits_the_environment(monkeypatch, tmp_path):
    monkeypatch.setattr(lb, "read_stamp", lambda prefix=None: {"key": "x"})
    assert "./scripts/setup --rebuild-llama" in lb.rebuild_hint()
    monkeypatch.setattr(lb, "read_stamp", lambda prefix=None: None)
    hint = lb.rebuild_hint()  # pipx / uv / pip: the exact reinstall with the flags
    assert "--no-binary llama-cpp-python" in hint and lb.LLAMA_CPP_PYTHON_VERSION in hint
    if lb.is_x86():
        assert "-mno-amx-int8" in hint


def test_the_test_command_runs_the_build_scripts_setup_made():
    """./scripts/setup built llama-cpp-python here with cmake_args(); nothing reinstalled it since,
    and llama.cpp itself reports AMX absent."""
    import llama_cpp

    from harness.hw.llama_info import build_flags

    stamp = lb.read_stamp()
    assert stamp is not None, f"no {lb.STAMP_NAME} in {sys.prefix}: run the tests through ./scripts/test"
    assert lb.stamp_matches(stamp), "llama-cpp-python was reinstalled after scripts/setup built it"
    assert stamp["version"] == llama_cpp.__version__ == lb.LLAMA_CPP_PYTHON_VERSION
    assert stamp["cmake_args"].startswith(lb.cmake_args())  # plus CUDA after scripts/install-cuda
    flags = build_flags(llama_cpp)
    assert flags.get("AMX_INT8") is not True
    build = lb.installed_build(flags)
    assert build["built_by"] == "scripts/setup" and build["amx"] is False and build["extra_bufts"] is True
    assert "AVX2" in build["cpu_features"] or not lb.is_x86()


def test_ensure_is_a_no_op_when_the_build_matches():
    r = subprocess.run(
        [sys.executable, "-m", "harness.llama_build", "ensure"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
    )
    assert r.returncode == 0, r.stderr
    assert "(up to date)" in r.stdout
