"""`harness doctor`: what this machine can do, and what to do about each problem."""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path
from typing import Any

import typer

from harness.backends import catalog
from harness.cli.common import JsonOpt, emit_json, out_console
from harness.llama_build import ALLOW_AMX_ENV, rebuild_hint
from harness.llama_build import LLAMA_CPP_PYTHON_VERSION as LLAMA_CPP_VERSION

MIN_FREE_DISK = 2 * 1024**3
SMOKE_MODEL = "smollm2-135m"


def cuda_install_command(compute_capability: str | None) -> str:
    """The exact command that turns a CPU-only llama-cpp-python into a CUDA build for this card."""
    from harness.llama_build import cmake_args

    arch = compute_capability.replace(".", "") if compute_capability else None
    return (
        f"CMAKE_ARGS={shlex.quote(cmake_args(arch or 'native'))} .venv/bin/pip install --force-reinstall "
        f"--no-cache-dir --no-deps --no-binary llama-cpp-python llama-cpp-python=={LLAMA_CPP_VERSION}"
        f"   (or: ./scripts/install-cuda{' --arch ' + arch if arch else ''})"
    )


def smoke_check() -> dict[str, Any]:
    """One real generation on the tiny model in a child (harness.backends.smoke)."""
    from harness.backends.smoke import run_smoke
    from harness.models.lock import get_entry
    from harness.models.store import resolve_model_path, status

    try:
        pulled = status(get_entry(SMOKE_MODEL)) == "pulled"
    except Exception as e:
        return {"ok": False, "skipped": True, "message": f"no test generation: {e}", "hint": "restore models.lock"}
    if not pulled:
        return {
            "ok": False,
            "skipped": True,
            "message": f"no test generation: {SMOKE_MODEL} is not pulled",
            "hint": f"harness models pull {SMOKE_MODEL}",
        }
    return {"model": SMOKE_MODEL, **run_smoke(resolve_model_path(SMOKE_MODEL))}


def _servers_info() -> dict[str, dict[str, Any]]:
    """Each server backend's status (its record's `status` callable), under the backend's name."""
    return {b.name: catalog.load_callable(b.status)() for b in catalog.server_backends() if b.status}


def _server_url(status: dict[str, Any]) -> str | None:
    return status.get("base_url") or status.get("host")


def server_line(status: dict[str, Any]) -> str:
    """A server backend's row in doctor's table; pure, so it is tested on synthetic statuses."""
    if status.get("configured") is False:
        return f"not configured ({status.get('hint')})"
    if not status.get("reachable"):
        return f"{_server_url(status)}: not reachable"
    version = f", version {status['version']}" if status.get("version") else ""
    models = ", ".join(status.get("models") or []) or "no models listed"
    return f"{_server_url(status)}: reachable{version}, serving {models}"


def _tilde(p: Path) -> str:
    home = str(Path.home())
    s = str(p)
    return "~" + s[len(home) :] if home and s.startswith(home) else s


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
        add("error", f"llama-cpp-python does not import: {lc.get('error')}", rebuild_hint())
    elif gpus and not lc.get("gpu_offload"):
        add(
            "warn",
            f"{gpus[0]['name']} found but llama-cpp-python is a CPU-only build",
            cuda_install_command(gpus[0].get("compute_capability")),
        )
    elif lc.get("gpu_offload") and not gpus and report.get("system", {}).get("os", "").startswith("Linux"):
        add(
            "warn",
            "this llama-cpp-python build can offload to a GPU, but no NVIDIA GPU/driver is visible",
            "check the driver with `nvidia-smi`; --device auto will use the CPU meanwhile",
        )
    smoke = report.get("llama_cpp", {}).get("smoke")
    if smoke and not smoke.get("ok") and not smoke.get("skipped"):
        add(
            "error",
            smoke.get("message", "the test generation failed"),
            smoke.get("hint") or "run `harness doctor` again",
        )
    models = report.get("models")
    if isinstance(models, dict):
        add("error", f"models.lock cannot be read: {models.get('error')}", "restore models.lock from the repository")
    elif isinstance(models, list):
        for m in models:
            if m["name"] in ("smollm2-135m", "minilm-l6-v2") and m["status"] != "pulled":
                add("warn", f"default model {m['name']} is {m['status']}", f"harness models pull {m['name']}")
    disk = report.get("disk", {})
    if disk.get("free_bytes", MIN_FREE_DISK) < MIN_FREE_DISK:
        add(
            "warn",
            f"only {disk['free_bytes'] / 1024**3:.1f} GiB free for models at {disk.get('cache_dir')}",
            "free disk space, or point HARNESS_HOME at a bigger disk",
        )
    for b in catalog.server_backends():
        server = report.get(b.name) or {}
        url = _server_url(server)
        if server and server.get("configured", True) and not server.get("reachable"):
            # a default URL that answers nothing is only a problem for someone who wants this backend
            add(
                "info" if b.default_base_url else "warn",
                f"the server for --backend {b.name} is not reachable at {url}",
                server.get("hint") or f"{b.start_hint}, or set {b.base_url_env}",
            )
        elif server.get("reachable") and server.get("status_code") in (401, 403):
            add(
                "warn",
                f"the server for --backend {b.name} at {url} refused the API key",
                server.get("hint") or "check the API key",
            )
    return problems


