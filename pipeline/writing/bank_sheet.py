"""An item's fact sheet drawn from its subtopic's fact bank (writing/fact_bank.py).

The plan's contract is that of `facts.draw_facts`: the same layout (the key's kind at its
depth, confusers of the key's kind, the other kinds in turn), all values unique and sharing
no name or digit group. What changes is where the facts come from: each slot takes a fact of
its kind written for the subtopic, about a subject that fits the transcript type.

The key's four choices are drawn here too, together, from the key fact's own range or sibling
options, and only then given their roles at random: the answer, the confusers (the same fact
said about other subjects) and the `alternatives` (values nobody says). Every member is drawn
the same way, so the four are exchangeable and no rule that reads only them beats chance.
The tests on the set (similar lengths; unless `allow_longest`, no strictly longest member)
look at the set as a whole, so they keep it so.

A subtopic with no bank falls back to the generic frames of `facts.draw_facts`.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

from pipeline.core.records import Fact, ItemSpec
from pipeline.core.resources import load_topics
from pipeline.core.seeds import rng_for
from pipeline.writing.fact_bank import (
    PHRASE_KINDS,
    BankFact,
    SubtopicBank,
    Who,
    draw_subject,
    draw_value,
    load_bank,
    render,
)
from pipeline.writing.facts import draw_facts, layout

REUSE_SUBJECT = 0.6  # a drawn subject comes back for another fact this often (as people do)


def _fingerprint(prompts_dir: str) -> tuple[tuple[str, int, int], ...]:
    """What the loaded bank depends on: an edited file is read again."""
    folder = Path(prompts_dir)
    paths = [folder / "topics.yaml", *sorted((folder / "fact_bank").glob("*/*.yaml"))]
    return tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in paths
                 if p.exists())


@lru_cache(maxsize=4)
def _load(prompts_dir: str, fingerprint: tuple[tuple[str, int, int], ...]
          ) -> dict[tuple[str, str], SubtopicBank]:
    folder = Path(prompts_dir)
    return load_bank(folder / "fact_bank", load_topics(folder / "topics.yaml"))


def _banks(prompts_dir: str) -> dict[tuple[str, str], SubtopicBank]:
    return _load(prompts_dir, _fingerprint(prompts_dir))


def subtopic_bank(prompts_dir: str | Path, ttype: str, subtopic: str) -> SubtopicBank | None:
    """The subtopic's bank under `prompts_dir/fact_bank`, or None when none is written."""
    return _banks(str(prompts_dir)).get((ttype, subtopic))


def bank_fact(prompts_dir: str | Path, ttype: str, subtopic: str, frame: str
              ) -> BankFact | None:
    bank = subtopic_bank(prompts_dir, ttype, subtopic)
    if bank is None:
        return None
    return next((f for f in bank.facts if f.frame == frame), None)


def _names(text: str) -> set[str]:
    """Capitalised words and digit groups: what two values must never share."""
    return {w for w in re.findall(r"[A-Z][a-z'-]+|\d+", text) if w not in ("The", "My")}


def _words_overlap(a: str, b: str) -> bool:
    return bool(_names(a) & _names(b))


