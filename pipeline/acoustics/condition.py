"""One item's degraded track: overlap, then the room, then noise, then the phone line, then
loudness; each measured, the clean track kept beside it.

Order follows the sound's path: talkers overlap in the room, the room reverberates each at
its position, noise in the room adds to what reaches the microphone, and the phone line
carries the whole mix. The SNR is set and measured between the speech as it reaches the
microphone and the noise actually added, over the whole item; loudness is normalised last,
so both tracks hold the run's LUFS target. Every draw comes from streams derived from the
item's seed and the condition's name, so one condition never shifts another's draws.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipeline.acoustics import backchannel as backchannels
from pipeline.acoustics import noise as noises
from pipeline.acoustics import overlap as overlaps
from pipeline.acoustics import room as rooms
from pipeline.acoustics.loudness import integrated_loudness
from pipeline.acoustics.telephone import telephone
from pipeline.core.seeds import derive_seed

# Babble for n samples, excluding these voices, from this stream: (samples, voices used).
Babble = Callable[[int, set[str], np.random.Generator], tuple[np.ndarray, list[str]]]

LEVEL_KEYS = ("snr_db", "noise", "rt60_s", "overlap", "backchannels", "telephone")


@dataclass
class Conditioned:
    degraded: np.ndarray  # int16
    clean: np.ndarray  # int16: the same timeline (overlap included), nothing else
    times: list[list[float]]
    measured: dict[str, Any]  # metadata.acoustics: asked and measured levels
    details: dict[str, Any] = field(default_factory=dict)  # room geometry, babble voices


def stream(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng(derive_seed(seed, "acoustics", name))


def is_on(levels: dict[str, Any]) -> bool:
    return bool(levels)


def overlap_plan(levels: dict[str, Any], times: list[list[float]], speakers: list[str],
                 key_index: int | None, seed: int, sample_rate: int
                 ) -> tuple[np.ndarray, list[int]]:
    """Samples each sentence moves earlier, and the overlapped sentences (deterministic:
    the duration control asks for it before the track is final)."""
    share = float(levels.get("overlap") or 0.0)
    if share <= 0:
        return np.zeros(len(times), dtype=np.int64), []
    return overlaps.draw_shifts(times, speakers, key_index, share, stream(seed, "overlap"),
                                sample_rate)


def _pcm16_loudness(x: np.ndarray, sample_rate: int, lufs: float) -> np.ndarray:
    loudness = integrated_loudness(x, sample_rate)
    if np.isfinite(loudness):
        x = x * (10.0 ** ((lufs - loudness) / 20.0))
    return (np.clip(x, -1.0, 1.0) * 32767.0).round().astype(np.int16)


@dataclass
class Talk:
    """What the talkers say on the item's timeline: overlapped turns and backchannels."""
    stems: dict[str, np.ndarray]  # per speaker, float (empty: the track is one stem)
    times: list[list[float]]
    clean: np.ndarray  # int16: the clean track
    overlapped: list[int]
    changes: list[int]
    said: list[backchannels.Backchannel]
    added: bool  # talk moved or added: the clean track is not the render itself


def talk(track: np.ndarray, times: list[list[float]], speakers: list[str],
         key_index: int | None, levels: dict[str, Any], seed: int, sample_rate: int,
         lufs: float, say: backchannels.Say | None = None, protected: set[int] | None = None,
         stems_for_room: bool = False) -> Talk:
    """The talk part of `condition` alone: the clean track and its times, as `condition`
    makes them (the pre-check's clean gate needs no more)."""
    sr = sample_rate
    pcm = np.asarray(track, dtype=np.float64) / 32768.0
    moved, overlapped = overlap_plan(levels, times, speakers, key_index, seed, sr)
    changes, _ = overlaps.turn_changes(speakers, key_index)
    guarded = set(protected or ()) | ({key_index} if key_index is not None else set())
    drawn = backchannels.draw(times, speakers, guarded, float(levels.get("backchannels") or 0),
                              stream(seed, "backchannels"))
    if drawn and say is None:
        raise ValueError("backchannels need a voice to say them")
    if overlapped or stems_for_room or drawn:
        stems, new_times = overlaps.stems(pcm, times, speakers, moved, sr)
    else:
        stems, new_times = {}, [list(t) for t in times]
    said = backchannels.place(stems, new_times, guarded, drawn, say, sr) if drawn else []
    added = bool(overlapped or said)  # the clean track has the same talk on it
    if added:
        clean = _pcm16_loudness(sum(stems.values()), sr, lufs)
    else:
        clean = np.asarray(track, dtype=np.int16)  # the clean render itself, byte for byte
    return Talk(stems, new_times, clean, overlapped, changes, said, added)


