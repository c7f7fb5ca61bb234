"""Where the harness keeps its files. HARNESS_HOME overrides the platform default.

The curriculum (labs/), models.lock and schemas/ are read from the clone in a source checkout
(editable install), or from the copy an installed wheel carries in harness/_bundled/ (pip install .,
pipx, uv tool install). HARNESS_LABS and HARNESS_LOCK point elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent  # the clone, in a source checkout
BUNDLED = PACKAGE_DIR / "_bundled"  # what a built wheel carries (pyproject.toml: force-include)


def harness_home() -> Path:
    env = os.environ.get("HARNESS_HOME")
    if env:
        return Path(env).expanduser().resolve()
    from platformdirs import user_data_dir

    return Path(user_data_dir("local-lab-harness", appauthor=False))


def models_dir() -> Path:
    return harness_home() / "models"


def state_dir() -> Path:
    return harness_home() / "state"


def is_source_checkout() -> bool:
    return (REPO_ROOT / "pyproject.toml").is_file() and (REPO_ROOT / "models.lock").is_file()


def resource(name: str) -> Path:
    """labs, models.lock or schemas: the clone's in a source checkout, else the installed copy."""
    return BUNDLED / name if BUNDLED.exists() and not is_source_checkout() else REPO_ROOT / name


def default_lock_path() -> Path:
    """models.lock: HARNESS_LOCK, else the clone's (source checkout), else the packaged copy."""
    env = os.environ.get("HARNESS_LOCK")
    return Path(env) if env else resource("models.lock")


def labs_root() -> Path:
    env = os.environ.get("HARNESS_LABS")
    return Path(env) if env else resource("labs")
