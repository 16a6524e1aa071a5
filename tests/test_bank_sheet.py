"""Fact sheets drawn from the fact bank: the plan's contract, and choices with no blind clue."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipeline.core.seeds import rng_for
from pipeline.reports.blind_audit import FORMS, blind_table
from pipeline.writing.bank_sheet import _banks, draw_bank_facts, draw_sheet
from pipeline.writing.fact_bank import ALL_KINDS, PHRASE_KINDS, VALUE_KINDS
from pipeline.writing.facts import FRAME, stem

ROOT = Path(__file__).resolve().parents[1]
PROMPTS = ROOT / "prompts"
BANKS = sorted(_banks(str(PROMPTS)).values(), key=lambda b: (b.type, b.name))


def _question(seed: int) -> tuple[str, list[str], int]:
    """A key question as the question stage builds it: the answer among the confusers'
    values and the alternatives, at a random letter."""
    bank = BANKS[seed % len(BANKS)]
    rng = rng_for("blind test", seed)
    phrase = seed % 10 < 4  # 40% phrase answers, as the plan's default share
    kind = rng.choice(PHRASE_KINDS if phrase else VALUE_KINDS)
    facts, key_id = draw_bank_facts(bank, seed, bank.type, kind, rng.random(), 6,
                                    seed % 4, seed % 5 == 0)
    key = next(f for f in facts if f.id == key_id)
    question = stem(key, {f.frame: f.ask for f in bank.facts})
    wrong = [f.value for f in facts if f.role == "confuser"] + key.alternatives
    rng.shuffle(wrong)
    at = rng.randrange(4)
    return question, [*wrong[:at], key.value, *wrong[at:]], at


def test_no_blind_rule_beats_chance_on_400_questions() -> None:
    items = [dict(zip(("question", "choices", "correct"), _question(s), strict=True))
             for s in range(400)]
    table = blind_table(items)
    assert table["forms"]["phrase"] >= 120
    for rule, by in table["rules"].items():
        assert by["all"]["rate"] is None or by["all"]["rate"] <= 0.30, (rule, by["all"])
        for form in FORMS:
            x = by[form]
            if x["n"] >= 20:
                assert x["rate"] <= 0.35, (rule, form, x)


@pytest.mark.parametrize("seed", range(12))
def test_a_bank_sheet_keeps_the_plans_contract(seed: int) -> None:
    bank = BANKS[seed % len(BANKS)]
    kind = ALL_KINDS[seed % len(ALL_KINDS)]
    confusers = seed % 4
    facts, key_id = draw_bank_facts(bank, seed, bank.type, kind, 0.55, 9, confusers, False)
    key = next(f for f in facts if f.id == key_id)
    assert [f.id for f in facts] == [f"f{i + 1}" for i in range(9)]
    assert [f.position for f in facts] == sorted(f.position for f in facts)
    question = stem(key, {f.frame: f.ask for f in bank.facts})
    assert key.kind == kind and key.role == "key" and question.endswith("?")
    assert question.startswith(question[0].upper()) and key.slots["who"] in question
    conf = [f for f in facts if f.role == "confuser"]
    assert len(conf) == confusers
    # Confusers: the key's own fact about other subjects; no other fact says it.
    assert all(f.frame == key.frame and f.subject != key.subject for f in conf)
    assert all(f.frame != key.frame for f in facts if f.role == "fact")
    assert all(f.kind != kind for f in facts if f.role == "fact")
    values = [f.value for f in facts]
    choices = [key.value, *(f.value for f in conf), *key.alternatives]
    assert len(key.alternatives) == 3 - confusers
    assert len(set(values)) == len(values) and len(set(choices)) == 4
    assert not set(key.alternatives) & set(values)
    # A clock time is one number ("8:20" and "8:40" are two times, not a shared "8").
    digits = [d for v in values for d in re.findall(r"\d+(?::\d+)?", v)]
    assert len(digits) == len(set(digits)), values
    # Every fact's words come from its subtopic's bank, its question names no value.
    frames = {f.frame for f in bank.facts}
    assert all(f.frame in frames and f.slots["term"] in bank_terms(bank) for f in facts)
    assert not any(v in question for v in choices)


def bank_terms(bank: object) -> set[str]:
    return {f.term for f in bank.facts}  # type: ignore[attr-defined]


def test_an_hour_long_sheet_draws_unique_values() -> None:
    bank = BANKS[0]
    facts, _ = draw_bank_facts(bank, 3, bank.type, "finding", 0.5, 200, 3, False)
    values = [f.value for f in facts]
    assert len(facts) == 200 and len(set(values)) == 200
    assert len({(f.frame, f.subject) for f in facts}) == 200


def test_a_subtopic_with_no_bank_falls_back_to_the_frames(tmp_path: Path) -> None:
    covered = BANKS[0]
    facts, _ = draw_sheet(5, covered.type, covered.name, ["x"], "number", 0.3, 5, 1, False,
                          PROMPTS)
    assert all(f.frame not in FRAME for f in facts)
    # A prompts folder whose bank lacks the subtopic: the generic frames, same contract.
    (tmp_path / "fact_bank").mkdir()
    (tmp_path / "topics.yaml").write_bytes((PROMPTS / "topics.yaml").read_bytes())
    facts, key_id = draw_sheet(5, covered.type, covered.name, ["ice cores", "ice sheets"],
                               "number", 0.3, 5, 1, False, tmp_path)
    assert all(f.frame in FRAME for f in facts)
    assert next(f for f in facts if f.id == key_id).kind == "number"
