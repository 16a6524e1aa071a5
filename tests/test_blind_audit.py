"""The audit's blind-choice and topic-fit tables, on small SPIRAL-format fixtures with a known
leak and without one."""

from __future__ import annotations

import hashlib
import random
from typing import Any

import numpy as np

from pipeline.core.config import AuditConfig
from pipeline.reports.audit import _markdown, audit_records
from pipeline.reports.blind_audit import blind_table, rule_picks, topic_fit, wilson

TOPIC_WORDS = ["glacier", "ice", "core", "melt", "snow", "crevasse"]
OFF_WORDS = ["discount", "boiler", "naps", "repairs", "sale", "bottles"]


def record(i: int, answer: str, wrong: list[str], sentences: list[str],
           subtopic: str = "Glaciology") -> dict[str, Any]:
    texts = list(wrong)
    texts.insert(i % 4, answer)
    choices = [f"{x}. {t}" for x, t in zip("ABCD", texts, strict=True)]
    key = 1 + i % max(1, len(sentences) - 1)
    return {
        "transcript": [{"speaker": "spk_1", "text": sentences}],
        "original_key_sentence": sentences[key],
        "test_question": {"question": "What did the Hollin station find?", "choices": choices,
                          "correct_answer": choices[i % 4]},
        "metadata": {"main_topic": "Earth Sciences", "subtopic": subtopic,
                     "transcript_type": "lecture", "id": f"lecture_{i}"},
        "audio_data": {"combined": {"sentences": sentences},
                       "key_sentences": {"indices": [key, key + 1]}},
    }


def leaky(n: int = 40) -> list[dict[str, Any]]:
    """Phrase answers whose wrong choices each change one slot of the answer (so the answer
    shares the most words with the others), number answers always the largest and longest."""
    rng = random.Random(3)
    out = []
    for i in range(n):
        if i % 2:
            a, b = rng.sample(["samples", "sites", "logs", "crews", "sensors"], 2)
            answer = f"to pool the {a} forms on a shared drive"
            wrong = [f"to pool the {b} forms on a shared drive",
                     f"to pool the {a} forms through one portal",
                     f"to merge the {a} forms on a shared drive"]
        else:
            answer = f"{rng.randint(1000, 9999)} metres"
            wrong = [f"{rng.randint(100, 999)} metres" for _ in range(3)]
        sents = [f"The ice core {k} was drilled {k + 10} metres." for k in range(6)]
        out.append(record(i, answer, wrong, sents))
    return out


def fair(n: int = 40) -> list[dict[str, Any]]:
    """The same shapes drawn the way the fact bank draws them: four siblings, the answer one
    of them at random."""
    rng = random.Random(4)
    options = ["the dust rose in each cold spell", "the bubbles held more methane",
               "a band of ash sat near the bottom", "the old layers were folded",
               "the summer layers grew thicker", "sea salt rose in stormy decades"]
    out = []
    for i in range(n):
        four = rng.sample(options, 4) if i % 2 else \
            [f"{x} metres" for x in rng.sample(range(300, 3400, 10), 4)]
        sents = [f"The ice core {k} was drilled {k + 10} metres." for k in range(6)]
        out.append(record(i, four[0], four[1:], sents))
    return out


def test_rule_picks_read_only_the_choices() -> None:
    picks = rule_picks("How deep was the core?", ["120 metres", "1200 metres", "12 metres",
                                                   "300 metres"])
    assert picks["longest"] == [1] and picks["shortest"] == [2]
    assert sorted(picks["numeric_median"] or []) == [0, 3]
    phrase = rule_picks("q?", ["to pool the logs on a drive", "to pool the logs by post",
                               "to merge the logs on a drive", "to pool the forms on a drive"])
    assert phrase["most_shared"] == [0] and phrase["numeric_median"] is None


