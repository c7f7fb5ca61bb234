"""Helpers shared by the command modules: JSON output, console, and the options several commands take.

Each shared option is defined here once (name, help, validation); bench, which takes several values of
some, uses their repeatable variants (BackendsOpt, BaseUrlsOpt, DevicesOpt, ThreadCountsOpt). The
options tables in docs/*.md are generated from the commands (harness/cli/reference.py).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import typer
from rich.console import Console

from harness.backends import catalog

# Human output goes to stderr when --json is on, so stdout carries only the JSON.
console = Console()
err_console = Console(stderr=True)

JsonOpt = typer.Option(False, "--json", help="Machine-readable JSON on stdout, nothing else there.")


def _check_devices(value: str | list[str]) -> str | list[str]:
    for device in [value] if isinstance(value, str) else value:
        catalog.check_device(device)
    return value


_DEVICE_HELP = "Where the model runs; auto offloads to the GPU as many layers as fit in its free VRAM"
_DEVICE_METAVAR = "|".join(catalog.DEVICES)
_BASE_URLS_HELP = (
    "Server URL: BACKEND=URL (repeatable), or a bare URL with one server backend (else "
    + " / ".join(str(b.base_url_env) for b in catalog.server_backends())
    + ")."
)
# the options of the commands that run a model (run, check, watch, bench)
BackendOpt = typer.Option(catalog.DEFAULT_BACKEND, "--backend", metavar="NAME", help=catalog.choices_help() + ".")
BackendsOpt = typer.Option(
    [catalog.DEFAULT_BACKEND], "--backend", metavar="NAME", help=catalog.choices_help() + " (repeatable)."
)
BaseUrlOpt = typer.Option(None, "--base-url", metavar="URL", help=catalog.base_url_help())
BaseUrlsOpt = typer.Option([], "--base-url", metavar="BACKEND=URL", help=_BASE_URLS_HELP)
DeviceOpt = typer.Option("auto", "--device", metavar=_DEVICE_METAVAR, help=_DEVICE_HELP + ".", callback=_check_devices)
DevicesOpt = typer.Option(
    ["auto"], "--device", metavar=_DEVICE_METAVAR, help=_DEVICE_HELP + " (repeatable).", callback=_check_devices
)
LabModelOpt = typer.Option(None, "--model", metavar="NAME", help="Chat model (default: the lab's).")
SeedOpt = typer.Option(0, "--seed", help="Sampling seed (a lab's grader gets it too).")
_THREADS_HELP = "CPU threads for the model (default: physical cores)"
ThreadsOpt = typer.Option(None, "--threads", min=1, help=_THREADS_HELP + ".")
ThreadCountsOpt = typer.Option(
    [],
    "--threads",
    metavar="N[,N]",
    help=_THREADS_HELP + "; several (1,2 or repeated) make threads a matrix dimension.",
)
LimitOpt = typer.Option(None, "--limit", min=1, help="At most this many items of a lab (default: all).")
EmbedBackendOpt = typer.Option(
    None,
    "--embed-backend",
    metavar="NAME",
    help="Backend of the lab's embedding model (default: llama-cpp in-process when --backend is a server, "
    "which usually serves one chat model; else the same as --backend; docs/backends.md).",
)


def out_console(as_json: bool) -> Console:
    return err_console if as_json else console


def emit_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")
    sys.stdout.flush()


PrefixCacheOpt = typer.Option(
    True,
    "--prefix-cache/--no-prefix-cache",
    help="Reuse the KV cache of the prompt prefix a call shares with the one before (llama-cpp backend; "
    "answers are identical either way, see docs/backends.md). --no-prefix-cache: every prompt cold. "
    "A bench's throughput cell is always cold.",
)


def apply_prefix_cache(on: bool) -> None:
    """The lab's or cell's child process inherits the choice (read by harness/backends/llama_cpp.py)."""
    import os

    if not on:
        os.environ["HARNESS_PREFIX_CACHE"] = "0"


# What an interrupt would stop right now; harness/cli/app.py prints it ("interrupted (SIGTERM): ...").
_interrupt_note: list[str] = []


def on_interrupt(note: str | None) -> None:
    """Say what an interrupt (Ctrl-C, SIGTERM, SIGHUP) stops from now on, and what was kept."""
    _interrupt_note[:] = [note] if note else []


def interrupt_note() -> str | None:
    return _interrupt_note[0] if _interrupt_note else None
