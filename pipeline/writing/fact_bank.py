"""The topic-grounded fact bank: what a person in a given lecture, chat or meeting would state.

One YAML file per main topic, `prompts/fact_bank/<type>/<main_topic_slug>.yaml`, holds its
four subtopics. Each subtopic lists who the facts are about (`subjects`, patterns with fresh
fictional names) and its facts: a value kind with a range of the right unit, or a phrase kind
with whole sibling `options` of one form. Every option of a phrase fact is equally likely to
be the answer and the wrong choices are the other options, so no rule that reads only the four
choices can find the answer more often than chance: the design makes the choices exchangeable.
The schema and the writers' rules are in prompts/fact_bank/README.md; `check_file` enforces
them and `python -m pipeline.writing.fact_bank FILE...` runs it.
"""

from __future__ import annotations

import random
import re
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.core.resources import ResourceError, Subtopic, load_topics, load_yaml
from pipeline.text.numbers import MONTHS, spoken_amount
from pipeline.writing.details import (
    FIRST_NAMES,
    PLACE_HEADS,
    PLACE_ROOTS,
    PLACE_TAILS,
    SURNAMES,
)

VALUE_KINDS = ("number", "quantity", "date", "time", "name", "place", "percentage", "money")
PHRASE_KINDS = ("finding", "decision", "cause", "method", "proposal")
ALL_KINDS = VALUE_KINDS + PHRASE_KINDS
TYPES = ("lecture", "conversation", "meeting")
GENERATORS = ("person", "first", "surname", "root", "place", "relative")
QUANTITY_UNITS = (
    "metres", "kilometres", "centimetres", "millimetres", "square metres", "cubic metres",
    "hectares", "kilograms", "grams", "tonnes", "litres", "millilitres", "degrees", "seconds",
    "minutes", "hours", "days", "weeks", "months", "years", "kilometres per hour",
    "metres per second", "kilowatt hours", "megawatts", "gigabytes", "calories")
MONEY_UNITS = ("dollars", "euros", "pounds")
# Words that make a bare number another kind: "{value} percent" is a percentage fact.
OTHER_KIND_WORDS = ("percent", *MONEY_UNITS, *(u.split()[0] for u in QUANTITY_UNITS))
MIN_OPTIONS = 5
MIN_RANGE = 20  # distinct values a range must hold, so long items never run out
OPENERS = ("to", "by", "that", "the", "a", "an")
_SLOT = re.compile(r"\{([^{}]*)\}")
_TIME = re.compile(r"^(1[0-2]|[1-9]):([0-5][05])$")


@dataclass(frozen=True)
class BankFact:
    """One fact of a subtopic: `value` (a range or pattern) for value kinds, `options` for
    phrase kinds. `frame` names it across the bank: `<subtopic slug>.<id>`."""

    id: str
    frame: str
    kind: str
    term: str
    say: tuple[str, ...]
    ask: str
    subjects: tuple[str, ...]
    value: dict[str, Any] = field(default_factory=dict)
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class SubtopicBank:
    type: str
    main_topic: str
    name: str
    subjects: tuple[str, ...]
    facts: tuple[BankFact, ...]

    def of_kind(self, kind: str) -> list[BankFact]:
        return [f for f in self.facts if f.kind == kind]


