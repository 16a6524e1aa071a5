"""Reverberation: a seeded shoebox room simulated by the image-source method
(pyroomacoustics), each speaker at its own position, and its RT60 measured back.

The image-source method's decay is slower than Sabine's formula predicts (a 0.6-s room by
Sabine measures about 0.7 s), so the absorption is calibrated on the first speaker's
response until the measured RT60 is the one asked for. RT60 is measured by Schroeder's
backward integration of the squared response (T20: the -5 to -25 dB fit, extrapolated to
60 dB). Each response starts at its direct path, so a sentence's timestamps stay right.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.signal import oaconvolve

SOUND_SPEED = 343.0
ROOM_RANGE = ((4.0, 10.0), (3.5, 8.0), (2.6, 3.6))  # length, width, height in metres
DISTANCE_RANGE = (1.0, 2.5)  # talker to microphone, metres
CALIBRATION_STEPS = 4
ISM_RATIO = 1.2  # measured / Sabine RT60 of these rooms: the calibration's first guess
CALIBRATION_TOLERANCE = 0.03  # share of the asked RT60


@dataclass
class Room:
    dims: list[float]
    mic: list[float]
    sources: list[list[float]]  # one per speaker, in the order given


def schroeder_rt60(rir: np.ndarray, sample_rate: int, fit_db: tuple[float, float] = (-5, -25)
                   ) -> float:
    """RT60 from the energy decay curve (Schroeder integration), fitted between `fit_db`."""
    energy = np.asarray(rir, dtype=np.float64) ** 2
    edc = np.cumsum(energy[::-1])[::-1]
    if edc[0] <= 0:
        raise ValueError("the impulse response is silent")
    edc_db = 10.0 * np.log10(np.maximum(edc / edc[0], 1e-30))
    hi, lo = fit_db
    i0 = int(np.argmax(edc_db <= hi))
    i1 = int(np.argmax(edc_db <= lo))
    if i1 <= i0 + 1:
        raise ValueError(f"the response does not decay {-lo:g} dB: no RT60 to measure")
    t = np.arange(i0, i1) / sample_rate
    slope = np.polyfit(t, edc_db[i0:i1], 1)[0]  # dB per second, negative
    return float(-60.0 / slope)


def draw_room(n_speakers: int, rng: np.random.Generator) -> Room:
    """A room, a microphone and one talker position per speaker, all from `rng`."""
    dims = [round(float(rng.uniform(lo, hi)), 2) for lo, hi in ROOM_RANGE]
    margin = 0.5
    mic = [round(float(rng.uniform(margin, d - margin)), 2) for d in dims[:2]]
    mic.append(round(float(rng.uniform(0.9, 1.3)), 2))
    sources = []
    for _ in range(n_speakers):
        for _try in range(100):
            dist = rng.uniform(*DISTANCE_RANGE)
            angle = rng.uniform(0, 2 * np.pi)
            x, y = mic[0] + dist * np.cos(angle), mic[1] + dist * np.sin(angle)
            if margin <= x <= dims[0] - margin and margin <= y <= dims[1] - margin:
                break
        else:  # a small room: the nearest point inside the margins
            x = min(max(x, margin), dims[0] - margin)
            y = min(max(y, margin), dims[1] - margin)
        sources.append([round(float(x), 2), round(float(y), 2),
                        round(float(rng.uniform(1.2, 1.75)), 2)])
    return Room(dims, mic, sources)


def _simulate(room: Room, sources: list[list[float]], rt60_param: float, sample_rate: int
              ) -> list[np.ndarray]:
    import pyroomacoustics as pra

    e_abs, max_order = pra.inverse_sabine(rt60_param, room.dims)
    # Images up to one RT60 of travel: the response has decayed past 70 dB there, and the
    # order Sabine's inversion asks for costs ten times more for the same measured RT60.
    reach = int(np.ceil(SOUND_SPEED * rt60_param / float(np.mean(room.dims))))
    shoebox = pra.ShoeBox(room.dims, fs=sample_rate, materials=pra.Material(float(e_abs)),
                          max_order=min(int(max_order), reach), air_absorption=False,
                          use_rand_ism=False)
    for src in sources:
        shoebox.add_source(src)
    shoebox.add_microphone(room.mic)
    shoebox.compute_rir()
    return [_from_direct_path(np.asarray(shoebox.rir[0][k], dtype=np.float64))
            for k in range(len(sources))]


def _from_direct_path(rir: np.ndarray) -> np.ndarray:
    """The response from its direct path on, so it adds no delay to the speech."""
    return rir[int(np.argmax(np.abs(rir))):]


def room_responses(room: Room, rt60_s: float, sample_rate: int
                   ) -> tuple[list[np.ndarray], list[float]]:
    """One impulse response per source with the measured RT60 close to `rt60_s`, and the
    measured RT60 of each. Calibration runs on the first source only (one source is a
    fraction of the cost), then every source is simulated once with the settled absorption.
    Kept for the last few rooms: an item's key draws share its room (it comes from the
    item's seed), so the pre-check's redraws do not simulate it again."""
    rirs, rts = _responses(tuple(room.dims), tuple(room.mic),
                           tuple(tuple(s) for s in room.sources), rt60_s, sample_rate)
    return [r.copy() for r in rirs], list(rts)


@lru_cache(maxsize=16)
def _responses(dims: tuple[float, ...], mic: tuple[float, ...],
               sources: tuple[tuple[float, ...], ...], rt60_s: float, sample_rate: int
               ) -> tuple[tuple[np.ndarray, ...], tuple[float, ...]]:
    room = Room(list(dims), list(mic), [list(s) for s in sources])
    param = rt60_s / ISM_RATIO
    for _ in range(CALIBRATION_STEPS):
        (probe,) = _simulate(room, room.sources[:1], param, sample_rate)
        measured = schroeder_rt60(probe, sample_rate)
        if abs(measured - rt60_s) <= CALIBRATION_TOLERANCE * rt60_s:
            break
        param *= rt60_s / measured
    rirs = _simulate(room, room.sources, param, sample_rate)
    return tuple(rirs), tuple(round(schroeder_rt60(r, sample_rate), 4) for r in rirs)


def reverberate(stems: list[np.ndarray], rirs: list[np.ndarray]) -> np.ndarray:
    """Each stem through its own response (overlap-add FFT convolution), summed, cut to the
    stems' length: the tail after the last word is not kept, so durations are unchanged."""
    n = max(len(s) for s in stems)
    out = np.zeros(n)
    for stem, rir in zip(stems, rirs, strict=True):  # single precision: half the FFT work
        out += oaconvolve(stem.astype(np.float32), rir.astype(np.float32))[:n]
    return out
