"""Each item's acoustic levels, from the run seed: a list of levels is stratified.

Levels take turns within each transcript type (the items of a type draw them in shuffled
blocks), so every level gets an equal share of items and of each type; depth and letter are
stratified on their own streams, so each level's items spread over them too. Item i's levels
depend only on (run seed, i, the config), like the rest of its plan.
"""

from __future__ import annotations

from typing import Any

from pipeline.core.config import AcousticsConfig
from pipeline.core.seeds import stratified, stratified_ordinal, weighted_strata

SETTINGS = ("snr_db", "noise", "rt60_s", "overlap", "telephone", "backchannels")


def item_levels(seed: int, index: int, types: dict[str, float], a: AcousticsConfig
                ) -> dict[str, Any]:
    """{} when the run has no acoustic condition; else every setting's level for this item."""
    if not a.enabled:
        return {}
    ttype, ordinal = stratified_ordinal(seed, "type", index, weighted_strata(types))
    out: dict[str, Any] = {}
    for name in SETTINGS:
        value = getattr(a, name)
        if name == "backchannels" and not value:
            continue  # absent when off: plans made before backchannels existed hold
        if isinstance(value, list):
            value = stratified(seed, f"acoustics_{name}_{ttype}", ordinal, value)
        out[name] = value
    if out["snr_db"] is None:
        out["noise"] = None
    return out