def test_the_blind_table_finds_a_known_leak_and_the_audit_fails_it() -> None:
    table = blind_table([{"question": r["test_question"]["question"],
                          "choices": [c[3:] for c in r["test_question"]["choices"]],
                          "correct": i % 4} for i, r in enumerate(leaky())])
    assert table["rules"]["most_shared"]["phrase"]["rate"] == 1.0
    assert table["rules"]["longest"]["number"]["rate"] == 1.0
    assert table["rules"]["most_shared"]["all"]["interval"][0] > 0.4
    result = audit_records(leaky())
    verdict = next(t for t in result["thresholds"] if t["name"] == "blind_choice")
    assert verdict["ok"] is False and "most_shared" in verdict["value"]
    md = _markdown(result)
    assert "## Blind choice" in md and "| most shared | " in md


def test_exchangeable_choices_pass_the_blind_gate() -> None:
    # 100 of each form: with nine rules, 20 numbers would put one rule past 35% by chance.
    result = audit_records(fair(200))
    verdict = next(t for t in result["thresholds"] if t["name"] == "blind_choice")
    assert verdict["ok"] is True, verdict
    assert all(by["all"]["rate"] <= 0.30 for by in result["blind"]["rules"].values()
               if by["all"]["rate"] is not None)


def bag_embed(texts: list[str]) -> np.ndarray:
    """A stand-in encoder: hashed bag of words (topic words of glaciology share a dimension
    with the subtopic's name)."""
    out = np.zeros((len(texts), 64))
    for i, t in enumerate(texts):
        for w in t.lower().replace(".", "").split():
            if w in TOPIC_WORDS or w == "glaciology":
                out[i, 0] += 1
            else:
                out[i, 1 + int(hashlib.md5(w.encode()).hexdigest(), 16) % 63] += 0.3
    return out


def with_facts(off_topic: bool, n: int = 30) -> list[dict[str, Any]]:
    rng = random.Random(8)
    out = []
    for i in range(n):
        words = OFF_WORDS if off_topic else TOPIC_WORDS
        sents = [f"The {rng.choice(TOPIC_WORDS)} and the {rng.choice(TOPIC_WORDS)} matter."
                 for _ in range(5)]
        sents[2] = f"Delia Yardley paid 57 dollars for the {rng.choice(words)} {i}."
        sents[4] = f"The Quarrie Centre counted 310 {rng.choice(words)}."
        out.append(record(i, "310", ["210", "410", "510"], sents))
    return out


def test_topic_fit_measures_how_on_topic_the_fact_sentences_are() -> None:
    off = topic_fit([{"subtopic": "Glaciology", "sentences": r["transcript"][0]["text"]}
                     for r in with_facts(True)], bag_embed)
    on = topic_fit([{"subtopic": "Glaciology", "sentences": r["transcript"][0]["text"]}
                    for r in with_facts(False)], bag_embed)
    assert off["fact_sentences"] == 60 and off["other_sentences"] == 90
    assert off["gap"] > 0.3 and on["gap"] < off["gap"]
    th = AuditConfig(topic_fit_gap_max=0.03)
    bad = audit_records(with_facts(True), thresholds=th, embed=bag_embed)
    verdict = next(t for t in bad["thresholds"] if t["name"] == "topic_fit")
    assert verdict["ok"] is False and verdict["value"] == off["gap"]
    assert "## Topic fit" in _markdown(bad)
    # Not measured unless configured (it loads a sentence encoder).
    plain = audit_records(with_facts(True), embed=bag_embed)
    assert plain["topic_fit"] is None
    assert next(t for t in plain["thresholds"] if t["name"] == "topic_fit")["ok"] is None


