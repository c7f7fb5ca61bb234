"""System info for a result file: enough to compare two machines, nothing that identifies a person.

Hardware facts and llama.cpp's build come from harness/hw (shared with `harness doctor`); versions
and the git commit are collected here. Host name, user and home only with --include-host.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import platform
import re
import socket
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from harness import __version__
from harness.bench.schema import Bandwidth, HostInfo, LlamaCppBuild, SystemInfo
from harness.hw.cpu import cpu_model, logical_cores, physical_cores
from harness.hw.gpu import detect_gpus
from harness.hw.llama_info import llama_cpp_info
from harness.hw.memory import ram_bytes
from harness.paths import REPO_ROOT


def _git(*args: str) -> str | None:
    try:
        r = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return r.stdout.strip() if r.returncode == 0 else None


def git_state() -> tuple[str | None, bool | None]:
    if not (REPO_ROOT / ".git").exists():
        return None, None  # an installed package, not a checkout
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no")
    return commit, (bool(status) if status is not None else None)


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def llama_cpp_facts() -> tuple[str | None, bool | None, LlamaCppBuild | None]:
    """Version, GPU offload, and how the build was made (compiled features, CMake flags, AMX)."""
    try:
        info = llama_cpp_info()
        if info["importable"]:
            return info["version"], info["gpu_offload"], LlamaCppBuild(**info["build"])
    except Exception:
        pass
    return _version("llama-cpp-python"), None, None


def collect(bandwidth: Bandwidth | None, include_host: bool) -> SystemInfo:
    commit, dirty = git_state()
    llama_version, offload, build = llama_cpp_facts()
    return SystemInfo(
        os=f"{platform.system()} {platform.release()} {platform.machine()}",
        python=platform.python_version(),
        harness_version=__version__,
        git_commit=commit,
        git_dirty=dirty,
        cpu_model=cpu_model(),
        cpu_cores_physical=physical_cores(),
        cpu_cores_logical=logical_cores(),
        ram_bytes=ram_bytes()[0],
        gpus=detect_gpus(),  # the card's name, VRAM and driver go into the file; free memory does not
        llama_cpp_version=llama_version,
        llama_cpp_gpu_offload=offload,
        llama_cpp_build=build,
        backend_versions={
            "llama-cpp-python": llama_version,
            "ollama (client)": _version("ollama"),
            "httpx": _version("httpx"),
            "dspy": _version("dspy"),
            "faiss-cpu": _version("faiss-cpu"),
            "numpy": _version("numpy"),
        },
        bandwidth=bandwidth,
        host=HostInfo(hostname=socket.gethostname(), user=getpass.getuser(), home=str(Path.home()))
        if include_host
        else None,
    )


def system_key(info: SystemInfo) -> str:
    """A short stable id for a machine+software state: equal systems share one entry after a merge."""
    data = info.model_dump(mode="json", exclude={"bandwidth", "host_probe_note"})
    return "sys-" + hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]


def private_strings() -> list[str]:
    """Strings a public result must not contain: host name, user name, home path (longest first)."""
    values = {socket.gethostname(), getpass.getuser(), str(Path.home())}
    return sorted((v for v in values if v and len(v) >= 2), key=len, reverse=True)


def scrub(obj: Any, secrets: list[str]) -> Any:
    """Replace private strings anywhere in a JSON-like value (error messages, backend extras).
    The home path becomes "~"; host and user names (whole words only) become "<redacted>"."""
    if isinstance(obj, str):
        home = str(Path.home())
        for s in secrets:
            if s == home:
                obj = obj.replace(s, "~")
            else:
                obj = re.sub(rf"(?<![\w.-]){re.escape(s)}(?![\w-])", "<redacted>", obj)
        return obj
    if isinstance(obj, dict):
        return {scrub(k, secrets): scrub(v, secrets) for k, v in obj.items()}
    if isinstance(obj, list):
        return [scrub(v, secrets) for v in obj]
    return obj
