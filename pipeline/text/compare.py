"""One normalisation of spoken text, used on both sides of every comparison with ASR output.

espeak says "412" as words and whisper may write it back as "412" or "four hundred twelve";
"37%" and "37 percent", "$4,200" and "4200 dollars", "9:45" and "nine forty-five" must
compare equal. Everything is turned into lowercase words: digits are spelled out, ordinals
become cardinals, symbols become their words, punctuation and fillers go.
"""

from __future__ import annotations

import re

from pipeline.text.numbers import ONES, ORDINAL_TO_CARDINAL, TENS
from pipeline.text.numbers import number_words as spoken_number

NUMBER_WORDS = {*ONES, *TENS[2:], "hundred", "thousand", "million", "billion"}
SAME = {"zero": "oh", "o": "oh", "nought": "oh",  # "ten oh five" said or written either way
        "whilst": "while", "okay": "ok",
        "kg": "kilograms", "kgs": "kilograms", "km": "kilometers"}  # ASR writes units short
# British and American spellings of the same word compare equal.
SPELLING = ((r"(kilo|centi|milli)?(met|lit)res?\b", lambda m: m.group(0).replace("re", "er")),
            (r"\bkilogrammes?\b", lambda m: m.group(0).replace("gramme", "gram")),
            (r"\btonnes?\b", lambda m: m.group(0).replace("tonne", "ton")),
            (r"\b(\w+)our\b", lambda m: m.group(0) if m.group(1) in ("y", "f", "h", "t", "p",
                                                                     "s", "d", "c") else
             m.group(1) + "or"),
            (r"\b(harbo|colo|favo|labo|neighbo|behavio)urs\b",
             lambda m: m.group(1) + "rs"))
FILLERS = {"uh", "um", "er", "erm", "ah", "hmm", "mm", "uhm"}
SYMBOLS = {"%": " percent ", "&": " and ", "+": " plus ", "@": " at "}
CURRENCY = {"$": "dollars", "£": "pounds", "€": "euros"}


def number_words(n: int) -> str:
    """Cardinal words as TTS says them, without hyphens: 4221 -> "four thousand two hundred
    twenty one"."""
    return spoken_number(n).replace("-", " ")


def _money(match: re.Match[str]) -> str:
    return f" {match.group(2)} {CURRENCY[match.group(1)]} "


def _clock(match: re.Match[str]) -> str:
    hours, minutes = int(match.group(1)), int(match.group(2))
    if minutes == 0:
        return f" {number_words(hours)} "
    mins = number_words(minutes) if minutes >= 10 else f"oh {number_words(minutes)}"
    return f" {number_words(hours)} {mins} "


def _year_like(digits: str) -> str:
    """Four-digit years are said as two pairs ("1987": nineteen eighty seven)."""
    n = int(digits)
    if len(digits) == 4 and 1100 <= n <= 1999 and n % 100 != 0:
        low = n % 100
        return f"{number_words(n // 100)} {'' if low >= 10 else 'oh '}{number_words(low)}"
    return number_words(n)


def comparison_form(text: str) -> str:
    """Lowercase words only, numbers spelled out: the common form for WER and matching."""
    t = text.lower().replace("’", "'")
    t = re.sub(r"([$£€])\s?(\d[\d,]*(?:\.\d+)?)", _money, t)
    t = re.sub(r"(?<=\d),(?=\d{3}\b)", "", t)
    t = re.sub(r"\b(\d{1,2})[:.](\d{2})\b(?!\.\d)", _clock, t)
    t = re.sub(r"\b(\d+)(?:st|nd|rd|th)\b", r"\1", t)
    for sym, word in SYMBOLS.items():
        t = t.replace(sym, word)
    t = re.sub(r"\bper cent\b", "percent", t)
    t = re.sub(r"\b(\d+)\.(\d+)\b", lambda m: f"{m.group(1)} point {' '.join(m.group(2))}", t)
    t = re.sub(r"\d+", lambda m: f" {_year_like(m.group(0))} ", t)
    t = re.sub(r"[-‐–—/]", " ", t)
    t = re.sub(r"'s\b", "s", t)
    t = re.sub(r"[^a-z0-9 ]+", " ", t)
    for pattern, repl in SPELLING:
        t = re.sub(pattern, repl, t)
    words = [SAME.get(w, ORDINAL_TO_CARDINAL.get(w, w)) for w in t.split() if w not in FILLERS]
    # "four hundred and twelve" and "four hundred twelve" are the same number.
    out = [w for i, w in enumerate(words)
           if not (w == "and" and 0 < i < len(words) - 1 and words[i - 1] in NUMBER_WORDS
                   and words[i + 1] in NUMBER_WORDS)]
    return " ".join(out)


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(edit distance in words, reference length) of the normalised texts."""
    ref, hyp = comparison_form(reference).split(), comparison_form(hypothesis).split()
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1], len(ref)


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate of `hypothesis` against `reference`, both normalised the same way."""
    errors, n = word_errors(reference, hypothesis)
    return errors / n if n else float(bool(comparison_form(hypothesis)))


def mentions(text: str, phrase: str) -> bool:
    """Whether `phrase` is said in `text` as whole words (case-insensitive)."""
    low, needle = text.lower(), phrase.lower()
    if needle not in low:  # no regex (compiled afresh per phrase) unless the words are there
        return False
    pattern = r"(?<![\w:])" + re.escape(needle) + r"(?![\w:])"
    return re.search(pattern, low) is not None
