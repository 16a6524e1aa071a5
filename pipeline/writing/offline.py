"""The embedded writer: a deterministic, template-based stand-in for an LLM.

It is not a language model. It exists so that the whole pipeline runs offline, in tests and
demos, and obeys the same rules a model's output is checked against: it realises the item's
fact sheet as coherent discourse (`discourse.py`), every fact said once near its planned
position, the key at the planned depth, and a question whose wrong choices are never said
(or, for planned confusers, said about another subject).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from pipeline.core.records import LETTERS, ItemSpec, KeyDetail, Question, Turn
from pipeline.text.compare import mentions
from pipeline.writing.details import make_distractors
from pipeline.writing.discourse import key_sentence, script_lines, to_turns
from pipeline.writing.facts import (
    PHRASE_KINDS,
    key_fact,
    key_position,
    phrase_distractors,
    stem,
)


def write_script(spec: ItemSpec, bank: dict[str, Any], words: int,
                 disfluency_rate: float) -> list[Turn]:
    """Speaker turns stating every fact of the sheet but the key, about `words` words once
    the key is planted."""
    lines = script_lines(spec, bank, words, disfluency_rate)
    return to_turns(lines, spec.type == "lecture")


def insert_key(spec: ItemSpec, turns: list[Turn], sentence: str) -> tuple[list[Turn], int]:
    """The turns with `sentence` inserted at the spec's planned depth, and its flat index.
    In a dialogue the key never answers its own speaker's question: after a question it is
    said by the next turn's speaker (or another one), in a turn of its own."""
    flat = [(ti, si) for ti, t in enumerate(turns) for si in range(len(t.text))]
    k = key_position(spec.key_decile, spec.key_offset, len(flat) + 1)
    new = [Turn(t.speaker, list(t.text)) for t in turns]
    ti, si = (len(new) - 1, len(new[-1].text)) if k == len(flat) else flat[k]
    turn = new[ti]
    if spec.type == "lecture" or si == 0 or not turn.text[si - 1].rstrip().endswith("?"):
        turn.text.insert(si, sentence)
        return new, k
    after = new[ti + 1].speaker if ti + 1 < len(new) else ""
    others = [s.id for s in spec.speakers if s.id != turn.speaker]
    teller = after if after and after != turn.speaker else (others or [turn.speaker])[0]
    parts = [Turn(turn.speaker, turn.text[:si]), Turn(teller, [sentence])]
    if turn.text[si:]:
        parts.append(Turn(turn.speaker, turn.text[si:]))
    merged: list[Turn] = []
    for t in new[:ti] + parts + new[ti + 1:]:
        if merged and merged[-1].speaker == t.speaker:
            merged[-1].text.extend(t.text)
        else:
            merged.append(t)
    return merged, k


def key_slots(spec: ItemSpec) -> dict[str, str]:
    """What the question may name: the key fact's subject, context and frame."""
    fact = key_fact(spec.facts, spec.key_fact)
    return {"subject": fact.subject, "context": fact.context, "frame": fact.frame,
            **fact.slots}


def plant_key(spec: ItemSpec, turns: list[Turn], bank: dict[str, Any]
              ) -> tuple[list[Turn], KeyDetail]:
    """Put the key fact's sentence back at the planned depth."""
    fact = key_fact(spec.facts, spec.key_fact)
    sentence = key_sentence(spec, bank)
    new, k = insert_key(spec, turns, sentence)
    return new, KeyDetail(sentence=sentence, index=k, kind=fact.kind, answer=fact.value,
                          slots=key_slots(spec))


def wrong_choices(spec: ItemSpec, answer: str, kind: str, unit: str, rng: random.Random,
                  forbidden: Callable[[str], bool]) -> list[str]:
    """Three wrong choices: the planned confusers' values (said, about other subjects),
    then unsaid values of the key's kind and form, of similar length."""
    confusers = [f.value for f in spec.facts if f.role == "confuser"]
    values = {f.value for f in spec.facts}

    def banned(c: str) -> bool:
        return c in values or forbidden(c)

    alternatives = key_fact(spec.facts, spec.key_fact).alternatives
    if alternatives:
        # Drawn with the sheet like the answer itself (writing/bank_sheet.py): taken as they
        # are, so the four choices stay exchangeable; one said by accident fails the item.
        said = [c for c in alternatives if banned(c)]
        if said:
            raise ValueError(f"wrong choice {said[0]!r} is said in the transcript")
        out = confusers + list(alternatives)
        rng.shuffle(out)
        return out
    if kind in PHRASE_KINDS:
        out = phrase_distractors(answer, kind, spec.type, rng, banned,
                                 spec.answer_may_be_longest, confusers)
    else:
        need = 3 - len(confusers)
        allow = spec.answer_may_be_longest or max([len(c) for c in confusers], default=0) \
            >= len(answer)
        names = kind in ("name", "place")
        extra = make_distractors(answer, kind, rng, unit, lambda c: banned(c) or (names and any(
            set(c.split()) & set(x.split()) for x in confusers)), allow, need) if need else []
        out = confusers + extra
    rng.shuffle(out)
    return out


def write_question(spec: ItemSpec, key: KeyDetail, transcript_text: str,
                   stems: dict[str, str], rng: random.Random) -> Question:
    """The key fact's question, its answer at the planned letter among three wrong ones."""
    fact = key_fact(spec.facts, spec.key_fact)
    text = stem(fact, stems)

    def forbidden(cand: str) -> bool:
        return mentions(transcript_text, cand) or mentions(text, cand)

    choices = wrong_choices(spec, key.answer, key.kind, key.slots.get("unit", ""), rng,
                            forbidden)
    choices.insert(LETTERS.index(spec.letter), key.answer)
    return Question(stem=text, choices=choices, letter=spec.letter)
