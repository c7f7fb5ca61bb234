"""How llama-cpp-python is built for the harness: its version and compiler flags, in one place.

scripts/setup builds and installs it through `python -m harness.llama_build ensure`;
scripts/install-cuda and scripts/llama-bench take their CMake arguments from `cmake-args`, so the
harness and llama-bench always run the same llama.cpp; `harness doctor` and every result file
report what the installed build is (`installed_build()`).

Why AMX is compiled out: llama-cpp-python builds ggml with GGML_NATIVE (-march=native), which
compiles ggml's AMX matmul backend on a CPU that has AMX (Intel Xeon 4th gen and later). In this
llama.cpp that code crashes (SIGSEGV at `ldtilecfg` in ggml_backend_amx_mul_mat, or SIGILL with one
thread) in the first prompt decode: llama.cpp issue 20824, fix proposed in PR 26954. `-mno-amx-*`
removes only AMX: every other feature -march=native finds (AVX2, AVX-512, VNNI, ...) stays. What it
costs is in docs/models.md ("The llama.cpp build").

Standard library only: this runs before the package's dependencies are installed.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

LLAMA_CPP_PYTHON_VERSION = "0.3.36"
NO_AMX_FLAGS = ("-mno-amx-tile", "-mno-amx-int8", "-mno-amx-bf16")
STAMP_NAME = "harness-llama-build.json"  # in the environment's prefix, written after a build installs
# Set to 1 to let llama.cpp use an AMX build's AMX buffer anyway (see amx_guard_needed).
ALLOW_AMX_ENV = "HARNESS_LLAMA_ALLOW_AMX"


def is_x86() -> bool:
    return platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")


def cmake_args(cuda_arch: str | None = None) -> str:
    """CMAKE_ARGS for this machine: AMX compiled out on x86 (other CPUs have no such flags),
    plus CUDA for the given compute capability ("89", "native") when asked."""
    args: list[str] = []
    if is_x86() and sys.platform != "win32":  # MSVC takes no -m flags
        flags = " ".join(NO_AMX_FLAGS)
        # double quotes: scikit-build-core splits CMAKE_ARGS like a shell, and the whole line can
        # still be put in single quotes on a command line
        args += [f'-DCMAKE_C_FLAGS="{flags}"', f'-DCMAKE_CXX_FLAGS="{flags}"']
    if cuda_arch:
        args += ["-DGGML_CUDA=on", f"-DCMAKE_CUDA_ARCHITECTURES={cuda_arch}"]
    return " ".join(args)


def cpu_signature() -> str:
    """What -march=native compiles for: the CPU's model and feature flags (Linux), or the platform.
    A wheel built with -march=native is only right for a CPU with the same signature."""
    if sys.platform.startswith("linux"):
        try:
            info = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            info = ""
        keep = ("model name", "flags", "Features", "CPU implementer", "CPU part")
        lines = {
            k.strip(): v.strip() for k, _, v in (ln.partition(":") for ln in info.splitlines()) if k.strip() in keep
        }
        if lines:
            return json.dumps(lines, sort_keys=True)
    return f"{platform.system()} {platform.machine()} {platform.processor()}"


def wanted_build(cuda_arch: str | None = None) -> dict[str, Any]:
    spec = {"version": LLAMA_CPP_PYTHON_VERSION, "cmake_args": cmake_args(cuda_arch), "cuda_arch": cuda_arch}
    # the arguments as CMake receives them (split), so quoting alone never changes the key
    key_src = json.dumps(
        {
            **spec,
            "cmake_args": shlex.split(spec["cmake_args"]),
            "cpu": cpu_signature(),
            "python": sys.implementation.cache_tag,
        },
        sort_keys=True,
    )
    return {**spec, "key": hashlib.sha256(key_src.encode()).hexdigest()[:16]}


def llama_bench_dir(gpu: bool = False) -> Path:
    """Where scripts/llama-bench builds llama.cpp's llama-bench: keyed by version and flags, so a
    binary built with other flags (AMX) is never run as if it were the harness's llama.cpp."""
    env = os.environ.get("LLAMA_BENCH_CACHE")
    if env:
        return Path(env)
    args = cmake_args("native" if gpu else None)
    key = hashlib.sha256(args.encode()).hexdigest()[:8]
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "local-lab-harness" / f"llama-bench-{LLAMA_CPP_PYTHON_VERSION}-{key}{'-cuda' if gpu else ''}"


