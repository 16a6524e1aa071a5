"""The LLM side of the script, plant and question stages (llm.backend: openai).

Each stage sends one task per item (the question stage two: stem, then distractors), checks
the reply against the rules in `rules.py`, and records the item's tokens, calls and re-ask
reasons under `<run>/llm/<stage>/<item>.json`; `llm_usage.json` sums them per stage and run.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, replace
from typing import Any

from pipeline.core.records import LETTERS, Item, KeyDetail, Question, Turn
from pipeline.core.seeds import rng_for
from pipeline.core.store import atomic_write_json, read_json
from pipeline.engine.stage import Context, StageFailure
from pipeline.llm.openai_client import Check, LLMSession, LLMTaskError, Usage
from pipeline.writing import rules
from pipeline.writing.details import make_distractors, mentions
from pipeline.writing.offline import insert_key, key_position

LLM_STAGES = ("script", "plant", "question")


def session(ctx: Context) -> LLMSession:
    if ctx.llm is None:
        ctx.llm = LLMSession(ctx.cfg)
    return ctx.llm


def prepare(stage: str, items: list[Item], ctx: Context) -> None:
    """Make the session and load the stage's prompts before any call, so a missing key or
    a broken prompt file stops the run with one message instead of failing every item."""
    sess = session(ctx)
    for name in sorted({n for it in items for n in prompt_names(stage, it, ctx)}):
        sess.prompt(name)


async def close(ctx: Context) -> None:
    if ctx.llm is not None:
        await ctx.llm.aclose()


def script_prompt(item: Item) -> str:
    return f"llm_script_{item.spec.type}"


def prompt_names(stage: str, item: Item, ctx: Context) -> list[str]:
    if stage == "script":
        return [script_prompt(item)]
    if stage == "plant":
        return ["llm_plant"]
    return ["llm_question"] + (["llm_distractors"] if ctx.cfg.llm.distractors == "model" else [])


def cache_inputs(stage: str, item: Item, ctx: Context) -> dict[str, Any]:
    """What shapes an LLM stage's output besides the upstream record: the endpoint, model
    and sampling settings, the rules' settings, and the bytes of the prompts it uses."""
    llm = ctx.cfg.llm
    return {
        "backend": "openai", "base_url": llm.base_url, "model": llm.model,
        "temperature": llm.temperature, "max_tokens": llm.max_tokens, "seed": llm.seed,
        "distractors": llm.distractors, "rules": "1",
        "prompts": {n: ctx.file_digest(ctx.prompt(f"{n}.yaml"))
                    for n in prompt_names(stage, item, ctx)},
    }


async def _record(ctx: Context, stage: str, item: Item, usage: Usage) -> None:
    await asyncio.to_thread(
        atomic_write_json, ctx.run_dir / "llm" / stage / f"{item.id}.json",
        {"item": item.id, "stage": stage, "model": ctx.cfg.llm.model, "usage": usage.to_dict()})


async def _ask(ctx: Context, stage: str, item: Item, name: str, variables: dict[str, Any],
               check: Check, usage: Usage) -> Any:
    try:
        data, got = await session(ctx).complete(name, variables, stage, check)
    except LLMTaskError as exc:
        raise StageFailure(f"llm: {exc}") from None
    usage.add(got)
    return data


async def write_script(item: Item, ctx: Context) -> Item:
    from pipeline.stages.script import word_target  # the offline writer's target, for any model

    spec, w = item.spec, ctx.cfg.writer
    total = word_target(item, ctx)
    lo, hi = rules.script_words(total, total)
    speakers = ", ".join(f"{s.id} ({s.gender})" for s in spec.speakers)
    variables = {
        "spec": asdict(spec), "subtopic": spec.subtopic, "main_topic": spec.main_topic,
        "terms": ", ".join(spec.terms), "speakers": speakers,
        "words_lo": lo, "words_hi": hi, "words_min": total, "words_max": total,
        "disfluency_rate": w.disfluency_rate, "disfluency_pct": round(100 * w.disfluency_rate),
    }
    usage = Usage()
    data = await _ask(ctx, "script", item, script_prompt(item), variables,
                      lambda d: rules.check_script(d, spec, total, total), usage)
    turns = [Turn(t["speaker"], [s.strip() for s in t["sentences"]]) for t in data["turns"]]
    await _record(ctx, "script", item, usage)
    return replace(item, transcript=turns)


async def plant(item: Item, ctx: Context) -> Item:
    spec = item.spec
    flat = item.sentences()
    k = key_position(spec.key_decile, spec.key_offset, len(flat) + 1)
    variables = {
        "spec": asdict(spec), "subtopic": spec.subtopic, "transcript_type": spec.type,
        "kind": spec.detail_kind, "kind_format": rules.KIND_FORMATS[spec.detail_kind][0],
        "before": flat[k - 1] if k > 0 else "(the start of the transcript)",
        "after": flat[k] if k < len(flat) else "(the end of the transcript)",
        "transcript": flat,
    }
    usage = Usage()
    data = await _ask(ctx, "plant", item, "llm_plant", variables,
                      lambda d: rules.check_key(d, spec.detail_kind, flat), usage)
    sentence = data["sentence"].strip()
    turns, index = insert_key(spec, item.transcript or [], sentence)
    key = KeyDetail(sentence=sentence, index=index, kind=spec.detail_kind,
                    answer=data["answer"].strip(),
                    slots={str(n): str(v) for n, v in data["slots"].items()})
    await _record(ctx, "plant", item, usage)
    return replace(item, transcript=turns, key=key)


