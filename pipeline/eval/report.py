"""Scores of one model on one benchmark: accuracy with 95% Wilson intervals, overall and by
key depth, type, detail kind, duration and speaker count; plots; the table of every model
evaluated on the same source.

"Plain" is the accuracy with the choices in their original order; "circular" counts an item
right only when all four rotations are right. Their gap is how much of the plain score letter
position or guessing can explain.
"""

from __future__ import annotations

import io
import json
import math
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipeline.core.records import LETTERS
from pipeline.core.store import atomic_write_bytes, atomic_write_json, atomic_write_text
from pipeline.eval import grid

Z95 = 1.959964
DURATION_EDGES = (60, 75, 90, 105, 120)
GROUPS: dict[str, Callable[[dict], str]] = {
    "depth": lambda p: "n/a" if p["depth"] is None else str(p["depth"]),
    "type": lambda p: p["type"],
    "kind": lambda p: p["kind"],
    "duration": lambda p: duration_bin(p["duration"]),
    "speakers": lambda p: str(p["n_speakers"]),
}

# Acoustic conditions (records built with `acoustics:`): a group each, when any item has one.
CONDITIONS = {"snr_db": "SNR (dB)", "noise": "noise", "rt60_s": "RT60 (s)",
              "overlap": "overlap share", "backchannels": "backchannel share",
              "telephone": "telephone band"}


def _level(key: str, value: Any) -> str:
    if value is None or value is False or (key in ("overlap", "backchannels") and value == 0):
        return "off"
    return "on" if value is True else f"{value:g}" if isinstance(value, float) else str(value)


