"""`spiral baseline`: the SpeechPrune paper's table on one run's export.

Every item of `export/data.jsonl` is answered under each condition (blind, Original, and RAP,
RAC, SpeechPrune at each prune rate, the random ones over several seeds) by one adapter
(`cascade` offline, or `qwen2-audio`). Per-item results are cached under
`baseline/results-<adapter>/`, so a killed run resumes and a rerun with nothing changed only
rewrites the reports. Outputs, all written atomically, under `<run>/baseline/`:
`baseline.json`, `baseline.md`, `baseline.png`.

The baseline defines no difficulty: the cascade's accuracy mostly says whether the answer is
said inside the heard span, a position label. `spiral eval --tag` writes the tags from a named
model, with rotations (`pipeline.eval`).
"""

from __future__ import annotations

import io
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch

from pipeline.baseline import speechprune as sp
from pipeline.core.config import Config
from pipeline.core.store import (
    StageCache,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    content_hash,
    file_hash,
    read_jsonl,
)

__all__ = ["TINY_RANDOM", "BaselineError", "run_baseline"]

TINY_RANDOM = "tiny-random"  # baseline.model_path naming the random test model explicitly


class BaselineError(RuntimeError):
    """The run cannot be evaluated (no export, a missing wav)."""

EVAL_VERSION = "1"
TYPES = ("lecture", "conversation", "meeting")
METHODS = ("rap", "rac", "speechprune")
LABELS = {"blind": "Blind (no audio)", "original": "Original (first 30 s)",
          "rap": "RAP (random tokens)", "rac": "RAC (random span)", "speechprune": "SpeechPrune"}
# Qwen2-Audio on SPIRAL, arXiv 2412.12009 (accuracy %, prune rates 0.2 / 0.4 / 0.6 / 0.8).
PAPER = {"original": 60.38,
         "speechprune": {"0.2": 89.23, "0.4": 85.97, "0.6": 75.89, "0.8": 62.45},
         "rap": {"0.2": 42.49, "0.4": 42.89, "0.6": 42.39, "0.8": 45.26},
         "rac": {"0.2": 65.71, "0.4": 62.45, "0.6": 58.20, "0.8": 55.83},
         "prefill_tflops": {"unpruned": 12.2, "0.8": 3.66}}


class Adapter(Protocol):
    name: str

    def prepare(self, rec: dict, wav: Path) -> tuple[sp.AudioTokens, Any]: ...

    def answer(self, tokens: sp.AudioTokens, item: Any, keep: torch.Tensor | None) -> str: ...


@dataclass(frozen=True)
class Condition:
    method: str  # blind | original | rap | rac | speechprune
    pr: float | None = None
    seed: int | None = None

    @property
    def key(self) -> str:
        out = self.method
        if self.pr is not None:
            out += f"@{self.pr:g}"
        if self.seed is not None:
            out += f"#s{self.seed}"
        return out


def conditions(prune_rates: list[float], seeds: int) -> list[Condition]:
    out = [Condition("blind"), Condition("original")]
    for pr in prune_rates:
        out.append(Condition("speechprune", pr))
        for method in ("rap", "rac"):
            out.extend(Condition(method, pr, s) for s in range(seeds))
    return out


def item_seed(item_id: str, seed: int) -> int:
    """Each item draws its own random tokens for each seed, reproducibly."""
    return int(content_hash("random-selector", item_id, seed)[:8], 16)


@dataclass
class ItemResult:
    id: str
    type: str
    correct: dict[str, bool]
    answers: dict[str, str]
    timing: dict[str, float] = field(default_factory=dict)


def evaluate_item(adapter: Adapter, rec: dict, wav: Path, conds: list[Condition],
                  k1: int, frame: int) -> ItemResult:
    t0 = time.perf_counter()
    tokens, item = adapter.prepare(rec, wav)
    timing = {"prepare_s": time.perf_counter() - t0, "n_tokens": float(tokens.n)}
    letter = rec["test_question"]["correct_answer"][0]
    answers: dict[str, str] = {}
    select_s: dict[str, float] = {}
    t_answer = 0.0
    for cond in conds:
        keep = None
        if cond.method != "blind":
            selector = sp.make_selector(
                cond.method, cond.pr or 0.0,
                item_seed(rec["metadata"]["id"], cond.seed or 0), k1, frame)
            t1 = time.perf_counter()
            keep = selector(tokens)
            select_s[cond.method] = select_s.get(cond.method, 0.0) + time.perf_counter() - t1
        t2 = time.perf_counter()
        answers[cond.key] = adapter.answer(tokens, item, keep)
        t_answer += time.perf_counter() - t2
    counts = {m: sum(c.method == m for c in conds) for m in select_s}
    timing.update({f"select_{m}_s": s / counts[m] for m, s in select_s.items()})
    timing["answer_s"] = t_answer / len(conds)
    timing["total_s"] = time.perf_counter() - t0
    return ItemResult(rec["metadata"]["id"], rec["metadata"]["transcript_type"],
                      {k: a == letter for k, a in answers.items()}, answers, timing)


