"""Assemble rendered sentences into one item: pauses, timestamps, loudness, key excerpt."""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import soundfile as sf

from pipeline.core.store import atomic_write_with
from pipeline.tts.loudness import normalise_in_place


def _pcm16(audio: np.ndarray) -> np.ndarray:
    """Float samples as 16-bit PCM, truncated toward zero (what the track has always held)."""
    return (np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2")


def _silence(ms: int, sample_rate: int) -> np.ndarray:
    return np.zeros(int(sample_rate * (ms / 1000.0)), dtype="<i2")


def assemble(sentences: Iterable[np.ndarray], speakers: list[str], sample_rate: int,
             pause_sentence_ms: int, pause_turn_ms: int, loudness_lufs: float
             ) -> tuple[np.ndarray, list[list[float]]]:
    """One mono int16 track and each sentence's [start, end] in seconds.

    Short pauses separate sentences of one turn, longer ones a change of speaker. The track
    is normalised to `loudness_lufs` (ITU-R BS.1770, pipeline/tts/loudness.py). Memory is
    what an hour needs, not a multiple of it: each sentence becomes 16-bit as it arrives
    (`sentences` may be a generator that renders them), the pieces are joined once, and the
    loudness is measured and applied a chunk at a time in that one buffer.
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
        del audio
        bounds.append((length, length + len(pieces[-1])))
        length += len(pieces[-1])
    out = np.empty(length, dtype=np.int16)
    at = 0
    for piece in pieces:
        out[at:at + len(piece)] = piece
        at += len(piece)
    del pieces
    normalise_in_place(out, sample_rate, loudness_lufs)
    times = [[round(s / sample_rate, 4), round(e / sample_rate, 4)] for s, e in bounds]
    return out, times


def write_wav(path: str | Path, samples: np.ndarray, sample_rate: int) -> None:
    """The track as 16-bit WAV, written atomically straight from its buffer (no second copy
    in memory): the same bytes as `wav_bytes`."""
    atomic_write_with(path, lambda fh: sf.write(fh, samples, sample_rate, subtype="PCM_16",
                                                format="WAV"))


def wav_bytes(samples: np.ndarray, sample_rate: int) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, samples, sample_rate, subtype="PCM_16", format="WAV")
    return buf.getvalue()
