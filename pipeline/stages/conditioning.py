"""The acoustic conditions of an item (spec.conditions) applied to its rendered track.

Synthesis and the pre-check both call `apply`: the pre-check listens to the degraded key
clip, exactly as validation will read it from the written key wav. The conditions draw from
the item's seed (pipeline/acoustics/condition.py); babble is said by a fixed pool of the
bank's voices through the run's TTS backend and sentence cache, so after the first item it
costs a mix, not a render.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.core.records import Item
from pipeline.core.resources import load_yaml
from pipeline.core.seeds import derive_seed
from pipeline.engine.stage import Context
from pipeline.text.spoken import to_spoken
from pipeline.tts.backends import get_backend
from pipeline.tts.base import SentenceCache

if TYPE_CHECKING:  # scipy and pyloudnorm load only when an item has a condition
    from pipeline.acoustics.condition import Conditioned

VERSION = "2"  # bump when pipeline/acoustics/ changes what a condition does to the audio
TALK_BANK = "offline_talk.yaml"
CLEAN_DIR = "clean"  # audio/clean/<id>.wav: the track before noise, room and phone line

_beds: dict[tuple, dict[str, np.ndarray]] = {}
_lock = threading.Lock()


def inputs(item: Item, ctx: Context) -> dict[str, Any]:
    """What shapes the conditioning besides the rendered track (joins synthesis' key)."""
    out: dict[str, Any] = {"version": VERSION, "levels": item.spec.conditions,
                           "gate": ctx.cfg.acoustics.gate}
    if item.spec.conditions.get("noise") == "babble":
        out["babble"] = {"talkers": ctx.cfg.acoustics.babble_talkers,
                         "bank": ctx.file_digest(ctx.prompt(TALK_BANK)),
                         "voices": ctx.file_digest(ctx.cfg.voices)}
    return out


def gate_hears_clean(item: Item, ctx: Context) -> bool:
    """Whether the ASR gate of this conditioned item hears its clean key clip
    (acoustics.gate: clean) rather than the degraded one."""
    return bool(item.spec.conditions) and ctx.cfg.acoustics.gate == "clean"


def moves_talk(item: Item) -> bool:
    """Whether the conditions add or move talk (overlap, backchannels): then the clean track
    is not the render itself, and its key clip exists only once conditioned."""
    c = item.spec.conditions
    return bool(c.get("overlap") or c.get("backchannels"))


def shortening(item: Item, ctx: Context, times: list[list[float]]) -> float:
    """Seconds the item's overlapping turns take off its track (0 without overlap)."""
    if not item.spec.conditions.get("overlap"):
        return 0.0
    from pipeline.acoustics.condition import overlap_plan

    assert item.key is not None
    moved, _ = overlap_plan(item.spec.conditions, times, item.sentence_speakers(),
                            item.key.index, item.spec.seed, ctx.cfg.audio.sample_rate)
    return float(moved[-1]) / ctx.cfg.audio.sample_rate if len(moved) else 0.0


def _pool(ctx: Context) -> dict[str, np.ndarray]:
    """The babble talkers' beds, rendered once per process (and cached per sentence)."""
    from pipeline.acoustics import babble as babbles

    sr = ctx.cfg.audio.sample_rate
    tts = get_backend(ctx.cfg.tts, ctx.cache_root)
    key = (tts.name, sr, ctx.file_digest(ctx.prompt(TALK_BANK)),
           ctx.file_digest(ctx.cfg.voices), str(ctx.cfg.tts_cache))
    with _lock:
        if key in _beds:
            return _beds[key]
        rng = np.random.default_rng(derive_seed("acoustics", "babble-pool"))
        sentences = babbles.talk_sentences(load_yaml(ctx.prompt(TALK_BANK)))
        plan = babbles.pool_plan(list(ctx.voices), sentences, rng)
        cache = SentenceCache(ctx.cfg.tts_cache)
        beds = {}
        for voice_id, lines in plan.items():
            voice = ctx.voices[voice_id]
            rendered = [cache.render(tts, to_spoken(t), voice, 1.0, sr) for t in lines]
            beds[voice_id] = babbles.bed(rendered, sr, rng)
        _beds[key] = beds
        return beds


def babbles_mix(ctx: Context, n: int, exclude: set[str], rng: np.random.Generator
                ) -> tuple[np.ndarray, list[str]]:
    """`n` samples of babble from the run's pool, none said by an `exclude`d voice."""
    from pipeline.acoustics import babble as babbles

    return babbles.mix(_pool(ctx), exclude, ctx.cfg.acoustics.babble_talkers, n, rng)


def apply(item: Item, ctx: Context, samples: np.ndarray, times: list[list[float]]
          ) -> Conditioned | None:
    """The item's degraded and clean tracks, new times and measured levels; None when the
    item has no condition (its track is written as rendered)."""
    from pipeline.acoustics.condition import condition

    levels = item.spec.conditions
    if not levels:
        return None
    assert item.key is not None
    a = ctx.cfg.audio

    def babble(n: int, exclude: set[str], rng: np.random.Generator
               ) -> tuple[np.ndarray, list[str]]:
        return babbles_mix(ctx, n, exclude, rng)

    return condition(samples, times, item.sentence_speakers(), item.key.index, levels,
                     item.spec.seed, a.sample_rate, a.loudness_lufs,
                     {s.id: s.voice for s in item.spec.speakers}, babble, _say(item, ctx),
                     protected_sentences(item))


def clean_talk(item: Item, ctx: Context, samples: np.ndarray, times: list[list[float]]
               ) -> tuple[np.ndarray, list[list[float]]]:
    """The item's clean track and times exactly as `apply` makes them, without the noise,
    room or line: what a clean gate hears when the conditions move talk."""
    from pipeline.acoustics.condition import talk

    assert item.key is not None
    a = ctx.cfg.audio
    t = talk(samples, times, item.sentence_speakers(), item.key.index, item.spec.conditions,
             item.spec.seed, a.sample_rate, a.loudness_lufs, _say(item, ctx),
             protected_sentences(item))
    return t.clean, t.times


def _say(item: Item, ctx: Context) -> Callable[[str, str], np.ndarray]:
    def say(word: str, speaker: str) -> np.ndarray:
        """A backchannel in the speaker's own voice, through the sentence cache."""
        voice = ctx.voices[next(s.voice for s in item.spec.speakers if s.id == speaker)]
        return SentenceCache(ctx.cfg.tts_cache).render(
            get_backend(ctx.cfg.tts, ctx.cache_root), to_spoken(word), voice, 1.0,
            ctx.cfg.audio.sample_rate)

    return say


def protected_sentences(item: Item) -> set[int]:
    """Sentences no backchannel may touch besides the key: a two-hop item's first fact
    (it has a key wav of its own)."""
    if item.spec.hops != 2:
        return set()
    from pipeline.writing import two_hop

    first = two_hop.first_hop(item.spec.facts, item.spec.key_fact)
    i = two_hop.sentence_index(item, first) if first else None
    return set() if i is None else {i}
