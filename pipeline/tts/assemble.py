"""Assemble rendered sentences into one item: pauses, timestamps, loudness, key excerpt."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pyloudnorm
import soundfile as sf
from pydub import AudioSegment


def _pcm16(audio: np.ndarray) -> np.ndarray:
    """Float samples as 16-bit PCM, truncated toward zero (what the track has always held)."""
    return (np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2")


def _silence(ms: int, sample_rate: int) -> np.ndarray:
    return np.zeros(int(sample_rate * (ms / 1000.0)), dtype="<i2")


def assemble(sentences: list[np.ndarray], speakers: list[str], sample_rate: int,
             pause_sentence_ms: int, pause_turn_ms: int, loudness_lufs: float
             ) -> tuple[np.ndarray, list[list[float]]]:
    """One mono int16 track and each sentence's [start, end] in seconds.

    Short pauses separate sentences of one turn, longer ones a change of speaker. The track
    is normalised to `loudness_lufs` (ITU-R BS.1770 via pyloudnorm). The pieces are joined
    once (numpy) into one pydub segment, not appended one by one: the same samples as
    appending 16-bit segments, without copying the growing track at every sentence.
    """
    pieces: list[np.ndarray] = []
    bounds: list[tuple[int, int]] = []
    length = 0
    for i, audio in enumerate(sentences):
        if i > 0:
            gap = pause_turn_ms if speakers[i] != speakers[i - 1] else pause_sentence_ms
            pieces.append(_silence(gap, sample_rate))
            length += len(pieces[-1])
        pieces.append(_pcm16(audio))
        bounds.append((length, length + len(pieces[-1])))
        length += len(pieces[-1])
    joined = np.concatenate(pieces) if pieces else np.zeros(0, dtype="<i2")
    del pieces
    track = AudioSegment(joined.tobytes(), frame_rate=sample_rate, sample_width=2, channels=1)
    del joined
    pcm = np.array(track.get_array_of_samples(), dtype=np.float32) / 32768.0
    del track
    meter = pyloudnorm.Meter(sample_rate)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loudness = meter.integrated_loudness(pcm)
    if np.isfinite(loudness):
        pcm = pcm * (10.0 ** ((loudness_lufs - loudness) / 20.0))
    out = (np.clip(pcm, -1.0, 1.0) * 32767.0).round().astype(np.int16)
    times = [[round(s / sample_rate, 4), round(e / sample_rate, 4)] for s, e in bounds]
    return out, times


def wav_bytes(samples: np.ndarray, sample_rate: int) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, samples, sample_rate, subtype="PCM_16", format="WAV")
    return buf.getvalue()
