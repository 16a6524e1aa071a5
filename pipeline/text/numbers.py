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
