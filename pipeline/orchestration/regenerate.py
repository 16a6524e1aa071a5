"""Rebuild rejected items from derived seeds, a bounded number of times, logging every reason.

Only content failures are rebuilt: an item that failed for infrastructure reasons (the LLM
endpoint kept failing, a timeout, an I/O error) keeps its seed and is retried by the next run,
so a transient fault never changes the dataset.

A rejected item gets a new seed through `reseed.next_seed` (the one mechanism: it records the
seed in `reseeds.json` and keeps the rest of the spec, so letter, depth, type and
speakers, and with them the run's balance, are unchanged) and goes through the per-item
stages again. The bound counts every seed in the item's history, so a rerun of a finished run
regenerates nothing and finds every stage cached.

`rejections.jsonl` keeps one line per rejected (item, seed): the stage and every failed check
with its reason. Lines are facts of deterministic work, keyed by (item, seed), so a rerun
adds none twice.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from pipeline.core.errors import CONTENT, failure_kind
from pipeline.core.records import Item
from pipeline.core.store import atomic_write_json, atomic_write_text, read_json, read_jsonl
from pipeline.engine.stage import Context
from pipeline.orchestration import reseed

FILE = "rejections.jsonl"
REROLLS = "rerolls.json"  # item id -> length of its seed history right after its last reroll


def reroll_starts(run_dir: Path) -> dict[str, int]:
    path = Path(run_dir) / REROLLS
    return read_json(path) if path.exists() else {}


def mark_reroll(run_dir: Path, item_id: str, history_len: int) -> None:
    """A reroll starts a fresh regeneration budget: seeds before it do not count against the
    item's bound, so a re-rolled item that fails a gate is rebuilt like any other."""
    starts = reroll_starts(run_dir)
    starts[item_id] = history_len
    atomic_write_json(Path(run_dir) / REROLLS, starts)


def rejection(item: Item) -> dict[str, Any]:
    """The log line of a failed item: which attempt, which stage, every reason."""
    assert item.failed is not None
    history = item.provenance.get("seed_history", [item.spec.seed])
    stage = item.failed["stage"]
    if stage == "validate" and item.checks:
        reasons = [{"check": c.name, "reason": c.reason} for c in item.checks if not c.ok]
    else:
        reasons = [{"check": stage, "reason": item.failed["reason"]}]
    return {"id": item.id, "index": item.spec.index, "seed": item.spec.seed,
            "attempt": len(history) - 1, "stage": stage, "reasons": reasons}


def load_log(run_dir: Path) -> list[dict[str, Any]]:
    path = Path(run_dir) / FILE
    if not path.exists():
        return []
    return [rec for _, rec in read_jsonl(path)]


def record(items: Sequence[Item], run_dir: Path) -> int:
    """Add the rejected items' lines not yet logged; return how many were new. Only content
    failures are facts about an (item, seed); an infrastructure failure is not logged."""
    lines = load_log(run_dir)
    seen = {(r["id"], r["seed"]) for r in lines}
    new = [rejection(it) for it in items
           if failure_kind(it.failed) == CONTENT and (it.id, it.spec.seed) not in seen]
    if new:
        lines = sorted(lines + new, key=lambda r: (r["index"], r["attempt"], r["seed"]))
        atomic_write_text(Path(run_dir) / FILE, "".join(
            json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in lines))
    return len(new)


def regenerate(items: list[Item], ctx: Context, stages: Sequence[ModuleType]) -> list[Item]:
    """Rebuild each failed item from new seeds until it passes or has had
    `validate.max_regenerations` of them (counted since its last reroll); `stages` are the
    per-item stage modules, in order."""
    run_dir = ctx.run_dir
    limit = ctx.cfg.validate.max_regenerations
    items = list(items)
    regenerated = 0
    starts = reroll_starts(run_dir)
    rounds = 0
    while True:
        record(items, run_dir)
        history = reseed.load(run_dir)
        todo = [i for i, it in enumerate(items)
                if failure_kind(it.failed) == CONTENT
                and len(history.get(it.id, [])) - starts.get(it.id, 0) < limit]
        if not todo:
            break
        fresh = []
        for i in todo:
            old = items[i]
            seed = reseed.next_seed(old, run_dir)
            seeds = [*old.provenance.get("seed_history", [old.spec.seed]), seed]
            spec = reseed.reseeded(old.spec, seed, list(ctx.voices.values()),
                                   ctx.cfg.prompts_dir)
            fresh.append(Item(spec=spec,
                              provenance={"seed_history": seeds}))
        rounds += 1
        base = ctx.phase
        ctx.phase = f"{base}regen {rounds} "  # progress bars say which round they are
        for stage in stages:
            fresh = stage.run(fresh, ctx)
        ctx.phase = base
        for i, new in zip(todo, fresh, strict=True):
            items[i] = new
        regenerated += len(todo)
    # Still failing on content: items that failed on infrastructure were never re-seeded.
    ctx.stats["regenerate"] = {"cached": 0, "computed": regenerated,
                               "failed": sum(1 for it in items
                                             if failure_kind(it.failed) == CONTENT)}
    return items
