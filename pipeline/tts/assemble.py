"""Assemble rendered sentences into one item: pauses, timestamps, loudness, key excerpt."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pyloudnorm
import soundfile as sf
from pydub import AudioSegment


def _segment(audio: np.ndarray, sample_rate: int) -> AudioSegment:
    pcm = (np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2")
    return AudioSegment(pcm.tobytes(), frame_rate=sample_rate, sample_width=2, channels=1)


def assemble(sentences: list[np.ndarray], speakers: list[str], sample_rate: int,
             pause_sentence_ms: int, pause_turn_ms: int, loudness_lufs: float
             ) -> tuple[np.ndarray, list[list[float]]]:
    """One mono int16 track and each sentence's [start, end] in seconds.

    Short pauses separate sentences of one turn, longer ones a change of speaker. The track
    is normalised to `loudness_lufs` (ITU-R BS.1770 via pyloudnorm).
    """
    track = AudioSegment.silent(duration=0, frame_rate=sample_rate)
    bounds: list[tuple[int, int]] = []
    for i, audio in enumerate(sentences):
        if i > 0:
            gap = pause_turn_ms if speakers[i] != speakers[i - 1] else pause_sentence_ms
            track += AudioSegment.silent(duration=gap, frame_rate=sample_rate)
        start = int(track.frame_count())
        track += _segment(audio, sample_rate)
        bounds.append((start, int(track.frame_count())))
    pcm = np.array(track.set_channels(1).get_array_of_samples(), dtype=np.float32) / 32768.0
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
