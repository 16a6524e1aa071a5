"""`spiral reroll`: rebuild chosen items of a run from new seeds, keeping their ids and specs.

Each chosen item gets a new seed through `reseed` (the one mechanism for this, which records the
history in `reseeds.json` and in the item's provenance); the run is then rebuilt
with the config it was built with, so only the re-seeded items' caches miss.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.core import difficulty, reviews
from pipeline.core.checked import unwrap, write_checked
from pipeline.core.config import TRANSCRIPT_TYPES, Config
from pipeline.core.records import Item
from pipeline.core.seeds import derive_seed
from pipeline.core.store import read_json, read_jsonl
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


JOURNAL = "reroll_intent.json"  # the reroll under way: written first, removed once built


def command(sel: Selection, seed: int | None) -> dict[str, Any]:
    """What identifies one `spiral reroll` command line (ids in any order)."""
    return {"ids": sorted(sel.ids) if sel.ids is not None else None, "type": sel.type,
            "failed": sel.failed, "hard": sel.hard, "rejected": sel.rejected, "seed": seed}


def load_journal(run_dir: Path) -> dict[str, Any] | None:
    """The unfinished reroll of this run, if any. A damaged journal stops the command: a
    guess could re-roll the items a second time."""
    path = Path(run_dir) / JOURNAL
    try:
        data = read_json(path)
    except FileNotFoundError:
        return None
    except (ValueError, RecursionError):
        data = None
    payload = unwrap(data)
    items = (payload or {}).get("items")
    if payload is None or not isinstance(items, dict) or not all(
            isinstance(v, dict) and _is_int(v.get("at")) and _is_int(v.get("seed"))
            for v in items.values()):
        raise RerollError(f"{path}: damaged reroll journal (fails its checksum); delete it "
                          "to start a new reroll (reseeds.json keeps the seeds it recorded)")
    return payload


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _reroll(cfg: Config, sel: Selection, seed: int | None, quiet: bool
            ) -> tuple[list[Item], RunResult | None]:
    ctx = Context(cfg, quiet=quiet)
    voices = list(ctx.voices.values())
    items = reseed.apply(plan.run(cfg, ctx.topics, voices), cfg.run_dir, voices,
                         cfg.prompts_dir)
    journal = load_journal(cfg.run_dir)
    if journal is not None and journal.get("command") == command(sel, seed):
        # The same command again after a kill, a full disk or an infrastructure failure:
        # finish that reroll (same items, same seeds) instead of drawing new seeds.
        planned = journal["items"]
        chosen = [it for it in items if it.id in planned]
    else:
        chosen = select(items, cfg.run_dir, sel)
        if not chosen:
            return [], None
        history = reseed.load(cfg.run_dir)
        planned = {}
        for it in chosen:
            at = len(history.get(it.id, []))
            new = new_seed(it, seed, len(chosen) > 1)
            planned[it.id] = {"at": at, "seed": new if new is not None else
                              reseed.derived(it, at)}
        write_checked(Path(cfg.run_dir) / JOURNAL,
                      {"command": command(sel, seed), "items": planned})
    history = reseed.load(cfg.run_dir)
    for it in chosen:
        step = planned[it.id]
        if len(history.get(it.id, [])) <= step["at"]:  # not recorded before the interruption
            reseed.next_seed(it, cfg.run_dir, step["seed"])
        regenerate.mark_reroll(cfg.run_dir, it.id, step["at"] + 1)
    result = run_pipeline(cfg, quiet=quiet)
    if not result.unfinished:  # built: a rerun of the command is a new reroll
        (Path(cfg.run_dir) / JOURNAL).unlink(missing_ok=True)
    return chosen, result
