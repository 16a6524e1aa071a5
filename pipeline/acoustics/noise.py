"""Additive noise of the kinds a recording picks up, and mixing it in at a set SNR.

No external corpus: white and pink noise and mains hum are generated, babble is made from
the project's own voices (pipeline/acoustics/babble.py). Pink noise is white noise through
Kellet's three-pole 1/f filter (scipy lfilter: linear time and memory, any length).
"""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

NOISES = ("babble", "pink", "white", "hum")

# Paul Kellet's "economy" pink filter: within 0.05 dB of 1/f above 9 Hz at 44.1 kHz and close
# enough at other rates for a noise floor.
_PINK_B = np.array([0.049922035, -0.095993537, 0.050612699, -0.004408786])
_PINK_A = np.array([1.0, -2.494956002, 2.017265875, -0.522189400])


def white(n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.standard_normal(n)


def pink(n: int, rng: np.random.Generator) -> np.ndarray:
    # A second of warm-up so the filter's start-up transient is not in the output.
    warm = 4096
    return lfilter(_PINK_B, _PINK_A, rng.standard_normal(n + warm))[warm:]


def hum(n: int, sample_rate: int, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Mains hum: 50 or 60 Hz and its harmonics up to 1 kHz, odd ones stronger (as a
    rectifier's buzz has them), random phases, a little broadband hiss under it. The
    harmonics repeat every second exactly, so one second is computed and tiled."""
    mains = float(rng.choice([50.0, 60.0]))
    t = np.arange(sample_rate) / sample_rate
    second = np.zeros(sample_rate)
    for k in range(1, int(1000 // mains) + 1):
        gain = (1.0 if k % 2 else 0.4) / k
        second += gain * np.sin(2 * np.pi * mains * k * t + rng.uniform(0, 2 * np.pi))
    out = np.resize(second, n)
    out += 0.01 * rng.standard_normal(n)
    return out, mains


def power(x: np.ndarray) -> float:
    x = np.asarray(x, dtype=np.float64)
    return float(np.dot(x, x) / max(1, len(x)))


def snr_db(signal: np.ndarray, noise: np.ndarray) -> float:
    """10 log10 of the signal's power over the noise's, over their whole length."""
    return float(10.0 * np.log10(power(signal) / max(power(noise), 1e-30)))


def scaled_to_snr(signal: np.ndarray, noise: np.ndarray, target_db: float) -> np.ndarray:
    """`noise` scaled so that `signal` over it is `target_db` over the whole item."""
    p_noise = power(noise)
    if p_noise <= 0:
        raise ValueError("the noise is silent: nothing to mix at an SNR")
    gain = np.sqrt(power(signal) / (p_noise * 10.0 ** (target_db / 10.0)))
    return noise * gain
