"""Issue 23: a blind-judge leak is redrawn as new choices, not a new item; numeric answers
sit at every rank of their four values alike."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import replace
from pathlib import Path

from pipeline.core.records import LETTERS, Check, Item
from pipeline.engine.stage import Context
from pipeline.orchestration import precheck
from pipeline.orchestration.runner import run_pipeline
from pipeline.reports.blind_audit import _number
from pipeline.text.compare import mentions
from pipeline.writing.bank_sheet import _banks, draw_bank_facts, redraw_choices
from tests.conftest import ROOT, make_config

NUMERIC = ("number", "quantity", "percentage", "money", "time", "date")


def _plan(item: Item) -> tuple:
    """What a choice draw must keep: the plan and every fact but the key's values."""
    s = item.spec
    facts = [(f.id, f.kind, f.subject, f.position, f.frame, f.role,
              None if f.id == s.key_fact else f.value) for f in s.facts]
    return (s.letter, s.key_decile, s.key_offset, s.detail_kind, s.type, s.subtopic,
            s.seed, s.key_fact, facts)


def _leaks_once(seen: list[Item]):  # noqa: ANN202
    def checks(cand: Item, ctx: Context) -> list[Check]:
        seen.append(cand)
        return [Check("judge_blind", len(seen) > 1, "leak: blind judge right in 4 of 4 orders")]
    return checks


def _choices(item: Item) -> tuple[str, list[str]]:
    key = next(f for f in item.spec.facts if f.id == item.spec.key_fact)
    return key.value, key.alternatives


def test_a_blind_judge_leak_redraws_the_choices_and_keeps_the_plan(
        tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    cfg = make_config(tmp_path, "run=cd", "n_items=1", "seed=3")
    item = run_pipeline(cfg, until="question", quiet=True).items[0]
    assert item.question is not None and item.key is not None
    seen: list[Item] = []
    monkeypatch.setattr(precheck, "draw_checks", _leaks_once(seen))
    got = asyncio.run(precheck._apply(item, Context(cfg)))
    assert not got.failed, got.failed
    # One failing draw, then the next draws new choices (not a new item): it passes.
    assert len(seen) == 2 and got.provenance["key_draw"] == 1
    assert got.provenance["choice_draws"] == [1]
    assert _plan(got) == _plan(item)
    q = got.question
    assert q.letter == item.question.letter and q.stem == item.question.stem
    assert q.choices[LETTERS.index(q.letter)] == got.key.answer
    key = next(f for f in got.spec.facts if f.id == got.spec.key_fact)
    assert key.value == got.key.answer and sorted([key.value, *key.alternatives]) == \
        sorted(q.choices)
    assert _choices(got) != _choices(item) and _choices(seen[1]) == _choices(got)
    assert q.choices != item.question.choices
    # The transcript around the key is the item's; the new answer is said once, in the key.
    assert precheck.unplant(got) == precheck.unplant(item)
    text = " ".join(got.sentences())
    assert mentions(got.key.sentence, got.key.answer)
    assert not any(mentions(text, c) for c in key.alternatives)
    # Same item, same draws.
    monkeypatch.setattr(precheck, "draw_checks", _leaks_once([]))
    again = asyncio.run(precheck._apply(item, Context(cfg)))
    assert again.question == got.question and again.spec == got.spec


def test_a_failure_that_is_not_a_leak_keeps_the_choices(tmp_path: Path,
                                                       monkeypatch) -> None:  # noqa: ANN001
    cfg = make_config(tmp_path, "run=ck", "n_items=1", "seed=3")
    item = run_pipeline(cfg, until="question", quiet=True).items[0]
    seen: list[Item] = []

    def checks(cand: Item, ctx: Context) -> list[Check]:
        seen.append(cand)
        return [Check("judge_informed", len(seen) > 2, "ambiguous")]

    monkeypatch.setattr(precheck, "draw_checks", checks)
    got = asyncio.run(precheck._apply(item, Context(cfg)))
    assert not got.failed and got.provenance["key_draw"] == 2
    assert "choice_draws" not in got.provenance
    # A key draw words the key anew and may order the wrong choices anew: the same four.
    assert {tuple(sorted(c.question.choices)) for c in seen} == {
        tuple(sorted(item.question.choices))}
    assert all(_choices(c) == _choices(item) for c in seen)
    assert got.spec == item.spec


def _chi2_uniform(counts: Counter, k: int = 4) -> float:
    n = sum(counts.values())
    return sum((counts.get(r, 0) - n / k) ** 2 / (n / k) for r in range(k))


def _rank(values: list[str]) -> int | None:
    """The first value's rank among the four (None on a tie or a value without a number)."""
    nums = [_number(v) for v in values]
    if any(x is None for x in nums) or len(set(nums)) < len(nums):
        return None
    return sorted(nums).index(nums[0])


def test_numeric_answers_take_every_rank_among_their_four_alike() -> None:
    """Over many drawn sheets (and choice redraws of them), the answer is the smallest, the
    second, the third and the largest of its four values equally often: no median, mean or
    outlier rule can find it. Chi-square with 3 degrees of freedom below 16.3 (p 0.001)."""
    banks = sorted(_banks(str(ROOT / "prompts")).values(), key=lambda b: (b.type, b.name))
    rng = random.Random(23)
    drawn: Counter = Counter()
    redrawn: Counter = Counter()
    by_kind: dict[str, Counter] = {k: Counter() for k in NUMERIC}
    for seed in range(1200):
        bank = banks[seed % len(banks)]
        kind = NUMERIC[seed % len(NUMERIC)]
        if not bank.of_kind(kind):
            continue
        facts, key_id = draw_bank_facts(bank, seed, bank.type, kind, rng.random(), 6,
                                        seed % 3, seed % 5 == 0)
        key = next(f for f in facts if f.id == key_id)
        four = [key.value, *(f.value for f in facts if f.role == "confuser"),
                *key.alternatives]
        if (r := _rank(four)) is not None:
            drawn[r] += 1
            by_kind[kind][r] += 1
        if seed % 2:
            continue
        from pipeline.core.records import ItemSpec

        spec = ItemSpec(0, "x", seed, bank.type, bank.main_topic, bank.name, [], [], 5, 0.5,
                        "A", kind, seed % 5 == 0, facts=facts, key_fact=key_id)
        new = redraw_choices(spec, seed + 1, ROOT / "prompts")
        assert new is not None
        nkey = next(f for f in new if f.id == key_id)
        assert [replace(f, value="", alternatives=[]) for f in new] == \
            [replace(f, value="", alternatives=[]) for f in facts]
        four = [nkey.value, *(f.value for f in new if f.role == "confuser"), *nkey.alternatives]
        if (r := _rank(four)) is not None:
            redrawn[r] += 1
    assert sum(drawn.values()) > 1000 and sum(redrawn.values()) > 500
    assert _chi2_uniform(drawn) < 16.3, drawn
    assert _chi2_uniform(redrawn) < 16.3, redrawn
    for kind, counts in by_kind.items():  # ~190 each: every rank within 30-70
        assert all(30 <= counts[r] <= 70 for r in range(4)), (kind, counts)
