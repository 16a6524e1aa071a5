"""Each voice's speaking rate, measured by rendering a fixed passage with its backend.

The writer aims a script at the word count that fills the target duration at this rate, so
that most items land in the window at the voice's natural speed and the duration control
only trims. The passage's sentences go through the shared sentence cache, so a voice is
measured once per backend setting.
"""

from __future__ import annotations

import threading

from ..resources import Voice
from .base import SentenceCache, TTSBackend
from .normalize import normalize

PASSAGE = (
    "So the first thing to notice is that the results were not what anyone expected.",
    "We looked at the numbers again, and the pattern held across every site we visited.",
    "Honestly, I think that tells us something about how the whole process was designed.",
    "Let me walk you through the main points before we move on to the next question.",
)
CALIBRATION_RATE = 24000

_MEASURED: dict[tuple, float] = {}
_LOCK = threading.Lock()


def words(text: str) -> int:
    return len(text.split())


def words_per_second(backend: TTSBackend, voice: Voice, cache: SentenceCache) -> float:
    """Words per second of speech (pauses excluded) of `voice` at its normal rate."""
    key = (backend.name, repr(sorted(backend.params(voice, 1.0).items())), str(cache.root))
    with _LOCK:
        if key in _MEASURED:
            return _MEASURED[key]
    seconds = sum(len(cache.render(backend, normalize(s), voice, 1.0, CALIBRATION_RATE))
                  for s in PASSAGE) / CALIBRATION_RATE
    rate = sum(words(s) for s in PASSAGE) / max(seconds, 1e-3)
    with _LOCK:
        _MEASURED[key] = rate
    return rate
