"""Each voice's speaking rate, measured by rendering a fixed passage with its backend.

The writer aims a script at the word count that fills the target duration at this rate, so
that most items land in the window at the voice's natural speed and the duration control
only trims. The passage's sentences go through the shared sentence cache, so a voice is
measured once per backend setting.
"""

from __future__ import annotations

import threading

from pipeline.core.resources import Voice
from pipeline.text.spoken import to_spoken
from pipeline.tts.base import SentenceCache, TTSBackend

# A random sample of offline-writer sentences (fillers, commas, topic terms, short replies),
# so the measured rate is the rate at which scripts are spoken.
PASSAGE = (
    "Right, right.",
    "Well, this was fun, we should argue about the mountain views more often.",
    "Let's definitely keep this going in the group chat, I want to hear more about the "
    "local buses.",
    "Sorry, I'm still stuck on what you said about the trail maps earlier.",
    "Probably how much patience you need for the journaling, honestly.",
    "Those concepts let us compare the ancient scripts across very different cases in a "
    "consistent way.",
    "Thanks, everyone, and do keep thinking about the zoning rules as you work through the "
    "problem set.",
    "That everyday familiarity can, like, actually make the organelles harder to study "
    "objectively.",
    "Take a moment to jot down what you already believe about the trade routes.",
    "Yep.",
    "I like that, let's sketch it out and compare it to what we do now with the shipping "
    "crates.",
    "If anything comes up on the customer ratings before we meet again, just flag it in the "
    "team channel.",
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
    seconds = sum(len(cache.render(backend, to_spoken(s), voice, 1.0, CALIBRATION_RATE))
                  for s in PASSAGE) / CALIBRATION_RATE
    rate = sum(words(s) for s in PASSAGE) / max(seconds, 1e-3)
    with _LOCK:
        _MEASURED[key] = rate
    return rate
