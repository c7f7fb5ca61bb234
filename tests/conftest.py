"""Shared fixtures. Real-model fixtures use the store the test command filled
(./scripts/setup pulls the default models); they fail, not skip, when a model is missing."""

from __future__ import annotations

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import pytest

DEFAULT_CHAT = "smollm2-135m"
DEFAULT_EMBED = "minilm-l6-v2"
SECOND_FAMILY = "gemma3-270m"  # pulled by ./scripts/test (not by the quickstart): a second architecture


def _model_path(name: str):
    from harness.models.store import resolve_model_path

    return resolve_model_path(name)


@pytest.fixture(scope="session")
def chat_model_path():
    return _model_path(DEFAULT_CHAT)


@pytest.fixture(scope="session")
def embed_model_path():
    return _model_path(DEFAULT_EMBED)


@pytest.fixture(scope="session")
def second_family_model_path():
    return _model_path(SECOND_FAMILY)
