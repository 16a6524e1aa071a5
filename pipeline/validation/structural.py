"""Structural checks of a built item, each with a machine-readable reason.

They run on what was produced, whoever produced it (the offline writer or an LLM), so a
rule the writer is meant to obey is also verified.
"""

from __future__ import annotations

from pipeline.core.config import AudioConfig, ValidateConfig
from pipeline.core.grid import item_audio
from pipeline.core.records import LETTERS, SPEAKERS, Check, Item
from pipeline.text.compare import mentions


def depth_decile(index: int, n_sentences: int) -> int:
    return min(9, int(10 * index / n_sentences))


def depth_ok(index: int, n_sentences: int, planned: int) -> bool:
    """The key sits in its planned decile or, in an item of under ten sentences where that
    decile holds no sentence (a 30-s item has five or six), in the nearest one that does."""
    decile = depth_decile(index, n_sentences)
    if decile == planned:
        return True
    held = {depth_decile(i, n_sentences) for i in range(n_sentences)}
    if planned in held:
        return False
    nearest = min(abs(d - planned) for d in held)
    return abs(decile - planned) == nearest


def _schema(item: Item) -> str:
    spec, q, key = item.spec, item.question, item.key
    if not item.transcript or key is None or q is None or item.audio is None:
        return "missing: transcript, key, question or audio"
    if len(q.choices) != 4 or q.letter not in LETTERS:
        return f"choices: expected 4 and a letter A-D, got {len(q.choices)} and {q.letter!r}"
    ids = {s.id for s in spec.speakers}
    used = {t.speaker for t in item.transcript}
    if not used <= ids:
        return f"speakers: transcript uses {sorted(used - ids)} not in the spec"
    lo, hi = SPEAKERS[spec.type]
    if not lo <= len(used) <= hi:
        return f"speakers: {spec.type} needs {lo}-{hi} speakers, has {len(used)}"
    if any(not t.text or any(not s.strip() for s in t.text) for t in item.transcript):
        return "transcript: empty turn or sentence"
    if item.audio and len(item.audio.sentence_times) != len(item.sentences()):
        return "timestamps: not one [start, end] per sentence"
    return ""


def structural_checks(item: Item, audio: AudioConfig, gates: ValidateConfig) -> list[Check]:
    reason = _schema(item)
    checks = [Check("schema", not reason, reason)]
    if reason:
        return checks
    assert item.key and item.question and item.audio
    sents = item.sentences()
    key, q = item.key, item.question
    answer = q.choices[LETTERS.index(q.letter)]

    def check(name: str, ok: bool, why: str) -> None:
        checks.append(Check(name, ok, "" if ok else why))

    count = sents.count(key.sentence)
    check("key_once_verbatim", count == 1 and sents[key.index] == key.sentence,
          f"key sentence appears {count} times" + ("" if count != 1 else " (not at its index)"))
    decile = depth_decile(key.index, len(sents))
    check("key_depth", depth_ok(key.index, len(sents), item.spec.key_decile),
          f"key at decile {decile}, planned {item.spec.key_decile}")
    # A two-hop answer is a total said nowhere (stages check it with writing/two_hop.py):
    # here the key's own value must be said in the key sentence and only there.
    said_value = key.answer if item.spec.hops == 2 else answer
    check("answer_in_choices", q.choices.count(answer) == 1
          and (item.spec.hops == 2 or answer == key.answer),
          f"correct choice {answer!r} is not the planted detail {key.answer!r} once")
    check("answer_in_key", mentions(key.sentence, said_value),
          "answer not said in the key sentence")
    others = [s for i, s in enumerate(sents) if i != key.index]
    leaks = [s for s in others if mentions(s, said_value)]
    check("answer_only_in_key", not leaks, f"answer also said in: {leaks[:1]}")
    text = " ".join(sents)
    said = [c for c in q.choices if c != answer and mentions(text, c)]
    check("distractors_unsaid", not said, f"distractors said in the transcript: {said}")
    check("choices_distinct", len(set(q.choices)) == 4, "choices repeat")
    lengths = [len(c) for c in q.choices]
    spread = (max(lengths) - min(lengths)) / max(lengths)
    limit = gates.max_choice_length_spread
    check("choices_similar_length", spread <= limit or max(lengths) - min(lengths) <= 3,
          f"choice lengths {lengths} differ by {spread:.1%} of the longest (max {limit:.1%})")
    check("stem_without_answer", not mentions(q.stem, answer), "the stem contains the answer")
    a = item_audio(item.spec, audio)  # a length grid gives each item its own window
    dur = item.audio.duration
    check("duration_window", abs(dur - a.target_seconds) <= a.tolerance_seconds,
          f"duration {dur:.1f}s outside {a.target_seconds:g}+-{a.tolerance_seconds:g}s")
    return checks
