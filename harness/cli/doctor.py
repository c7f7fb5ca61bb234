"""`harness doctor`: what this machine can do, and what to do about each problem."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import typer

from harness.cli.common import JsonOpt, emit_json, out_console

LLAMA_CPP_VERSION = "0.3.36"
MIN_FREE_DISK = 2 * 1024**3


def cuda_install_command(compute_capability: str | None) -> str:
    """The exact command that turns a CPU-only llama-cpp-python into a CUDA build for this card."""
    arch = f" -DCMAKE_CUDA_ARCHITECTURES={compute_capability.replace('.', '')}" if compute_capability else ""
    return (f'CMAKE_ARGS="-DGGML_CUDA=on{arch}" .venv/bin/pip install --force-reinstall --no-cache-dir --no-deps '
            f"llama-cpp-python=={LLAMA_CPP_VERSION}   (or: ./scripts/install-cuda)")


def _llama_cpp_info() -> dict[str, Any]:
    try:
        import llama_cpp
    except Exception as e:  # a broken build raises more than ImportError
        return {"importable": False, "error": str(e)}
    from harness.backends.llama_cpp import build_flags

    flags = build_flags(llama_cpp)
    return {"importable": True, "version": llama_cpp.__version__,
            "gpu_offload": bool(llama_cpp.llama_supports_gpu_offload()),
            "build_flags": sorted(k for k, v in flags.items() if v is True)}


def _ollama_info() -> dict[str, Any]:
    from harness.backends import ollama

    return {"host": ollama.resolve_host(), **ollama.server_status()}


def _openai_info() -> dict[str, Any]:
    from harness.backends import openai_compat

    return openai_compat.server_status()


def _tilde(p: Path) -> str:
    home = str(Path.home())
    s = str(p)
    return "~" + s[len(home):] if home and s.startswith(home) else s


def _disk_info() -> dict[str, Any]:
    from harness.paths import harness_home

    home = harness_home()
    probe = home
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent  # not created yet: measure the disk it will be created on
    return {"cache_dir": _tilde(home), "free_bytes": shutil.disk_usage(probe).free}


def _models_info() -> list[dict[str, Any]] | dict[str, str]:
    try:
        from harness.models.lock import load_lock
        from harness.models.store import status

        lock = load_lock()
        return [{"name": e.name, "role": e.role, "status": status(e)} for e in lock.models]
    except Exception as e:  # doctor reports a broken lock, it does not crash on it
        return {"error": str(e)}


def diagnose(report: dict[str, Any]) -> list[dict[str, str]]:
    """Problems found in a report, each with what to do. Pure: tested on synthetic reports."""
    problems: list[dict[str, str]] = []

    def add(level: str, what: str, fix: str) -> None:
        problems.append({"level": level, "problem": what, "fix": fix})

    lc, gpus = report.get("llama_cpp", {}), report.get("system", {}).get("gpus", [])
    if not lc.get("importable"):
        add("error", f"llama-cpp-python does not import: {lc.get('error')}",
            f"reinstall it: .venv/bin/pip install --force-reinstall llama-cpp-python=={LLAMA_CPP_VERSION}")
    elif gpus and not lc.get("gpu_offload"):
        add("warn", f"{gpus[0]['name']} found but llama-cpp-python is a CPU-only build",
            cuda_install_command(gpus[0].get("compute_capability")))
    elif lc.get("gpu_offload") and not gpus and report.get("system", {}).get("os", "").startswith("Linux"):
        add("warn", "this llama-cpp-python build can offload to a GPU, but no NVIDIA GPU/driver is visible",
            "check the driver with `nvidia-smi`; --device auto will use the CPU meanwhile")
    models = report.get("models")
    if isinstance(models, dict):
        add("error", f"models.lock cannot be read: {models.get('error')}", "restore models.lock from the repository")
    elif isinstance(models, list):
        for m in models:
            if m["name"] in ("smollm2-135m", "minilm-l6-v2") and m["status"] != "pulled":
                add("warn", f"default model {m['name']} is {m['status']}", f"harness models pull {m['name']}")
    disk = report.get("disk", {})
    if disk.get("free_bytes", MIN_FREE_DISK) < MIN_FREE_DISK:
        add("warn", f"only {disk['free_bytes'] / 1024**3:.1f} GiB free for models at {disk.get('cache_dir')}",
            "free disk space, or point HARNESS_HOME at a bigger disk")
    ollama = report.get("ollama", {})
    if ollama and not ollama.get("reachable"):
        add("info", f"Ollama is not reachable at {ollama.get('host')} (only needed for --backend ollama)",
            "install Ollama and run `ollama serve`, or set OLLAMA_HOST")
    openai = report.get("openai", {})
    if openai.get("configured") and not openai.get("reachable"):
        add("warn", f"the OpenAI-compatible server at {openai.get('base_url')} is not reachable",
            openai.get("hint") or "start the server or fix HARNESS_OPENAI_BASE_URL")
    elif openai.get("reachable") and openai.get("status_code") in (401, 403):
        add("warn", f"the OpenAI-compatible server at {openai.get('base_url')} refused the API key",
            "set the key in HARNESS_OPENAI_API_KEY (or OPENAI_API_KEY)")
    return problems


def collect() -> dict[str, Any]:
    from harness import __version__
    from harness.sysinfo import system_info

    report = {
        "harness": __version__,
        "system": system_info(),
        "llama_cpp": _llama_cpp_info(),
        "ollama": _ollama_info(),
        "openai": _openai_info(),
        "disk": _disk_info(),
        "models": _models_info(),
    }
    report["problems"] = diagnose(report)
    return report


def _gib(b: int | None) -> str:
    return "?" if b is None else f"{b / 1024**3:.1f} GiB"


def register(app: typer.Typer) -> None:
    @app.command("doctor")
    def doctor_cmd(as_json: bool = JsonOpt) -> None:
        """What this machine can do: CPU/GPU, each backend (llama.cpp, Ollama, OpenAI-compatible), disk, models; and fixes."""
        report = collect()
        if as_json:
            emit_json(report)
            return
        con = out_console(False)
        s, lc, ol, disk = report["system"], report["llama_cpp"], report["ollama"], report["disk"]
        con.print(f"[bold]CPU[/]      {s['cpu_model']} ({s['cpu_physical_cores']} physical / "
                  f"{s['cpu_logical_cores']} logical cores, {s['cpu_usable_cores']} usable)", highlight=False, soft_wrap=True)
        con.print(f"[bold]RAM[/]      {_gib(s['ram_total_bytes'])} ({_gib(s['ram_available_bytes'])} available)")
        con.print(f"[bold]OS[/]       {s['os']} {s['arch']}, Python {s['python']}", highlight=False, soft_wrap=True)
        for g in s["gpus"] or [None]:
            con.print("[bold]GPU[/]      " + ("none found (nvidia-smi / NVML)" if g is None else
                      f"{g['name']}: {_gib(g['free_bytes'])} free of {_gib(g['total_bytes'])}, driver {g['driver']}"),
                      highlight=False, soft_wrap=True)
        if lc.get("importable"):
            con.print(f"[bold]llama.cpp[/] llama-cpp-python {lc['version']}, GPU offload: "
                      f"{'yes' if lc['gpu_offload'] else 'no (CPU-only build)'}", highlight=False, soft_wrap=True)
        else:
            con.print(f"[bold]llama.cpp[/] not importable: {lc.get('error')}", highlight=False, soft_wrap=True)
        con.print(f"[bold]Ollama[/]   {ol['host']}: " + (
            f"reachable, version {ol.get('version')}, models: {', '.join(ol.get('models') or []) or 'none pulled'}"
            if ol["reachable"] else "not reachable"), highlight=False, soft_wrap=True)
        oa = report["openai"]
        con.print("[bold]OpenAI[/]   " + (
            "not configured (set HARNESS_OPENAI_BASE_URL or pass --base-url to use --backend openai)"
            if not oa.get("configured") else f"{oa['base_url']}: " + (
                f"reachable, serving {', '.join(oa.get('models') or []) or 'no models listed'}"
                if oa.get("reachable") else "not reachable")), highlight=False, soft_wrap=True)
        con.print(f"[bold]Cache[/]    {disk['cache_dir']} ({_gib(disk['free_bytes'])} free)", highlight=False, soft_wrap=True)
        models = report["models"]
        if isinstance(models, list):
            pulled = [m["name"] for m in models if m["status"] == "pulled"]
            con.print(f"[bold]Models[/]   {', '.join(pulled) if pulled else 'none pulled'}", highlight=False, soft_wrap=True)
        if not report["problems"]:
            con.print("[green]No problems found.[/]")
        for p in report["problems"]:
            color = {"error": "red", "warn": "yellow"}.get(p["level"], "cyan")
            con.print(f"[{color}]{p['level']}:[/] {p['problem']}\n  -> {p['fix']}", highlight=False, soft_wrap=True)
