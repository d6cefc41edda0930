"""Test helper: spec keywords with the policy knobs folded into ``policy=``."""

from __future__ import annotations

import dataclasses
from typing import Any

from vault.types import CollectionPolicy

_KNOBS = {f.name for f in dataclasses.fields(CollectionPolicy)}


def with_policy(**kw: Any) -> dict[str, Any]:
    """``kw`` for CollectionSpec, knobs such as ``max_top_k=`` moved into a policy."""
    knobs = {k: kw.pop(k) for k in list(kw) if k in _KNOBS}
    return {**kw, "policy": CollectionPolicy(**knobs)} if knobs else kw
