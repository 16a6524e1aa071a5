"""Plant the key sentence, carrying one fictional detail, at the planned depth."""

from __future__ import annotations

from dataclasses import asdict, replace

from pipeline.core.records import Item
from pipeline.engine.driver import run_stage
from pipeline.engine.stage import Context, Stage


def _inputs(item: Item, ctx: Context) -> dict:
    return {"spec": asdict(item.spec), "transcript": [asdict(t) for t in item.transcript or []],
            **ctx.writer.inputs("plant", item)}


async def _apply(item: Item, ctx: Context) -> Item:
    turns, key = await ctx.writer.plant(item)
    return replace(item, transcript=turns, key=key)


STAGE = Stage(
    "plant", "2", ("transcript", "key"), _inputs,
    apply_async=_apply,
    workers=lambda ctx: ctx.writer.concurrency,
    setup=lambda items, ctx: ctx.writer.prepare("plant", items),
    close_async=lambda ctx: ctx.writer.close())


def run(items: list[Item], ctx: Context) -> list[Item]:
    return run_stage(STAGE, items, ctx)
