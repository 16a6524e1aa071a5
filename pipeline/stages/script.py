"""Write each item's transcript (speaker turns, no key detail yet)."""

from __future__ import annotations

from dataclasses import asdict, replace

from ..llm import tasks as llm_tasks
from ..llm.offline import write_script
from ..records import Item
from ..seeds import rng_for
from .base import Context, Stage, run_stage


def _inputs(item: Item, ctx: Context) -> dict:
    return {"spec": asdict(item.spec), "writer": asdict(ctx.cfg.writer),
            "bank": ctx.file_digest(ctx.prompt("offline_writer.yaml")), "llm": ctx.cfg.llm.backend}


def _apply(item: Item, ctx: Context) -> Item:
    rng = rng_for(item.spec.seed, "script")
    w = ctx.cfg.writer
    # The key sentence adds about a dozen words; aim the rest of the script below it.
    target = rng.randint(w.words_min, w.words_max) - 12
    turns = write_script(item.spec, ctx.writer_bank, target, w.disfluency_rate, rng)
    return replace(item, transcript=turns)


STAGE = Stage("script", "1", ("transcript",), _inputs, _apply)


# llm.backend: openai. Same cached fields; the key swaps the offline bank for the endpoint,
# model and the LLM prompt files this stage uses.
LLM_STAGE = Stage(
    "script", "llm1", ("transcript",),
    lambda item, ctx: {**{k: v for k, v in _inputs(item, ctx).items() if k != "bank"},
                       **llm_tasks.cache_inputs("script", item, ctx)},
    _apply, workers=lambda ctx: ctx.cfg.llm.concurrency,
    apply_async=llm_tasks.write_script, close_async=llm_tasks.close)


def run(items: list[Item], ctx: Context) -> list[Item]:
    if ctx.cfg.llm.backend == "offline":
        return run_stage(STAGE, items, ctx)
    llm_tasks.prepare(STAGE.name, items, ctx)  # a missing key or bad prompt stops here
    return run_stage(LLM_STAGE, items, ctx)