async def question(item: Item, ctx: Context) -> Item:
    spec, key = item.spec, item.key
    assert key is not None
    text = " ".join(item.sentences())
    common = {"spec": asdict(spec), "sentence": key.sentence, "answer": key.answer,
              "kind": key.kind, "kind_format": rules.KIND_FORMATS[key.kind][0],
              "slots": key.slots}
    usage = Usage()
    data = await _ask(ctx, "question", item, "llm_question", common,
                      lambda d: rules.check_stem(d, key.answer), usage)
    stem = data["question"].strip()
    if ctx.cfg.llm.distractors == "model":
        variables = {**common, "question": stem, "transcript": text}
        data = await _ask(
            ctx, "question", item, "llm_distractors", variables,
            lambda d: rules.check_distractors(d, key.answer, key.kind, text, stem,
                                              spec.answer_may_be_longest), usage)
        distractors = [d.strip() for d in data["distractors"]]
    else:
        try:
            distractors = make_distractors(
                key.answer, key.kind, rng_for(spec.seed, "question"), key.slots.get("unit", ""),
                lambda c: mentions(text, c) or mentions(stem, c), spec.answer_may_be_longest)
        except ValueError as exc:
            raise StageFailure(f"no_distractors: {exc}") from None
    choices = list(distractors)
    choices.insert(LETTERS.index(spec.letter), key.answer)
    await _record(ctx, "question", item, usage)
    return replace(item, question=Question(stem=stem, choices=choices, letter=spec.letter))


def judge_variables(item: Item) -> dict[str, Any]:
    """The variables of prompts/judge.yaml for a built item, for `openai_client.ask`:
    `ask("judge", judge_variables(item), cfg)["answer"]` is the judge's letter or 'none'."""
    assert item.question is not None
    lines = [f"{t.speaker}: {' '.join(t.text)}" for t in item.transcript or []]
    return {"transcript": "\n".join(lines), "question": item.question.stem,
            "choices": item.question.labelled}


def summary_line(ctx: Context) -> str:
    """This process's LLM traffic, for the run summary ('' when no LLM stage ran)."""
    sess = ctx.llm
    if sess is None or not sess.stages:
        return ""
    total = Usage()
    for u in sess.stages.values():
        total.add(u)
    return (f"{total.calls} calls sent, {total.cached} from cache, "
            f"{total.prompt_tokens}+{total.completion_tokens} tokens, "
            f"~${sess.spent_usd:.4f} (details: llm_usage.json)")


def write_report(ctx: Context, items: list[Item]) -> dict[str, Any]:
    """`<run>/llm_usage.json`: tokens per item and stage (as recorded when each item was
    built, cached replies included), their sums, the cost estimate, and this process's calls."""
    per_item: dict[str, dict[str, Any]] = {}
    stages = {s: Usage() for s in LLM_STAGES}
    for item in items:
        for stage in LLM_STAGES:
            try:
                rec = read_json(ctx.run_dir / "llm" / stage / f"{item.id}.json")
            except (FileNotFoundError, ValueError):
                continue
            u = Usage(**rec["usage"])
            per_item.setdefault(item.id, {})[stage] = {
                "prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens,
                "reasks": u.reasks}
            stages[stage].add(u)
    total = Usage()
    for u in stages.values():
        total.add(u)
    n = max(1, len(per_item))
    sess = ctx.llm
    report = {
        "model": ctx.cfg.llm.model,
        "items": len(per_item),
        "stages": {s: {"prompt_tokens": u.prompt_tokens,
                       "completion_tokens": u.completion_tokens,
                       "per_item": round((u.prompt_tokens + u.completion_tokens) / n, 1),
                       "reasks": len(u.reasks), "cost_usd": round(u.cost_usd, 6)}
                   for s, u in stages.items()},
        "run": {"prompt_tokens": total.prompt_tokens,
                "completion_tokens": total.completion_tokens,
                "tokens_per_item": round((total.prompt_tokens + total.completion_tokens) / n, 1),
                "cost_usd": round(total.cost_usd, 6)},
        "this_process": {s: {"calls": u.calls, "cache_hits": u.cached,
                             "prompt_tokens": u.prompt_tokens,
                             "completion_tokens": u.completion_tokens}
                         for s, u in (sess.stages.items() if sess else [])},
        "per_item": per_item,
    }
    atomic_write_json(ctx.run_dir / "llm_usage.json", report)
    return report
