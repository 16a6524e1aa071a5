"""Plant the key sentence, carrying one fictional detail, at the planned depth."""

from __future__ import annotations

from dataclasses import asdict, replace

from pipeline.core.records import Item
from pipeline.engine.driver import run_stage
from pipeline.engine.stage import Context, writer_stage


def _inputs(item: Item, ctx: Context) -> dict:
    return {"spec": asdict(item.spec), "transcript": [asdict(t) for t in item.transcript or []],
            **ctx.writer.inputs("plant", item)}


async def _apply(item: Item, ctx: Context) -> Item:
    turns, key = await ctx.writer.plant(item)
    return replace(item, transcript=turns, key=key)


STAGE = writer_stage("plant", "2", ("transcript", "key"), _inputs, _apply)


def run(items: list[Item], ctx: Context) -> list[Item]:
    return run_stage(STAGE, items, ctx)
