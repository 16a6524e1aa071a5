"""The audit of a length grid: items per length and per hops, key depth within each length,
and each item's duration against its own window (a 30-s item is not judged by 90 +- 10 s).

Records without `metadata.target_seconds` (the public SPIRAL release, runs before grids)
are one plain run: the audit's window applies to all of them and this section is left out.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from pipeline.core.grid import scaled_tolerance


def record_fields(rec: dict[str, Any]) -> dict[str, Any]:
    meta = rec.get("metadata") if isinstance(rec.get("metadata"), dict) else {}
    target, hops = meta.get("target_seconds"), meta.get("hops")
    return {"target": float(target) if isinstance(target, int | float) and target > 0 else None,
            "hops": hops if isinstance(hops, int) else None}


def window(item: dict[str, Any], target: float, tol: float) -> tuple[float, float]:
    """The item's window: its planned length with the audit's share of tolerance (as the
    planner scales it, core/grid.tolerance_for), else the audit's window."""
    own = item.get("target")
    if own is None:
        return target, tol
    return own, scaled_tolerance(target, tol, own)


def summary(items: list[dict[str, Any]], target: float, tol: float) -> dict[str, Any] | None:
    timed = [it for it in items if it.get("target") is not None]
    if not timed:
        return None
    lengths = sorted({it["target"] for it in timed})
    out: dict[str, Any] = {"lengths": {}, "hops": dict(sorted(Counter(
        str(it["hops"]) for it in items if it.get("hops") is not None).items()))}
    for length in lengths:
        group = [it for it in timed if it["target"] == length]
        deciles = Counter(it["decile"] for it in group)
        durations = [it["duration"] for it in group if it["duration"] is not None]
        t, w = window(group[0], target, tol)
        inside = sum(abs(d - t) <= w for d in durations)
        out["lengths"][f"{length:g}"] = {
            "items": len(group), "window": [t, round(w, 3)],
            "depth_counts": [deciles[d] for d in range(10)],
            "hops": dict(sorted(Counter(str(it["hops"]) for it in group
                                        if it.get("hops") is not None).items())),
            "duration_mean": round(sum(durations) / len(durations), 1) if durations else None,
            "inside_window": round(inside / len(durations), 4) if durations else None}
    return out


def markdown(grid: dict[str, Any] | None) -> list[str]:
    if not grid:
        return []
    lines = ["", "## Lengths", "",
             "| length (s) | items | window | mean duration | inside | hops | depth deciles 0-9 |",
             "|---|---|---|---|---|---|---|"]
    for length, g in grid["lengths"].items():
        inside = "-" if g["inside_window"] is None else f"{100 * g['inside_window']:.0f}%"
        mean = "-" if g["duration_mean"] is None else f"{g['duration_mean']:g} s"
        hops = ", ".join(f"{k}-hop {v}" for k, v in g["hops"].items()) or "-"
        lines.append(f"| {length} | {g['items']} | {g['window'][0]:g} +- {g['window'][1]:g} | "
                     f"{mean} | {inside} | {hops} | "
                     f"{' '.join(str(k) for k in g['depth_counts'])} |")
    if grid["hops"]:
        lines += ["", "Hops: " + ", ".join(f"{k}-hop {v}" for k, v in grid["hops"].items())]
    return lines
