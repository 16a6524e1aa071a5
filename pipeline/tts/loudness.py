"""Integrated loudness (ITU-R BS.1770-4) of a long 16-bit track, a chunk at a time.

pyloudnorm's `Meter.integrated_loudness` copies the whole signal and filters it in float64:
for an hour at 24 kHz that is a gigabyte or two held at once. This is the same computation
(the same K-weighting biquads with their state carried from chunk to chunk, the same float32
filtered signal, the same 400 ms blocks summed by numpy exactly as pyloudnorm sums them, the
same gating), holding one chunk and one block's overlap, so it gives pyloudnorm's figure
(tests/test_long_audio.py) in memory that does not grow with the track.
"""

from __future__ import annotations

import warnings

import numpy as np
import pyloudnorm
from scipy.signal import lfilter

CHUNK = 1 << 20  # samples filtered at a time (4 MB as float32)
BLOCK_S = 0.400  # pyloudnorm's defaults: 400 ms gating blocks, 75% overlap
OVERLAP = 0.75


def as_float(samples: np.ndarray) -> np.ndarray:
    """16-bit PCM as the float32 signal the meter reads (what the assembled track was)."""
    return samples.astype(np.float32) / np.float32(32768.0)


def _blocks(n: int, rate: int) -> list[tuple[int, int]]:
    """pyloudnorm's block bounds, by its own formulas (so rounding agrees)."""
    t_g, step = BLOCK_S, 1.0 - OVERLAP
    count = int(np.round((n / rate - t_g) / (t_g * step))) + 1
    return [(int(t_g * (j * step) * rate), int(t_g * (j * step + 1) * rate))
            for j in range(count)]


def block_energies(samples: np.ndarray, rate: int, chunk: int = CHUNK) -> np.ndarray:
    """Mean square of the K-weighted signal in each gating block."""
    stages = [(f.b, f.a, f.passband_gain) for f in pyloudnorm.Meter(rate)._filters.values()]
    state = [np.zeros(max(len(a), len(b)) - 1) for b, a, _ in stages]
    bounds = _blocks(len(samples), rate)
    z = np.zeros(len(bounds))
    scale = 1.0 / (BLOCK_S * rate)
    buf = np.zeros(0, dtype=np.float32)
    start = 0  # sample index of buf[0]
    j = 0
    for at in range(0, len(samples), chunk):
        x = as_float(samples[at:at + chunk])
        for k, (b, a, gain) in enumerate(stages):
            y, state[k] = lfilter(b, a, x, zi=state[k])
            x = (gain * y).astype(np.float32)  # pyloudnorm stores each stage in float32
        buf = np.concatenate([buf, x])
        end = start + len(buf)
        while j < len(bounds) and bounds[j][1] <= end:
            lo, hi = bounds[j]
            z[j] = scale * np.sum(np.square(buf[lo - start:hi - start]))
            j += 1
        keep = bounds[j][0] if j < len(bounds) else end
        buf = buf[keep - start:]
        start = keep
    for lo, hi in bounds[j:]:  # the last blocks may run past the end, as in pyloudnorm
        z[j] = scale * np.sum(np.square(buf[max(0, lo - start):max(0, hi - start)]))
        j += 1
    return z


def integrated_loudness(samples: np.ndarray, rate: int, chunk: int = CHUNK) -> float:
    """LUFS of 16-bit `samples` (pyloudnorm's gating, mono)."""
    if len(samples) < BLOCK_S * rate:  # too short to gate: pyloudnorm says why
        return float(pyloudnorm.Meter(rate).integrated_loudness(as_float(samples)))
    z = block_energies(samples, rate, chunk)
    gamma_a = -70.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        blocks = [-0.691 + 10.0 * np.log10(np.sum([1.0 * z[j]])) for j in range(len(z))]
        gated = [j for j, lj in enumerate(blocks) if lj >= gamma_a]
        mean = np.mean([z[j] for j in gated])
        gamma_r = -0.691 + 10.0 * np.log10(np.sum([1.0 * mean])) - 10.0
        gated = [j for j, lj in enumerate(blocks) if lj > gamma_r and lj > gamma_a]
        mean = np.nan_to_num(np.array([np.mean([z[j] for j in gated])]))
    with np.errstate(divide="ignore"):
        return float(-0.691 + 10.0 * np.log10(np.sum([1.0 * mean[0]])))


def normalise_in_place(samples: np.ndarray, rate: int, target_lufs: float,
                       chunk: int = CHUNK) -> None:
    """Scale 16-bit `samples` to `target_lufs`, rounding as the track always has, a chunk at
    a time in the same buffer (no float copy of the whole track)."""
    loudness = integrated_loudness(samples, rate, chunk)
    if not np.isfinite(loudness):
        return
    # float64, as pyloudnorm's numpy figure made the product before (same rounding)
    gain = np.float64(10.0) ** ((target_lufs - loudness) / 20.0)
    for at in range(0, len(samples), chunk):
        pcm = as_float(samples[at:at + chunk]) * gain
        samples[at:at + chunk] = (np.clip(pcm, -1.0, 1.0) * 32767.0).round().astype(np.int16)
