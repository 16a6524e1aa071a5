"""Write the four-choice question: stem, answer at the planned letter, unsaid distractors."""

from __future__ import annotations

from dataclasses import asdict, replace

from pipeline.core.records import Item, Question
from pipeline.core.resources import load_stem_templates
from pipeline.engine.driver import run_stage
from pipeline.engine.stage import Context, StageFailure, writer_stage
from pipeline.writing import two_hop


def _inputs(item: Item, ctx: Context) -> dict:
    return {"spec": asdict(item.spec), "key": asdict(item.key) if item.key else None,
            "sentences": item.sentences(), **ctx.writer.inputs("question", item)}


async def write(item: Item, ctx: Context) -> Question:
    """The item's question: the run's writer's, or for a two-hop item the same rules for
    every writer (writing/two_hop.py). The pre-check's redraws come here too."""
    if item.spec.hops == 2:
        try:
            stems = load_stem_templates(ctx.prompt("offline_questions.yaml"))
            return two_hop.question(item, stems)
        except (ValueError, KeyError) as exc:
            raise StageFailure(f"two_hop_question: {exc}") from None
    return await ctx.writer.question(item)


async def _apply(item: Item, ctx: Context) -> Item:
    return replace(item, question=await write(item, ctx))


STAGE = writer_stage("question", "2", ("question",), _inputs, _apply)


def run(items: list[Item], ctx: Context) -> list[Item]:
    return run_stage(STAGE, items, ctx)
