"""Where the harness keeps its files. HARNESS_HOME overrides the platform default."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


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


def default_lock_path() -> Path:
    """models.lock: HARNESS_LOCK, else the repo's (source checkout), else the packaged copy."""
    env = os.environ.get("HARNESS_LOCK")
    if env:
        return Path(env)
    return REPO_ROOT / "models.lock"


def labs_root() -> Path:
    env = os.environ.get("HARNESS_LABS")
    if env:
        return Path(env)
    return REPO_ROOT / "labs"
