from __future__ import annotations

import pytest

from pipeline.text.compare import comparison_form, number_words, wer


@pytest.mark.parametrize(("said", "written"), [
    ("412", "four hundred and twelve"),
    ("412", "four hundred twelve"),
    ("9:45", "nine forty-five"),
    ("10:05", "ten o five"),
    ("10:05", "10.05"),
    ("April 20", "April 20th"),
    ("April 20", "april twentieth"),
    ("37 percent", "37%"),
    ("37 percent", "thirty-seven per cent"),
    ("4200 dollars", "$4,200"),
    ("4200 dollars", "four thousand two hundred dollars"),
    ("55 kilograms", "55 kilogrammes"),
    ("40 metres", "40 meters"),
    ("70 tonnes", "70 tons"),
    ("Uh, the Fenwick Harbour report.", "The fenwick harbor report"),
])
def test_spoken_and_written_forms_normalise_alike(said: str, written: str) -> None:
    assert comparison_form(said) == comparison_form(written)


def test_different_numbers_stay_different() -> None:
    assert comparison_form("412") != comparison_form("421")
    assert comparison_form("9:45") != comparison_form("9:54")
    assert comparison_form("4200 dollars") != comparison_form("$2,400")


def test_number_words() -> None:
    assert number_words(0) == "zero"
    assert number_words(19) == "nineteen"
    assert number_words(90) == "ninety"
    assert number_words(9500) == "nine thousand five hundred"
    assert number_words(1_000_001) == "one million one"


def test_wer_counts_word_edits_after_normalising() -> None:
    assert wer("The team logged 412 tremors.", "the team logged four hundred twelve tremors") == 0
    assert wer("a b c d", "a x c") == pytest.approx(0.5)  # one substitution, one deletion
    assert wer("one two", "") == 1.0
    assert wer("", "") == 0.0


def test_short_units_from_asr_match_the_spoken_ones() -> None:

    assert comparison_form("removed 23 kg") == comparison_form("removed 23 kilograms")
    assert comparison_form("a 14km walk") == comparison_form("a 14 kilometres walk")