def load_export(run_dir: Path) -> list[tuple[dict, Path]]:
    data = run_dir / "export" / "data.jsonl"
    if not data.exists():
        raise BaselineError(f"{data} not found: build the run first (spiral run --run "
                            f"{run_dir.name})")
    out = []
    for n, rec in read_jsonl(data, BaselineError):
        try:
            wav = (data.parent / rec["audio_data"]["combined"]["audio_folder"]
                   / rec["audio_data"]["combined"]["audio_files"][0])
            rec["metadata"]["id"], rec["test_question"]["correct_answer"]  # noqa: B018
        except (KeyError, IndexError, TypeError) as exc:
            raise BaselineError(f"{data} line {n}: not a SPIRAL record ({exc!r})") from None
        if not wav.exists():
            raise BaselineError(f"{data} line {n} ({rec['metadata']['id']}): {wav} is missing")
        out.append((rec, wav))
    return out


# ---- aggregation -----------------------------------------------------------------------------

def _acc(results: list[ItemResult], key: str) -> dict[str, float]:
    out = {"all": 100.0 * statistics.fmean(r.correct[key] for r in results)}
    for t in TYPES:
        sub = [r.correct[key] for r in results if r.type == t]
        if sub:
            out[t] = 100.0 * statistics.fmean(sub)
    return out


def table(results: list[ItemResult], prune_rates: list[float], seeds: int) -> list[dict]:
    """One row per (method, prune rate): accuracy overall and per type; the random selectors
    give the mean and the standard deviation over seeds, and each seed's accuracy."""
    rows = [{"method": m, "pr": None, "accuracy": _acc(results, m), "std": None}
            for m in ("blind", "original")]
    for m in METHODS:
        for pr in prune_rates:
            if m == "speechprune":
                rows.append({"method": m, "pr": pr, "std": None,
                             "accuracy": _acc(results, Condition(m, pr).key)})
                continue
            per_seed = [_acc(results, Condition(m, pr, s).key) for s in range(seeds)]
            keys = per_seed[0].keys()
            rows.append({
                "method": m, "pr": pr, "per_seed": per_seed,
                "accuracy": {k: statistics.fmean(a[k] for a in per_seed) for k in keys},
                "std": {k: statistics.pstdev([a[k] for a in per_seed]) for k in keys}})
    return rows


def timing_summary(results: list[ItemResult]) -> dict[str, float]:
    keys = sorted({k for r in results for k in r.timing})
    return {k: statistics.fmean(r.timing[k] for r in results if k in r.timing) for k in keys}


def _cell(row: dict, key: str = "all") -> str:
    val = f"{row['accuracy'][key]:.1f}" if key in row["accuracy"] else "-"
    if row.get("std") and key in row["std"]:
        val += f" ± {row['std'][key]:.1f}"
    return val


def markdown(report: dict) -> str:
    rates = report["prune_rates"]
    rows = report["rows"]
    find = {(r["method"], r["pr"]): r for r in rows}
    head = "| method | " + " | ".join(f"PR {pr:g}" for pr in rates) + " |"
    sep = "|---" * (len(rates) + 1) + "|"
    lines = [f"# Baseline: {report['run']} ({report['adapter']}, {report['n_items']} items)", "",
             f"Accuracy (%) on our items; paper: Qwen2-Audio on SPIRAL (arXiv 2412.12009). "
             f"Random selectors: mean ± std over {report['seeds']} seeds.", "",
             "| method | ours | paper |", "|---|---|---|",
             f"| {LABELS['blind']} | {_cell(find[('blind', None)])} | - |",
             f"| {LABELS['original']} | {_cell(find[('original', None)])} | "
             f"{PAPER['original']:.2f} |", "", head, sep]
    for m in METHODS:
        ours = [_cell(find[(m, pr)]) for pr in rates]
        paper = [f"{PAPER[m].get(f'{pr:g}', float('nan')):.2f}" for pr in rates]
        lines.append(f"| {LABELS[m]} | " + " | ".join(ours) + " |")
        lines.append(f"| {LABELS[m]}, paper | " + " | ".join(paper) + " |")
    lines += ["", "Per transcript type (accuracy %):", "",
              "| method | PR | " + " | ".join(TYPES) + " |", "|---|---|" + "---|" * len(TYPES)]
    for r in rows:
        pr = "-" if r["pr"] is None else f"{r['pr']:g}"
        lines.append(f"| {LABELS[r['method']]} | {pr} | "
                     + " | ".join(_cell(r, t) for t in TYPES) + " |")
    t = report["timing"]
    lines += ["", f"Time per item: {t.get('total_s', 0):.2f} s "
                  f"(prepare {t.get('prepare_s', 0):.2f} s,"
              f" {t.get('answer_s', 0) * 1000:.1f} ms per answer, SpeechPrune selection "
              f"{t.get('select_speechprune_s', 0) * 1000:.1f} ms).", ""]
    return "\n".join(lines)