def test_numeric_rules_pick_what_they_name() -> None:
    # 100, 140, 150, 900: mean 322.5; median either 140 or 150; the outlier 900 (its
    # distance to the mean of the others, 770, beats 100's 297); roundest 900 (two zeros).
    picks = rule_picks("How far?", ["140 km", "900 km", "100 km", "150 km"])
    assert picks["numeric_median"] == [0, 3]
    assert picks["numeric_mean"] == [3]  # 150 is 172.5 from the mean, 140 182.5
    assert picks["numeric_outlier"] == [1]
    assert picks["numeric_roundest"] == [1, 2]  # 900 and 100: two zeros each
    # Clock times count in minutes, their roundness by the minutes (half past beats :50);
    # money keeps its thousands ("$1,250" rounder than "$1,310").
    times = rule_picks("When?", ["9:30", "9:45", "10:05", "11:50"])
    assert times["numeric_median"] == [1, 2]  # 585 and 605 minutes
    assert times["numeric_mean"] == [2]  # mean 633.75: 605 is nearest
    assert times["numeric_outlier"] == [3]  # 710 vs the others' mean 586.7
    assert times["numeric_roundest"] == [0]
    assert rule_picks("When?", ["9:15", "9:50", "10:00", "11:45"])["numeric_roundest"] == [2]
    money = rule_picks("How much?", ["$1,310", "$1,250", "$1,275", "$1,330"])
    assert money["numeric_roundest"] == [1]  # 1250: one zero and a 5
    assert money["numeric_median"] == [0, 2]
    # A tie in value ties the pick; a choice without a number turns the rules off.
    tie = rule_picks("q?", ["5 kg", "5 kg", "7 kg", "1 kg"])
    assert tie["numeric_median"] == [0, 1] and tie["numeric_mean"] == [0, 1]
    words = rule_picks("q?", ["5 kg", "five kg", "7 kg", "1 kg"])
    assert all(words[r] is None for r in ("numeric_median", "numeric_mean",
                                          "numeric_outlier", "numeric_roundest"))


def test_numeric_tells_are_found_and_scored_by_form() -> None:
    """Wrong numbers set around the answer (a-30, a+8, a+25: the answer nearest the mean,
    one of the two middle values, never the outlier) leak through the mean rule."""
    rng = random.Random(5)
    items = []
    for i in range(40):
        a = rng.randrange(200, 400)
        four = [f"{a} m", f"{a - 30} m", f"{a + 25} m", f"{a + 8} m"]
        items.append({"question": "How deep?", "choices": [*four[1:i % 4 + 1], four[0],
                                                           *four[i % 4 + 1:]],
                      "correct": i % 4})
    table = blind_table(items)
    assert table["rules"]["numeric_mean"]["number"]["rate"] == 1.0
    assert table["rules"]["numeric_median"]["number"]["rate"] == 0.5
    assert table["rules"]["numeric_outlier"]["number"]["rate"] == 0.0
    assert table["rules"]["numeric_mean"]["phrase"]["n"] == 0
    # Over all items a rule that does not apply guesses: 1/4 on the 10 phrase items added.
    table = blind_table(items + [{"question": "What?", "correct": 0, "choices": [
        "the ice was old", "the dust was thick", "the ash was new", "the salt rose"]}] * 10)
    assert table["rules"]["numeric_mean"]["all"] == {
        "rate": round((40 + 2.5) / 50, 4), "n": 50, "interval": wilson(42.5, 50)}
    assert table["rules"]["numeric_mean"]["number"]["n"] == 40


def test_amounts_said_in_words_are_numbers_to_the_audit() -> None:
    """The bank writes big sums as said ("forty-two thousand five hundred dollars"): the
    audit must read them as numbers, or the numeric rules skip them and they count as
    phrases."""
    from pipeline.reports.blind_audit import answer_form, numeric_picks
    from pipeline.text.numbers import spoken_amount, spoken_amount_value

    for n in [*range(10_000, 1_000_000, 7_919), 10**6, 1_200_000, 2_720_000]:
        assert spoken_amount_value(f"a quote of {spoken_amount(n)} dollars") == n
    assert spoken_amount_value("the team of one") is None
    four = ["twenty-five thousand dollars", "thirty-two thousand dollars",
            "twenty-four thousand dollars", "a million dollars"]
    assert [answer_form(c) for c in four] == ["number"] * 4
    picks = numeric_picks(four)
    assert picks["numeric_outlier"] == [3] and picks["numeric_roundest"] == [3]
