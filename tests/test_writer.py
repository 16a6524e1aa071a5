"""The offline writer's rules, checked on 100 items (no audio needed)."""

from __future__ import annotations

import re
import string
from collections import Counter

import pytest

from pipeline.core.records import LETTERS, Item
from pipeline.orchestration.runner import run_pipeline
from pipeline.text.compare import mentions
from tests.conftest import ROOT, make_config


@pytest.fixture(scope="module")
def items(tmp_path_factory: pytest.TempPathFactory) -> list[Item]:
    # The writer's own rules at the configured word range; aiming from voices is tested in
    # test_duration_control.py.
    cfg = make_config(tmp_path_factory.mktemp("w"), "n_items=100", "seed=3", "run=writer",
                      "writer.aim_from_voices=false")
    result = run_pipeline(cfg, until="question", quiet=True)
    assert not result.failed, [it.failed for it in result.failed]
    return result.items


def words(item: Item) -> int:
    return sum(len(s.split()) for s in item.sentences())


def test_length_types_and_turns(items: list[Item]) -> None:
    for it in items:
        assert 190 <= words(it) <= 245, (it.id, words(it))
        speakers = {t.speaker for t in it.transcript or []}
        assert len(speakers) == len(it.spec.speakers)
        if it.spec.type != "lecture":
            turns = it.transcript or []
            assert len(turns) >= len(speakers) + 2
            assert all(a.speaker != b.speaker for a, b in zip(turns, turns[1:], strict=False))


def test_light_disfluencies_appear(items: list[Item]) -> None:
    fillers = re.compile(r"\b(uh|um|you know|I mean|like|sort of|kind of|so|well)\b", re.I)
    share = sum(bool(fillers.search(" ".join(it.sentences()))) for it in items) / len(items)
    assert share >= 0.8


def test_no_sentence_repeats_in_an_item_and_90pc_distinct_overall(items: list[Item]) -> None:
    non_key = []
    for it in items:
        sents = it.sentences()
        assert len(sents) == len(set(sents)), it.id
        non_key += [s for i, s in enumerate(sents) if it.key and i != it.key.index]
    assert len(set(non_key)) / len(non_key) >= 0.9


def test_key_sentence_once_at_planned_depth(items: list[Item]) -> None:
    for it in items:
        assert it.key is not None
        sents = it.sentences()
        assert sents.count(it.key.sentence) == 1 and sents[it.key.index] == it.key.sentence
        assert int(10 * it.key.index / len(sents)) == it.spec.key_decile
        assert mentions(it.key.sentence, it.key.answer)
        others = " ".join(s for i, s in enumerate(sents) if i != it.key.index)
        assert not mentions(others, it.key.answer)


def test_filler_sentences_carry_no_detail_like_tokens(items: list[Item]) -> None:
    for it in items:
        for i, s in enumerate(it.sentences()):
            if it.key and i != it.key.index:
                assert not any(ch in string.digits for ch in s), s


def test_question_rules(items: list[Item]) -> None:
    longest = 0
    for it in items:
        q, key = it.question, it.key
        assert q is not None and key is not None
        assert q.letter == it.spec.letter and q.choices[LETTERS.index(q.letter)] == key.answer
        assert len(set(q.choices)) == 4
        assert not mentions(q.stem, key.answer) and q.stem.endswith("?")
        text = " ".join(it.sentences())
        for c in q.choices:
            if c != key.answer:
                assert not mentions(text, c), (it.id, c)
                assert abs(len(c) - len(key.answer)) <= max(3, len(key.answer) // 4)
        lengths = [len(c) for c in q.choices]
        longest += lengths.count(max(lengths)) == 1 and len(key.answer) == max(lengths)
    assert longest / len(items) <= 0.30
    assert Counter(it.question.letter for it in items if it.question) == {
        "A": 25, "B": 25, "C": 25, "D": 25}


def test_every_stem_names_only_context_its_key_sentence_says() -> None:
    import yaml

    keys = yaml.safe_load((ROOT / "prompts" / "offline_keys.yaml").read_text())
    stems = yaml.safe_load((ROOT / "prompts" / "offline_questions.yaml").read_text())
    slot = re.compile(r"\{(\w+)\}")
    for kind, entries in keys.items():
        if kind == "version":
            continue
        for e in entries:
            assert set(slot.findall(stems[e["id"]])) <= set(slot.findall(e["key"])) - {"value"}