class _Sheet:
    """The drawing state of one sheet: subjects, values and names already used."""

    def __init__(self, bank: SubtopicBank, rng: random.Random, ttype: str) -> None:
        self.bank, self.rng, self.ttype = bank, rng, ttype
        self.subjects: dict[str, list[Who]] = {}  # pattern -> subjects drawn from it
        self.pairs: set[tuple[str, str]] = set()  # (frame, subject) already stated
        self.values: list[str] = []
        self.names: set[str] = set()
        self.used_options: dict[str, set[str]] = {}
        self.uses: dict[str, int] = {}

    def subject(self, fact: BankFact, avoid: Who | None) -> Who | None:
        rng = self.rng
        pattern = rng.choice(fact.subjects)
        have = [w for w in self.subjects.get(pattern, [])
                if w != avoid and (fact.frame, w.said) not in self.pairs]
        if have and rng.random() < REUSE_SUBJECT:
            return rng.choice(have)
        for tries in range(300):
            who = draw_subject(pattern, rng, self.ttype)
            if who == avoid or any(who.said == w.said or who.asked == w.asked
                                   for ws in self.subjects.values() for w in ws):
                continue
            # A long item may run out of unshared names: then only the whole must be new.
            if tries < 200 and _names(who.said) & self.names:
                continue
            self.subjects.setdefault(pattern, []).append(who)
            self.names |= _names(who.said)
            return who
        return rng.choice(have) if have else None

    def value(self, fact: BankFact, like: str = "") -> str | None:
        """A value of `fact` said nowhere else in the sheet and sharing no name or number
        with it (a phrase: one of its options not yet used)."""
        rng = self.rng
        if fact.kind in PHRASE_KINDS:
            free = [o for o in fact.options if o not in self.used_options.get(fact.frame, set())
                    and o not in self.values]
            return rng.choice(free) if free else None
        for tries in range(300):
            cand = draw_value(fact, rng)
            if cand in self.values or any(cand in v or v in cand for v in self.values):
                continue
            # An hour-long sheet runs out of unshared numbers and names: then a value may
            # share one with another (never be one, nor contain one).
            if tries < 150 and _names(cand) & self.names:
                continue
            return cand
        return None

    def reserve(self, values: Sequence[str]) -> None:
        """Values no fact may say (the key's unsaid wrong choices)."""
        self.values.extend(values)
        for v in values:
            self.names |= _names(v)

    def take(self, fact: BankFact, who: Who, value: str) -> None:
        self.values.append(value)
        self.pairs.add((fact.frame, who.said))
        self.uses[fact.frame] = self.uses.get(fact.frame, 0) + 1
        if fact.kind in PHRASE_KINDS:
            self.used_options.setdefault(fact.frame, set()).add(value)
        else:
            self.names |= _names(value)