def condition(track: np.ndarray, times: list[list[float]], speakers: list[str],
              key_index: int | None, levels: dict[str, Any], seed: int, sample_rate: int,
              lufs: float, voices: dict[str, str] | None = None,
              babble: Babble | None = None, say: backchannels.Say | None = None,
              protected: set[int] | None = None) -> Conditioned:
    """`track` (int16, the clean render) under `levels` (the item's spec.conditions).
    `voices`: speaker id -> voice, so babble never uses the item's own voices. `say`: a word
    in a speaker's voice (backchannels). `protected`: sentences besides the key that no
    backchannel may touch (a two-hop item's first fact)."""
    sr = sample_rate
    rt60 = levels.get("rt60_s")
    t = talk(track, times, speakers, key_index, levels, seed, sr, lufs, say, protected,
             stems_for_room=bool(rt60))
    stems, new_times, clean, overlapped, changes, said = (t.stems, t.times, t.clean,
                                                          t.overlapped, t.changes, t.said)
    talk_added = t.added
    measured: dict[str, Any] = {k: levels.get(k) for k in LEVEL_KEYS}
    details: dict[str, Any] = {}
    measured["measured_overlap"] = round(len(overlapped) / len(changes), 4) if changes else 0.0
    measured["backchannels"] = float(levels.get("backchannels") or 0.0)
    measured["backchannel_events"] = [b.record() for b in said]
    if rt60:
        order = list(stems)
        room = rooms.draw_room(len(order), stream(seed, "room"))
        rirs, rts = rooms.room_responses(room, float(rt60), sr)
        speech = rooms.reverberate([stems[s] for s in order], rirs)
        measured["measured_rt60_s"] = round(float(np.mean(rts)), 4)
        measured["room_dims"] = room.dims
        details["room"] = {"dims": room.dims, "mic": room.mic,
                           "sources": dict(zip(order, room.sources, strict=True)),
                           "rt60_s": dict(zip(order, rts, strict=True))}
    else:
        speech = (sum(stems.values()) if talk_added
                  else np.asarray(track, dtype=np.float64) / 32768.0)
        measured["measured_rt60_s"] = None
        measured["room_dims"] = None
    mixed = speech
    snr = levels.get("snr_db")
    if snr is not None:
        kind = levels.get("noise") or "babble"
        rng = stream(seed, "noise")
        n = len(speech)
        if kind == "white":
            raw = noises.white(n, rng)
        elif kind == "pink":
            raw = noises.pink(n, rng)
        elif kind == "hum":
            raw, mains = noises.hum(n, sr, rng)
            details["mains_hz"] = mains
        elif kind == "babble":
            if babble is None:
                raise ValueError("babble noise needs a babble source")
            raw, talkers = babble(n, set((voices or {}).values()), rng)
            details["babble_voices"] = talkers
        else:
            raise ValueError(f"unknown noise {kind!r}")
        added = noises.scaled_to_snr(speech, raw, float(snr))
        measured["measured_snr_db"] = round(noises.snr_db(speech, added), 4) + 0.0  # not -0.0
        mixed = speech + added
    else:
        measured["measured_snr_db"] = None
    if levels.get("telephone"):
        mixed = telephone(mixed / max(1e-9, float(np.max(np.abs(mixed)))), sr)
    degraded = _pcm16_loudness(mixed, sr, lufs)
    return Conditioned(degraded, clean, new_times, measured, details)
