"""Two-hop questions: planned, written and checked sound (writing/two_hop.py)."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from pipeline.core.records import LETTERS, Question
from pipeline.orchestration.runner import run_pipeline
from pipeline.stages import plan
from pipeline.writing import two_hop
from tests.conftest import make_config


@pytest.fixture(scope="module")
def items(tmp_path_factory: pytest.TempPathFactory) -> list:
    tmp = tmp_path_factory.mktemp("hops")
    cfg = make_config(tmp, "run=hops", "n_items=10", "seed=3", "question.multi_hop=0.5")
    return run_pipeline(cfg, until="question", quiet=True).items


def test_the_planner_gives_the_configured_share_two_hops(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, "n_items=40", "question.multi_hop=0.5")
    ctx_items = plan.run(cfg, *_topics_voices())
    hops = Counter(it.spec.hops for it in ctx_items)
    assert hops[2] == 20  # stratified in blocks of ten
    for it in ctx_items:
        spec = it.spec
        first = two_hop.first_hop(spec.facts, spec.key_fact)
        if spec.hops == 1:
            assert first is None
            continue
        key = next(f for f in spec.facts if f.id == spec.key_fact)
        assert key.kind in two_hop.SUMMABLE and first.frame == key.frame
        assert first.subject != key.subject and first.position < key.position
        assert first.value != key.value
    none = plan.run(make_config(tmp_path, "n_items=40"), *_topics_voices())
    assert {it.spec.hops for it in none} == {1}


def _topics_voices() -> tuple:
    from pipeline.core.resources import load_topics, load_voices
    from tests.conftest import ROOT

    return (load_topics(ROOT / "prompts" / "topics.yaml"),
            list(load_voices(ROOT / "voices" / "voices.yaml").values())
            if isinstance(load_voices(ROOT / "voices" / "voices.yaml"), dict)
            else load_voices(ROOT / "voices" / "voices.yaml"))


def test_written_two_hop_items_are_sound(items: list) -> None:
    two = [it for it in items if it.spec.hops == 2 and not it.failed]
    assert len(two) >= 4
    for it in two:
        checks = two_hop.checks(it)
        assert all(c.ok for c in checks), (it.id, [c for c in checks if not c.ok])
        key = next(f for f in it.spec.facts if f.id == it.spec.key_fact)
        first = two_hop.first_hop(it.spec.facts, it.spec.key_fact)
        q = it.question
        answer = q.choices[LETTERS.index(q.letter)]
        assert answer == two_hop.total(first.value, key.value)
        # the later fact is the key (SPIRAL's fields name it), said once, after the first
        assert key.value in it.key.sentence
        assert two_hop.sentence_index(it, first) < it.key.index
        # each wrong choice: one value right, the other swapped (never both right)
        for c in q.choices:
            if c != answer:
                n = two_hop.parse(c)[0]
                a, b = two_hop.parse(first.value)[0], two_hop.parse(key.value)[0]
                assert n != a + b and (n - a > 0 or n - b > 0)
        assert "added together" in q.stem and first.subject in q.stem


def _broken(it: object, choices: list[str]) -> object:
    q = it.question
    return replace(it, question=Question(q.stem, choices, q.letter))


def test_soundness_checks_catch_what_they_are_for(items: list) -> None:
    it = next(x for x in items if x.spec.hops == 2 and not x.failed)
    q = it.question
    ci = LETTERS.index(q.letter)
    key = next(f for f in it.spec.facts if f.id == it.spec.key_fact)
    first = two_hop.first_hop(it.spec.facts, it.spec.key_fact)

    def failing(choices: list[str]) -> set[str]:
        return {c.name for c in two_hop.checks(_broken(it, choices)) if not c.ok}

    # the key's own value as the answer: one fact alone would do; the total is not it
    wrong_answer = list(q.choices)
    wrong_answer[ci] = key.value
    assert "two_hop_answer" in failing(wrong_answer)
    # a wrong choice with both facts swapped (far from either value plus a like one)
    a, unit = two_hop.parse(first.value)
    b, _ = two_hop.parse(key.value)
    both = list(q.choices)
    both[(ci + 1) % 4] = f"{a + b + 10 ** (len(str(a + b)) + 2)}{unit}"
    assert "two_hop_wrong_choices" in failing(both)
    # choices that knowing the first value alone would settle (only one above it)
    small = [f"{max(1, a - k - 1)}{unit}" for k in range(4)]
    small[ci] = q.choices[ci]
    assert "two_hop_one_fact_insufficient" in failing(small)
