"""The rules a model's output is checked against: each one catches what it is for, and the
offline writer's own output passes all of them."""

from __future__ import annotations

from dataclasses import asdict

from pipeline.core.records import ItemSpec, Speaker
from pipeline.orchestration.runner import RunResult
from pipeline.writing import rules


def spec(kind: str = "money", ttype: str = "conversation") -> ItemSpec:
    n = 1 if ttype == "lecture" else 3
    return ItemSpec(index=0, id=f"{ttype}_0", seed=1, type=ttype, main_topic="Biology",
                    subtopic="Cell Division", terms=["spindles", "chromosomes"],
                    speakers=[Speaker(f"spk_{i + 1}", "v", "female") for i in range(n)],
                    key_decile=3, key_offset=0.5, letter="B", detail_kind=kind,
                    answer_may_be_longest=False)


def test_the_offline_writers_items_obey_every_rule(small_run: RunResult) -> None:
    cfg = small_run.ctx.cfg
    for item in small_run.built:
        assert item.key and item.question and item.transcript
        key, q = item.key, item.question
        without_key = [s for i, s in enumerate(item.sentences()) if i != key.index]
        turns = []
        for t in item.transcript:  # the script as it was before the key was planted
            kept = [s for s in t.text if s != key.sentence]
            if kept:
                turns.append({"speaker": t.speaker, "sentences": kept})
        assert rules.check_script({"turns": turns}, item.spec, cfg.writer.words_min,
                                  cfg.writer.words_max) == ""
        assert rules.check_key({"sentence": key.sentence, "answer": key.answer,
                                "slots": key.slots}, key.kind, without_key) == ""
        assert rules.check_stem({"question": q.stem}, key.answer) == ""
        wrong = [c for c in q.choices if c != key.answer]
        assert rules.check_distractors({"distractors": wrong}, key.answer, key.kind,
                                       " ".join(item.sentences()), q.stem,
                                       item.spec.answer_may_be_longest) == ""


def test_script_rules() -> None:
    s = spec()
    line = "So we keep coming back to the spindles and how they pull the chromosomes apart."
    turns = [{"speaker": f"spk_{1 + i % 3}", "sentences": [line] * 2} for i in range(7)]
    assert rules.check_script({"turns": turns}, s, 200, 230) == ""
    assert "spk_9" in rules.check_script(
        {"turns": [*turns, {"speaker": "spk_9", "sentences": ["Hi."]}]}, s, 200, 230)
    only_two = [{**t, "speaker": "spk_1" if i % 2 else "spk_2"} for i, t in enumerate(turns)]
    assert "must speak" in rules.check_script({"turns": only_two}, s, 200, 230)
    assert "turns" in rules.check_script({"turns": turns[:4]}, s, 200, 230)
    short = [{**t, "sentences": t["sentences"][:1]} for t in turns]
    assert "105 words" in rules.check_script({"turns": short}, s, 200, 230)
    leak = [*turns[:-1], {"speaker": "spk_3", "sentences": ["We spent 400 dollars on it."]}]
    assert "numbers" in rules.check_script({"turns": leak}, s, 200, 230)


def test_key_rules() -> None:
    ok = {"sentence": "The Fenwick Trust spent 4300 dollars on new spindles.",
          "answer": "4300 dollars", "slots": {"org": "Fenwick Trust"}}
    assert rules.check_key(ok, "money", ["Nothing specific here."]) == ""
    assert "form" in rules.check_key({**ok, "answer": "$4,300"}, "money", [])
    twice = {**ok, "sentence": "They spent 4300 dollars, yes, 4300 dollars on spindles."}
    assert "2 times" in rules.check_key(twice, "money", [])
    flagged = {**ok, "sentence": "Importantly, the Fenwick Trust spent 4300 dollars."}
    assert "flags itself" in rules.check_key(flagged, "money", [])
    assert "already said" in rules.check_key(ok, "money", ["It cost 4300 dollars."])
    two = {**ok, "sentence": "The trust spent 4300 dollars. It was a lot."}
    assert "one sentence" in rules.check_key(two, "money", [])


def test_stem_and_distractor_rules() -> None:
    assert rules.check_stem({"question": "How much did the Fenwick Trust spend?"},
                            "4300 dollars") == ""
    assert "contains the answer" in rules.check_stem(
        {"question": "Did the trust spend 4300 dollars?"}, "4300 dollars")
    assert "part of the answer" in rules.check_stem(
        {"question": "Was it 4300 or more?"}, "4300 dollars")
    assert "?" in rules.check_stem({"question": "Tell me the amount"}, "4300 dollars")
    args = ("4300 dollars", "money", "They spent 5100 dollars last year.", "How much?", False)
    good = {"distractors": ["4100 dollars", "3900 dollars", "4800 dollars"]}
    assert rules.check_distractors(good, *args) == ""
    said = {"distractors": ["5100 dollars", "3900 dollars", "4800 dollars"]}
    assert "said in the transcript" in rules.check_distractors(said, *args)
    same = {"distractors": ["4300 dollars", "3900 dollars", "4800 dollars"]}
    assert "differ" in rules.check_distractors(same, *args)
    long = {"distractors": ["Quentin Merriweather", "Vera Ivers", "Juno Sallow"]}
    assert "characters" in rules.check_distractors(long, "Marta Ellwood", "name", "", "?", True)
    kind = {"distractors": ["4100 euros", "3900 dollars", "4800 dollars"]}
    assert "form" in rules.check_distractors(kind, *args)
    shorter = {"distractors": ["410 dollars", "390 dollars", "480 dollars"]}
    assert "longest" in rules.check_distractors(shorter, *args)
    assert rules.check_distractors(shorter, *args[:-1], True) == ""
    units = {"distractors": ["41 litres", "39 litres", "48 tonnes"]}
    assert "unit" in rules.check_distractors(units, "37 litres", "quantity", "", "?", True)
    assert asdict(spec("name", "lecture"))["type"] == "lecture"