def stamp_path(prefix: str | None = None) -> Path:
    return Path(prefix or sys.prefix) / STAMP_NAME


def read_stamp(prefix: str | None = None) -> dict[str, Any] | None:
    try:
        data = json.loads(stamp_path(prefix).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def installed_build(flags: dict[str, Any] | None = None) -> dict[str, Any]:
    """The installed llama.cpp as result files and `harness doctor` record it. `flags` is
    llama.cpp's system info ({"AVX2": True, ...}) when the caller has read it."""
    stamp = read_stamp()
    stamp = stamp if stamp_matches(stamp) else None
    out: dict[str, Any] = {
        "built_by": "scripts/setup" if stamp else None,
        "cmake_args": stamp.get("cmake_args") if stamp else None,
    }
    if flags is not None:
        out["cpu_features"] = sorted(k for k, v in flags.items() if v is True)
        out["amx"] = has_amx(flags)
        out["extra_bufts"] = not amx_guard_needed(flags)
    return out


def has_amx(flags: dict[str, Any]) -> bool:
    """llama.cpp's system info ({"AMX_INT8": True, ...}) says AMX code is compiled in."""
    return any(k.startswith("AMX") and v is True for k, v in flags.items())


def amx_guard_needed(flags: dict[str, Any]) -> bool:
    """An AMX build (one not made by scripts/setup: pipx, uv, a plain pip install on an AMX CPU)
    would crash in its AMX buffer; loading models without extra buffer types avoids it (measured on
    the crashing machine). That also turns off weight repacking, which only such a build loses."""
    return has_amx(flags) and os.environ.get(ALLOW_AMX_ENV, "") != "1"


def rebuild_hint() -> str:
    """How to get a build without AMX, for the environment this runs in."""
    if read_stamp() is not None:  # a .venv that scripts/setup made
        return "rebuild it: ./scripts/setup --rebuild-llama (in the clone)"
    return (
        f"reinstall llama-cpp-python without AMX in this environment: CMAKE_ARGS={shlex.quote(cmake_args())} "
        f"pip install --force-reinstall --no-cache-dir --no-binary llama-cpp-python "
        f"llama-cpp-python=={LLAMA_CPP_PYTHON_VERSION}"
    )


# ---------------------------------------------------------------------------- building (scripts/setup)


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() not in ("", "0", "false", "no", "off")


def wheel_cache_dir() -> Path | None:
    """Built wheels, keyed by version, flags, CPU and Python. None when pip's cache is off
    (PIP_NO_CACHE_DIR): then nothing built earlier is reused, here or by pip."""
    if _truthy(os.environ.get("PIP_NO_CACHE_DIR")):
        return None
    env = os.environ.get("HARNESS_BUILD_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "local-lab-harness" / "llama-cpp-python"


def _pip(*args: str, env: dict[str, str] | None = None, log: Path | None = None) -> None:
    cmd = [sys.executable, "-m", "pip", *args]
    if log is None:
        subprocess.run(cmd, check=True, env=env)
        return
    with open(log, "wb") as f:
        rc = subprocess.run(cmd, env=env, stdout=f, stderr=subprocess.STDOUT).returncode
    if rc != 0:
        tail = log.read_bytes()[-3000:].decode("utf-8", "replace")
        raise SystemExit(
            f"{tail}\nerror: building llama-cpp-python failed (pip exit {rc}); the whole log: {log}\n"
            "  -> it needs a C/C++ compiler and CMake >= 3.21 (e.g. apt-get install build-essential cmake)"
        )


def _build_wheel(want: dict[str, Any], dest: Path) -> Path:
    env = dict(
        os.environ,
        CMAKE_ARGS=want["cmake_args"],
        CMAKE_BUILD_PARALLEL_LEVEL=os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 2)),
    )
    print(
        f"==> building llama-cpp-python {want['version']} from source with CMAKE_ARGS={want['cmake_args']!r}"
        " (~6 min on 2 cores)",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="harness-llama-build-") as tmp:
        log = Path(tmp) / "build.log"
        # --no-binary: never a prebuilt wheel from an index or find-links; --no-cache-dir: never pip's
        # cached wheel, which pip keys by the sdist alone, not by CMAKE_ARGS or the CPU.
        _pip(
            "wheel",
            "--no-deps",
            "--no-cache-dir",
            "--no-binary",
            "llama-cpp-python",
            "--disable-pip-version-check",
            f"llama-cpp-python=={want['version']}",
            "-w",
            tmp,
            env=env,
            log=log,
        )
        wheels = list(Path(tmp).glob("llama_cpp_python-*.whl"))
        if len(wheels) != 1:
            raise SystemExit(f"error: pip wheel gave {len(wheels)} llama-cpp-python wheels, expected 1")
        dest.mkdir(parents=True, exist_ok=True)
        final = dest / wheels[0].name
        part = dest / (wheels[0].name + ".part")
        shutil.copyfile(wheels[0], part)
        os.replace(part, final)  # a cache entry is whole or absent
        return final


