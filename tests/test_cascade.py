from __future__ import annotations

import torch

from pipeline.asr.whisper import Word
from pipeline.baseline import cascade as cc


def test_norm_words_makes_asr_and_choice_spellings_agree() -> None:
    assert cc.norm_words("$2,700") == cc.norm_words("2700")
    assert cc.norm_words("May 21st.") == ["may", "21"]
    assert cc.norm_words("at 2:35") == cc.norm_words("at 2.35") == ["at", "235"]
    assert cc.norm_words("75%") == ["75", "percent"]


def test_token_words_puts_25_tokens_a_second_on_the_word_spoken() -> None:
    words = [Word("hello", 0.0, 0.2), Word("there", 0.5, 0.52)]
    tw = cc.token_words(words, 1.0)
    assert len(tw) == 25
    assert tw[:5] == [0] * 5 and tw[5:12] == [-1] * 7
    assert tw[12:14] == [1, -1]  # a word shorter than a token still gets one
    assert tw[14:] == [-1] * 11


def test_heard_words_need_half_their_tokens() -> None:
    item = cc.CascadeItem(["alpha", "beta"], [0, 0, 0, 0, -1, 1, 1, 1], "q", ["x"] * 4)
    assert cc.heard_words(item, torch.tensor([0, 1, 5])) == [(0, "alpha")]  # 2 of 4, 1 of 3
    assert cc.heard_words(item, torch.tensor([0, 5, 6])) == [(1, "beta")]  # 1 of 4, 2 of 3
    assert cc.heard_words(item, None) == []


def test_reader_picks_the_choice_whose_distinct_words_were_heard() -> None:
    choices = ["2700 dollars", "3400 dollars", "1000 dollars", "1300 dollars"]
    heard = list(enumerate(cc.norm_words("she secured a grant of $1,300 for the work")))
    assert cc.read_answer("How large a grant?", choices, heard) == "D"
    # names: an ASR misspelling within the match ratio still counts, other names do not
    names = ["Petra Delacroix", "Gideon Northcott", "Felix Pendleton", "Ivo Thornbury"]
    heard = list(enumerate(["ivo", "thornberry", "mapped"]))
    assert cc.read_answer("Who mapped it?", names, heard) == "D"
    # numbers must match exactly
    kilos = ["13 kilograms", "12 kilograms", "30 kilograms", "31 kilograms"]
    assert cc.read_answer("How many?", kilos, [(0, "12"), (1, "kilograms")]) == "B"


def test_reader_reads_the_answer_where_the_question_context_is_said() -> None:
    kilos = ["13 kilograms", "12 kilograms", "30 kilograms", "31 kilograms"]
    heard = [(0, "12"), (1, "kilograms"), (2, "of"), (3, "flour"),
             (100, "the"), (101, "badge"), (102, "trial"), (103, "used"), (104, "30")]
    assert cc.read_answer("How much did the badge trial use?", kilos, heard) == "C"


def test_split_numbers_are_joined() -> None:
    item = cc.CascadeItem(["1", "300", "dollars"], [0, 1, 2], "q", ["x"] * 4)
    assert cc.heard_words(item, torch.arange(3)) == [(1, "1300"), (2, "dollars")]
