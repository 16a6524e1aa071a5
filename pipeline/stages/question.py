"""Write the four-choice question: stem, answer at the planned letter, unsaid distractors."""

from __future__ import annotations

from dataclasses import asdict, replace

from pipeline.core.records import Item
from pipeline.engine.driver import run_stage
from pipeline.engine.stage import Context, Stage


def _inputs(item: Item, ctx: Context) -> dict:
    return {"spec": asdict(item.spec), "key": asdict(item.key) if item.key else None,
            "sentences": item.sentences(), **ctx.writer.inputs("question", item)}


async def _apply(item: Item, ctx: Context) -> Item:
    return replace(item, question=await ctx.writer.question(item))


STAGE = Stage(
    "question", "2", ("question",), _inputs,
    apply_async=_apply,
    workers=lambda ctx: ctx.writer.concurrency,
    setup=lambda items, ctx: ctx.writer.prepare("question", items),
    close_async=lambda ctx: ctx.writer.close())


def run(items: list[Item], ctx: Context) -> list[Item]:
    return run_stage(STAGE, items, ctx)
