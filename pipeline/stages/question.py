"""Write the four-choice question: stem, answer at the planned letter, unsaid distractors."""

from __future__ import annotations

from dataclasses import asdict, replace

from pipeline.core.records import Item
from pipeline.engine.driver import run_stage
from pipeline.engine.stage import Context, writer_stage


def _inputs(item: Item, ctx: Context) -> dict:
    return {"spec": asdict(item.spec), "key": asdict(item.key) if item.key else None,
            "sentences": item.sentences(), **ctx.writer.inputs("question", item)}


async def _apply(item: Item, ctx: Context) -> Item:
    return replace(item, question=await ctx.writer.question(item))


STAGE = writer_stage("question", "2", ("question",), _inputs, _apply)


def run(items: list[Item], ctx: Context) -> list[Item]:
    return run_stage(STAGE, items, ctx)