def plot(report: dict) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rates = report["prune_rates"]
    find = {(r["method"], r["pr"]): r for r in report["rows"]}
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=110)
    for m, color in zip(METHODS, ("tab:gray", "tab:orange", "tab:blue"), strict=True):
        ys = [find[(m, pr)]["accuracy"]["all"] for pr in rates]
        errs = [(find[(m, pr)].get("std") or {}).get("all", 0.0) for pr in rates]
        ax.errorbar(rates, ys, yerr=errs, marker="o", color=color, capsize=3, label=LABELS[m])
        known = [pr for pr in rates if f"{pr:g}" in PAPER[m]]  # the paper's rates only
        ax.plot(known, [PAPER[m][f"{pr:g}"] for pr in known], ls=":", color=color, alpha=0.7)
    ax.axhline(find[("original", None)]["accuracy"]["all"], color="k", ls="--",
               label=LABELS["original"])
    ax.axhline(PAPER["original"], color="k", ls=":", alpha=0.5)
    ax.axhline(find[("blind", None)]["accuracy"]["all"], color="tab:red", ls="--",
               label=LABELS["blind"])
    ax.set(xlabel="pruning rate", ylabel="accuracy (%)", ylim=(0, 100), xticks=rates,
           title=f"{report['run']}: {report['adapter']} (dotted: paper, Qwen2-Audio)")
    ax.legend(fontsize=8, loc="lower left")
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


# ---- the command -----------------------------------------------------------------------------

def make_adapter(cfg: Config) -> Adapter:
    b = cfg.baseline
    if b.adapter == "cascade":
        from pipeline.baseline.cascade import CascadeAdapter

        return CascadeAdapter(cfg.run_dir, b.asr_model)
    from pipeline.baseline.qwen2_audio import Qwen2AudioAdapter

    _require_model_path(cfg)
    return Qwen2AudioAdapter(None if b.model_path == TINY_RANDOM else b.model_path, b.device)


def _require_model_path(cfg: Config) -> None:
    if not cfg.baseline.model_path:
        raise BaselineError("--adapter qwen2-audio needs --model-path (a local "
                            "Qwen2-Audio-7B-Instruct folder; tests: --model-path "
                            f"{TINY_RANDOM} for the random model)")


def adapter_identity(cfg: Config) -> dict[str, Any]:
    """What shapes an adapter's answers, for the per-item result cache."""
    b = cfg.baseline
    if b.adapter == "cascade":
        return {"adapter": "cascade", "asr_model": b.asr_model}
    _require_model_path(cfg)
    return {"adapter": "qwen2-audio", "model": b.model_path, "device": b.device}


def run_baseline(cfg: Config, adapter: Adapter | None = None, quiet: bool = False,
                 log: Callable[[str], None] | None = None) -> dict:
    """Answer every exported item under every condition; write the reports."""
    b = cfg.baseline
    run_dir = cfg.run_dir
    ident = adapter_identity(cfg)  # first: a missing --model-path needs no export to report
    records = load_export(run_dir)
    if not records:
        raise BaselineError(f"{run_dir / 'export' / 'data.jsonl'} has no items")
    conds = conditions(b.prune_rates, b.seeds)
    cache = StageCache(run_dir / "baseline", f"results-{ident['adapter']}")
    settings = {"k1": b.k1, "frame": b.frame_tokens, "conditions": [c.key for c in conds]}
    results: list[ItemResult] = []
    computed = 0
    from tqdm import tqdm

    for rec, wav in tqdm(records, desc="baseline", file=sys.stderr, disable=quiet):
        item_id = rec["metadata"]["id"]
        key = content_hash(EVAL_VERSION, ident, settings, rec["test_question"],
                           rec["metadata"]["transcript_type"], file_hash(wav))
        cached = cache.get(item_id, key)
        if cached is None:
            if adapter is None:
                adapter = make_adapter(cfg)
            res = evaluate_item(adapter, rec, wav, conds, b.k1, b.frame_tokens)
            cache.put(item_id, key, res.__dict__)
            computed += 1
        else:
            res = ItemResult(**cached)
        results.append(res)
    report = {
        "run": cfg.run, "adapter": ident["adapter"], "adapter_settings": ident,
        "n_items": len(results), "k1": b.k1, "frame_tokens": b.frame_tokens,
        "prune_rates": list(b.prune_rates), "seeds": b.seeds,
        "rows": table(results, b.prune_rates, b.seeds), "paper": PAPER,
        "timing": timing_summary(results), "computed": computed,
    }
    out = run_dir / "baseline"
    atomic_write_json(out / "baseline.json", report)
    atomic_write_text(out / "baseline.md", markdown(report))
    atomic_write_bytes(out / "baseline.png", plot(report))
    return report
