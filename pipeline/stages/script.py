"""Write each item's transcript (speaker turns, no key detail yet) with the run's writer.

The length is aimed at `audio.target_seconds` from the voices' measured speaking rates
(`writing.budget`), the same for every writer.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, replace

from pipeline.core.grid import item_audio
from pipeline.core.records import Item
from pipeline.core.resources import Voice
from pipeline.engine.driver import run_stage
from pipeline.engine.stage import Context, StageFailure, writer_stage
from pipeline.stages.synthesize import RATE_SCALE_BOUNDS
from pipeline.tts.backends import get_backend
from pipeline.tts.base import SentenceCache
from pipeline.tts.speaking_rate import words_per_second
from pipeline.validation import heard
from pipeline.writing.budget import KEY_WORDS, reachable_seconds, word_target


def voice_rate(voice: Voice, ctx: Context) -> float:
    """The voice's words per second: from `spiral voices --measure` when it was measured
    with these very backend settings, else measured now (once per process)."""
    tts = get_backend(ctx.cfg.tts, ctx.cache_root)
    known = heard.load(ctx.cfg.voices).words_per_second.get(voice.id)
    if known and known.get("params") == tts.params(voice, 1.0):
        return float(known["value"])
    return words_per_second(tts, voice, SentenceCache(ctx.cfg.tts_cache))


def voice_rates(item: Item, ctx: Context) -> list[float]:
    """Measured words per second of each speaker's voice, rounded so cache keys are stable."""
    return [round(voice_rate(ctx.voices[s.voice], ctx), 3) for s in item.spec.speakers]


def _rates(item: Item, ctx: Context) -> list[float] | None:
    return voice_rates(item, ctx) if ctx.cfg.writer.aim_from_voices else None


def _inputs(item: Item, ctx: Context) -> dict:
    w = ctx.cfg.writer
    inputs = {"spec": asdict(item.spec), "provenance": item.provenance,
              "writer": asdict(w), "llm": ctx.writer.name,
              **ctx.writer.inputs("script", item)}
    if w.aim_from_voices:
        inputs["voice_rates"] = voice_rates(item, ctx)
        inputs["audio"] = [item_audio(item.spec, ctx.cfg.audio).target_seconds,
                           ctx.cfg.audio.pause_sentence_ms,
                           ctx.cfg.audio.pause_turn_ms]
    return inputs


async def _apply(item: Item, ctx: Context) -> Item:
    if item.spec.hops == 1:  # a two-hop sheet is drawn by rules (writing/two_hop.py)
        item = await ctx.writer.facts(item)  # the LLM may propose the sheet (llm_facts.yaml)
    words = word_target(item.spec, ctx.cfg.writer, ctx.cfg.audio, _rates(item, ctx))
    out = replace(item, transcript=await ctx.writer.script(item, words))
    check_reachable(out, ctx, words)
    return out


def check_reachable(item: Item, ctx: Context, aimed: int) -> None:
    """A script that no speaking rate synthesis may use can bring into the duration window
    fails here, as the script's own content failure naming its length: before, it went on to
    the pre-check, which redrew its key sentence again and again (a new key cannot lengthen
    a script) and rendered every draw, minutes per item at 30 minutes."""
    a = item_audio(item.spec, ctx.cfg.audio)
    sents = item.sentences()
    words = sum(len(s.split()) for s in sents) + KEY_WORDS
    lo, hi = reachable_seconds(item.spec.type, a, voice_rates(item, ctx), words,
                               len(sents) + 1, RATE_SCALE_BOUNDS)
    window = f"{a.target_seconds:g}+-{a.tolerance_seconds:g}s"
    if hi * SLACK < a.target_seconds - a.tolerance_seconds:
        raise StageFailure(
            f"script_too_short: {words} words in {len(sents)} sentences (aimed at {aimed}) "
            f"last at most about {hi:.0f}s at the slowest rate synthesis may use; the "
            f"{window} window cannot be reached (the writer ran out of material for "
            f"{len(item.spec.facts)} facts); a new key sentence cannot fix it")
    if lo / SLACK > a.target_seconds + a.tolerance_seconds:
        raise StageFailure(
            f"script_too_long: {words} words in {len(sents)} sentences (aimed at {aimed}) "
            f"last at least about {lo:.0f}s at the fastest rate synthesis may use; the "
            f"{window} window cannot be reached")


SLACK = 1.1  # the estimate's error on 100 items is a few percent: fail only the hopeless

STAGE = writer_stage("script", "3", ("spec", "transcript", "provenance"), _inputs, _apply)


def run(items: list[Item], ctx: Context) -> list[Item]:
    if ctx.cfg.writer.aim_from_voices:  # measure the run's voices side by side, not in turn
        used = sorted({s.voice for it in items if not it.failed for s in it.spec.speakers})
        with ThreadPoolExecutor(max(1, ctx.cfg.tts.workers)) as pool:
            list(pool.map(lambda v: voice_rate(ctx.voices[v], ctx), used))
    return run_stage(STAGE, items, ctx)
