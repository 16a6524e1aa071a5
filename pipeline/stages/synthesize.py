"""Render each item sentence by sentence, assemble it, and bring it inside the duration window.

Sentences are normalised (numbers, dates, units as words) and rendered through the shared
per-sentence cache. A render outside target +- tolerance is redone with every voice's
speaking rate scaled by the ratio to the target, a bounded number of times; the factor
settled on and the final duration are recorded. Every voice the run uses is checked against
the backend (speaker ids, reference wavs) before anything renders.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from typing import TYPE_CHECKING

import numpy as np

from pipeline.core.grid import item_audio
from pipeline.core.records import AudioInfo, Item
from pipeline.core.resources import ResourceError
from pipeline.core.store import atomic_write_bytes, content_hash
from pipeline.engine.driver import run_stage
from pipeline.engine.stage import Context, Stage, StageFailure
from pipeline.stages import conditioning
from pipeline.text.spoken import to_spoken
from pipeline.tts import tracks
from pipeline.tts.backends import get_backend
from pipeline.tts.base import SentenceCache, TTSBackend
from pipeline.writing import two_hop

if TYPE_CHECKING:
    from pipeline.acoustics.condition import Conditioned

NORMALIZER_VERSION = "1"  # bump when pipeline/text/spoken.py changes what is spoken

RATE_SCALE_BOUNDS = (0.7, 1.5)
RATE_SCALE_STEP = 0.01  # scales on a grid, so a small edit usually keeps the cached renders


def backend(ctx: Context) -> TTSBackend:
    return get_backend(ctx.cfg.tts, ctx.cache_root)


def _voices_of(item: Item, ctx: Context) -> dict:
    try:
        return {s.id: ctx.voices[s.voice] for s in item.spec.speakers}
    except KeyError as exc:
        raise StageFailure(f"unknown_voice: {exc.args[0]} is not in {ctx.cfg.voices}") from None


def _inputs(item: Item, ctx: Context) -> dict:
    tts = backend(ctx)
    voices = _voices_of(item, ctx)
    out = {
        "sentences": item.sentences(),
        "speakers": item.sentence_speakers(),
        "key_index": item.key.index if item.key else None,
        "voices": {spk: tts.params(v, 1.0) for spk, v in voices.items()},
        "audio": asdict(item_audio(item.spec, ctx.cfg.audio)),
        "fixes": ctx.cfg.tts.max_duration_fixes,
        "backend": tts.name,
        "normalizer": NORMALIZER_VERSION,
    }
    if item.spec.conditions:  # only then: a clean item keeps the key it always had
        out["acoustics"] = conditioning.inputs(item, ctx)
    return out


def _render(item: Item, ctx: Context, tts: TTSBackend, scale: float
            ) -> tuple[np.ndarray, list[list[float]]]:
    from pipeline.tts.assemble import assemble  # pulls in scipy: only when rendering

    a = ctx.cfg.audio
    voices = _voices_of(item, ctx)
    cache = SentenceCache(ctx.cfg.tts_cache)
    speakers = item.sentence_speakers()
    rendered = (cache.render(tts, to_spoken(text), voices[spk], scale, a.sample_rate)
                for text, spk in zip(item.sentences(), speakers, strict=True))
    return assemble(rendered, speakers, a.sample_rate, a.pause_sentence_ms, a.pause_turn_ms,
                    a.loudness_lufs)


def render_item(item: Item, ctx: Context) -> tuple[np.ndarray, list[list[float]], float]:
    """The item's final track, sentence times and rate scale: rendered, then re-rendered with
    a scaled speaking rate until inside the duration window (a bounded number of times).
    Deterministic, so the pre-check (stages/precheck.py) hears exactly what is written here."""
    a = item_audio(item.spec, ctx.cfg.audio)
    tts = backend(ctx)
    scale = 1.0
    samples, times = _render(item, ctx, tts, scale)
    for _ in range(ctx.cfg.tts.max_duration_fixes):
        # Overlapping turns shorten the item: the window holds for the track written.
        duration = len(samples) / a.sample_rate - conditioning.shortening(item, ctx, times)
        if abs(duration - a.target_seconds) <= a.tolerance_seconds * 0.8:
            break
        # Speech time scales with 1/rate; pauses do not, so aim at the speech alone.
        pauses = duration - sum(e - s for s, e in times)
        wanted = max(1.0, a.target_seconds - pauses)
        scale *= (duration - pauses) / wanted
        scale = round(round(scale / RATE_SCALE_STEP) * RATE_SCALE_STEP, 3)
        scale = min(RATE_SCALE_BOUNDS[1], max(RATE_SCALE_BOUNDS[0], scale))
        del samples  # an hour's track is not held twice
        samples, times = _render(item, ctx, tts, scale)
    return samples, times, scale


def key_samples(samples: np.ndarray, times: list[list[float]], index: int,
                sample_rate: int) -> np.ndarray:
    """The key sentence's excerpt of the track, as the key wav holds it."""
    start, end = times[index]
    return samples[round(start * sample_rate): round(end * sample_rate)]


def _track_store(ctx: Context) -> tracks.TrackStore:
    return tracks.TrackStore(ctx.cfg.tts_cache / "tracks")


def _track_key(item: Item, ctx: Context) -> str:
    return content_hash("track", tracks.VERSION, _inputs(item, ctx))


