"""Write the four-choice question: stem, answer at the planned letter, unsaid distractors."""

from __future__ import annotations

from dataclasses import asdict, replace

from pipeline.core.records import Item
from pipeline.core.seeds import rng_for
from pipeline.engine.stage import Context, Stage, StageFailure, run_stage
from pipeline.writing import llm_writer as llm_tasks
from pipeline.writing.offline import write_question


def _inputs(item: Item, ctx: Context) -> dict:
    return {"spec": asdict(item.spec), "key": asdict(item.key) if item.key else None,
            "sentences": item.sentences(),
            "questions": ctx.file_digest(ctx.prompt("offline_questions.yaml"))}


def _apply(item: Item, ctx: Context) -> Item:
    assert item.key is not None
    template_id = item.key.slots["template"]
    stem_t = ctx.stem_templates.get(template_id)
    if stem_t is None:
        raise StageFailure(f"no_stem_template: {template_id} missing from offline_questions.yaml")
    rng = rng_for(item.spec.seed, "question")
    try:
        q = write_question(item.spec, item.key, stem_t, " ".join(item.sentences()), rng)
    except ValueError as exc:
        raise StageFailure(f"no_distractors: {exc}") from None
    return replace(item, question=q)


STAGE = Stage("question", "1", ("question",), _inputs, _apply)


# llm.backend: openai. Same cached fields; the key swaps the offline bank for the endpoint,
# model and the LLM prompt files this stage uses.
LLM_STAGE = Stage(
    "question", "llm1", ("question",),
    lambda item, ctx: {**{k: v for k, v in _inputs(item, ctx).items() if k != "questions"},
                       **llm_tasks.cache_inputs("question", item, ctx)},
    _apply, workers=lambda ctx: ctx.cfg.llm.concurrency,
    apply_async=llm_tasks.question, close_async=llm_tasks.close)


def run(items: list[Item], ctx: Context) -> list[Item]:
    if ctx.cfg.llm.backend == "offline":
        return run_stage(STAGE, items, ctx)
    llm_tasks.prepare(STAGE.name, items, ctx)  # a missing key or bad prompt stops here
    return run_stage(LLM_STAGE, items, ctx)
