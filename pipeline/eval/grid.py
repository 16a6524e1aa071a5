"""Accuracy over a length x depth grid, and by hops: where a model breaks (RULER-style).

A grid run (`spiral run --lengths 30,120,600,1800,3600`) records each item's planned length
(`metadata.target_seconds`) and how many facts its question needs (`metadata.hops`). The
report gains accuracy by length, by depth within each length and by hops, each with 95%
Wilson intervals, and a heatmap of plain accuracy with lengths across and depth deciles
down. Records without these fields (the public SPIRAL release) get none of it.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

Rate = Callable[[list[bool]], dict[str, Any]]


def item_fields(rec: dict[str, Any]) -> dict[str, Any]:
    """What a prediction keeps of a record for these tables."""
    meta = rec.get("metadata") or {}
    target = meta.get("target_seconds")
    hops = meta.get("hops")
    return {"target_seconds": float(target) if isinstance(target, (int, float)) and target
            else None, "hops": int(hops) if isinstance(hops, int) else None}


def length_label(seconds: float) -> str:
    return f"{seconds / 60:g} min" if seconds >= 60 and seconds % 60 == 0 else f"{seconds:g} s"


def _rows(preds: list[dict], key: Callable[[dict], Any], rate: Rate) -> list[dict]:
    values = sorted({key(p) for p in preds})
    return [{"value": v, "plain": rate([p["plain"] for p in preds if key(p) == v]),
             "circular": rate([p["circular"] for p in preds if key(p) == v])}
            for v in values]


def summarise(preds: list[dict], rate: Rate) -> dict[str, Any] | None:
    """{"by_length", "depth_by_length", "by_hops"}, or None when no record says its length."""
    timed = [p for p in preds if p.get("target_seconds")]
    if not timed:
        return None
    out: dict[str, Any] = {"by_length": _rows(timed, lambda p: p["target_seconds"], rate)}
    out["depth_by_length"] = [
        {"length": r["value"],
         "rows": _rows([p for p in timed if p["target_seconds"] == r["value"]
                        and p["depth"] is not None], lambda p: p["depth"], rate)}
        for r in out["by_length"]]
    hopped = [p for p in preds if p.get("hops")]
    out["by_hops"] = _rows(hopped, lambda p: p["hops"], rate) if hopped else []
    return out


def _pct(r: dict[str, Any]) -> str:
    if not r["n"]:
        return "-"
    return f"{100 * r['acc']:.1f} [{100 * r['lo']:.0f}, {100 * r['hi']:.0f}]"


def markdown(grid: dict[str, Any] | None) -> list[str]:
    if not grid:
        return []
    lines = ["## By length (metadata.target_seconds)", "",
             "| length | items | plain | circular |", "|---|---|---|---|"]
    lines += [f"| {length_label(r['value'])} | {r['plain']['n']} | {_pct(r['plain'])} | "
              f"{_pct(r['circular'])} |" for r in grid["by_length"]]
    lengths = [g["length"] for g in grid["depth_by_length"]]
    cells = {(g["length"], r["value"]): r["plain"]
             for g in grid["depth_by_length"] for r in g["rows"]}
    lines += ["", "## Depth within each length (plain accuracy %, [95% Wilson], items)", "",
              "| depth | " + " | ".join(length_label(x) for x in lengths) + " |",
              "|---" * (len(lengths) + 1) + "|"]
    for d in range(10):
        row = []
        for x in lengths:
            r = cells.get((x, d))
            row.append(f"{_pct(r)} ({r['n']})" if r else "-")
        lines.append(f"| {d} | " + " | ".join(row) + " |")
    if grid["by_hops"]:
        lines += ["", "## By hops (facts the question needs)", "",
                  "| hops | items | plain | circular |", "|---|---|---|---|"]
        lines += [f"| {r['value']} | {r['plain']['n']} | {_pct(r['plain'])} | "
                  f"{_pct(r['circular'])} |" for r in grid["by_hops"]]
    return [*lines, ""]


def heatmap(grid: dict[str, Any], title: str) -> bytes:
    """Plain accuracy, lengths across and depth deciles down (NIAH's picture); each cell says
    its accuracy and item count, empty cells stay grey."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    lengths = [g["length"] for g in grid["depth_by_length"]]
    acc = np.full((10, len(lengths)), np.nan)
    counts = np.zeros((10, len(lengths)), dtype=int)
    for j, g in enumerate(grid["depth_by_length"]):
        for r in g["rows"]:
            if r["plain"]["n"]:
                acc[r["value"], j] = 100 * r["plain"]["acc"]
                counts[r["value"], j] = r["plain"]["n"]
    fig, ax = plt.subplots(figsize=(1.2 * len(lengths) + 2.5, 5.2), dpi=110)
    cmap = matplotlib.colormaps["RdYlGn"].with_extremes(bad="#dddddd")
    im = ax.imshow(np.ma.masked_invalid(acc), cmap=cmap, vmin=0, vmax=100, aspect="auto")
    for i in range(10):
        for j in range(len(lengths)):
            if counts[i, j]:
                ax.text(j, i, f"{acc[i, j]:.0f}\nn={counts[i, j]}", ha="center", va="center",
                        fontsize=7)
    ax.set(xticks=range(len(lengths)), xticklabels=[length_label(x) for x in lengths],
           yticks=range(10), yticklabels=[f"{d}" for d in range(10)],
           xlabel="length (target)", ylabel="key depth decile (0 = start)", title=title)
    fig.colorbar(im, ax=ax, label="plain accuracy (%)")
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
