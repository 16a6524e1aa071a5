"""Drive one stage over a run's items: cache lookup, executor, and record writes.

The executor is picked by what the stage declares (a coroutine `apply_async` runs on one
event loop; otherwise `cfg.executor` says local threads or Ray), never by the stage's name.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pipeline.core.errors import CONTENT, failure_kind
from pipeline.core.records import Item
from pipeline.core.store import StageCache, content_hash
from pipeline.engine.stage import Context, Stage


def _load(item: Item, record: dict[str, Any]) -> Item:
    merged = item.to_dict()
    merged.update(record)
    return Item.from_dict(merged)


def executor_for(stage: Stage, ctx: Context) -> str:
    """'async', 'ray' or 'local': what runs this stage's uncached items."""
    if stage.apply_async is not None:
        return "async"  # I/O-bound: one event loop, whatever the run's executor
    return "ray" if ctx.cfg.executor == "ray" else "local"


def _map(stage: Stage, items: list[Item], ctx: Context) -> Iterator[tuple[int, Item]]:
    kind = executor_for(stage, ctx)
    if kind == "async":
        from pipeline.engine.async_map import async_map

        return async_map(stage, items, ctx)
    if kind == "ray":
        from pipeline.engine.ray_executor import ray_map

        return ray_map(stage, items, ctx)
    from pipeline.engine.local import local_map

    return local_map(stage, items, ctx)


def run_stage(stage: Stage, items: list[Item], ctx: Context) -> list[Item]:
    cache = StageCache(ctx.run_dir, stage.name)
    out: list[Item | None] = [None] * len(items)
    todo: list[tuple[int, str]] = []
    for i, item in enumerate(items):
        if item.failed:
            out[i] = item
            continue
        key = content_hash(stage.name, stage.version, stage.inputs(item, ctx))
        record = cache.get(item.id, key)
        loaded = _load(item, record) if record is not None else None
        if loaded is not None and stage.still_valid(loaded, ctx):
            out[i] = loaded
        else:
            todo.append((i, key))

    pending = [items[i] for i, _ in todo]
    results: Iterator[tuple[int, Item]] = iter(())
    if pending:
        if stage.setup is not None:
            stage.setup(pending, ctx)
        results = _map(stage, pending, ctx)
    # Records are written here, by the driver, as each item finishes: whatever executes the
    # work, a killed run keeps every finished item and loses nothing half-written.
    for j, new in ctx.progress(results, stage.name, len(todo)):
        i, key = todo[j]
        if not (new.failed or {}).get("retry"):  # a verdict (validation) is a result too
            files = stage.files(new, ctx) if stage.files is not None and not new.failed else []
            cache.put(new.id, key, {f: new.to_dict()[f] for f in stage.outputs}, files)
        out[i] = new
        if failure_kind(new.failed) == CONTENT:
            ctx.note_rejection(f"{new.id} at {stage.name}", str(new.failed.get("reason", "")))
    # Added up over every call of the stage in a run (regeneration calls it again). An item
    # is counted failed by the stage that failed it, not again by each stage it passes on to.
    st = ctx.stats.setdefault(stage.name, {"cached": 0, "computed": 0, "failed": 0})
    st["cached"] += len(items) - len(todo)
    st["computed"] += len(todo)
    st["failed"] += sum(1 for before, after in zip(items, out, strict=True)
                        if not before.failed and after is not None and after.failed)
    return [it for it in out if it is not None]
