"""`spiral voices --measure`: what each voice gets across, measured once with the gate's ASR.

Every fictional entry of the writer's banks (first names, surnames, place words,
organisation words, units, months, counted things) is said by every voice in short list
sentences, and the list is transcribed with `validate.asr_model` in `validate.asr_window`
(the gate's instrument: the table is measured per window). An entry is heard when the
gate's own rule finds it in the ASR text (names and places may be misspelt up to
`validate.name_similarity` under `names_fuzzy`; units, months and nouns must be exact). The
result goes to `<bank>.measured.json` next to the voice bank, with each voice's speaking
rate, and the pre-check (orchestration/precheck.py) then never spends a draw on a key that
names an entry its voice was measured not to get across.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

from pipeline.asr.whisper import transcribe
from pipeline.core.config import Config
from pipeline.core.resources import Voice, load_voices
from pipeline.core.store import atomic_write_text
from pipeline.text.spoken import to_spoken
from pipeline.tts.backends import get_backend
from pipeline.tts.base import SentenceCache
from pipeline.tts.speaking_rate import words_per_second
from pipeline.validation import heard
from pipeline.validation.intelligibility import answer_recognised
from pipeline.writing import details, facts

GROUP = 6  # entries per spoken list: short clips, like key sentences
FUZZY = ("first_names", "surnames", "place_heads", "place_roots", "place_tails", "org_tails",
         "fact_org_tails")


def bank_entries() -> dict[str, tuple[str, ...]]:
    """The fictional entries the writers can draw, by category: the one hook to follow when
    banks move. The fact-sheet writer's own lists (org tails, counted things and units per
    transcript type or frame) come after the detail banks, with only what those lack, so the lists
    said for the detail banks stay as they were."""
    entries = {
        "first_names": details.FIRST_NAMES, "surnames": details.SURNAMES,
        "place_heads": details.PLACE_HEADS, "place_roots": details.PLACE_ROOTS,
        "place_tails": details.PLACE_TAILS, "org_tails": details.ORG_TAILS,
        "units": details.UNITS, "months": details.MONTHS, "count_nouns": details.COUNT_NOUNS,
    }
    fact = {"fact_org_tails": (facts.ORG_TAILS_BY_TYPE, "org_tails"),
            "fact_count_nouns": (facts.COUNTS, "count_nouns"),
            "fact_units": (facts.UNITS_BY_FRAME, "units")}
    for category, (by_type, seen) in fact.items():
        new = tuple(dict.fromkeys(e for values in by_type.values() for e in values
                                  if e not in entries[seen]))
        if new:
            entries[category] = new
    return entries


def _lists(entries: dict[str, tuple[str, ...]]) -> Iterator[tuple[str, list[str]]]:
    for category, values in entries.items():
        uniq = list(dict.fromkeys(values))
        for i in range(0, len(uniq), GROUP):
            yield category, uniq[i:i + GROUP]


def sentence(words: list[str]) -> str:
    """A list as a speaker would read it out in a meeting."""
    return "The next items on the list are " + ", ".join(words[:-1]) + f", and {words[-1]}."


def measure_voice(cfg: Config, voice: Voice, entries: dict[str, tuple[str, ...]],
                  cache: SentenceCache, parallel: int = 1) -> dict:
    """The entries `voice` does not get across, the share it does, and its speaking rate."""
    tts = get_backend(cfg.tts, cfg.cache_root)
    v = cfg.validate
    sr = cfg.audio.sample_rate
    unheard: list[str] = []
    total = 0
    for category, words in _lists(entries):
        audio = cache.render(tts, to_spoken(sentence(words)), voice, 1.0, sr)
        text, _ = transcribe(audio, sr, model=v.asr_model, offline=v.asr_offline,
                             parallel=parallel, window=v.asr_window)
        rule = v.answer_match if category in FUZZY else "exact"
        for word in words:
            total += 1
            if not answer_recognised(word, text, rule, v.name_similarity)[0]:
                unheard.append(word)
    return {"heard_share": round(1 - len(unheard) / max(1, total), 4),
            "unheard": sorted(unheard),
            "words_per_second": {"params": tts.params(voice, 1.0),
                                 "value": words_per_second(tts, voice, cache)}}


def measure(cfg: Config, progress: bool = True) -> str:
    """Measure every voice of the bank and write the table; a one-line-per-voice report."""
    voices = load_voices(cfg.voices, check_espeak=cfg.tts.backend == "espeak")
    get_backend(cfg.tts, cfg.cache_root).check_voices(voices)
    cache = SentenceCache(cfg.tts_cache)
    entries = bank_entries()
    table = {}
    rows = []
    # Voices are measured `tts.workers` at a time (the ASR's text does not depend on it).
    workers = max(1, cfg.tts.workers)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        measured = pool.map(lambda v: measure_voice(cfg, v, entries, cache, workers), voices)
        for voice, got in zip(voices, measured, strict=True):
            table[voice.id] = got
            row = (f"{voice.id:<12} heard {100 * got['heard_share']:5.1f}%  "
                   f"missed: {', '.join(got['unheard']) or '-'}")
            rows.append(row)
            if progress:
                print(row, flush=True)
    out = heard.measured_path(cfg.voices)
    data = {"version": heard.VERSION, "backend": cfg.tts.backend,
            "asr_model": cfg.validate.asr_model,
            "asr_window": cfg.validate.asr_window,
            "entries": sum(len(set(v)) for v in entries.values()), "voices": table}
    atomic_write_text(out, json.dumps(data, indent=1, sort_keys=True) + "\n")
    return "\n".join([*([] if progress else rows), f"written: {out}"])