def _installed_version() -> str | None:
    from importlib import metadata

    try:
        return metadata.version("llama-cpp-python")
    except metadata.PackageNotFoundError:
        return None


def installed_record_sha() -> str | None:
    """sha256 of the installed llama-cpp-python's RECORD (its files' hashes): changes whenever
    anything reinstalls it, e.g. a hand-run `pip install` with other CMAKE_ARGS."""
    from importlib import metadata

    try:
        record = metadata.distribution("llama-cpp-python").read_text("RECORD")
    except metadata.PackageNotFoundError:
        return None
    return hashlib.sha256(record.encode()).hexdigest() if record else None


def stamp_matches(stamp: dict[str, Any] | None) -> bool:
    """The stamp describes the llama-cpp-python installed now (nothing reinstalled it since)."""
    return stamp is not None and bool(stamp) and stamp.get("record_sha256") == installed_record_sha()


def _compiled_amx() -> bool | None:
    """Whether the installed build has AMX compiled in, asked in a child (a bad build may crash)."""
    code = "import llama_cpp; print(llama_cpp.llama_print_system_info().decode())"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if r.returncode != 0:
        return None
    return "AMX_INT8 = 1" in r.stdout


def ensure(rebuild: bool = False, cuda_arch: str | None = None) -> int:
    """Install llama-cpp-python built with cmake_args(), unless this environment already has exactly
    that build. Returns an exit code."""
    stamp = read_stamp()
    # A CUDA build made by scripts/install-cuda stays a CUDA build when setup runs again.
    cuda_arch = cuda_arch or (stamp or {}).get("cuda_arch")
    want = wanted_build(cuda_arch)
    if not stamp_matches(stamp):
        stamp = None  # reinstalled by hand since: its flags are unknown
    if not rebuild and stamp and stamp.get("key") == want["key"] and _installed_version() == want["version"]:
        print(f"==> llama-cpp-python {want['version']}: built here with CMAKE_ARGS={want['cmake_args']!r} (up to date)")
        return 0
    if stamp and stamp.get("key") != want["key"]:
        print("==> the installed llama-cpp-python was built for another CPU, flags or Python: rebuilding")
    elif not stamp and _installed_version():
        print("==> the installed llama-cpp-python was not built by scripts/setup (flags unknown): rebuilding")
    cache = wheel_cache_dir()
    slot = cache / f"{want['version']}-{want['key']}" if cache else None
    cached = sorted(slot.glob("llama_cpp_python-*.whl")) if slot and slot.is_dir() and not rebuild else []
    if cached:
        print(f"==> llama-cpp-python {want['version']}: a wheel built on this CPU with these flags is cached ({slot})")
        return _install(cached[0], want, cached=True)
    if slot is not None:
        return _install(_build_wheel(want, slot), want, cached=False)
    with tempfile.TemporaryDirectory(prefix="harness-llama-wheel-") as tmp:  # no cache: build, install, forget
        return _install(_build_wheel(want, Path(tmp)), want, cached=False)


