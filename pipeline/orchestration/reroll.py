"""`spiral reroll`: rebuild chosen items of a run from new seeds, keeping their ids and specs.

Each chosen item gets a new seed through `reseed` (the one mechanism for this, which records the
history in `reseeds.json` and in the item's provenance); the run is then rebuilt
with the config it was built with, so only the re-seeded items' caches miss.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.core import difficulty, reviews
from pipeline.core.config import TRANSCRIPT_TYPES, Config
from pipeline.core.records import Item
from pipeline.core.seeds import derive_seed
from pipeline.core.store import read_jsonl
from pipeline.engine.stage import Context
from pipeline.orchestration import regenerate, reseed
from pipeline.orchestration.lock import RunLock
from pipeline.orchestration.runner import RunResult, run_pipeline
from pipeline.stages import plan


class RerollError(ValueError):
    """Nothing can be re-rolled as asked; the message names the id, file or filter."""


@dataclass
class Selection:
    ids: list[str] | None = None
    type: str | None = None
    failed: bool = False
    hard: bool = False
    rejected: bool = False  # rejected by a reviewer (`spiral review`, reviews.jsonl)

    def empty(self) -> bool:
        return (self.ids is None and self.type is None and not self.failed and not self.hard
                and not self.rejected)


def failed_ids(run_dir: Path) -> set[str]:
    src = run_dir / "export" / "failures.jsonl"
    if not src.exists():
        raise RerollError(f"{src}: no failures file; build the run first")
    out = set()
    for n, rec in read_jsonl(src, RerollError):
        if not isinstance(rec.get("id"), str):
            raise RerollError(f"{src}:{n}: expected a JSON object with an 'id'")
        out.add(rec["id"])
    return out


def select(items: list[Item], run_dir: Path, sel: Selection) -> list[Item]:
    """The items every given filter keeps (the filters combine with AND), in run order."""
    if sel.empty():
        raise RerollError("choose the items: --ids ID,ID or a filter (--type, --failed, --hard, "
                          "--rejected)")
    by_id = {it.id: it for it in items}
    chosen = list(items)
    if sel.ids is not None:
        unknown = [i for i in sel.ids if i not in by_id]
        if unknown:
            raise RerollError(f"--ids: {', '.join(unknown)} not in run {run_dir.name} "
                              f"({len(items)} items, {items[0].id} .. {items[-1].id})")
        wanted = set(sel.ids)
        chosen = [it for it in chosen if it.id in wanted]
    if sel.type is not None:
        if sel.type not in TRANSCRIPT_TYPES:
            raise RerollError(f"--type {sel.type!r}: expected one of {TRANSCRIPT_TYPES}")
        chosen = [it for it in chosen if it.spec.type == sel.type]
    if sel.failed:
        failed = failed_ids(run_dir)
        chosen = [it for it in chosen if it.id in failed]
    if sel.hard:
        tags = difficulty.load(run_dir)
        if tags is None:
            raise RerollError(f"{difficulty.path(run_dir)}: no difficulty tags; run the "
                              "spiral eval --tag before --hard")
        hard = difficulty.hard_ids(tags)
        chosen = [it for it in chosen if it.id in hard]
    if sel.rejected:
        if not reviews.path(run_dir).exists():
            raise RerollError(f"{reviews.path(run_dir)}: no reviews; mark items with "
                              "`spiral review` before --rejected")
        rejected = reviews.rejected_ids(reviews.load(run_dir),
                                        {it.id: it.spec.seed for it in items})
        chosen = [it for it in chosen if it.id in rejected]
    return chosen


def new_seed(item: Item, base: int | None, several: bool) -> int | None:
    """`--seed S`: S itself for one item; for several, a seed derived from (S, id) each."""
    if base is None:
        return None
    return derive_seed(base, "reroll", item.id) if several else base


def reroll(cfg: Config, sel: Selection, seed: int | None = None,
           quiet: bool = False) -> tuple[list[Item], RunResult | None]:
    """Re-seed the selected items of the run `cfg` was built with, then rebuild the run,
    holding the run folder's lock throughout."""
    with RunLock(cfg.run_dir):
        return _reroll(cfg, sel, seed, quiet)


def _reroll(cfg: Config, sel: Selection, seed: int | None, quiet: bool
            ) -> tuple[list[Item], RunResult | None]:
    ctx = Context(cfg, quiet=quiet)
    voices = list(ctx.voices.values())
    items = reseed.apply(plan.run(cfg, ctx.topics, voices), cfg.run_dir, voices,
                         cfg.prompts_dir)
    chosen = select(items, cfg.run_dir, sel)
    if not chosen:
        return [], None
    for item in chosen:
        reseed.next_seed(item, cfg.run_dir, new_seed(item, seed, len(chosen) > 1))
        regenerate.mark_reroll(cfg.run_dir, item.id, len(reseed.load(cfg.run_dir)[item.id]))
    return chosen, run_pipeline(cfg, quiet=quiet)
