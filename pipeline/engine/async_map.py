"""Run an I/O-bound stage's items as coroutines in one event loop: the LLM stages.

`async_map` has the shape of the thread-pool map: it yields (position, item) as each item
finishes, so the driver caches every finished item at once and a slow or failing item holds
up no other. The loop runs in a helper thread; at most `stage.workers(ctx)` items are in
flight (llm.concurrency for the LLM stages).
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Iterator

from pipeline.core.records import Item
from pipeline.engine.stage import Context, Stage, failure

_DONE = object()


def async_map(stage: Stage, items: list[Item], ctx: Context) -> Iterator[tuple[int, Item]]:
    assert stage.apply_async is not None
    apply_async = stage.apply_async
    close_async = stage.close_async
    results: queue.Queue[object] = queue.Queue()

    async def main() -> None:
        gate = asyncio.Semaphore(max(1, stage.workers(ctx)))

        async def one(j: int, item: Item) -> None:
            async with gate:
                try:
                    new = await apply_async(item, ctx)
                except Exception as exc:
                    new = failure(stage, item, exc)
            results.put((j, new))

        try:
            await asyncio.gather(*(one(j, item) for j, item in enumerate(items)))
        finally:
            if close_async is not None:
                await close_async(ctx)

    def loop() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # handed to the driver, raised there
            results.put(exc)
        finally:
            results.put(_DONE)

    worker = threading.Thread(target=loop, name=f"{stage.name}-loop", daemon=True)
    worker.start()
    while (got := results.get()) is not _DONE:
        if isinstance(got, BaseException):
            raise got
        yield got  # type: ignore[misc]
    worker.join()
