from __future__ import annotations

import random
import re

import pytest

from pipeline.text.numbers import number_words, ordinal_words, year_words
from pipeline.text.spoken import to_spoken
from pipeline.writing.details import KINDS, _value


@pytest.mark.parametrize(("text", "spoken"), [
    ("It cost $4,500.", "It cost four thousand five hundred dollars."),
    ("It cost 4500 dollars.", "It cost four thousand five hundred dollars."),
    ("We met on March 14.", "We met on March fourteenth."),
    ("Born on the 2nd of May 1998.", "Born on the second of May nineteen ninety-eight."),
    ("The bus left at 7:05 pm.", "The bus left at seven oh five P M."),
    ("Doors open at 11:00.", "Doors open at eleven o'clock."),
    ("It was 7:35 sharp.", "It was seven thirty-five sharp."),
    ("Attendance rose to 62%.", "Attendance rose to sixty-two percent."),
    ("It weighs 34 kg.", "It weighs thirty-four kilograms."),
    ("A 12.5 km walk.", "A twelve point five kilometres walk."),
    ("We counted 620 samples.", "We counted six hundred twenty samples."),
    ("It opened in 2007.", "It opened in two thousand seven."),
    ("Ranked 21st of 1,000,001.", "Ranked twenty-first of one million one."),
])
def test_normalize_speaks_numbers_as_words(text: str, spoken: str) -> None:
    assert to_spoken(text) == spoken


def test_words_helpers() -> None:
    assert number_words(0) == "zero"
    assert number_words(115) == "one hundred fifteen"
    assert ordinal_words(12) == "twelfth"
    assert ordinal_words(30) == "thirtieth"
    assert year_words(1900) == "nineteen hundred"
    assert year_words(1905) == "nineteen oh five"


@pytest.mark.parametrize("kind", KINDS)
def test_every_detail_kind_is_spoken_without_digits(kind: str) -> None:
    rng = random.Random(5)
    for _ in range(50):
        value = _value(kind, rng, "kilograms")
        spoken = to_spoken(f"The figure we settled on was {value}.")
        assert not re.search(r"\d", spoken), (value, spoken)
