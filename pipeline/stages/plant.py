"""Plant the key sentence, carrying one fictional detail, at the planned depth."""

from __future__ import annotations

from dataclasses import asdict, replace

from pipeline.core.records import Item
from pipeline.core.seeds import rng_for
from pipeline.engine.stage import Context, Stage, run_stage
from pipeline.writing import llm_writer as llm_tasks
from pipeline.writing.offline import plant_key


def _inputs(item: Item, ctx: Context) -> dict:
    return {"spec": asdict(item.spec), "transcript": [asdict(t) for t in item.transcript or []],
            "keys": ctx.file_digest(ctx.prompt("offline_keys.yaml"))}


def _apply(item: Item, ctx: Context) -> Item:
    rng = rng_for(item.spec.seed, "plant")
    templates = ctx.key_templates[item.spec.detail_kind]
    turns, key = plant_key(item.spec, item.transcript or [], templates, rng)
    return replace(item, transcript=turns, key=key)


STAGE = Stage("plant", "1", ("transcript", "key"), _inputs, _apply)


# llm.backend: openai. Same cached fields; the key swaps the offline bank for the endpoint,
# model and the LLM prompt files this stage uses.
LLM_STAGE = Stage(
    "plant", "llm1", ("transcript", "key"),
    lambda item, ctx: {**{k: v for k, v in _inputs(item, ctx).items() if k != "keys"},
                       **llm_tasks.cache_inputs("plant", item, ctx)},
    _apply, workers=lambda ctx: ctx.cfg.llm.concurrency,
    apply_async=llm_tasks.plant, close_async=llm_tasks.close)


def run(items: list[Item], ctx: Context) -> list[Item]:
    if ctx.cfg.llm.backend == "offline":
        return run_stage(STAGE, items, ctx)
    llm_tasks.prepare(STAGE.name, items, ctx)  # a missing key or bad prompt stops here
    return run_stage(LLM_STAGE, items, ctx)
