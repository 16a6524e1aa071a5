"""Pick the TTS backend that `tts.backend` names; one instance per process and settings.

A Coqui model takes seconds to load and hundreds of MB, so every stage and worker of a run
shares one instance.
"""

from __future__ import annotations

import threading
from pathlib import Path

from pipeline.core.config import TTSConfig
from pipeline.tts.base import TTSBackend

_BACKENDS: dict[tuple, TTSBackend] = {}
_LOCK = threading.Lock()


def get_backend(t: TTSConfig, cache_root: str | Path) -> TTSBackend:
    key = (t.backend, t.model, t.device, t.language, str(cache_root)) if t.backend == "coqui" \
        else (t.backend,)
    with _LOCK:
        if key not in _BACKENDS:
            if t.backend == "espeak":
                from pipeline.tts.espeak import EspeakBackend

                _BACKENDS[key] = EspeakBackend()
            elif t.backend == "coqui":
                from pipeline.tts.coqui import CoquiBackend

                _BACKENDS[key] = CoquiBackend(t.model, t.device, t.language, cache_root)
            else:
                raise ValueError(f"unknown tts.backend {t.backend!r}")
        return _BACKENDS[key]
