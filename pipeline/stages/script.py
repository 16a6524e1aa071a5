"""Write each item's transcript (speaker turns, no key detail yet).

The script is aimed at the word count that fills `audio.target_seconds` when its voices
speak at their measured rate (`writer.aim_from_voices`), so that most items land in the
duration window without changing speed; `writer.words_min..words_max` is the jitter range
around it, and the whole target when aiming is off.
"""

from __future__ import annotations

from dataclasses import asdict, replace

from pipeline.core.records import Item
from pipeline.core.seeds import rng_for
from pipeline.engine.stage import Context, Stage, run_stage
from pipeline.tts.backends import get_backend
from pipeline.tts.base import SentenceCache
from pipeline.tts.speaking_rate import words_per_second
from pipeline.writing import llm_writer as llm_tasks
from pipeline.writing.offline import write_script

KEY_WORDS = 12  # the key sentence, planted later, adds about a dozen words
# Measured on 60 offline-writer items: words per sentence and the share of sentence
# boundaries that change speaker (a longer pause). An LLM writer differs a little; the
# synthesis stage corrects what remains.
WORDS_PER_SENTENCE = {"lecture": 16.2, "conversation": 13.6, "meeting": 13.9}
TURN_SHARE = {"lecture": 0.0, "conversation": 0.52, "meeting": 0.58}


def voice_rates(item: Item, ctx: Context) -> list[float]:
    """Measured words per second of each speaker's voice, rounded so cache keys are stable."""
    tts = get_backend(ctx.cfg, ctx.cache_root)
    cache = SentenceCache(ctx.cache_root / "tts")
    return [round(words_per_second(tts, ctx.voices[s.voice], cache), 3)
            for s in item.spec.speakers]


def aimed_words(item: Item, ctx: Context, rates: list[float]) -> int:
    """Words whose speech plus pauses fill audio.target_seconds at the voices' mean rate."""
    a = ctx.cfg.audio
    ttype = item.spec.type
    wps = sum(rates) / len(rates)
    pause = (a.pause_sentence_ms + TURN_SHARE[ttype] * (a.pause_turn_ms - a.pause_sentence_ms)
             ) / 1000.0
    words = (a.target_seconds + pause) / (1.0 / wps + pause / WORDS_PER_SENTENCE[ttype])
    return int(round(min(2000.0, max(50.0, words))))


def _inputs(item: Item, ctx: Context) -> dict:
    w = ctx.cfg.writer
    inputs = {"spec": asdict(item.spec), "writer": asdict(w),
              "bank": ctx.file_digest(ctx.prompt("offline_writer.yaml")),
              "llm": ctx.cfg.llm.backend}
    if w.aim_from_voices:
        inputs["voice_rates"] = voice_rates(item, ctx)
        inputs["audio"] = [ctx.cfg.audio.target_seconds, ctx.cfg.audio.pause_sentence_ms,
                           ctx.cfg.audio.pause_turn_ms]
    return inputs


def word_target(item: Item, ctx: Context) -> int:
    """Words of the whole transcript, key sentence included; the same for every backend."""
    w = ctx.cfg.writer
    drawn = rng_for(item.spec.seed, "words").randint(w.words_min, w.words_max)
    if not w.aim_from_voices:
        return drawn
    mid = (w.words_min + w.words_max) / 2
    jitter = 1.0 + 0.5 * (drawn - mid) / mid  # a few percent either way
    return round(aimed_words(item, ctx, voice_rates(item, ctx)) * jitter)


def _apply(item: Item, ctx: Context) -> Item:
    rng = rng_for(item.spec.seed, "script")
    total = word_target(item, ctx)
    # The key sentence adds about a dozen words; aim the rest of the script below it.
    turns = write_script(item.spec, ctx.writer_bank, total - KEY_WORDS,
                         ctx.cfg.writer.disfluency_rate, rng)
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
