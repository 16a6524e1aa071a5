"""Spell out numbers, dates, times, money, percentages and units before a sentence is spoken.

TTS engines read digits in their own ways ("14" after a month, "7:05", "$4,500", "3 kg"), and
a neural model with a small vocabulary may skip them. The key sentence carries the critical
detail the question asks about, so it must be spoken the way the question expects it: every
backend gets the same words, from this module.
"""

from __future__ import annotations

import re

from pipeline.text.numbers import MONTHS, ONES, number_words, ordinal_words, year_words

UNITS = {
    "kg": "kilograms", "g": "grams", "mg": "milligrams", "t": "tonnes", "km": "kilometres",
    "m": "metres", "cm": "centimetres", "mm": "millimetres", "l": "litres", "L": "litres",
    "ml": "millilitres", "ha": "hectares", "h": "hours", "hr": "hours", "hrs": "hours",
    "min": "minutes", "s": "seconds", "sec": "seconds", "km/h": "kilometres per hour",
    "mph": "miles per hour", "°C": "degrees Celsius", "°F": "degrees Fahrenheit",
    "kWh": "kilowatt hours", "MW": "megawatts", "kW": "kilowatts", "GB": "gigabytes",
    "MB": "megabytes",
}
CURRENCIES = {"$": ("dollar", "dollars", "cent", "cents"), "€": ("euro", "euros", "cent", "cents"),
              "£": ("pound", "pounds", "penny", "pence")}


def _decimal_words(text: str) -> str:
    whole, _, frac = text.replace(",", "").partition(".")
    out = number_words(int(whole or "0"))
    if frac:
        out += " point " + " ".join(ONES[int(d)] for d in frac)
    return out


def _time_words(h: int, m: int, suffix: str) -> str:
    if m == 0:
        out = f"{number_words(h)} o'clock" if not suffix else number_words(h)
    elif m < 10:
        out = f"{number_words(h)} oh {ONES[m]}"
    else:
        out = f"{number_words(h)} {number_words(m)}"
    if suffix:
        out += " " + " ".join(suffix.replace(".", "").upper())
    return out


def _money(symbol: str, amount: str, scale: str) -> str:
    one, many, sub_one, sub_many = CURRENCIES[symbol]
    whole, _, cents = amount.replace(",", "").partition(".")
    value = int(whole or "0")
    if scale:
        words = f"{_decimal_words(amount)} {scale} {many}"
        return words
    words = f"{number_words(value)} {one if value == 1 else many}"
    if cents and int(cents):
        c = int(cents.ljust(2, "0")[:2])
        words += f" and {number_words(c)} {sub_one if c == 1 else sub_many}"
    return words


_NUM = r"\d{1,3}(?:,\d{3})+|\d+"
_MONTH = "|".join(MONTHS)
_UNIT = "|".join(re.escape(u) for u in sorted(UNITS, key=len, reverse=True))
_RULES: list[tuple[re.Pattern[str], object]] = [
    (re.compile(rf"([$€£])\s?((?:{_NUM})(?:\.\d+)?)(?:\s?(million|billion|thousand))?"),
     lambda m: _money(m[1], m[2], m[3] or "")),
    (re.compile(rf"\b({_MONTH})\s+(\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s+(\d{{4}})\b)?"),
     lambda m: f"{m[1]} {ordinal_words(int(m[2]))}" + (f", {year_words(int(m[3]))}"
                                                        if m[3] else "")),
    (re.compile(r"\b(?:the\s+)?(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?(" + _MONTH
                + r")\b(?:,?\s+(\d{4})\b)?"),
     lambda m: f"the {ordinal_words(int(m[1]))} of {m[2]}" + (f" {year_words(int(m[3]))}"
                                                                if m[3] else "")),
    (re.compile(r"\b(\d{1,2}):(\d{2})(?:\s?([ap]\.?m)\b)?(?![\d])", re.IGNORECASE),
     lambda m: _time_words(int(m[1]), int(m[2]), m[3] or "")),
    (re.compile(r"\b(\d+(?:\.\d+)?)\s?%"), lambda m: f"{_decimal_words(m[1])} percent"),
    (re.compile(r"\b(\d+)(st|nd|rd|th)\b"), lambda m: ordinal_words(int(m[1]))),
    (re.compile(rf"\b((?:{_NUM})(?:\.\d+)?)\s?({_UNIT})(?![\w/])"),
     lambda m: f"{_decimal_words(m[1])} {UNITS[m[2]]}"),
    (re.compile(r"\b(?:in|since|by|from|of|until|year)\s+(1[5-9]\d\d|20\d\d)\b"),
     lambda m: m[0][: m.start(1) - m.start(0)] + year_words(int(m[1]))),
    (re.compile(rf"\b((?:{_NUM})(?:\.\d+)?)\b"), lambda m: _decimal_words(m[1])),
]


def to_spoken(text: str) -> str:
    """The sentence with every number, date, time, amount and unit written as words."""
    for pattern, repl in _RULES:
        text = pattern.sub(repl, text)  # type: ignore[arg-type]
    text = text.replace("&", " and ")
    return re.sub(r"\s{2,}", " ", text).strip()
