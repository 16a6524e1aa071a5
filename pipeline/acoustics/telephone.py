"""A telephone channel: 300-3,400 Hz at 8 kHz through G.711 mu-law, resampled back.

G.711 (8-bit mu-law companding at 8 kHz) is the codec of the classic phone network, so its
quantisation noise is the "codec-like compression" a listener hears on a call.
"""

from __future__ import annotations

from math import gcd

import numpy as np
from scipy.signal import butter, resample_poly, sosfilt

PHONE_RATE = 8000
BAND_HZ = (300.0, 3400.0)
MU = 255.0


def mu_law(x: np.ndarray) -> np.ndarray:
    """Encode to 8 bits and decode again: what survives a G.711 mu-law link."""
    x = np.clip(x, -1.0, 1.0)
    code = np.sign(x) * np.log1p(MU * np.abs(x)) / np.log1p(MU)
    code = np.round(code * 127.0) / 127.0
    return np.sign(code) * ((1.0 + MU) ** np.abs(code) - 1.0) / MU


def telephone(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """`x` (float, about unit peak or less) as heard down a phone line, at `sample_rate`."""
    g = gcd(PHONE_RATE, sample_rate)
    narrow = resample_poly(x, PHONE_RATE // g, sample_rate // g)
    sos = butter(6, BAND_HZ, btype="bandpass", fs=PHONE_RATE, output="sos")
    narrow = sosfilt(sos, narrow)
    peak = float(np.max(np.abs(narrow))) if len(narrow) else 0.0
    scale = 0.9 / peak if peak > 0 else 1.0  # the codec sees a full-scale line level
    narrow = mu_law(narrow * scale) / scale
    wide = resample_poly(narrow, sample_rate // g, PHONE_RATE // g)
    out = np.zeros(len(x))
    out[:min(len(x), len(wide))] = wide[:len(x)]
    return out