def _install(wheel: Path, want: dict[str, Any], *, cached: bool) -> int:
    stamp_path().unlink(missing_ok=True)  # no stamp while the installed build is not the wanted one
    _pip("install", "-q", "--disable-pip-version-check", "--no-deps", "--force-reinstall", str(wheel))
    _pip("install", "-q", "--disable-pip-version-check", str(wheel))  # its dependencies (numpy, jinja2, ...)
    amx = _compiled_amx()
    if amx is None:
        forget_cached_wheel(want)
        raise SystemExit(
            "error: the llama-cpp-python just installed does not import\n"
            "  -> run ./scripts/setup --rebuild-llama; if it fails again, report it with `harness doctor --json`"
        )
    if amx and any(f in want["cmake_args"] for f in NO_AMX_FLAGS):
        forget_cached_wheel(want)
        raise SystemExit(
            "error: llama.cpp was built with AMX although CMAKE_ARGS turned it off; the compiler "
            "ignored the flags\n  -> report it with the output of `harness doctor --json`"
        )
    data = {**want, "from_cache": cached, "record_sha256": installed_record_sha()}
    tmp = stamp_path().with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, stamp_path())
    print(
        f"==> llama-cpp-python {want['version']} installed (CMAKE_ARGS={want['cmake_args']!r}, AMX compiled in: {amx})"
    )
    return 0


def forget_cached_wheel(want: dict[str, Any] | None = None) -> None:
    """Drop this machine's cached wheel and the stamp: the next setup builds again."""
    want = want or wanted_build()
    cache = wheel_cache_dir()
    if cache:
        shutil.rmtree(cache / f"{want['version']}-{want['key']}", ignore_errors=True)
    stamp_path().unlink(missing_ok=True)


def main(argv: list[str]) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m harness.llama_build", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("ensure", help="install llama-cpp-python built with the harness's flags, unless it already is")
    e.add_argument("--rebuild", action="store_true", help="build again even when the installed build matches")
    e.add_argument("--cuda-arch", help="build with CUDA for this compute capability (e.g. 89, or native)")
    c = sub.add_parser("cmake-args", help="print CMAKE_ARGS for this machine")
    c.add_argument("--cuda-arch", help="add CUDA for this compute capability (e.g. 89, or native)")
    sub.add_parser("version", help="print the pinned llama-cpp-python version")
    b = sub.add_parser("llama-bench-dir", help="print where scripts/llama-bench builds llama-bench")
    b.add_argument("--gpu", action="store_true")
    sub.add_parser("forget", help="drop the cached wheel and the install stamp")
    a = p.parse_args(argv)
    if a.cmd == "ensure":
        return ensure(rebuild=a.rebuild, cuda_arch=a.cuda_arch)
    if a.cmd == "cmake-args":
        print(cmake_args(a.cuda_arch))
    elif a.cmd == "llama-bench-dir":
        print(llama_bench_dir(a.gpu))
    elif a.cmd == "version":
        print(LLAMA_CPP_PYTHON_VERSION)
    elif a.cmd == "forget":
        forget_cached_wheel()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
