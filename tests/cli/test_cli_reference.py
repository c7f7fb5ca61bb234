"""The CLI's options are defined once and the docs' tables are generated from them (issue 14)."""

from __future__ import annotations

import importlib
import inspect
import re

import pytest
import typer
from typer.testing import CliRunner

from harness.cli import reference
from harness.cli.app import app
from harness.errors import HarnessError
from harness.paths import REPO_ROOT

runner = CliRunner()


def _options(path: str) -> set[str]:
    cmd = reference.find_command(path)
    return {o for p in cmd.params if p.param_type_name == "option" for o in p.opts}


def test_no_options_table_in_the_docs_is_stale():
    stale = reference.stale(REPO_ROOT)
    assert not stale, (
        f"stale CLI options tables in {', '.join(str(p.relative_to(REPO_ROOT)) for p in stale)}: "
        f"run {reference.FIX_COMMAND}"
    )


def test_every_command_has_its_table_in_docs_cli_md():
    documented = reference.blocks((REPO_ROOT / "docs" / "cli.md").read_text(encoding="utf-8"))
    missing = [p for p in reference.command_paths() if p not in documented]
    assert not missing, f"docs/cli.md lacks {missing}: add a <!-- cli:NAME --> block, then run {reference.FIX_COMMAND}"


def test_a_stale_table_is_rewritten():
    text = "intro\n<!-- cli:hint -->\nold table\n<!-- /cli:hint -->\nend\n"
    new = reference.render(text)
    assert (
        new.startswith("intro\n<!-- cli:hint -->\n`harness hint`: ")
        and "| `LAB` |" in new
        and "| `--json` | off |" in new
    )
    assert new.endswith("<!-- /cli:hint -->\nend\n") and "old table" not in new and reference.render(new) == new


def test_watch_grades_with_every_option_check_has():
    # check's own: which file (watch watches the workspace's) and which data set
    only_check = {"--solution", "--reference", "--dataset"}
    assert _options("check") - only_check <= _options("watch")


def test_the_model_commands_share_one_definition_of_each_option():
    from harness.cli import common

    shared = {
        "--backend": (common.BackendOpt, common.BackendsOpt),
        "--base-url": (common.BaseUrlOpt, common.BaseUrlsOpt),
        "--device": (common.DeviceOpt, common.DevicesOpt),
        "--seed": (common.SeedOpt,),
        "--threads": (common.ThreadsOpt, common.ThreadCountsOpt),
        "--limit": (common.LimitOpt,),
        "--json": (common.JsonOpt,),
        "--embed-backend": (common.EmbedBackendOpt,),
    }
    for name, fn in (
        ("run", "harness.cli.run:run_cmd"),
        ("check", "harness.cli.labs:check_cmd"),
        ("watch", "harness.cli.labs:watch_cmd"),
        ("bench", "harness.cli.bench:bench_cmd"),
        ("dev check", "harness.cli.dev:check_cmd"),
    ):
        module, attr = fn.split(":")
        params = inspect.signature(getattr(importlib.import_module(module), attr)).parameters.values()
        defaults = {
            p.default.param_decls[0]: p.default for p in params if isinstance(p.default, typer.models.OptionInfo)
        }
        for opt, defs in shared.items():
            if opt in defaults:
                assert any(defaults[opt] is d for d in defs), f"harness {name} {opt} is defined in its own module"


@pytest.mark.parametrize(
    "args",
    [
        ["run", "smollm2-135m", "hi"],
        ["check", "toy-lab"],
        ["watch", "toy-lab"],
        ["bench", "--labs", "toy-lab", "-o", "x.json"],
    ],
)
def test_every_command_refuses_an_unknown_device_the_same_way(args):
    r = runner.invoke(app, [*args, "--device", "tpu"])
    assert isinstance(r.exception, HarnessError) and "unknown device 'tpu'" in str(r.exception), r.output
    assert "use --device cpu, gpu or auto" in (r.exception.hint or "")


def test_commands_are_registered_one_way():
    """Each module's register(app) adds NAME_cmd functions; no command is defined inside register()."""
    for path in (REPO_ROOT / "harness" / "cli").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"@\w+\.command\(", text), f"{path.name}: a decorator registers a command"
        for name, fn in re.findall(r'\.command\("([a-z-]+)"\)\((\w+)\)', text):
            assert fn == f"{name.replace('-', '_')}_cmd", f"{path.name}: {name} registered as {fn}"
