"""The fact bank's files: every file checked, and the checker catching each kind of mistake a
writer can make (wrong kind, unit, form, length, coverage)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.core.resources import load_topics
from pipeline.writing.fact_bank import check_data, coverage, load_bank, main, slug

ROOT = Path(__file__).resolve().parents[1]
BANK = ROOT / "prompts" / "fact_bank"
TOPICS = load_topics(ROOT / "prompts" / "topics.yaml")
EXAMPLE = BANK / "lecture" / "earth_sciences.yaml"


def _files() -> list[Path]:
    return sorted(BANK.glob("*/*.yaml"))


@pytest.mark.parametrize("path", _files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_bank_file_passes_the_check(path: Path) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert check_data(data, path, TOPICS) == []


def test_the_bank_loads_every_subtopic_of_its_files() -> None:
    bank = load_bank(BANK, TOPICS)
    for path in _files():
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for sub in data["subtopics"]:
            got = bank[(data["type"], sub["name"])]
            assert len(got.facts) == len(sub["facts"])
            assert {f.kind for f in got.facts} >= {"number", "finding"}


def test_coverage_lists_the_main_topics_without_a_file(tmp_path: Path) -> None:
    (tmp_path / "lecture").mkdir()
    (tmp_path / "lecture" / "earth_sciences.yaml").write_text("x")
    missing = coverage(tmp_path, TOPICS)
    n_main = sum(len({s.main_topic for s in subs}) for subs in TOPICS.values())
    assert len(missing) == n_main - 1
    assert "lecture/earth_sciences.yaml" not in missing
    assert "conversation/food_and_cooking.yaml" in missing
    assert slug("Legal and Compliance") == "legal_and_compliance"


def _example() -> dict[str, Any]:
    return yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))


def _fact(data: dict[str, Any], fid: str) -> dict[str, Any]:
    return next(f for s in data["subtopics"] for f in s["facts"] if f["id"] == fid)


def _problems(edit: Any) -> str:
    data = copy.deepcopy(_example())
    edit(data)
    return "\n".join(check_data(data, EXAMPLE, TOPICS))


def test_the_check_names_each_mistake() -> None:
    # A missing subtopic, and a kind no subtopic may lack.
    assert "subtopic 'Glaciology' is missing" in _problems(
        lambda d: d["subtopics"].pop(2))
    assert "no fact of kind(s) money" in _problems(
        lambda d: d["subtopics"][0]["facts"].pop(9))
    # Values of the wrong kind: a percentage with a unit, a quantity with money's unit, a
    # number said with a unit, a place pattern naming a person, a unit said twice.
    assert "has no unit" in _problems(
        lambda d: _fact(d, "unfelt_share")["value"].update(unit="metres"))
    assert "quantity unit 'dollars'" in _problems(
        lambda d: _fact(d, "trace_length")["value"].update(unit="dollars"))
    assert "is another kind" in _problems(
        lambda d: _fact(d, "sensor_count")["say"].__setitem__(0, "{Subject} paid {value} "
                                                                 "dollars for sensors."))
    assert "names a place" in _problems(
        lambda d: _fact(d, "array_site")["value"].update(pattern="{person}"))
    assert "repeats the unit" in _problems(
        lambda d: _fact(d, "trace_length")["say"].__setitem__(0, "{Subject} mapped {value} "
                                                                  "kilometres of it."))
    assert "fewer than 20 values" in _problems(
        lambda d: _fact(d, "sensor_count")["value"].update(min=24, max=30))
    # Phrase alternatives of another form or length.
    assert "all or none must start with 'to'" in _problems(
        lambda d: _fact(d, "network_decision")["options"].__setitem__(
            0, "moving the sensors further from the main road"))
    assert "within 25%" in _problems(
        lambda d: _fact(d, "wave_finding")["options"].__setitem__(
            0, "the waves slowed down very sharply indeed under the old river bed"))
    assert "needs 5 phrases" in _problems(
        lambda d: _fact(d, "wave_finding").update(options=_fact(d, "wave_finding")
                                                  ["options"][:3]))
    assert "holds a digit" in _problems(
        lambda d: _fact(d, "wave_finding")["options"].__setitem__(
            0, "the waves slowed 3 times under the old river bed"))
    # Sentences: the value once, the subject named, varied openings; the term of the subtopic.
    assert "exactly once" in _problems(
        lambda d: _fact(d, "core_depth")["say"].__setitem__(0, "{Subject} drilled deep."))
    assert "same words" in _problems(
        lambda d: _fact(d, "core_depth").update(say=["{Subject} drilled to {value}.",
                                                     "{Subject} drilled down to {value}."]))
    assert "must be one of the subtopic's terms" in _problems(
        lambda d: _fact(d, "core_depth").update(term="power naps"))
    assert "keep the kinds balanced" in _problems(
        lambda d: d["subtopics"][0]["facts"].extend(
            [dict(_fact(d, "sensor_count"), id=f"extra_{i}") for i in range(3)]))


def test_the_command_exits_2_on_a_bad_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(ROOT)
    data = _example()
    _fact(data, "core_depth")["value"]["unit"] = "percent"
    bad = tmp_path / "lecture" / "earth_sciences.yaml"
    bad.parent.mkdir()
    bad.write_text(yaml.safe_dump(data))
    assert main([str(bad)]) == 2
    assert "Glaciology.core_depth.value: quantity unit 'percent'" in capsys.readouterr().out
    assert main([str(EXAMPLE)]) == 0


def test_the_bank_covers_every_main_topic() -> None:
    """Every subtopic of topics.yaml has facts of its own: none falls back to the frames."""
    assert coverage(BANK, TOPICS) == []


def test_the_check_wants_numbers_and_units_as_said() -> None:
    """TTS reads the text as written: "1000000 dollars" and "1 weeks" are what no one says."""
    assert "in digits; write it as said" in _problems(
        lambda d: _fact(d, "sensor_count")["say"].__setitem__(
            0, "{Subject} buried {value} ground sensors with a 250000 dollar grant."))
    assert "in digits; write it as said" in _problems(
        lambda d: _fact(d, "sensor_count").update(ask="Which of the 1,200,000 sensors did "
                                                      "{subject} bury?"))
    assert "one takes the singular" in _problems(
        lambda d: _fact(d, "sensor_count")["say"].__setitem__(
            0, "{Subject} buried {value} ground sensors in 1 weeks."))


class _Edge:
    """An rng whose draws land on the top (or bottom) of every range."""

    def __init__(self, top: bool) -> None:
        self.top = top

    def randrange(self, lo: int, hi: int, step: int = 1) -> int:
        return lo + (hi - 1 - lo) // step * step if self.top else lo

    def randint(self, lo: int, hi: int) -> int:
        return hi if self.top else lo

    def choice(self, seq: Any) -> Any:
        return seq[-1] if self.top else seq[0]

    def random(self) -> float:
        return 0.99 if self.top else 0.0


def test_every_value_of_the_bank_is_said_as_a_person_says_it() -> None:
    """The values at the ends of every range: big ones in words or millions, never bare
    digits; one of a unit singular. (The wrong choices are drawn the same way, so the key
    and its choices share one spoken form.)"""
    import re

    from pipeline.text.numbers import spoken_amount
    from pipeline.writing.fact_bank import VALUE_KINDS, draw_value

    assert [spoken_amount(n) for n in (9950, 40000, 42500, 1000000, 1200000, 12500000)] == [
        "9950", "forty thousand", "forty-two thousand five hundred", "a million",
        "1.2 million", "12.5 million"]
    big = ones = 0
    for sub in load_bank(BANK, TOPICS).values():
        for fact in sub.facts:
            if fact.kind not in VALUE_KINDS:
                continue
            for top in (True, False):
                value = draw_value(fact, _Edge(top))  # type: ignore[arg-type]
                assert not re.search(r"\d{5,}", value), (fact.frame, value)
                assert not re.match(r"1 \w+s\b", value), (fact.frame, value)
                big += bool(re.search(r"thousand|million", value))
                ones += value.startswith("1 ")
    assert big > 50 and ones > 5  # the bank has both: the checks above looked at some