def slug(text: str) -> str:
    """'Earth Sciences' -> 'earth_sciences': the file name of a main topic."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def _slots(text: str) -> list[str]:
    return _SLOT.findall(text)


def _minutes(text: str) -> int | None:
    m = _TIME.match(str(text))
    return int(m.group(1)) * 60 + int(m.group(2)) if m else None


def _check_value(kind: str, value: Any, where: str, problems: list[str]) -> None:
    """The value spec of a value kind: a wide enough range of the right unit, or a pattern."""
    def bad(msg: str) -> None:
        problems.append(f"{where}.value: {msg}")

    if not isinstance(value, dict):
        bad("must be a mapping (see README)")
        return
    if kind in ("number", "quantity", "percentage", "money"):
        lo, hi, step = value.get("min"), value.get("max"), value.get("step", 1)
        if not all(isinstance(x, int) and not isinstance(x, bool) for x in (lo, hi, step)):
            bad("min, max (and step) must be whole numbers")
            return
        if step <= 0 or lo < 0 or hi <= lo:
            bad("needs 0 <= min < max and step > 0")
            return
        if (hi - lo) // step + 1 < MIN_RANGE:
            bad(f"range holds fewer than {MIN_RANGE} values (widen it or lower step)")
        if lo % step or hi % step:
            bad("min and max must be multiples of step")
        unit = value.get("unit")
        if kind == "quantity" and unit not in QUANTITY_UNITS:
            bad(f"quantity unit {unit!r} must be one of {', '.join(QUANTITY_UNITS)}")
        if kind == "money" and unit not in MONEY_UNITS:
            bad(f"money unit {unit!r} must be one of {', '.join(MONEY_UNITS)}")
        if kind in ("number", "percentage") and unit is not None:
            bad(f"a {kind} has no unit (a number with a unit is a quantity or money)")
        if kind == "percentage" and not (1 <= lo and hi <= 99):
            bad("a percentage range lies within 1..99")
        extra = set(value) - {"min", "max", "step", "unit"}
    elif kind == "date":
        months = value.get("months", list(MONTHS))
        if not (isinstance(months, list) and months and all(m in MONTHS for m in months)):
            bad("months must be a list of month names")
        extra = set(value) - {"months"}
    elif kind == "time":
        lo, hi = _minutes(value.get("min", "")), _minutes(value.get("max", ""))
        if lo is None or hi is None or hi - lo < 5 * MIN_RANGE:
            bad(f"time needs min and max as 'H:MM' (1..12, minutes in 5s), {MIN_RANGE} "
                "steps of 5 minutes apart at least")
        extra = set(value) - {"min", "max"}
    else:  # name, place
        pattern = value.get("pattern")
        if not isinstance(pattern, str):
            bad("name and place need a pattern, e.g. '{person}' or '{place}'")
            return
        used = set(_slots(pattern))
        if not used or not used <= set(GENERATORS) - {"relative"}:
            bad(f"pattern {pattern!r} needs one of {{person}} {{first}} {{surname}} {{root}} "
                "{place} and no other slot")
        elif kind == "name" and not used & {"person", "first", "surname"}:
            bad("a name pattern needs {person}, {first} or {surname}")
        elif kind == "place" and used & {"person", "first"}:
            bad("a place pattern names a place ({place}, {root}), not a person")
        extra = set(value) - {"pattern"}
    if extra:
        bad(f"unknown field(s) {', '.join(sorted(extra))}")


def _check_options(options: Any, where: str, problems: list[str]) -> None:
    """Whole sibling phrases of one form and similar length, any of which could be true."""
    if not (isinstance(options, list) and all(isinstance(o, str) for o in options)):
        problems.append(f"{where}.options: must be a list of phrases")
        return
    if len(options) < MIN_OPTIONS:
        problems.append(f"{where}.options: needs {MIN_OPTIONS} phrases at least")
    if len(set(options)) != len(options):
        problems.append(f"{where}.options: has a duplicate phrase")
    for o in options:
        if re.search(r"\d|[{}]", o):
            problems.append(f"{where}.options: {o!r} holds a digit or a slot (a phrase "
                            "answer names no value)")
        if any(w[:1].isupper() for w in o.split()[1:]) or o[:1].isupper():
            problems.append(f"{where}.options: {o!r} has a capital (phrases name nobody; "
                            "start lowercase)")
        if not 4 <= len(o.split()) <= 14:
            problems.append(f"{where}.options: {o!r} must have 4 to 14 words")
        if o.rstrip()[-1:] in ".!?,;":
            problems.append(f"{where}.options: {o!r} ends in punctuation")
        if any(o != p and re.search(rf"\b{re.escape(o)}\b", p) for p in options):
            problems.append(f"{where}.options: {o!r} is part of another option")
    if not options:
        return
    med_chars = statistics.median(len(o) for o in options)
    med_words = statistics.median(len(o.split()) for o in options)
    for o in options:
        if not 0.75 * med_chars <= len(o) <= 1.25 * med_chars:
            problems.append(f"{where}.options: {o!r} is {len(o)} characters, the median is "
                            f"{med_chars:.0f} (keep each within 25%)")
        if abs(len(o.split()) - med_words) > 2:
            problems.append(f"{where}.options: {o!r} has {len(o.split())} words, the median "
                            f"is {med_words:.0f} (keep each within 2)")
    for opener in OPENERS:
        starts = [o.split()[0] == opener for o in options]
        if any(starts) and not all(starts) and opener in ("to", "by", "that"):
            problems.append(f"{where}.options: all or none must start with {opener!r} "
                            "(one form for every option)")


_BIG_DIGITS = re.compile(r"\b\d{5,}\b|\b\d{1,3}(?:,\d{3})+\b")
_ONE_PLURAL = re.compile(r"\b(?:1|one|a single) (" + "|".join(
    sorted({u.split()[0] for u in QUANTITY_UNITS} | set(MONEY_UNITS), key=len, reverse=True))
    + r")\b")


def _check_spoken(text: str, where: str, problems: list[str]) -> None:
    """What TTS reads as written: a big number as a person says it ("forty thousand",
    "1.2 million", never "1000000"), and a unit that agrees with one ("1 week")."""
    if m := _BIG_DIGITS.search(text):
        problems.append(f"{where}: {text!r} writes {m.group(0)!r} in digits; write it as said "
                        "(forty thousand, 1.2 million)")
    if m := _ONE_PLURAL.search(text):
        problems.append(f"{where}: {text!r} says {m.group(0)!r}; one takes the singular")


def _check_templates(fact: dict[str, Any], where: str, ttype: str, problems: list[str]) -> None:
    say = fact.get("say")
    if not (isinstance(say, list) and len(say) >= 2 and all(isinstance(s, str) for s in say)):
        problems.append(f"{where}.say: needs 2 sentences at least")
        say = [s for s in say if isinstance(s, str)] if isinstance(say, list) else []
    openings = set()
    for s in say:
        slots = _slots(s)
        if slots.count("value") != 1:
            problems.append(f"{where}.say: {s!r} must hold {{value}} exactly once")
        if not {"Subject", "subject"} & set(slots):
            problems.append(f"{where}.say: {s!r} must name {{Subject}} or {{subject}}")
        unknown = set(slots) - {"Subject", "subject", "value"}
        if unknown:
            problems.append(f"{where}.say: {s!r} has unknown slot(s) {sorted(unknown)}")
        if not s.rstrip().endswith((".", "!")):
            problems.append(f"{where}.say: {s!r} must end with a full stop")
        m = re.search(r"\{value\}\s+(\w+)", s)
        if m and m.group(1) in OTHER_KIND_WORDS and fact.get("kind") != "number":
            problems.append(f"{where}.say: {s!r} repeats the unit after {{value}} (the value "
                            "already carries it)")
        if m and m.group(1) in OTHER_KIND_WORDS and fact.get("kind") == "number":
            problems.append(f"{where}.say: {s!r}: a number followed by {m.group(1)!r} is "
                            "another kind (quantity, percentage, money)")
        _check_spoken(s, f"{where}.say", problems)
        openings.add(" ".join(s.split()[:2]).lower())
    if len(say) >= 2 and len(openings) < 2:
        problems.append(f"{where}.say: the sentences must not all open with the same words")
    ask = fact.get("ask")
    if isinstance(ask, str):
        _check_spoken(ask, f"{where}.ask", problems)
    if not (isinstance(ask, str) and ask.rstrip().endswith("?")):
        problems.append(f"{where}.ask: must be a question ending with '?'")
    elif set(_slots(ask)) != {"subject"}:
        problems.append(f"{where}.ask: {ask!r} must name {{subject}} and no other slot")


def _check_subjects(subjects: Any, where: str, ttype: str, problems: list[str]) -> None:
    if not (isinstance(subjects, list) and subjects and all(isinstance(s, str)
                                                            for s in subjects)):
        problems.append(f"{where}: must be a non-empty list of subject patterns")
        return
    for s in subjects:
        s, _, ref = s.partition("|")
        s, ref = s.strip(), ref.strip()
        if ref and not re.fullmatch(r"(the|my|our) [a-z][a-z -]*", ref):
            problems.append(f"{where}: ref {ref!r} must read 'the <noun>' (or 'my/our ...')")
        used = set(_slots(s))
        if not used or not used <= set(GENERATORS):
            problems.append(f"{where}: {s!r} needs a generator ({', '.join(GENERATORS)}) "
                            "and no other slot")
        if "relative" in used and ttype != "conversation":
            problems.append(f"{where}: {{relative}} is for conversations only")
        if "relative" in used and s != "{relative}":
            problems.append(f"{where}: {{relative}} stands alone")
        if "person" in used and s != "{person}":
            problems.append(f"{where}: {{person}} stands alone")
        if not used & {"person", "relative"} and not s.startswith("the ") and not ref:
            problems.append(f"{where}: {s!r}: an organisation's pattern starts with 'the ' "
                            "(later called 'the <last word>') or ends with '| the <noun>'")


def check_data(data: Any, path: Path, topics: dict[str, list[Subtopic]]) -> list[str]:
    """Every problem of one bank file, each naming the file and field."""
    problems: list[str] = []
    if not isinstance(data, dict):
        return [f"{path}: field '<top>' must be a mapping"]
    ttype, main = data.get("type"), data.get("main_topic")
    if ttype not in TYPES:
        return [f"{path}: field 'type' must be one of {', '.join(TYPES)}"]
    subs = [s for s in topics[ttype] if s.main_topic == main]
    if not subs:
        return [f"{path}: field 'main_topic' {main!r} is not a {ttype} topic of topics.yaml"]
    if path.parent.name != ttype or path.stem != slug(main):
        problems.append(f"{path}: must be named prompts/fact_bank/{ttype}/{slug(main)}.yaml")
    listed = data.get("subtopics")
    if not isinstance(listed, list):
        return [*problems, f"{path}: field 'subtopics' must be a list"]
    by_name = {s.get("name"): s for s in listed if isinstance(s, dict)}
    for sub in subs:
        if sub.name not in by_name:
            problems.append(f"{path}: subtopic {sub.name!r} is missing")
    for name in by_name:
        if name not in {s.name for s in subs}:
            problems.append(f"{path}: subtopic {name!r} is not in topics.yaml under {main}")
    for sub in subs:
        entry = by_name.get(sub.name)
        if entry is None:
            continue
        where = f"{path}: {sub.name}"
        _check_subjects(entry.get("subjects"), f"{where}.subjects", ttype, problems)
        facts = entry.get("facts")
        if not isinstance(facts, list) or not facts:
            problems.append(f"{where}.facts: must be a non-empty list")
            continue
        ids: set[str] = set()
        kinds: dict[str, int] = {}
        terms: set[str] = set()
        for i, fact in enumerate(facts):
            fw = f"{where}.facts[{i}]"
            if not isinstance(fact, dict):
                problems.append(f"{fw}: must be a mapping")
                continue
            fid = fact.get("id")
            fw = f"{where}.{fid}" if isinstance(fid, str) else fw
            if not (isinstance(fid, str) and re.fullmatch(r"[a-z][a-z0-9_]*", fid)):
                problems.append(f"{fw}.id: must be snake_case")
            elif fid in ids:
                problems.append(f"{fw}.id: duplicate id")
            ids.add(str(fid))
            kind = fact.get("kind")
            if kind not in ALL_KINDS:
                problems.append(f"{fw}.kind: {kind!r} must be one of {', '.join(ALL_KINDS)}")
                continue
            kinds[kind] = kinds.get(kind, 0) + 1
            if fact.get("term") not in sub.terms:
                problems.append(f"{fw}.term: {fact.get('term')!r} must be one of the "
                                f"subtopic's terms: {', '.join(sub.terms)}")
            terms.add(str(fact.get("term")))
            if "subjects" in fact:
                _check_subjects(fact["subjects"], f"{fw}.subjects", ttype, problems)
            _check_templates(fact, fw, ttype, problems)
            if kind in VALUE_KINDS:
                if "options" in fact:
                    problems.append(f"{fw}: a {kind} fact has a value range, not options")
                _check_value(kind, fact.get("value"), fw, problems)
            else:
                if "value" in fact:
                    problems.append(f"{fw}: a {kind} fact has options, not a value")
                _check_options(fact.get("options"), fw, problems)
                opts = fact.get("options") or []
                if opts and all(isinstance(o, str) and o.startswith("to ") for o in opts):
                    for sent in fact.get("say") or []:
                        if re.search(r"\b(suggest|suggests|suggested|recommended|"
                                     r"recommends) \{value\}", str(sent)):
                            problems.append(f"{fw}.say: {sent!r}: 'suggested to ...' is not "
                                            "English; say 'wants', 'proposed', 'decided', "
                                            "'agreed' or 'suggested we'")
            extra = set(fact) - {"id", "kind", "term", "say", "ask", "subjects", "value",
                                 "options"}
            if extra:
                problems.append(f"{fw}: unknown field(s) {', '.join(sorted(extra))}")
        missing = [k for k in ALL_KINDS if k not in kinds]
        if missing:
            problems.append(f"{where}.facts: no fact of kind(s) {', '.join(missing)} "
                            "(every kind at least once)")
        cap = max(3, len(facts) // 4)
        for k, c in kinds.items():
            if c > cap:
                problems.append(f"{where}.facts: {c} facts of kind {k} (at most {cap}; keep "
                                "the kinds balanced)")
        if len(terms & set(sub.terms)) < 3:
            problems.append(f"{where}.facts: use 3 of the subtopic's terms at least")
    return problems


def check_file(path: str | Path, topics: dict[str, list[Subtopic]]) -> list[str]:
    path = Path(path)
    try:
        data = load_yaml(path)
    except ResourceError as exc:
        return [str(exc)]
    return check_data(data, path, topics)


def coverage(root: str | Path, topics: dict[str, list[Subtopic]]) -> list[str]:
    """The bank files still missing, as `<type>/<slug>.yaml`, in topics.yaml order."""
    root = Path(root)
    out: list[str] = []
    for ttype in TYPES:
        for main in dict.fromkeys(s.main_topic for s in topics[ttype]):
            rel = f"{ttype}/{slug(main)}.yaml"
            if not (root / rel).exists():
                out.append(rel)
    return out


def _subtopic(entry: dict[str, Any], ttype: str, main: str, path: Path) -> SubtopicBank:
    name = entry["name"]
    subjects = tuple(entry["subjects"])
    facts = []
    for f in entry["facts"]:
        facts.append(BankFact(
            id=f["id"], frame=f"{slug(name)}.{f['id']}", kind=f["kind"], term=f["term"],
            say=tuple(f["say"]), ask=f["ask"], subjects=tuple(f.get("subjects", subjects)),
            value=dict(f.get("value") or {}), options=tuple(f.get("options") or ())))
    return SubtopicBank(type=ttype, main_topic=main, name=name, subjects=subjects,
                        facts=tuple(facts))


def load_bank(root: str | Path, topics: dict[str, list[Subtopic]]
              ) -> dict[tuple[str, str], SubtopicBank]:
    """Every bank file under `root`, checked, keyed by (type, subtopic). A file with a problem
    stops the load with its first problem named; a main topic with no file is simply absent
    (its items fall back to the generic frames of writing/facts.py)."""
    root = Path(root)
    out: dict[tuple[str, str], SubtopicBank] = {}
    for path in sorted(root.glob("*/*.yaml")):
        data = load_yaml(path)
        problems = check_data(data, path, topics)
        if problems:
            raise ResourceError(problems[0])
        for entry in data["subtopics"]:
            out[(data["type"], entry["name"])] = _subtopic(entry, data["type"],
                                                          data["main_topic"], path)
    return out


FEMALE_NAMES = frozenset({
    "Adele", "Celia", "Esther", "Greta", "Imogen", "Karin", "Marta", "Odette", "Rosalind",
    "Tamsin", "Vera", "Yvonne", "Beatrix", "Delia", "Freya", "Helena", "Juno", "Lorna",
    "Nadia", "Petra"})
RELATIVES = {"female": ("my sister", "my aunt", "my sister-in-law", "my cousin", "my neighbour",
                        "my flatmate", "my friend"),
             "male": ("my brother", "my uncle", "my brother-in-law", "my cousin", "my neighbour",
                      "my flatmate", "my friend")}


@dataclass(frozen=True)
class Who:
    """A drawn subject: as said, as a question names it, and as later sentences refer to it."""

    said: str
    asked: str
    ref: str
    its: str = "its"  # the subject's possessive: "its" in a template becomes "her" or "his"


def _generate(name: str, rng: random.Random) -> str:
    if name == "person":
        return f"{rng.choice(FIRST_NAMES)} {rng.choice(SURNAMES)}"
    if name == "first":
        return rng.choice(FIRST_NAMES)
    if name == "surname":
        return rng.choice(SURNAMES)
    if name == "root":
        return rng.choice(PLACE_ROOTS)
    if name == "place":
        if rng.random() < 0.5:
            return f"{rng.choice(PLACE_HEADS)} {rng.choice(PLACE_ROOTS)}"
        return f"{rng.choice(PLACE_ROOTS)} {rng.choice(PLACE_TAILS)}"
    raise ValueError(f"unknown generator {name!r}")


def fill(pattern: str, rng: random.Random) -> str:
    """A pattern with each generator slot replaced by a fresh fictional name."""
    return _SLOT.sub(lambda m: _generate(m.group(1), rng), pattern)


def draw_subject(pattern: str, rng: random.Random, ttype: str) -> Who:
    """A fresh subject from a `subjects` pattern."""
    text, _, ref = pattern.partition("|")
    text, ref = text.strip(), ref.strip()
    if text == "{relative}":
        first = rng.choice(FIRST_NAMES)
        his = "her" if first in FEMALE_NAMES else "his"
        rel = rng.choice(RELATIVES["female" if his == "her" else "male"])
        return Who(f"{rel} {first}", first, rel, his)
    said = fill(text, rng)
    if text == "{person}":
        his = "her" if said.split()[0] in FEMALE_NAMES else "his"
        if ref:  # "{person} | the glaciologist": said with the role that places them in the
            # subtopic ("the glaciologist Delia Yardley"), asked by name, referred to by role
            return Who(f"{ref} {said}", said, ref, his)
        return Who(said, said, f"{his} {'team' if ttype != 'lecture' else 'group'}", his)
    if not ref:
        ref = "the " + said.split()[-1].lower()
    return Who(said, said, ref)


def render(template: str, who: Who, value: str = "") -> str:
    """A `say` or `ask` template for `who`: "its" (the subject's) made "her" or "his" for a
    person, `{Subject}`, `{subject}` and `{value}` filled."""
    if who.its != "its":
        template = re.sub(r"\bits\b", who.its, template)
        template = re.sub(r"\bIts\b", who.its.capitalize(), template)
    text = template.replace("{Subject}", who.said[:1].upper() + who.said[1:])
    text = text.replace("{subject}", who.said if "{value}" in template else who.asked)
    return text.replace("{value}", value)


def value_choices(fact: BankFact) -> int:
    """How many distinct values a value fact's spec can give (0 for a pattern: unbounded)."""
    v = fact.value
    if fact.kind in ("number", "quantity", "percentage", "money"):
        return (v["max"] - v["min"]) // v.get("step", 1) + 1
    if fact.kind == "date":
        return 28 * len(v.get("months", MONTHS))
    if fact.kind == "time":
        return ((_minutes(v["max"]) or 0) - (_minutes(v["min"]) or 0)) // 5 + 1
    return 0


def draw_value(fact: BankFact, rng: random.Random) -> str:
    """One value of a value fact, uniform over its range (so the answer's rank among values
    drawn the same way is uniform)."""
    v, kind = fact.value, fact.kind
    if kind in ("number", "quantity", "percentage", "money"):
        step = v.get("step", 1)
        n = rng.randrange(v["min"], v["max"] + 1, step)
        unit = "percent" if kind == "percentage" else v.get("unit", "")
        if n == 1 and unit.split(" ")[0].endswith("s"):  # "1 week", "1 kilometre per hour"
            head, _, rest = unit.partition(" ")
            unit = f"{head[:-1]} {rest}".strip()
        return f"{spoken_amount(n)} {unit}".strip()
    if kind == "date":
        return f"{rng.choice(v.get('months', MONTHS))} {rng.randint(1, 28)}"
    if kind == "time":
        lo, hi = _minutes(v["min"]) or 60, _minutes(v["max"]) or 60
        m = rng.randrange(lo, hi + 1, 5)
        return f"{m // 60}:{m % 60:02d}"
    if kind in ("name", "place"):
        return fill(v["pattern"], rng)
    raise ValueError(f"{fact.frame}: {kind} is not a value kind")


def main(argv: list[str] | None = None) -> int:
    """Check bank files (all of prompts/fact_bank when none are named); `--coverage` also
    lists the main topics with no file yet. Exit 2 when a file has a problem."""
    args = list(sys.argv[1:] if argv is None else argv)
    want_cov = "--coverage" in args
    args = [a for a in args if a != "--coverage"]
    root = Path("prompts/fact_bank")
    topics = load_topics("prompts/topics.yaml")
    files = [Path(a) for a in args] or sorted(root.glob("*/*.yaml"))
    bad = 0
    for path in files:
        problems = check_file(path, topics)
        for p in problems:
            print(p)
        bad += bool(problems)
        if not problems:
            print(f"{path}: ok")
    if want_cov:
        missing = coverage(root, topics)
        total = sum(len(dict.fromkeys(s.main_topic for s in topics[t])) for t in TYPES)
        print(f"coverage: {total - len(missing)}/{total} main topics; missing: "
              + (", ".join(missing) or "none"))
    return 2 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
