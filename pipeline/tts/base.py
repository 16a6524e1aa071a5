"""What every TTS backend provides, and the per-sentence audio cache they share."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

import numpy as np
import soundfile as sf

from pipeline.core.errors import notice
from pipeline.core.resources import Voice
from pipeline.core.store import atomic_write_bytes, atomic_write_text, content_hash


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
    """Rendered sentences keyed by text, voice and backend parameters, shared by runs.

    Each `<key>.wav` has a `<key>.sha256` beside it, written after it: a wav that fails its
    checksum (or has none: its writer was killed in between) is rendered again.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _cached(self, path: Path, sample_rate: int) -> np.ndarray | None:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            want = path.with_suffix(".sha256").read_text(encoding="ascii").strip()
        except (FileNotFoundError, UnicodeDecodeError):
            return None
        if hashlib.sha256(data).hexdigest() != want:
            notice(f"{path}: sentence-cache wav fails its checksum; rendering it again")
            return None
        audio, sr = sf.read(io.BytesIO(data), dtype="float32")
        return audio if sr == sample_rate else None

    def path(self, backend: TTSBackend, text: str, voice: Voice, rate_scale: float,
             sample_rate: int) -> Path:
        key = content_hash(backend.name, backend.params(voice, rate_scale), sample_rate, text)
        return self.root / key[:2] / f"{key}.wav"

    def render(self, backend: TTSBackend, text: str, voice: Voice, rate_scale: float,
               sample_rate: int) -> np.ndarray:
        path = self.path(backend, text, voice, rate_scale, sample_rate)
        cached = self._cached(path, sample_rate)
        if cached is not None:
            return cached
        audio = backend.synthesize(text, voice, rate_scale, sample_rate)
        buf = io.BytesIO()
        sf.write(buf, audio, sample_rate, subtype="FLOAT", format="WAV")
        data = buf.getvalue()
        atomic_write_bytes(path, data)
        atomic_write_text(path.with_suffix(".sha256"), hashlib.sha256(data).hexdigest() + "\n")
        return audio