def groups(preds: list[dict]) -> dict[str, Callable[[dict], str]]:
    """The report's groupings: the fixed ones, and each acoustic condition that varies or is
    set in these predictions."""
    out = dict(GROUPS)
    for key in CONDITIONS:
        levels = {_level(key, (p.get("acoustics") or {}).get(key)) for p in preds}
        varies = len(levels) > 1
        if varies or (key != "noise" and levels != {"off"}):  # one noise kind: under SNR
            out[key] = lambda p, key=key: _level(key, (p.get("acoustics") or {}).get(key))
    return out


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """95% Wilson score interval of k successes in n trials (0 <= lo <= hi <= 1)."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def duration_bin(seconds: float) -> str:
    lo = 0
    for edge in DURATION_EDGES:
        if seconds < edge:
            return f"<{edge} s" if lo == 0 else f"{lo}-{edge} s"
        lo = edge
    return f">={lo} s"


def _rate(flags: list[bool]) -> dict[str, Any]:
    k, n = sum(flags), len(flags)
    lo, hi = wilson(k, n)
    return {"k": k, "n": n, "acc": k / n if n else None, "lo": lo, "hi": hi}


def _order(key: str, values: set[str]) -> list[str]:
    def sort_key(v: str) -> tuple:
        if key == "duration":
            return (0 if v.startswith("<") else 2 if v.startswith(">") else 1,
                    float(v.lstrip("<>=").split("-")[0].split()[0]))
        if key in CONDITIONS:  # off first, then by level
            return (v != "off", float(v) if v.replace(".", "", 1).lstrip("-").isdigit()
                    else 0.0, v)
        return (v == "n/a", int(v) if v.isdigit() else 0, v)
    return sorted(values, key=sort_key)


def summarise(preds: list[dict], meta: dict[str, Any]) -> dict[str, Any]:
    """The report: every figure from the per-item predictions."""
    plain = [p["plain"] for p in preds]
    circ = [p["circular"] for p in preds]
    answers = [r for p in preds for r in p["rotations"]]
    picks = [r["letter"] for r in answers if r["letter"]]
    by: dict[str, list[dict]] = {}
    for key, fn in groups(preds).items():
        values = _order(key, {fn(p) for p in preds})
        by[key] = [{"value": v, "plain": _rate([p["plain"] for p in preds if fn(p) == v]),
                    "circular": _rate([p["circular"] for p in preds if fn(p) == v])}
                   for v in values]
    usage: dict[str, float] = {}
    for p in preds:
        for k, v in (p.get("usage") or {}).items():
            if isinstance(v, (int, float)):
                usage[k] = usage.get(k, 0) + v
    out = {
        **meta,
        "n_items": len(preds),
        "plain": _rate(plain),
        "circular": _rate(circ),
        "gap": (sum(plain) - sum(circ)) / len(preds),
        "all_rotations": _rate([r["correct"] for r in answers]),
        "unreadable": sum(r["letter"] is None for r in answers),
        "answers": len(answers),
        "letters_picked": {x: picks.count(x) for x in LETTERS},
        "by": by,
        "usage": usage,
        "time_per_item_s": statistics.fmean(p["time_s"] for p in preds),
        "computed": meta.get("computed", 0),
    }
    if by_grid := grid.summarise(preds, _rate):  # length x depth, hops (eval/grid.py)
        out["grid"] = by_grid
    blind = [p["blind"] for p in preds if p.get("blind")]
    if blind:
        out["blind"] = {
            "original_order": _rate([b[0]["correct"] for b in blind]),
            "right_3_of_4": _rate([sum(r["correct"] for r in b) >= 3 for b in blind])}
    return out


def _pct(r: dict[str, Any]) -> str:
    if not r["n"]:
        return "-"
    return f"{100 * r['acc']:.1f} [{100 * r['lo']:.0f}, {100 * r['hi']:.0f}]"


def markdown(rep: dict[str, Any]) -> str:
    title = rep["label"] + (" — OFFLINE PROXY, not a speech model" if rep["proxy"] else "")
    u = rep["usage"]
    lines = [f"# Eval: {title}", "",
             f"Source: {rep['source']} ({rep['source_kind']}, subset `{rep['subset']}`), "
             f"{rep['n_items']} items." + (f" {rep['note']}." if rep.get("note") else ""), "",
             "Accuracy % [95% Wilson interval]. Plain: choices in their original order; "
             "circular: right in all four rotations of the choices.", "",
             "| measure | accuracy |", "|---|---|",
             f"| plain | {_pct(rep['plain'])} |",
             f"| circular (all four right) | {_pct(rep['circular'])} |",
             f"| every rotation, pooled | {_pct(rep['all_rotations'])} |",
             f"| plain - circular gap | {100 * rep['gap']:.1f} points |"]
    if "blind" in rep:
        lines += [f"| blind (text only), original order | {_pct(rep['blind']['original_order'])} |",
                  f"| blind right in >= 3 of 4 rotations | {_pct(rep['blind']['right_3_of_4'])} |"]
    lines += ["", f"Unreadable replies: {rep['unreadable']} of {rep['answers']}. Letters "
              "picked: " + ", ".join(f"{k} {v}" for k, v in rep["letters_picked"].items()) + ".",
              ""]
    names = {"depth": "key-sentence depth decile", "type": "transcript type",
             "kind": "detail kind", "duration": "duration", "speakers": "speakers",
             **CONDITIONS}
    for key, rows in rep["by"].items():
        lines += [f"## By {names[key]}", "", f"| {key} | items | plain | circular |",
                  "|---|---|---|---|"]
        lines += [f"| {r['value']} | {r['plain']['n']} | {_pct(r['plain'])} | "
                  f"{_pct(r['circular'])} |" for r in rows]
        lines.append("")
    lines += grid.markdown(rep.get("grid"))
    cost = f", cost ${u.get('cost_usd', 0):.4f}" if "cost_usd" in u else ""
    tokens = (f"Tokens: {int(u.get('prompt_tokens', 0))} prompt, "
              f"{int(u.get('completion_tokens', 0))} completion{cost}; requests sent "
              f"{int(u.get('calls', 0))}, from cache {int(u.get('cached', 0))} (this report's "
              "items, when first answered). " if u else "")
    lines += [f"{tokens}Time per item: {rep['time_per_item_s']:.2f} s. Answered in this run: "
              f"{rep['computed']} items; requests sent in this run: {rep['requests_this_run']}.",
              ""]
    return "\n".join(lines)


def figure(rows: list[dict], title: str, xlabel: str) -> Any:
    """Accuracy by group, both measures with their intervals; the legend sits below the
    axes, where no point (100% at the top, chance at the bottom) can be under it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = list(range(len(rows)))
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=110)
    for key, color, off in (("plain", "tab:blue", -0.1), ("circular", "tab:orange", 0.1)):
        ys = [100 * (r[key]["acc"] or 0) for r in rows]
        lo = [y - 100 * r[key]["lo"] for y, r in zip(ys, rows, strict=True)]
        hi = [100 * r[key]["hi"] - y for y, r in zip(ys, rows, strict=True)]
        ax.errorbar([x + off for x in xs], ys, yerr=[lo, hi], marker="o", capsize=3,
                    color=color, label=key, ls="-")
    ax.axhline(25, color="gray", ls=":", label="chance (plain)")
    ax.set(xticks=xs, xticklabels=[f"{r['value']}\n(n={r['plain']['n']})" for r in rows],
           ylim=(0, 104), ylabel="accuracy (%), 95% Wilson", xlabel=xlabel, title=title)
    fig.tight_layout()
    fig.subplots_adjust(bottom=fig.subplotpars.bottom + 0.07)
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, ncol=3, loc="lower center", frameon=False)
    return fig


