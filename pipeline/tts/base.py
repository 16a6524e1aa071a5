"""What every TTS backend provides, and the per-sentence audio cache they share."""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

import numpy as np
import soundfile as sf

from pipeline.core.resources import Voice
from pipeline.core.store import atomic_write_bytes, content_hash


class TTSBackend(Protocol):
    name: str

    def params(self, voice: Voice, rate_scale: float) -> dict:
        """Everything that shapes the audio of a sentence besides its text."""
        ...

    def synthesize(self, text: str, voice: Voice, rate_scale: float, sample_rate: int
                   ) -> np.ndarray:
        """Mono float32 samples in [-1, 1] at `sample_rate`."""
        ...

    def check_voices(self, voices: Iterable[Voice]) -> None:
        """Raise ResourceError naming the voice and field a voice lacks for this backend."""
        ...


def trim_silence(audio: np.ndarray, threshold: float = 1e-3, margin: int = 80) -> np.ndarray:
    """Drop a backend's leading and trailing silence so that pauses are ours to set."""
    loud = np.flatnonzero(np.abs(audio) > threshold)
    if loud.size == 0:
        return audio
    return audio[max(0, loud[0] - margin): loud[-1] + margin]


class SentenceCache:
    """Rendered sentences keyed by text, voice and backend parameters, shared by runs."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def render(self, backend: TTSBackend, text: str, voice: Voice, rate_scale: float,
               sample_rate: int) -> np.ndarray:
        key = content_hash(backend.name, backend.params(voice, rate_scale), sample_rate, text)
        path = self.root / key[:2] / f"{key}.wav"
        if path.exists():
            data, sr = sf.read(path, dtype="float32")
            if sr == sample_rate:
                return data
        audio = backend.synthesize(text, voice, rate_scale, sample_rate)
        buf = io.BytesIO()
        sf.write(buf, audio, sample_rate, subtype="FLOAT", format="WAV")
        atomic_write_bytes(path, buf.getvalue())
        return audio
