"""Sample-rate conversion shared by TTS (voices at their native rate), ASR (16 kHz) and the
baseline (the model's rate): one polyphase filter, so every side hears the same signal."""

from __future__ import annotations

from math import gcd

import numpy as np


def resample(audio: np.ndarray, sr: int, target: int) -> np.ndarray:
    """Mono float32 audio at `target` Hz."""
    if sr == target:
        return audio.astype(np.float32)
    from scipy.signal import resample_poly  # scipy is slow to import: only when needed

    g = gcd(sr, target)
    return resample_poly(audio, target // g, sr // g).astype(np.float32)