def plot_title(rep: dict[str, Any]) -> str:
    """The model's label, marked a proxy once (the cascade's label already says so)."""
    label = rep["label"]
    return label + (" (proxy)" if rep["proxy"] and "proxy" not in label else "")


def _plot(rows: list[dict], title: str, xlabel: str) -> bytes:
    import matplotlib.pyplot as plt

    fig = figure(rows, title, xlabel)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def write(out: Path, rep: dict[str, Any], preds: list[dict]) -> None:
    atomic_write_text(out / "predictions.jsonl",
                      "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in preds))
    atomic_write_json(out / "report.json", rep)
    atomic_write_text(out / "report.md", markdown(rep))
    short = plot_title(rep)
    atomic_write_bytes(out / "accuracy_by_depth.png",
                       _plot(rep["by"]["depth"], short, "key-sentence depth decile"))
    atomic_write_bytes(out / "accuracy_by_duration.png",
                       _plot(rep["by"]["duration"], short, "duration"))
    if "grid" in rep:
        atomic_write_bytes(out / "accuracy_length_depth.png", grid.heatmap(rep["grid"], short))


def side_by_side(eval_root: Path) -> str:
    """`models.md` / `models.json` under the source's eval folder: one row per model whose
    report is there, same source and subset."""
    reps = []
    for path in sorted(eval_root.glob("*/report.json")):
        try:
            reps.append(json.loads(path.read_text(encoding="utf-8")))
        except (json.JSONDecodeError, OSError):
            continue
    deciles = sorted({r["value"] for rep in reps for r in rep["by"]["depth"]},
                     key=lambda v: (v == "n/a", int(v) if v.isdigit() else 0))
    lines = ["# Models side by side", "",
             "Accuracy %, [95% Wilson]; depth columns: plain accuracy by key-sentence decile.",
             "", "| model | items | plain | circular | gap | unreadable | time/item | cost | "
             + " | ".join(f"d{d}" for d in deciles) + " |",
             "|---" * (8 + len(deciles)) + "|"]
    rows = []
    for rep in reps:
        depth = {r["value"]: r["plain"] for r in rep["by"]["depth"]}
        cost = rep["usage"].get("cost_usd")
        name = rep["label"] + (" **(proxy)**" if rep["proxy"] else "")
        lines.append(
            f"| {name} | {rep['n_items']} | {_pct(rep['plain'])} | {_pct(rep['circular'])} | "
            f"{100 * rep['gap']:.1f} | {rep['unreadable']}/{rep['answers']} | "
            f"{rep['time_per_item_s']:.2f} s | "
            f"{'-' if cost is None else f'${cost:.4f}'} | "
            + " | ".join(f"{100 * depth[d]['acc']:.0f}" if d in depth and depth[d]["n"] else "-"
                         for d in deciles) + " |")
        rows.append({k: rep[k] for k in ("model_id", "label", "proxy", "n_items", "plain",
                                         "circular", "gap", "unreadable", "usage",
                                         "time_per_item_s")})
    text = "\n".join(lines) + "\n"
    atomic_write_text(eval_root / "models.md", text)
    atomic_write_json(eval_root / "models.json", rows)
    return text