def similar_lengths(values: Sequence[str]) -> bool:
    """No two values differ in length by more than a quarter of the shorter (3 characters
    at least): a test on the whole set, so it favours no member of it."""
    lengths = sorted(len(v) for v in values)
    return lengths[-1] - lengths[0] <= max(3, lengths[0] // 4)


def no_strictly_longest(values: Sequence[str]) -> bool:
    lengths = [len(v) for v in values]
    return lengths.count(max(lengths)) > 1


def _choice_set(sheet: _Sheet, fact: BankFact, allow_longest: bool,
                fixed: Sequence[str] = ()) -> list[str]:
    """The key's four choices, drawn together and in random order (the first is the answer):
    every member drawn the same way, so no rule reading the four finds the answer. The set
    is of similar lengths and, unless `allow_longest`, has no strictly longest member, when
    the fact's values allow it (both tests treat every member alike). With `fixed` members
    (confusers already said), only the others are drawn, the tests still on all four."""
    rng = sheet.rng
    need = 4 - len(fixed)

    def draw() -> list[str] | None:
        if fact.kind in PHRASE_KINDS:
            free = [o for o in fact.options if o not in sheet.values and o not in fixed]
            return rng.sample(free, need) if len(free) >= need else None
        out: list[str] = []
        for _ in range(200):
            cand = sheet.value(fact)
            if cand is None:
                return None
            if cand in out or any(cand in v or v in cand for v in [*fixed, *out]) or (
                    fact.kind in ("name", "place") and any(_names(cand) & _names(o)
                                                           for o in [*fixed, *out])):
                continue
            out.append(cand)
            if len(out) == need:
                return out
        return None

    tests = [similar_lengths] + ([] if allow_longest else [no_strictly_longest])
    fallback: list[str] | None = None
    for strict in (len(tests), 1, 0):  # relax the tests when the fact's values cannot meet them
        for _ in range(150):
            got = draw()
            if got is None:
                raise ValueError(f"{fact.frame}: cannot draw four distinct choices")
            fallback = fallback or got
            if all(t([*fixed, *got]) for t in tests[:strict]):
                rng.shuffle(got)
                return got
    assert fallback is not None
    rng.shuffle(fallback)
    return fallback


def draw_bank_facts(bank: SubtopicBank, seed: int, ttype: str, key_kind: str,
                    key_position: float, n: int, confusers: int, allow_longest: bool
                    ) -> tuple[list[Fact], str]:
    """The item's facts in order of position, and the key fact's id (see the module note)."""
    rng = rng_for(seed, "facts")
    confusers = max(0, min(confusers, 3, n - 1))
    key_index, positions, conf_slots, kinds = layout(rng, n, key_kind, key_position, confusers)
    sheet = _Sheet(bank, rng, ttype)
    key_fact = rng.choice(bank.of_kind(key_kind))
    choices = _choice_set(sheet, key_fact, allow_longest)
    planned = {key_index: choices[0]}
    planned.update(zip(sorted(conf_slots), choices[1:], strict=False))
    alternatives = choices[1 + len(conf_slots):]
    sheet.reserve(alternatives)  # never said by another fact
    order = [key_index, *sorted(conf_slots), *[i for i in range(n)
                                              if i != key_index and i not in conf_slots]]
    drawn: dict[int, Fact] = {}
    key_who: Who | None = None
    for i in order:
        if i == key_index or i in conf_slots:
            candidates = [key_fact]
        else:
            kind = kinds[i]
            # The key's own fact is said of other subjects only by planned confusers; the
            # kind's least used facts first, then any other kind when these are spent.
            same = [f for f in bank.of_kind(kind) if f.frame != key_fact.frame]
            rest = [f for f in bank.facts if f.kind != kind and f.frame != key_fact.frame]
            rng.shuffle(same)
            rng.shuffle(rest)
            candidates = sorted(same, key=lambda f: sheet.uses.get(f.frame, 0)) + \
                sorted(rest, key=lambda f: sheet.uses.get(f.frame, 0))
        for fact in candidates:
            who = sheet.subject(fact, avoid=key_who if i in conf_slots else None)
            if who is None:
                continue
            value = planned.get(i) or sheet.value(fact)
            if value is None:
                continue
            sheet.take(fact, who, value)
            if i == key_index:
                key_who = who
            slots = {"term": fact.term, "who": who.asked, "ref": who.ref, "its": who.its}
            if fact.value.get("unit"):
                slots["unit"] = str(fact.value["unit"])
            drawn[i] = Fact(id=f"f{i + 1}", kind=fact.kind, subject=who.said,
                            context=_context(fact, who), value=value, position=positions[i],
                            frame=fact.frame, slots=slots,
                            role="key" if i == key_index else
                            "confuser" if i in conf_slots else "fact")
            break
        else:
            raise ValueError(f"{bank.name}: the bank ran out of facts for slot {i + 1} of {n}")
    key = drawn[key_index]
    key.alternatives = alternatives
    facts = [drawn[i] for i in range(n)]
    return facts, key.id


def _context(fact: BankFact, who: Who) -> str:
    """What the fact is about: its first sentence with the value left out. (Not its
    question: the question is read from the bank when asked, so editing it re-runs the
    question stage only.)"""
    return render(fact.say[0], who, "...").rstrip(".") + "..."


def bank_stems(prompts_dir: str | Path, spec: ItemSpec) -> dict[str, str]:
    """The question templates of the item's subtopic bank, by frame (empty without one)."""
    bank = subtopic_bank(prompts_dir, spec.type, spec.subtopic)
    return {f.frame: f.ask for f in bank.facts} if bank is not None else {}


def draw_sheet(seed: int, ttype: str, subtopic: str, terms: list[str], key_kind: str,
               key_position: float, n: int, confusers: int, allow_longest: bool,
               prompts_dir: str | Path) -> tuple[list[Fact], str]:
    """The item's sheet from its subtopic's bank, or from the generic frames when the
    subtopic has none yet."""
    bank = subtopic_bank(prompts_dir, ttype, subtopic)
    if bank is None:
        return draw_facts(seed, ttype, terms, key_kind, key_position, n, confusers,
                          allow_longest)
    return draw_bank_facts(bank, seed, ttype, key_kind, key_position, n, confusers,
                           allow_longest)


def redraw_sheet(spec: ItemSpec, seed: int, prompts_dir: str | Path
                 ) -> tuple[list[Fact], str]:
    """A new sheet for a re-seeded item: same key kind, depth, size and confuser count."""
    if not spec.facts:
        return [], ""
    confusers = sum(f.role == "confuser" for f in spec.facts)
    return draw_sheet(seed, spec.type, spec.subtopic, list(spec.terms), spec.detail_kind,
                      (spec.key_decile + spec.key_offset) / 10, len(spec.facts), confusers,
                      spec.answer_may_be_longest, prompts_dir)


def redraw_choices(spec: ItemSpec, seed: int, prompts_dir: str | Path,
                   said: Callable[[str], bool] = lambda _: False) -> list[Fact] | None:
    """The item's facts with the key's answer and unsaid wrong choices drawn again from
    `seed`, everything else kept: the plan (kinds, positions, letter, subjects) and the
    confusers, whose values the transcript says. The answer is drawn with its wrong choices
    and given its role at random, as in `draw_bank_facts`: redrawing only the wrong ones
    until a blind judge is fooled would keep the answers that look most like their
    question and pair them with wrong choices that look more so - a tell of its own.
    A value `said` (in the transcript) is never drawn. None when the key fact is not from
    the subtopic's bank (the generic frames redraw their wrong choices with the question)."""
    key = next((f for f in spec.facts if f.id == spec.key_fact), None)
    bank = subtopic_bank(prompts_dir, spec.type, spec.subtopic)
    entry = bank_fact(prompts_dir, spec.type, spec.subtopic, key.frame) \
        if key is not None and bank is not None else None
    if key is None or bank is None or entry is None:
        return None
    sheet = _Sheet(bank, rng_for(seed, "choices"), spec.type)
    for f in spec.facts:  # what the new values must not say or share
        sheet.names |= _names(f.subject)
        if f.id == key.id:
            continue
        sheet.values.append(f.value)
        if f.kind in PHRASE_KINDS:
            sheet.used_options.setdefault(f.frame, set()).add(f.value)
        else:
            sheet.names |= _names(f.value)
    fixed = [f.value for f in spec.facts if f.role == "confuser"]
    for _ in range(20):
        try:
            got = _choice_set(sheet, entry, spec.answer_may_be_longest, fixed)
        except ValueError:
            return None
        if not any(said(v) for v in got):
            break
    else:
        return None
    return [replace(f, value=got[0], alternatives=got[1:]) if f.id == key.id else f
            for f in spec.facts]


def proposed_sheet(spec: ItemSpec, prompts_dir: str | Path, stems: dict[str, str]
                   ) -> list[dict[str, object]]:
    """The plan's own sheet as a `facts` task reply (llm_facts.yaml), for the offline test
    server: each fact with three alternatives drawn like its value and equal to no value of
    the sheet (the key's own alternatives first), and the question that asks for it."""
    from pipeline.writing.facts import similar_length, similar_value, stem

    rng = rng_for(spec.seed, "proposed sheet")
    values = {f.value for f in spec.facts}
    out: list[dict[str, object]] = []
    for f in spec.facts:
        entry = bank_fact(prompts_dir, spec.type, spec.subtopic, f.frame)
        alts = [a for a in f.alternatives]
        for _ in range(2000):
            if len(alts) == 3:
                break
            if entry is None:
                cand = similar_value(f.value, f.kind, rng, f.slots.get("unit", ""), spec.type)
            elif entry.kind in PHRASE_KINDS:
                cand = rng.choice(entry.options)
            else:
                cand = draw_value(entry, rng)
            if cand in values or cand in alts or not similar_length(cand, f.value) or any(
                    _names(cand) & _names(v) for v in values):
                continue
            alts.append(cand)
        asks = {**stems, **bank_stems(prompts_dir, spec)}
        question = stem(f, asks) if f.frame in asks or f.slots.get("ask") else \
            f"What about {f.subject}?"
        out.append({"subject": f.subject, "context": f.context, "value": f.value,
                    "alternatives": alts, "question": question})
    return out
