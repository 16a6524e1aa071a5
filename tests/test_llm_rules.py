"""The rules a model's output is checked against: each one catches what it is for, and the
offline writer's own output passes all of them."""

from __future__ import annotations

from dataclasses import asdict

from pipeline.core.records import Fact, ItemSpec, Speaker
from pipeline.orchestration.runner import RunResult
from pipeline.writing import rules
from pipeline.writing.budget import word_target
from pipeline.writing.fact_rules import asked_subject
from pipeline.writing.facts import key_fact

FACTS = [
    Fact("f1", "percentage", "the Fenwick Trust", "the share of spindle records rechecked",
         "42 percent", 0.1),
    Fact("f2", "money", "the Fenwick Trust", "the grant for the spindles", "4300 dollars",
         0.35, role="key"),
    Fact("f3", "finding", "Marta Ellwood", "what the study of the chromosomes found",
         "the older samples drifted after heavy rain", 0.6),
    Fact("f4", "money", "the Holloway Society", "the grant for the chromosomes",
         "5100 dollars", 0.85, role="confuser"),
]


def spec(kind: str = "money", ttype: str = "conversation") -> ItemSpec:
    n = 1 if ttype == "lecture" else 3
    return ItemSpec(index=0, id=f"{ttype}_0", seed=1, type=ttype, main_topic="Biology",
                    subtopic="Cell Division", terms=["spindles", "chromosomes"],
                    speakers=[Speaker(f"spk_{i + 1}", "v", "female") for i in range(n)],
                    key_decile=3, key_offset=0.5, letter="B", detail_kind=kind,
                    answer_may_be_longest=False, facts=list(FACTS), key_fact="f2")


def test_the_offline_writers_items_obey_every_rule(small_run: RunResult) -> None:
    ctx = small_run.ctx
    from pipeline.stages.script import voice_rates

    for item in small_run.built:
        assert item.key and item.question and item.transcript
        key, q = item.key, item.question
        fact = key_fact(item.spec.facts, item.spec.key_fact)
        without_key = [s for i, s in enumerate(item.sentences()) if i != key.index]
        turns = []
        for t in item.transcript:  # the script as it was before the key was planted
            kept = [s for s in t.text if s != key.sentence]
            if kept:
                turns.append({"speaker": t.speaker, "sentences": kept})
        # The script was aimed with the planned voices; the pre-check may since have drawn the
        # key speaker another (at another rate), so the word range is checked against the
        # target of either (test_writer checks the range on 300 plans).
        words = word_target(item.spec, ctx.cfg.writer, ctx.cfg.audio, voice_rates(item, ctx))
        got = sum(len(s.split()) for t in turns for s in t["sentences"])
        if item.provenance.get("key_draw") and not words - 25 <= got <= words - 2:
            words = got + 2
        assert rules.check_script({"turns": turns}, item.spec, words, words) == ""
        assert rules.check_key({"sentence": key.sentence, "answer": key.answer}, fact,
                               without_key) == ""
        # A question names a bank subject as it is asked about ("my neighbour Juno": "Juno"),
        # as the LLM writer checks it.
        assert rules.check_stem({"question": q.stem}, key.answer,
                                asked_subject(fact.subject)) == ""
        wrong = [c for c in q.choices if c != key.answer]
        assert rules.check_distractors({"distractors": wrong}, key.answer, key.kind,
                                       " ".join(item.sentences()), q.stem,
                                       item.spec.answer_may_be_longest) == ""


LINE = "So we keep coming back to the spindles and how they pull the chromosomes apart."
STATED = {1: "The Fenwick Trust found that 42 percent of the spindle records needed a recheck.",
          8: "Marta Ellwood found that the older samples drifted after heavy rain, oddly.",
          11: "Over at the Holloway Society, the grant came to 5100 dollars in the end."}


def script(replace: dict[int, str] | None = None) -> dict:
    sentences = [LINE] * 14
    for i, text in {**STATED, **(replace or {})}.items():
        sentences[i] = text
    return {"turns": [{"speaker": f"spk_{1 + i % 3}", "sentences": sentences[2 * i:2 * i + 2]}
                      for i in range(7)]}


