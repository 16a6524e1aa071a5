from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict
from pathlib import Path

from pipeline.core.records import LETTERS
from pipeline.core.resources import load_topics, load_voices
from pipeline.stages import plan
from tests.conftest import ROOT, make_config


def specs(tmp: Path, n: int, seed: int = 11) -> list:
    cfg = make_config(tmp, f"n_items={n}", f"seed={seed}")
    topics = load_topics(ROOT / "prompts" / "topics.yaml")
    voices = load_voices(ROOT / "voices" / "voices.yaml")
    return [it.spec for it in plan.run(cfg, topics, voices)]


def test_plan_is_deterministic_and_a_prefix_of_a_longer_plan(tmp_path: Path) -> None:
    short, long = specs(tmp_path, 50), specs(tmp_path, 500)
    assert [asdict(s) for s in short] == [asdict(s) for s in long[:50]]
    assert [asdict(s) for s in short] == [asdict(s) for s in specs(tmp_path, 50)]
    assert [asdict(s) for s in short] != [asdict(s) for s in specs(tmp_path, 50, seed=12)]


def test_plan_stratifies_letters_deciles_types_and_genders(tmp_path: Path) -> None:
    items = specs(tmp_path, 120)
    letters = Counter(s.letter for s in items)
    assert set(letters) == set(LETTERS) and max(letters.values()) - min(letters.values()) <= 1
    deciles = Counter(s.key_decile for s in items)
    assert sorted(deciles) == list(range(10)) and set(deciles.values()) == {12}
    types = Counter(s.type for s in items)
    assert types == {"lecture": 40, "conversation": 40, "meeting": 40}
    genders = Counter(sp.gender for s in items for sp in s.speakers)
    assert abs(genders["female"] - genders["male"]) <= 0.1 * sum(genders.values())


def test_subtopics_are_used_in_rounds(tmp_path: Path) -> None:
    """No two items share a subtopic (and so its talk) before every one of its type is used;
    then each is used once more before any a third time."""
    topics = load_topics(ROOT / "prompts" / "topics.yaml")
    items = specs(tmp_path, 3 * 2 * max(len(v) for v in topics.values()))
    for ttype, subs in topics.items():
        drawn = [s.subtopic for s in items if s.type == ttype]
        assert len(set(drawn[:len(subs)])) == len(subs), ttype
        assert max(Counter(drawn[:2 * len(subs)]).values()) == 2, ttype


def test_speakers_and_voices_per_item(tmp_path: Path) -> None:
    for s in specs(tmp_path, 60):
        n = len(s.speakers)
        assert n == 1 if s.type == "lecture" else 3 <= n <= 5
        assert len({sp.voice for sp in s.speakers}) == n
        assert [sp.id for sp in s.speakers] == [f"spk_{k + 1}" for k in range(n)]
        assert s.id == f"{s.type}_{s.index}"


def test_topics_file_is_large_and_grouped_by_type() -> None:
    topics = load_topics(ROOT / "prompts" / "topics.yaml")
    mains = {sub.main_topic for subs in topics.values() for sub in subs}
    subs = {sub.name for group in topics.values() for sub in group}
    assert len(mains) >= 40 and len(subs) >= 150
    for ttype in ("lecture", "conversation", "meeting"):
        assert len({sub.main_topic for sub in topics[ttype]}) >= 10


def test_fact_sheet_values_positions_key_and_confusers(tmp_path: Path) -> None:
    from pipeline.reports.text_audit import fact_bearing, proper_names
    from pipeline.writing.facts import PHRASE_KINDS, n_facts

    cfg = make_config(tmp_path, "n_items=60", "seed=5", "question.confusers=2")
    items = plan.run(cfg, load_topics(ROOT / "prompts" / "topics.yaml"),
                     load_voices(ROOT / "voices" / "voices.yaml"))
    phrase = 0
    for it in items:
        s = it.spec
        facts = s.facts
        assert len(facts) == n_facts(90) == 5
        values = [f.value for f in facts]
        assert len(set(values)) == len(values)
        assert not any(a != b and a in b for a in values for b in values), values
        positions = [f.position for f in facts]
        assert positions == sorted(positions) and all(0 < p < 1 for p in positions)
        key = next(f for f in facts if f.id == s.key_fact)
        assert key.role == "key" and key.kind == s.detail_kind
        assert abs(key.position - (s.key_decile + s.key_offset) / 10) < 1e-4
        confusers = [f for f in facts if f.role == "confuser"]
        assert len(confusers) == 2
        for c in confusers:  # the key's kind, about another subject
            assert c.kind == key.kind and c.subject != key.subject
        others = [f for f in facts if f.role == "fact"]
        assert all(f.kind != key.kind for f in others)
        for f in facts:  # a value is a detail unless it is a phrase; a phrase may use a
            # number word in its prose ("every two years"), never a digit or a name
            said = f"It was {f.value}."
            if f.kind in PHRASE_KINDS:
                assert not re.search(r"\d", f.value) and not proper_names(said), f.value
            else:
                assert fact_bearing(said), f.value
        phrase += key.kind in PHRASE_KINDS
    assert phrase == 24  # 40% of every block of ten
    cfg0 = make_config(tmp_path, "n_items=60", "seed=5")
    plain = plan.run(cfg0, load_topics(ROOT / "prompts" / "topics.yaml"),
                     load_voices(ROOT / "voices" / "voices.yaml"))
    assert not any(f.role == "confuser" for it in plain for f in it.spec.facts)
    long = make_config(tmp_path, "n_items=3", "audio.target_seconds=600")
    sheets = plan.run(long, load_topics(ROOT / "prompts" / "topics.yaml"),
                      load_voices(ROOT / "voices" / "voices.yaml"))
    assert all(len(it.spec.facts) == n_facts(600) == 33 for it in sheets)
