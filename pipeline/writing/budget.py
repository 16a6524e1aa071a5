"""How many words a transcript needs to fill `audio.target_seconds`, for every writer.

The script is aimed at the word count that fills the target when its voices speak at their
measured rate (`writer.aim_from_voices`), so that most items land in the duration window
without changing speed; `writer.words_min..words_max` is the jitter range around it, and the
whole target when aiming is off. The draw has its own seed stream, so an LLM and the offline
writer aim at the same length for the same item.
"""

from __future__ import annotations

from functools import lru_cache

from pipeline.core.config import AudioConfig, WriterConfig
from pipeline.core.grid import item_audio
from pipeline.core.records import ItemSpec
from pipeline.core.seeds import rng_for
from pipeline.text.spoken import to_spoken
from pipeline.tts.speaking_rate import PASSAGE
from pipeline.tts.speaking_rate import words as passage_words

KEY_WORDS = 12  # the key sentence, planted later, adds about a dozen words
MAX_WORDS = 15000.0  # about 80 minutes of speech: the longest window a grid allows, and more
# Measured on 100 offline-writer items (`spiral run --n 100`): words per sentence, the share
# of sentence boundaries that change speaker (a longer pause), and spoken characters per word
# (the voices' rate is measured in words of a calibration passage whose words are shorter).
# An LLM writer differs a little; the synthesis stage corrects what remains.
WORDS_PER_SENTENCE = {"lecture": 16.9, "conversation": 14.4, "meeting": 15.9}
TURN_SHARE = {"lecture": 0.0, "conversation": 0.52, "meeting": 0.58}
CHARS_PER_WORD = {"lecture": 6.1, "conversation": 5.85, "meeting": 6.05}


@lru_cache(maxsize=1)
def passage_chars_per_word() -> float:
    return (sum(len(to_spoken(s)) for s in PASSAGE)
            / sum(passage_words(s) for s in PASSAGE))


def aimed_words(ttype: str, audio: AudioConfig, rates: list[float]) -> int:
    """Words whose speech plus pauses fill audio.target_seconds at the voices' mean rate."""
    wps = sum(rates) / len(rates) * passage_chars_per_word() / CHARS_PER_WORD[ttype]
    pause = (audio.pause_sentence_ms
             + TURN_SHARE[ttype] * (audio.pause_turn_ms - audio.pause_sentence_ms)) / 1000.0
    words = (audio.target_seconds + pause) / (1.0 / wps + pause / WORDS_PER_SENTENCE[ttype])
    return int(round(min(MAX_WORDS, max(50.0, words))))


def reachable_seconds(ttype: str, audio: AudioConfig, rates: list[float], words: int,
                      sentences: int, scale_bounds: tuple[float, float]) -> tuple[float, float]:
    """The shortest and longest a script of `words` words in `sentences` sentences can be
    rendered, speaking rates scaled within `scale_bounds` (synthesis' duration control):
    the inverse of `aimed_words`, so the same figures decide how long to write and whether
    what was written can fit its window."""
    wps = sum(rates) / len(rates) * passage_chars_per_word() / CHARS_PER_WORD[ttype]
    pause = (audio.pause_sentence_ms
             + TURN_SHARE[ttype] * (audio.pause_turn_ms - audio.pause_sentence_ms)) / 1000.0
    speech = words / wps
    pauses = pause * max(0, sentences - 1)
    return pauses + speech / scale_bounds[1], pauses + speech / scale_bounds[0]


def word_target(spec: ItemSpec, writer: WriterConfig, audio: AudioConfig,
                rates: list[float] | None) -> int:
    """Words of the whole transcript, key sentence included; `rates` (words per second of
    each speaker's voice) is needed when `writer.aim_from_voices` is on."""
    audio = item_audio(spec, audio)
    drawn = rng_for(spec.seed, "words").randint(writer.words_min, writer.words_max)
    if not writer.aim_from_voices:
        return drawn
    assert rates, "aim_from_voices needs the voices' measured rates"
    mid = (writer.words_min + writer.words_max) / 2
    jitter = 1.0 + 0.5 * (drawn - mid) / mid  # a few percent either way
    return round(aimed_words(spec.type, audio, rates) * jitter)
