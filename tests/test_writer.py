"""The offline writer's rules, checked on 100 items (no audio needed)."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from pipeline.core.records import LETTERS, Item
from pipeline.core.resources import load_stem_templates, load_topics, load_voices
from pipeline.orchestration.runner import run_pipeline
from pipeline.reports.text_audit import fact_bearing
from pipeline.stages import plan
from pipeline.text.compare import mentions
from pipeline.writing.discourse import load_discourse_bank, script_lines, write_discourse
from pipeline.writing.facts import FRAMES
from pipeline.writing.rules import FLAGS, script_words
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


def test_the_offline_writer_states_every_fact_once_near_its_place(items: list[Item]) -> None:
    """Each value of the sheet is said once, near its planned position; every other sentence
    carries no detail, so the key is one fact sentence among several."""
    for it in items:
        sents = it.sentences()
        text = " ".join(sents)
        for f in it.spec.facts:
            assert len(re.findall(r"(?<![\w:])" + re.escape(f.value) + r"(?![\w:])", text)) \
                == 1, (it.id, f.value)
            at = next(i for i, s in enumerate(sents) if mentions(s, f.value))
            assert abs(at / len(sents) - f.position) <= 0.25, (it.id, f.value, at)
        for s in sents:
            if not any(mentions(s, f.value) for f in it.spec.facts):
                assert not fact_bearing(s), (it.id, s)


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


def test_every_frame_has_a_stem_and_realisations_that_say_its_value() -> None:
    stems = load_stem_templates(ROOT / "prompts" / "offline_questions.yaml")
    bank = load_discourse_bank(ROOT / "prompts" / "offline_writer.yaml",
                               ROOT / "prompts" / "offline_discourse.yaml",
                               ROOT / "prompts" / "offline_talk.yaml")
    slot = re.compile(r"\{(\w+)\}")
    for frame in FRAMES:
        assert set(slot.findall(stems[frame.id])) <= {"subject"} | set(
            slot.findall(frame.context)), frame.id
        assert len(bank["facts"][frame.id]) >= 2


@pytest.mark.parametrize("seconds", [30, 600])
def test_lengths_from_half_a_minute_to_ten_minutes(tmp_path: Path, seconds: int) -> None:
    """Every fact said once and no sentence repeated, at the shortest and longest targets."""
    cfg = make_config(tmp_path, "n_items=6", "seed=4", f"audio.target_seconds={seconds}",
                      "audio.tolerance_seconds=5")
    specs = [it.spec for it in plan.run(cfg, load_topics(ROOT / "prompts" / "topics.yaml"),
                                        load_voices(ROOT / "voices" / "voices.yaml"))]
    bank = load_discourse_bank(ROOT / "prompts" / "offline_writer.yaml",
                               ROOT / "prompts" / "offline_discourse.yaml",
                               ROOT / "prompts" / "offline_talk.yaml")
    words = round(seconds * 2.3)
    for spec in specs:
        lines = write_discourse(spec, bank, words, 0.15)
        sents = [x.text for x in lines]
        assert len(sents) == len(set(sents)), spec.id
        assert abs(sum(len(s.split()) for s in sents) - words) <= max(20, words // 20)
        text = " ".join(sents)
        for f in spec.facts:
            assert len(re.findall(r"(?<![\w:])" + re.escape(f.value) + r"(?![\w:])", text)) \
                == 1, (spec.id, f.value)
        key = next(i for i, x in enumerate(lines) if x.fact == spec.key_fact)
        if len(lines) >= 10:  # (a shorter item has no sentence in some deciles)
            assert int(10 * key / len(lines)) == spec.key_decile


def test_the_key_position_stays_inside_a_short_transcript() -> None:
    from pipeline.writing.offline import key_position

    for n in range(1, 25):
        for decile in range(10):
            for offset in (0.0, 0.5, 0.999):
                k = key_position(decile, offset, n)
                assert 0 <= k < n
                if n >= 10:
                    assert int(10 * k / n) == decile


def _bank() -> dict:
    return load_discourse_bank(ROOT / "prompts" / "offline_writer.yaml",
                               ROOT / "prompts" / "offline_discourse.yaml",
                               ROOT / "prompts" / "offline_talk.yaml")


def test_talk_covers_every_term_and_carries_no_detail() -> None:
    """Every term of topics.yaml has its talk; none of it is a detail, a flag or a repeat."""
    talk = _bank()["talk"]
    seen: set[str] = set()
    for ttype, subs in load_topics(ROOT / "prompts" / "topics.yaml").items():
        for sub in subs:
            for term in sub.terms:
                said = talk[ttype].get(sub.name, {}).get(term, [])
                assert len(said) == 3, (ttype, sub.name, term)
                assert term.lower() in said[0].lower(), (sub.name, term, said[0])
                for s in said:
                    assert not fact_bearing(s), s
                    assert not any(re.search(rf"\b{re.escape(f)}\b", s, re.I) for f in FLAGS), s
                    assert s not in seen, s
                    seen.add(s)


def test_talk_is_said_in_the_sub_point_of_its_term(items: list[Item]) -> None:
    """A talk sentence stands within three sentences of the fact about its term, and most
    items say several: the discourse is about what each fact is about."""
    talk = _bank()["talk"]
    used = 0
    for it in items[:40]:
        about = {s: term for term, said in talk[it.spec.type][it.spec.subtopic].items()
                 for s in said}
        sents = it.sentences()
        facts = {i: f.slots["term"] for i, s in enumerate(sents) for f in it.spec.facts
                 if f.value in s}
        for i, s in enumerate(sents):
            term = next((t for x, t in about.items() if x[1:] in s), None)
            if term is None:
                continue
            used += 1
            assert any(abs(i - j) <= 3 and t == term for j, t in facts.items()), (it.id, s)
    assert used >= 3 * 40


PRONOUN_OPENER = re.compile(r"^(?:They|They're|Their|Its|This|That(?!'s)|Those(?! who))\b")


def test_talk_after_its_first_sentence_names_what_it_is_about() -> None:
    """A talk sentence may follow a fact line (or another term's talk): one that opens on a
    pronoun ("They work best as living documents") would point at the fact's subject."""
    talk = _bank()["talk"]
    bad = [s for subs in talk.values() for terms in subs.values() for said in terms.values()
           for s in said[1:] if PRONOUN_OPENER.match(s)]
    assert bad == []


def test_no_template_of_the_talk_is_word_salad() -> None:
    """The lexicon-built fillers ("given the interim escalation path", "after it simplified
    your dinner", "a steadier portrait") meant nothing: no sentence of the talk draws on them."""
    import yaml

    from pipeline.writing import discourse

    data = yaml.safe_load((ROOT / "prompts" / "offline_discourse.yaml").read_text())
    lexicons = {name for name in data["mix"] if name != "c"}
    for ttype in discourse.ROLES:
        for role in discourse.ROLES[ttype]:
            for tmpl in data[ttype][role]:
                assert not set(re.findall(r"\{(\w+)\}", tmpl)) & lexicons, (ttype, role, tmpl)
    assert discourse.GENERATED_SHARE == 0


def test_a_term_leads_in_only_a_fact_about_that_term(items: list[Item]) -> None:
    """"Turning to the surface features, the institute built the orbiter camera": a fact is
    led in by its term only where its own question or sentences name that term."""
    from pipeline.writing.bank_sheet import bank_fact
    from pipeline.writing.discourse import _names_term

    leads = _bank()
    led = 0
    for it in items:
        for f in it.spec.facts:
            term = f.slots.get("term", "")
            entry = bank_fact(ROOT / "prompts", it.spec.type, it.spec.subtopic, f.frame)
            if entry is None or not term:
                continue
            openers = [x.format(term=term).lower().rstrip(":, ")
                       for x in leads[it.spec.type]["term_lead"]]
            for s in it.sentences():
                if f.value in s and any(s.lower().startswith(o) for o in openers):
                    led += 1
                    assert any(_names_term(x, term) for x in (entry.ask, *entry.say)), (
                        it.id, s)
    assert led >= 3


def test_a_subtopic_lead_never_precedes_a_sentence_that_names_the_subtopic(
        items: list[Item]) -> None:
    """"For logistics, our logistics coordinator ...": a sentence that names its subtopic
    already is not led in by it again."""
    leads = _bank()
    led = 0
    for it in items:
        openers = [x.format(subtopic_lc=it.spec.subtopic.lower()).lower()
                   for x in leads.get("subtopic_lead", {}).get(it.spec.type, [])]
        for s in it.sentences():
            for o in openers:
                if s.lower().startswith(o):
                    led += 1
                    rest = s[len(o):].lower()
                    assert it.spec.subtopic.lower() not in rest, (it.id, s)
    assert led >= 3


def test_scripts_land_in_the_rules_word_range(tmp_path: Path) -> None:
    """The offline script (key left out) always fits the range the rules give a model's."""
    cfg = make_config(tmp_path, "n_items=100", "seed=5")
    specs = [it.spec for it in plan.run(cfg, load_topics(ROOT / "prompts" / "topics.yaml"),
                                        load_voices(ROOT / "voices" / "voices.yaml"))]
    bank = _bank()
    for words in (200, 230):
        lo, hi = script_words(words, words)
        for spec in specs:
            got = sum(len(x.text.split()) for x in script_lines(spec, bank, words, 0.15))
            assert lo <= got <= hi, (spec.id, words, got)


def test_the_key_never_answers_its_own_speakers_question(items: list[Item]) -> None:
    """After a question the key is said by another speaker; its flat index is kept."""
    from pipeline.core.records import Speaker, Turn
    from pipeline.writing.offline import insert_key, key_position

    for it in items:
        assert it.key is not None
        for t in it.transcript or []:
            if it.key.sentence in t.text:
                j = t.text.index(it.key.sentence)
                assert j == 0 or not t.text[j - 1].endswith("?"), it.id
    spec = replace(items[0].spec, type="conversation", key_decile=5, key_offset=0.0,
                   speakers=[Speaker("spk_1", "v", "female"), Speaker("spk_2", "w", "male")])
    k = key_position(spec.key_decile, spec.key_offset, 10)
    said = [f"Line {i}." if i != k - 1 else "A question?" for i in range(9)]
    turns = [Turn("spk_1", said[:k + 1]), Turn("spk_2", said[k + 1:])]
    new, at = insert_key(spec, turns, "KEY.")
    flat = [(t.speaker, s) for t in new for s in t.text]
    assert at == k and flat[k] == ("spk_2", "KEY.") and flat[k - 1] == ("spk_1", "A question?")
    assert [s for _, s in flat] == [*said[:k], "KEY.", *said[k:]]


@pytest.mark.slow
def test_fact_sentences_are_as_on_topic_as_the_talk(items: list[Item]) -> None:
    """Issue 23: the sentences that state facts are about the subtopic as much as the rest
    (the audit's topic fit with the packaged MiniLM, every sentence of the 100 items: about
    20 s on 2 cores). The bank's subjects, leads and sentences name what a fact is about."""
    from pipeline.reports.blind_audit import minilm_embed, topic_fit

    fit = topic_fit([{"subtopic": it.spec.subtopic, "sentences": it.sentences()}
                     for it in items], minilm_embed(), max_sentences=10**6)
    assert fit["fact_sentences"] >= 400
    assert fit["gap"] <= 0.03, fit
