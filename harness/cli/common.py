"""Helpers shared by the command modules: JSON output and console."""

from __future__ import annotations

import json
import sys
from typing import Any

import typer
from rich.console import Console

# Human output goes to stderr when --json is on, so stdout carries only the JSON.
console = Console()
err_console = Console(stderr=True)

JsonOpt = typer.Option(False, "--json", help="Machine-readable JSON on stdout, nothing else there.")
EmbedBackendOpt = typer.Option(
    None, "--embed-backend",
    help="Backend of the lab's embedding model (default: llama-cpp in-process when --backend is a server, "
         "which usually serves one chat model; else the same as --backend).")


def out_console(as_json: bool) -> Console:
    return err_console if as_json else console


def emit_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")
    sys.stdout.flush()


PrefixCacheOpt = typer.Option(
    True, "--prefix-cache/--no-prefix-cache",
    help="Reuse the KV cache of the prompt prefix a call shares with the one before (llama-cpp backend; "
         "answers are identical either way, see docs/backends.md). --no-prefix-cache: every prompt cold.")


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
