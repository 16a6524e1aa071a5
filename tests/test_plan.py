from __future__ import annotations

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