def collect(*, smoke: bool = True) -> dict[str, Any]:
    from harness import __version__
    from harness.hw.llama_info import llama_cpp_info
    from harness.hw.machine import system_info

    llama = llama_cpp_info()
    if smoke and llama.get("importable"):
        llama["smoke"] = smoke_check()
    report = {
        "harness": __version__,
        "system": system_info(),
        "llama_cpp": llama,
        **_servers_info(),
        "disk": _disk_info(),
        "models": _models_info(),
    }
    report["problems"] = diagnose(report)
    return report


def _gib(b: int | None) -> str:
    return "?" if b is None else f"{b / 1024**3:.1f} GiB"


def doctor_cmd(
    as_json: bool = JsonOpt,
    no_smoke: bool = typer.Option(False, "--no-smoke", help="Skip the test generation (about 1-2 s)."),
    build_check: bool = typer.Option(
        False,
        "--build-check",
        help="Only the llama.cpp build check: one real generation in a child process; "
        "exit 1 when it fails (scripts/setup runs this).",
    ),
) -> None:
    """What this machine can do: CPU/GPU, llama.cpp's build and a test generation, each backend, disk, models; and fixes."""
    if build_check:
        _build_check(as_json)
        return
    report = collect(smoke=not no_smoke)
    if as_json:
        emit_json(report)
        return
    con = out_console(False)
    s, lc, disk = report["system"], report["llama_cpp"], report["disk"]
    con.print(
        f"[bold]CPU[/]      {s['cpu_model']} ({s['cpu_physical_cores']} physical / "
        f"{s['cpu_logical_cores']} logical cores, {s['cpu_usable_cores']} usable)",
        highlight=False,
        soft_wrap=True,
    )
    con.print(f"[bold]RAM[/]      {_gib(s['ram_total_bytes'])} ({_gib(s['ram_available_bytes'])} available)")
    con.print(f"[bold]OS[/]       {s['os']} {s['arch']}, Python {s['python']}", highlight=False, soft_wrap=True)
    for g in s["gpus"] or [None]:
        con.print(
            "[bold]GPU[/]      "
            + (
                "none found (nvidia-smi / NVML)"
                if g is None
                else f"{g['name']}: {_gib(g['free_bytes'])} free of {_gib(g['total_bytes'])}, driver {g['driver']}"
            ),
            highlight=False,
            soft_wrap=True,
        )
    if lc.get("importable"):
        con.print(
            f"[bold]llama.cpp[/] llama-cpp-python {lc['version']}, GPU offload: "
            f"{'yes' if lc['gpu_offload'] else 'no (CPU-only build)'}",
            highlight=False,
            soft_wrap=True,
        )
        for line in build_lines(lc):
            con.print(f"          {line}", highlight=False, soft_wrap=True)
    else:
        con.print(f"[bold]llama.cpp[/] not importable: {lc.get('error')}", highlight=False, soft_wrap=True)
    for b in catalog.server_backends():
        if b.name in report:
            con.print(f"[bold]{b.title:<9}[/]{server_line(report[b.name])}", highlight=False, soft_wrap=True)
    con.print(
        f"[bold]Cache[/]    {disk['cache_dir']} ({_gib(disk['free_bytes'])} free)", highlight=False, soft_wrap=True
    )
    models = report["models"]
    if isinstance(models, list):
        pulled = [m["name"] for m in models if m["status"] == "pulled"]
        con.print(
            f"[bold]Models[/]   {', '.join(pulled) if pulled else 'none pulled'}", highlight=False, soft_wrap=True
        )
    if not report["problems"]:
        con.print("[green]No problems found.[/]")
    for p in report["problems"]:
        color = {"error": "red", "warn": "yellow"}.get(p["level"], "cyan")
        con.print(f"[{color}]{p['level']}:[/] {p['problem']}\n  -> {p['fix']}", highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor_cmd)


def build_lines(lc: dict[str, Any]) -> list[str]:
    """The llama.cpp rows of the doctor's table: compiled features, how it was built, the test generation."""
    b = lc.get("build") or {}
    lines = [
        f"compiled: {' '.join(lc.get('build_flags') or []) or 'no CPU features reported'}",
        "built by scripts/setup with CMAKE_ARGS=" + repr(b["cmake_args"])
        if b.get("built_by")
        else "built elsewhere (not by scripts/setup): its CMake flags are unknown",
    ]
    if b.get("amx"):
        lines.append(
            "AMX compiled in: models load without extra buffer types (no weight repacking) to avoid "
            "llama.cpp's AMX crash"
            if not b.get("extra_bufts")
            else f"AMX compiled in and allowed ({ALLOW_AMX_ENV}=1): it crashes on some CPUs"
        )
    smoke = lc.get("smoke")
    if smoke:
        lines.append(smoke_line(smoke))
    return lines


def smoke_line(smoke: dict[str, Any]) -> str:
    if smoke.get("ok"):
        rate = smoke.get("decode_tok_s")
        return (
            f"test generation ok: {smoke.get('tokens')} tokens on {smoke.get('model', SMOKE_MODEL)}, "
            f"{rate:.0f} tok/s decode"
            if rate
            else f"test generation ok: {smoke.get('tokens')} tokens"
        )
    return smoke.get("message", "test generation failed")


def _build_check(as_json: bool) -> None:
    smoke = smoke_check()
    if as_json:
        emit_json(smoke)
    else:
        con = out_console(False)
        color = "green" if smoke.get("ok") else "red"
        con.print(f"[{color}]llama.cpp: {smoke_line(smoke)}[/]", highlight=False, soft_wrap=True)
        if not smoke.get("ok") and smoke.get("hint"):
            con.print(f"  -> {smoke['hint']}", highlight=False, soft_wrap=True)
    if not smoke.get("ok"):
        raise typer.Exit(1)
