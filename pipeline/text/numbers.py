"""The one number table: cardinal, ordinal and year words, and month names.

Both sides of the audio use it: `spoken.to_spoken` writes what a TTS voice says, and
`compare.comparison_form` reads back what an ASR model heard, so the two agree on every word.
"""

from __future__ import annotations

import re

ONES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
        "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
        "eighteen", "nineteen")
TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
SCALES = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand"))
_ORDINAL_WORDS = {"one": "first", "two": "second", "three": "third", "five": "fifth",
                  "eight": "eighth", "nine": "ninth", "twelve": "twelfth"}
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")


def number_words(n: int) -> str:
    """Cardinal words for an integer: 4500 -> 'four thousand five hundred'."""
    if n < 0:
        return "minus " + number_words(-n)
    if n < 20:
        return ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return TENS[tens] + (f"-{ONES[ones]}" if ones else "")
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return f"{ONES[hundreds]} hundred" + (f" {number_words(rest)}" if rest else "")
    for value, name in SCALES:
        if n >= value:
            high, rest = divmod(n, value)
            return f"{number_words(high)} {name}" + (f" {number_words(rest)}" if rest else "")
    raise AssertionError(n)


SPOKEN_FROM = 10_000  # amounts from here on are written as said, not as bare digits
# The written forms `spoken_amount` gives from SPOKEN_FROM up: "forty-two thousand five
# hundred", "a million", "1.25 million".
SPOKEN_BIG = (r"(?:[a-z]+(?:[ -][a-z]+)*? thousand(?:(?: [a-z]+(?:-[a-z]+)?){1,4})?"
              r"|(?:a|[1-9]\d{0,2}(?:\.\d{1,2})?) million)")


def spoken_amount(n: int) -> str:
    """A count or a sum as a person says it and TTS reads it: digits below SPOKEN_FROM
    (3450), words for thousands ("forty thousand", "forty-two thousand five hundred"),
    millions as "a million" or "1.2 million" (never "1000000")."""
    if n < SPOKEN_FROM:
        return str(n)
    if n < 10**6:
        return number_words(n)
    if n == 10**6:
        return "a million"
    millions = n / 10**6
    if round(millions, 2) * 10**6 == n:
        return f"{millions:.2f}".rstrip("0").rstrip(".") + " million"
    return number_words(n)


_SPOKEN_BIG_RE = re.compile(rf"\b{SPOKEN_BIG}\b")
_WORD_VALUE = {w: i for i, w in enumerate(ONES)} | {w: 10 * i for i, w in enumerate(TENS) if w}


def spoken_amount_value(text: str) -> float | None:
    """The value of the first amount `spoken_amount` writes in words in `text` ("forty-two
    thousand five hundred dollars" -> 42500, "a million" -> 1e6, "1.2 million" -> 1.2e6),
    None where there is none: so the audit reads these amounts as the numbers they are."""
    m = _SPOKEN_BIG_RE.search(text.lower())
    if m is None:
        return None
    words = m.group(0).replace("-", " ").split()
    if words[-1] == "million":
        return 1e6 * (1.0 if words[0] == "a" else float(words[0]))
    while words and words[0] not in _WORD_VALUE:  # the match may start on words before it
        words.pop(0)
    if not words:
        return None
    total = current = 0
    for w in words:
        if w in _WORD_VALUE:
            current += _WORD_VALUE[w]
        elif w == "hundred":
            current *= 100
        elif w == "thousand":
            total, current = total + current * 1000, 0
        else:  # the match runs on into the words after the amount ("... five hundred dollars")
            break
    return float(total + current) if total else None


def ordinal_words(n: int) -> str:
    """Ordinal words: 14 -> 'fourteenth', 22 -> 'twenty-second'."""
    m = re.fullmatch(r"(.*[ -])?([a-z]+)", number_words(n))
    assert m is not None
    head, last = m[1] or "", m[2]
    if last in _ORDINAL_WORDS:
        last = _ORDINAL_WORDS[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return f"{head}{last}"


def year_words(n: int) -> str:
    """Years as said aloud: 1995 -> 'nineteen ninety-five', 2007 -> 'two thousand seven'."""
    if 2000 <= n <= 2009:
        return number_words(n)
    high, low = divmod(n, 100)
    if low == 0:
        return f"{number_words(high)} hundred"
    return f"{number_words(high)} {'oh ' + ONES[low] if low < 10 else number_words(low)}"


# Ordinal words back to cardinals ("fourteenth" -> "fourteen"), for reading ASR output.
ORDINAL_TO_CARDINAL = {ordinal_words(n): number_words(n) for n in [*range(1, 21), 30]}
