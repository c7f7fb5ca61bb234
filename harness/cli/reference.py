"""The options tables in README.md and docs/*.md, generated from the typer app (issue 14: docs drifted).

A document carries a command's table between two markers, e.g. for `harness models pull`:

    <!-- cli:models pull -->
    ...generated...
    <!-- /cli:models pull -->

`scripts/gen-cli-docs` rewrites every such block (and docs/backends.md's table of the backends, from
harness/backends/catalog.py); tests/cli/test_cli_reference.py fails when a
committed block differs from what the app says now. The help strings are the one source.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

FIX_COMMAND = "scripts/gen-cli-docs"
_BLOCK = re.compile(r"(<!-- cli:(?P<name>[a-z -]+?) -->\n)(?P<body>.*?)(<!-- /cli:(?P=name) -->)", re.S)
_METAVARS = {"int": "N", "float": "X", "str": "TEXT", "Path": "PATH"}


# Click objects are duck-typed: typer >= 0.20 builds them from its own vendored click (typer._click).
Command = Any


def _subcommands(cmd: Command) -> dict[str, Command]:
    return getattr(cmd, "commands", None) or {}


def root_command() -> Command:
    import typer

    from harness.cli.app import app

    return typer.main.get_command(app)


def find_command(path: str, root: Command | None = None) -> Command:
    """The click command of `harness <path>`, e.g. "bench" or "models pull"."""
    cmd = root or root_command()
    for part in path.split():
        if part not in _subcommands(cmd):
            raise KeyError(f"no command `harness {path}`")
        cmd = _subcommands(cmd)[part]
    return cmd


def command_paths(root: Command | None = None, prefix: str = "") -> list[str]:
    """Every command of the app, groups' subcommands as "group sub", in --help order."""
    out: list[str] = []
    for name, sub in _subcommands(root or root_command()).items():
        path = f"{prefix}{name}"
        out += command_paths(sub, path + " ") if _subcommands(sub) else [path]
    return out


def _metavar(p: Command) -> str:
    if p.metavar:
        return p.metavar
    bare = re.sub(r"^list\[(.*)\]$", r"\1", p.bare_type())  # a repeatable option: its item type
    return _METAVARS.get(bare, bare.upper())


def _default(p: Command) -> str:
    d = p.default
    if getattr(p, "is_flag", False):
        return "on" if d else "off"
    if d is None or d == [] or d == () or p.required:
        return ""
    return ", ".join(f"`{x}`" for x in d) if isinstance(d, (list, tuple)) else f"`{d}`"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def options_table(path: str, root: Command | None = None) -> str:
    """`harness <path>`: its one-line summary, then its arguments and options as a markdown table
    (option | default | meaning)."""
    cmd = find_command(path, root)
    rows = ["| option | default | meaning |", "| --- | --- | --- |"]
    for p in cmd.params:
        if p.param_type_name == "argument":
            name = f"`{p.name.upper()}`" + ("" if p.required else " (optional)")
        elif p.param_type_name == "option":
            if p.hidden:
                continue
            flags = ", ".join(p.opts) + "".join(f"/{o}" for o in p.secondary_opts)
            name = f"`{flags}`" if p.is_flag else f"`{flags} {_metavar(p)}`"
        else:
            continue
        rows.append(f"| {_cell(name)} | {_default(p)} | {_cell(getattr(p, 'help', None) or '')} |")
    summary = (cmd.help or "").strip().split("\n\n")[0]
    return (f"`harness {path}`: {_cell(summary)}\n\n" if summary else "") + "\n".join(rows) + "\n"


def _backends_table(text: str) -> str:
    """docs/backends.md's table of the backends, from their records (harness/backends/catalog.py)."""
    from harness.backends.catalog import DOCS_TABLE_END, DOCS_TABLE_START, docs_table

    start, end = text.find(DOCS_TABLE_START), text.find(DOCS_TABLE_END)
    if start < 0 or end < start:
        return text
    return text[: start + len(DOCS_TABLE_START)] + "\n" + docs_table() + "\n" + text[end:]


def render(text: str, root: Command | None = None) -> str:
    """text with every cli block, and the backends table where there is one, regenerated."""
    root = root or root_command()
    text = _BLOCK.sub(lambda m: m.group(1) + options_table(m.group("name"), root) + m.group(4), text)
    return _backends_table(text)


def documents(repo: Path) -> list[Path]:
    """The files that may carry cli blocks."""
    return [repo / "README.md", *sorted((repo / "docs").glob("*.md"))]


def stale(repo: Path) -> list[Path]:
    root = root_command()
    return [
        p
        for p in documents(repo)
        if p.is_file() and render(p.read_text(encoding="utf-8"), root) != p.read_text(encoding="utf-8")
    ]


def write_all(repo: Path) -> list[Path]:
    """Regenerate every block in place; the files that changed."""
    from harness.atomic import atomic_write_text

    root = root_command()
    changed = []
    for p in documents(repo):
        if not p.is_file():
            continue
        old = p.read_text(encoding="utf-8")
        new = render(old, root)
        if new != old:
            atomic_write_text(p, new)
            changed.append(p)
    return changed


def blocks(text: str) -> list[str]:
    """The command paths whose tables text carries."""
    return [m.group("name") for m in _BLOCK.finditer(text)]
