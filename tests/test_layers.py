"""The layers of harness/ (docs/architecture.md): imports point down, never up.

Every import in every module counts, at module level or inside a function (an import inside a function
hides a cycle from Python, not from this test), absolute or relative. Modules of one layer may import
each other. A new top-level module must be given a layer here.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

HARNESS = Path(__file__).resolve().parents[1] / "harness"

# Lowest first. A layer may import its own modules and those of the layers before it.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    # stdlib-only or nearly: errors, paths, files, processes, how llama.cpp is built
    (
        "base",
        (
            "harness",
            "harness.errors",
            "harness.atomic",
            "harness.paths",
            "harness.procs",
            "harness.native_crash",
            "harness.llama_build",
            "harness.child_process",
        ),
    ),
    ("hw", ("harness.hw",)),  # the machine: CPU, RAM, GPUs, VRAM, bandwidth, llama.cpp's system info
    ("models", ("harness.models",)),  # models.lock, the store, GGUF headers
    ("backends", ("harness.backends",)),  # where text is generated and embedded
    ("grading", ("harness.grading",)),  # metrics and statistics for graders and the bench
    ("labs", ("harness.labs",)),  # lab specs, workspaces, the sandboxed grading run
    ("bench", ("harness.bench",)),  # matrix runs, result files, compare, reports
    ("cli", ("harness.cli", "harness.__main__")),  # the typer commands
]
RANK = {name: i for i, (name, _) in enumerate(LAYERS)}


def layer_of(module: str) -> str | None:
    """The layer of a module named `harness...`: its longest matching prefix in LAYERS."""
    best: tuple[int, str] | None = None
    for name, prefixes in LAYERS:
        for p in prefixes:
            if (module == p or (module.startswith(p + ".") and p != "harness")) and (best is None or len(p) > best[0]):
                best = (len(p), name)
    return best[1] if best else None


def module_name(path: Path) -> str:
    parts = list(path.relative_to(HARNESS.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def harness_modules() -> list[tuple[Path, str]]:
    return [(p, module_name(p)) for p in sorted(HARNESS.rglob("*.py"))]


def imports(path: Path, module: str) -> list[tuple[int, str]]:
    """(line, imported module) for every import of a harness module in the file, at any depth."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # from . import x, from ..y import z
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # `from harness.bench import bandwidth` imports harness.bench.bandwidth: same layer as harness.bench,
            # except from the root package (`from harness import hw`), where the name decides
            names = [f"{target}.{a.name}" for a in node.names] if target == "harness" else [target]
            found += [(node.lineno, n) for n in names]
    return [(line, name) for line, name in found if name == "harness" or name.startswith("harness.")]


def test_every_module_has_a_layer():
    missing = [str(p.relative_to(HARNESS.parent)) for p, m in harness_modules() if layer_of(m) is None]
    assert not missing, f"modules in no layer: {missing}: add them to LAYERS in tests/test_layers.py"


def test_imports_point_down():
    upward = []
    for path, module in harness_modules():
        here = layer_of(module)
        for line, target in imports(path, module):
            there = layer_of(target)
            if here and there and RANK[there] > RANK[here]:
                upward.append(f"{path.relative_to(HARNESS.parent)}:{line}: {here} imports {target} ({there})")
    assert not upward, "upward imports (move the code down, or pass the value in):\n" + "\n".join(upward)


def test_the_walk_sees_every_kind_of_import(tmp_path):
    """The checker itself: function-level, relative and `from package import module` imports are found."""
    pkg = tmp_path / "harness" / "hw"
    pkg.mkdir(parents=True)
    f = pkg / "x.py"
    f.write_text(
        "import os\nfrom . import gpu\nfrom ..bench import io\n"
        "def f():\n    from harness.cli.app import app\n    import harness.labs.spec\n"
        "from harness import errors, bench\n"
    )
    got = sorted(imports(f, "harness.hw.x"))
    assert got == [
        (2, "harness.hw"),
        (3, "harness.bench"),
        (5, "harness.cli.app"),
        (6, "harness.labs.spec"),
        (7, "harness.bench"),
        (7, "harness.errors"),
    ]
    assert [layer_of(m) for _, m in got] == ["hw", "bench", "cli", "labs", "bench", "base"]


_IMPORT_LAYER = """
import importlib, json, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
print(json.dumps(sorted(m for m in sys.modules if m == "harness" or m.startswith("harness."))))
"""


@pytest.mark.parametrize("layer", [name for name, _ in LAYERS])
def test_a_layer_imports_alone(layer):
    """Each layer's modules import in a fresh interpreter and pull in no module of a higher layer."""
    mine = [m for p, m in harness_modules() if layer_of(m) == layer and p.name != "__main__.py"]
    r = subprocess.run(
        [sys.executable, "-c", _IMPORT_LAYER, *mine], capture_output=True, text=True, cwd=HARNESS.parent, timeout=120
    )
    assert r.returncode == 0, r.stderr[-3000:]
    loaded = json.loads(r.stdout.strip().splitlines()[-1])
    higher = [m for m in loaded if RANK[layer_of(m) or "base"] > RANK[layer]]
    assert not higher, f"importing the {layer} layer loads {higher}"
