"""Run a stage's items on a thread pool in this process: the default executor."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed

from pipeline.core.records import Item
from pipeline.engine.stage import Context, Stage, apply_one


def local_map(stage: Stage, items: list[Item], ctx: Context) -> Iterator[tuple[int, Item]]:
    """(position, result) pairs as items finish, on a thread pool of the stage's size."""
    workers = max(1, min(stage.workers(ctx), len(items)))
    if workers == 1:
        yield from ((j, apply_one(stage, item, ctx)) for j, item in enumerate(items))
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(apply_one, stage, item, ctx): j for j, item in enumerate(items)}
        for fut in as_completed(futures):
            yield futures[fut], fut.result()
