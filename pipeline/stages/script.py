"""Write each item's transcript (speaker turns, no key detail yet)."""

from __future__ import annotations

from dataclasses import asdict, replace

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


def run(items: list[Item], ctx: Context) -> list[Item]:
    return run_stage(STAGE, items, ctx)