def test_script_rules() -> None:
    s = spec()
    turns = script()["turns"]
    assert rules.check_script({"turns": turns}, s, 200, 230) == ""
    assert "spk_9" in rules.check_script(
        {"turns": [*turns, {"speaker": "spk_9", "sentences": ["Hi."]}]}, s, 200, 230)
    only_two = [{**t, "speaker": "spk_1" if i % 2 else "spk_2"} for i, t in enumerate(turns)]
    assert "must speak" in rules.check_script({"turns": only_two}, s, 200, 230)
    assert "turns" in rules.check_script({"turns": turns[:4]}, s, 200, 230)
    short = [{**t, "sentences": t["sentences"][:1]} for t in turns]
    assert "words" in rules.check_script({"turns": short}, s, 200, 230)


def test_script_rules_catch_a_missing_duplicated_misplaced_or_stray_value() -> None:
    s = spec()
    assert rules.check_script(script(), s, 200, 230) == ""
    missing = script({8: LINE})
    assert "'the older samples drifted after heavy rain' exactly once" in rules.check_script(
        missing, s, 200, 230) and "0 times" in rules.check_script(missing, s, 200, 230)
    twice = script({5: "That 42 percent figure came up again and again, honestly."})
    assert "2 times" in rules.check_script(twice, s, 200, 230)
    late = script({1: LINE, 12: STATED[1]})
    assert "86% of the way in" in rules.check_script(late, s, 200, 230)
    key = script({4: "The Fenwick Trust got 4300 dollars for the spindles, which helped."})
    assert "must not say '4300 dollars'" in rules.check_script(key, s, 200, 230)
    stray = script({4: "Another group spent 2900 dollars on the very same spindles, too."})
    assert "'2900 dollars', another money" in rules.check_script(stray, s, 200, 230)
    # The confuser's value is planned: said once, it is no stray; a figure of another kind
    # is not the key's kind.
    other = script({4: "It took them about 15 minutes to settle the chromosomes."})
    assert rules.check_script(other, s, 200, 230) == ""
    names = spec("name")
    names.facts = [*FACTS[:1], Fact("f2", "name", "the Fenwick Trust", "who leads",
                                    "Vera Ingram", 0.35, role="key"), FACTS[2]]
    stray = script({4: "They spoke to Walter Dunmore about the spindles, at length.", 11: LINE})
    assert "'Walter Dunmore', another name" in rules.check_script(stray, names, 200, 230)
    assert rules.check_script(script({11: LINE}), names, 200, 230) == ""


def test_key_rules() -> None:
    fact = FACTS[1]
    ok = {"sentence": "The Fenwick Trust spent 4300 dollars on new spindles.",
          "answer": "4300 dollars"}
    assert rules.check_key(ok, fact, ["Nothing specific here."]) == ""
    assert "exactly" in rules.check_key({**ok, "answer": "$4,300"}, fact, [])
    twice = {**ok, "sentence": "The Fenwick Trust spent 4300 dollars, yes, 4300 dollars."}
    assert "2 times" in rules.check_key(twice, fact, [])
    flagged = {**ok, "sentence": "Importantly, the Fenwick Trust spent 4300 dollars."}
    assert "flags itself" in rules.check_key(flagged, fact, [])
    assert "already said" in rules.check_key(ok, fact, ["It cost 4300 dollars."])
    two = {**ok, "sentence": "The Fenwick Trust spent 4300 dollars. It was a lot."}
    assert "one sentence" in rules.check_key(two, fact, [])
    unnamed = {**ok, "sentence": "The trust spent 4300 dollars on spindles."}
    assert "must name the Fenwick Trust" in rules.check_key(unnamed, fact, [])


def test_stem_and_distractor_rules() -> None:
    assert rules.check_stem({"question": "How much did the Fenwick Trust spend?"},
                            "4300 dollars", "the Fenwick Trust") == ""
    assert "must name" in rules.check_stem({"question": "How much did they spend?"},
                                           "4300 dollars", "the Fenwick Trust")
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
    # ... unless it is a planned confuser, which the pipeline adds itself.
    assert rules.check_distractors({"distractors": ["3900 dollars", "4800 dollars"]}, *args,
                                   ("5100 dollars",)) == ""
    assert "exactly 2" in rules.check_distractors(good, *args, ("5100 dollars",))
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
    phrase = "the older samples drifted after heavy rain"
    fine = {"distractors": ["the newer sites recovered after the upgrade",
                            "the manual counts slowed in colder weather",
                            "the outer stations varied during the holidays"]}
    assert rules.check_distractors(fine, phrase, "finding", "", "?", True) == ""
    bare = {"distractors": ["slowed", *fine["distractors"][1:]]}
    assert "form" in rules.check_distractors(bare, phrase, "finding", "", "?", True)
    assert asdict(spec("name", "lecture"))["type"] == "lecture"