def keep_track(item: Item, ctx: Context, samples: np.ndarray, times: list[list[float]],
               scale: float, cond: Conditioned | None = None) -> None:
    """Hand this stage a render of `item` the pre-check approved (pipeline/tts/tracks.py):
    what render_item gives, so synthesis writes it instead of rendering it again; and the
    conditioned tracks made from it, if any, so they are not made twice."""
    _track_store(ctx).put(_track_key(item, ctx), samples, times, scale)
    if cond is not None:
        tracks.ArrayStore(ctx.cfg.tts_cache / "tracks").put_arrays(
            _track_key(item, ctx) + "-acoustics",
            {"degraded": cond.degraded, "clean": cond.clean},
            {"times": cond.times, "measured": cond.measured, "details": cond.details})


def conditioned(item: Item, ctx: Context, samples: np.ndarray, times: list[list[float]]
                ) -> Conditioned | None:
    """The item's conditioned tracks: as the pre-check kept them, else made now (the same
    samples: every draw is seeded)."""
    if not item.spec.conditions:
        return None
    kept = tracks.ArrayStore(ctx.cfg.tts_cache / "tracks").take_arrays(
        _track_key(item, ctx) + "-acoustics")
    if kept is not None:
        from pipeline.acoustics.condition import Conditioned

        arrays, meta = kept
        return Conditioned(arrays["degraded"], arrays["clean"], meta["times"],
                           meta["measured"], meta["details"])
    return conditioning.apply(item, ctx, samples, times)


def _apply(item: Item, ctx: Context) -> Item:
    from pipeline.tts.assemble import wav_bytes, write_wav

    assert item.key is not None
    a = ctx.cfg.audio
    tts = backend(ctx)
    kept = _track_store(ctx).take(_track_key(item, ctx))
    samples, times, scale = kept if kept is not None else render_item(item, ctx)
    cond = conditioned(item, ctx, samples, times)
    acoustics: dict = {}
    if cond is not None:
        clean_name = f"{item.id}.wav"
        atomic_write_bytes(ctx.run_dir / "audio" / conditioning.CLEAN_DIR / clean_name,
                           wav_bytes(cond.clean, a.sample_rate))
        samples, times = cond.degraded, cond.times
        acoustics = {**cond.measured, "gate": ctx.cfg.acoustics.gate,
                     "clean_audio_file": clean_name,
                     "clean_audio_folder": "wavs_clean", "details": cond.details}
    k = item.key.index
    start, end = times[k]
    sr = a.sample_rate
    speaker = item.sentence_speakers()[k]
    wav_name = f"{item.id}.wav"
    key_name = f"{item.id}_{speaker}_key.wav"
    audio_dir = ctx.run_dir / "audio"
    atomic_write_bytes(audio_dir / "key" / key_name,
                       wav_bytes(key_samples(samples, times, k, sr), sr))
    keys = [{"index": k, "times": [start, end], "wav": key_name, "value": item.key.answer}]
    if item.spec.hops == 2:  # the first fact's sentence gets a key wav of its own
        first = two_hop.first_hop(item.spec.facts, item.spec.key_fact)
        i = two_hop.sentence_index(item, first) if first else None
        if i is None:
            raise StageFailure("two_hop_facts: the first fact's value is not said once")
        spk = item.sentence_speakers()[i]
        name = f"{item.id}_{spk}_hop1_key.wav"
        atomic_write_bytes(audio_dir / "key" / name,
                           wav_bytes(key_samples(samples, times, i, sr), sr))
        keys.insert(0, {"index": i, "times": list(times[i]), "wav": name,
                        "value": first.value})
    write_wav(audio_dir / wav_name, samples, sr)
    info = AudioInfo(wav=wav_name, key_wav=key_name, sample_rate=sr,
                     duration=round(len(samples) / sr, 4), sentence_times=times,
                     key_times=[start, end], rate_scale=scale, tts_backend=tts.name,
                     keys=keys, acoustics=acoustics)
    return replace(item, audio=info)


def _files_exist(item: Item, ctx: Context) -> bool:
    return bool(item.audio) and all((ctx.run_dir / f).exists() for f in audio_files(item, ctx))


def key_wavs(audio: AudioInfo) -> list[str]:
    """Every key wav of the item (records from before `keys` name only `key_wav`)."""
    return [k["wav"] for k in audio.keys] or [audio.key_wav]


def audio_files(item: Item, ctx: Context) -> list[str]:
    """The item's wavs, relative to the run folder (checksummed with its record)."""
    assert item.audio is not None
    out = [f"audio/{item.audio.wav}", *(f"audio/key/{n}" for n in key_wavs(item.audio))]
    if item.audio.acoustics:
        out.append(f"audio/{conditioning.CLEAN_DIR}/{item.audio.acoustics['clean_audio_file']}")
    return out


STAGE = Stage("synthesize", "1", ("audio",), _inputs, _apply,
              workers=lambda ctx: ctx.cfg.tts.workers, still_valid=_files_exist,
              holds_model=True, files=audio_files)


def check_voices(items: list[Item], ctx: Context) -> None:
    """Stop before any rendering if a voice the run uses is unusable with this backend."""
    used = sorted({s.voice for it in items if not it.failed for s in it.spec.speakers})
    missing = [v for v in used if v not in ctx.voices]
    if missing:
        raise ResourceError(f"{ctx.cfg.voices}: voices {missing} are planned but not in the bank")
    backend(ctx).check_voices(ctx.voices[v] for v in used)


def run(items: list[Item], ctx: Context) -> list[Item]:
    check_voices(items, ctx)
    return run_stage(STAGE, items, ctx)
