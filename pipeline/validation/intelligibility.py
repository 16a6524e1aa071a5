"""Intelligibility gate: ASR of the key-sentence audio must match its text and carry the answer.

The key wav is transcribed with whisper (pipeline/asr/whisper.py, in `asr_window`); both texts are
normalised by pipeline/text/compare.py so "412" and "four hundred twelve" are the same words.
"""

from __future__ import annotations

import hashlib
import re
from difflib import SequenceMatcher
from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf

from pipeline.asr.whisper import transcribe
from pipeline.core.checked import read_checked, write_checked
from pipeline.core.config import ValidateConfig
from pipeline.core.records import Check
from pipeline.core.store import content_hash
from pipeline.text.compare import comparison_form, wer

# Words a listener cannot tell apart: matching the answer, either spelling counts.
HOMOPHONES = {"for": "four", "fore": "four", "to": "two", "too": "two", "won": "one",
              "ate": "eight"}


def _forms(answer: str) -> list[list[str]]:
    """The answer's normalised words, and the other ways it may be written down: a clock
    time "9:35" may come back as "935" ("nine hundred thirty five")."""
    forms = [comparison_form(answer)]
    clock = re.fullmatch(r"(\d{1,2}):(\d{2})", answer.strip())
    if clock:
        forms.append(comparison_form(clock.group(1) + clock.group(2)))
    return [[HOMOPHONES.get(w, w) for w in f.split()] for f in forms if f]


def answer_similarity(answer: str, asr_text: str) -> float:
    """1.0 when the answer's words occur in order in the ASR text; otherwise the best
    character similarity of any window of as many words."""
    hyp = [HOMOPHONES.get(w, w) for w in comparison_form(asr_text).split()]
    best = 0.0
    for ans in _forms(answer):
        n = len(ans)
        target = " ".join(ans)
        for i in range(max(1, len(hyp) - n + 1)):
            window = " ".join(hyp[i:i + n])
            if window == target:
                return 1.0
            best = max(best, SequenceMatcher(None, target, window, autojunk=False).ratio())
    return round(best, 4)


def answer_recognised(answer: str, asr_text: str, rule: str, name_similarity: float
                      ) -> tuple[bool, float]:
    """Digits, dates, times and amounts must be heard exactly; with `names_fuzzy` a name or
    place (no digit in it) may be misspelt up to `name_similarity`."""
    sim = answer_similarity(answer, asr_text)
    if rule == "names_fuzzy" and not re.search(r"\d", answer):
        return sim >= name_similarity, sim
    return sim == 1.0, sim


def heard_text(audio: np.ndarray, sr: int, cfg: ValidateConfig,
               cache_dir: Path | None = None, parallel: int = 1) -> str:
    """The ASR text of mono float audio. With `cache_dir`, kept per (model, exact samples):
    transcription is greedy and deterministic, so the pre-check's verdict on a clip and the
    gate's on the same clip are one ASR pass, not two. `parallel`: how many threads call at
    once (whisper.load); the text does not depend on it."""
    def listen() -> str:
        return transcribe(audio, sr, model=cfg.asr_model, offline=cfg.asr_offline,
                          parallel=parallel, window=cfg.asr_window)[0]

    if cache_dir is None:
        return listen()
    digest = hashlib.sha256(np.ascontiguousarray(audio, dtype=np.float32).tobytes()).hexdigest()
    key = content_hash("asr/3", cfg.asr_model, cfg.asr_window, _engine_version(), sr, digest)
    path = Path(cache_dir) / key[:2] / f"{key}.json"
    cached = read_checked(path, "ASR cache entry", "transcribing the clip again")
    if cached is not None and isinstance(cached.get("text"), str):
        return cached["text"]
    text = listen()
    write_checked(path, {"text": text})
    return text


@lru_cache(maxsize=1)
def _engine_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("faster-whisper") + "/" + metadata.version("ctranslate2")
    except metadata.PackageNotFoundError:
        return "unknown"


def read_clip(key_wav: Path) -> tuple[np.ndarray, int]:
    """A wav as mono float32, the way the gate reads the key wav."""
    audio, sr = sf.read(str(key_wav), dtype="float32", always_2d=False)
    if audio.ndim > 1:
        audio = audio.mean(axis=1)
    return audio, sr


def transcript_checks(key_sentence: str, answer: str, text: str, cfg: ValidateConfig
                      ) -> list[Check]:
    """The gate's verdict on what the ASR heard of the key sentence."""
    w = round(wer(key_sentence, text), 4)
    ok_wer = w <= cfg.max_wer
    heard, sim = answer_recognised(answer, text, cfg.answer_match, cfg.name_similarity)
    return [
        Check("asr_wer", ok_wer, "" if ok_wer else
              f"key segment WER {w:.2f} > {cfg.max_wer:g} (heard: {text!r})", w),
        Check("asr_answer", heard, "" if heard else
              f"answer {answer!r} not recognised in the ASR text {text!r} "
              f"(similarity {sim:.2f})", sim),
    ]


def intelligibility_checks(key_sentence: str, answer: str, key_wav: Path,
                           cfg: ValidateConfig, cache_dir: Path | None = None,
                           parallel: int = 1) -> list[Check]:
    try:
        audio, sr = read_clip(key_wav)
    except (OSError, RuntimeError) as exc:
        reason = f"key audio unreadable: {key_wav}: {exc}"
        return [Check("asr_wer", False, reason), Check("asr_answer", False, reason)]
    text = heard_text(audio, sr, cfg, cache_dir, parallel)
    return transcript_checks(key_sentence, answer, text, cfg)
