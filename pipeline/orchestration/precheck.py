"""Check what the gates check before an item is built, and re-draw its key until it passes.

Between the question and synthesis, each item's key sentence is checked the way validation
will check it, cheapest first, and on a failure its key sentence and question are drawn
again (a new wording, new fictional names and values) from a seed derived from the item's
and the draw's number, up to `validate.max_key_draws` times:

1. heard: no name, place or unit in the key sentence that its speaker's voice was measured
   not to get across (`spiral voices --measure`; pipeline/validation/heard.py) - free;
2. the judge (informed and blind), on text only - a tenth of a second;
3. structure and intelligibility: the item is rendered exactly as synthesis will render it
   (every sentence goes to the shared sentence cache, so synthesis re-reads them) and the key
   excerpt is transcribed. The transcript is cached per exact samples, so validation's ASR
   of the written key wav is a cache hit, not a second pass.

The gates and their thresholds are validation's own (stages/validate.py runs them all again
on the written files); this stage only spends the cheap work first. An item whose every draw
fails is reported at `precheck` with the last draw's reasons, and regenerated from a new seed
like any rejected item. Same item, same draws: deterministic.
"""

from __future__ import annotations

import asyncio
import io
from dataclasses import asdict, replace

import soundfile as sf

from pipeline.core.records import LETTERS, AudioInfo, Check, Item, Turn
from pipeline.core.seeds import derive_seed
from pipeline.engine.driver import run_stage
from pipeline.engine.stage import Context, Stage, StageFailure
from pipeline.stages import synthesize, validate
from pipeline.validation import heard
from pipeline.validation.intelligibility import heard_text, transcript_checks
from pipeline.validation.judge import judge_checks, judge_question, solver_for
from pipeline.validation.structural import structural_checks

VERSION = "1"


def unplant(item: Item) -> list[Turn]:
    """The transcript as the script stage wrote it: the key sentence taken out again."""
    assert item.key is not None and item.transcript is not None
    turns = [Turn(t.speaker, list(t.text)) for t in item.transcript]
    k = item.key.index
    for turn in turns:
        if k < len(turn.text):
            del turn.text[k]
            break
        k -= len(turn.text)
    return [t for t in turns if t.text]


async def redraw(item: Item, base: list[Turn], draw: int, ctx: Context) -> Item:
    """Draw `draw` of the item's key sentence and question, through the run's writer."""
    spec = replace(item.spec, seed=derive_seed(item.spec.seed, "key-draw", draw))
    draft = Item(spec=spec, transcript=base)
    turns, key = await ctx.writer.plant(draft)
    draft = replace(draft, transcript=turns, key=key)
    question = await ctx.writer.question(draft)
    return replace(item, transcript=turns, key=key, question=question)


def key_voice(item: Item) -> str:
    assert item.key is not None
    speaker = item.sentence_speakers()[item.key.index]
    return next(s.voice for s in item.spec.speakers if s.id == speaker)


def draw_checks(item: Item, ctx: Context) -> list[Check]:
    """Validation's gates on one draw, cheapest first, stopping at the first failing group."""
    assert item.key is not None and item.question is not None
    v = ctx.cfg.validate
    voice = key_voice(item)
    missed = heard.load(ctx.cfg.voices).unheard_in(voice, item.key.sentence)
    if missed:
        return [Check("heard", False, f"voice {voice} was measured not to get {missed} "
                                      f"across (spiral voices --measure)")]
    q = item.question
    correct = LETTERS.index(q.letter)
    solver = solver_for(v.judge_backend, v.judge_margin, validate.llm_ask(ctx))
    result = judge_question(solver, q.stem, q.choices, correct, item.key.sentence,
                            v.judge_orders)
    checks = judge_checks(result, correct, v.judge_alpha)
    if not all(c.ok for c in checks):
        return checks
    from pipeline.tts.assemble import wav_bytes

    sr = ctx.cfg.audio.sample_rate
    samples, times, scale = synthesize.render_item(item, ctx)
    k = item.key.index
    audio = AudioInfo(wav=f"{item.id}.wav", key_wav=f"{item.id}_key.wav", sample_rate=sr,
                      duration=round(len(samples) / sr, 4), sentence_times=times,
                      key_times=times[k], rate_scale=scale, tts_backend=ctx.cfg.tts.backend)
    checks = structural_checks(replace(item, audio=audio), ctx.cfg) + checks
    # The gate reads the key wav back from disk: hear exactly those samples.
    clip, clip_sr = sf.read(io.BytesIO(wav_bytes(synthesize.key_samples(samples, times, k, sr),
                                                 sr)), dtype="float32")
    text = heard_text(clip, clip_sr, v, ctx.cache_root / "asr")
    return checks + transcript_checks(item.key.sentence, q.choices[correct], text, v)


def _inputs(item: Item, ctx: Context) -> dict:
    v = ctx.cfg.validate
    gates = asdict(v)
    gates.pop("max_regenerations")
    return {"item": {"spec": asdict(item.spec),
                     "transcript": [asdict(t) for t in item.transcript or []],
                     "key": asdict(item.key) if item.key else None,
                     "question": asdict(item.question) if item.question else None,
                     "provenance": item.provenance},
            "synthesize": synthesize.STAGE.inputs(item, ctx),
            "validate": gates,
            "heard": sorted(heard.load(ctx.cfg.voices).unheard.get(key_voice(item), ())),
            "writer": {s: ctx.writer.inputs(s, item) for s in ("plant", "question")}}


async def _apply(item: Item, ctx: Context) -> Item:
    base = unplant(item)
    reason = ""
    checks: list[Check] = []
    for draw in range(max(1, ctx.cfg.validate.max_key_draws)):
        try:
            cand = item if draw == 0 else await redraw(item, base, draw, ctx)
        except StageFailure as exc:  # this draw could not be written; try the next
            reason = f"draw {draw}: {exc}"
            continue
        checks = await asyncio.to_thread(draw_checks, cand, ctx)
        bad = [c for c in checks if not c.ok]
        if not bad:
            return replace(cand, provenance={**cand.provenance, "key_draw": draw})
        reason = "; ".join(f"{c.name}: {c.reason}" for c in bad)
    return replace(item, checks=checks, failed={
        "stage": "precheck",
        "reason": f"no key draw passed in {ctx.cfg.validate.max_key_draws}: {reason}"})


def _setup(items: list[Item], ctx: Context) -> None:
    synthesize.check_voices(items, ctx)
    validate.preflight(ctx)
    for stage in ("plant", "question"):
        ctx.writer.prepare(stage, items)


STAGE = Stage("precheck", VERSION,
              ("transcript", "key", "question", "provenance", "checks", "failed"), _inputs,
              apply_async=_apply, workers=lambda ctx: max(1, ctx.cfg.tts.workers),
              setup=_setup, close_async=lambda ctx: ctx.writer.close())


def run(items: list[Item], ctx: Context) -> list[Item]:
    return run_stage(STAGE, items, ctx)
