"""Per-item outcomes a grader reports for the bench's accuracy-vs-speed frontier (harness/bench/frontier.py).

A grader puts `per_item(...)` into Measurement.metrics[PER_ITEM_KEY]: right or wrong per item for one or
more of its criteria, and a digest of the item ids, so that two configurations are paired only when they
answered the same items. Which criterion the frontier uses is said once, in lab.toml (`frontier = true`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

PER_ITEM_KEY = "per_item"


def items_digest(item_ids: Sequence[object]) -> str:
    """First 16 hex digits of the sha256 of the ids in order: equal digests, the same items."""
    return hashlib.sha256("\n".join(str(i) for i in item_ids).encode("utf-8")).hexdigest()[:16]


def per_item(item_ids: Sequence[object], outcomes: Mapping[str, Sequence[bool]]) -> dict[str, Any]:
    """{"items_sha256": ..., "outcomes": {criterion: [0/1 per item]}}; every list as long as item_ids."""
    for name, xs in outcomes.items():
        if len(xs) != len(item_ids):
            raise ValueError(f"{name}: {len(xs)} outcomes for {len(item_ids)} items")
    return {
        "items_sha256": items_digest(item_ids),
        "outcomes": {name: [int(bool(x)) for x in xs] for name, xs in outcomes.items()},
    }
