"""Two-hop questions: the answer combines two facts said apart in the transcript.

The question asks for the total of two amounts of one frame (the same thing counted for two
subjects: "How many support tickets on the backups did the Whitcombe Agency and the Kestrel
project log, added together?"). The first fact (role `hop`) is said early, in the first part
of the transcript; the second is the item's key, planted at the planned depth as for any
item, so SPIRAL's fields (`original_key_sentence`, `audio_data.key_sentences`) name it.
Both values are said word for word once; the total is said nowhere.

Soundness (`checks`), for whichever writer wrote the item:
- the computed answer is right: the two values as said, added;
- neither fact alone answers: knowing one value, at least two choices stay possible;
- every wrong choice is one fact right and the other swapped for a value of the same kind
  (another subject's figure said in the transcript when there is one), and said nowhere.
Kinds with a total (number, quantity, money) take two hops; dates, names, places and phrases
stay one-hop (which-came-first and bridge questions are not built yet).
"""

from __future__ import annotations

import random
import re
from dataclasses import replace

from pipeline.core.records import LETTERS, Check, Fact, Item, ItemSpec, Question
from pipeline.core.seeds import rng_for, stratified
from pipeline.text.compare import mentions
from pipeline.writing.details import _value
from pipeline.writing.facts import _entity, draw_facts

SUMMABLE = ("number", "quantity", "money")
FIRST_SPAN = (0.1, 0.5)  # the first fact between 10% and 50% of the way to the key
NUMBER = re.compile(r"^(\d+)((?: .+)?)$")


def hops_for(seed: int, index: int, share: float) -> int:
    """2 for `share` of the items (no draw when it is 0: one-hop runs plan as before).

    A key in the first depth decile has nothing before it to combine with, so two hops go
    to the other nine items of each block of ten (depth is stratified in blocks of ten),
    in the proportion that makes `share` of all items: stratified among those nine."""
    if share <= 0:
        return 1
    block, pos = divmod(index, 10)
    deciles = [stratified(seed, "depth", 10 * block + j, range(10)) for j in range(10)]
    if deciles[pos] == 0:
        return 1
    ordinal = 9 * block + pos - (deciles.index(0) < pos)
    wanted = min(9, round(10 * share))
    strata = ["2"] * wanted + ["1"] * (9 - wanted)
    return int(stratified(seed, "hops", ordinal, strata))


def kind_for(seed: int, index: int) -> str:
    return stratified(seed, "two_hop_kind", index, SUMMABLE)


def parse(value: str) -> tuple[int, str] | None:
    """(amount, unit suffix) of a summable value: '622' -> (622, ''), '2300 dollars' ->
    (2300, ' dollars')."""
    m = NUMBER.match(value.strip())
    return (int(m.group(1)), m.group(2)) if m else None


def total(a: str, b: str) -> str:
    pa, pb = parse(a), parse(b)
    if pa is None or pb is None or pa[1] != pb[1]:
        raise ValueError(f"cannot add {a!r} and {b!r}")
    return f"{pa[0] + pb[0]}{pa[1]}"


def first_hop(facts: list[Fact], key_id: str) -> Fact | None:
    return next((f for f in facts if f.role == "hop"), None) if key_id else None


def draw_sheet(seed: int, ttype: str, terms: list[str], kind: str, key_position: float,
               n: int, confusers: int, allow_longest: bool) -> tuple[list[Fact], str]:
    """A two-hop item's sheet: from the generic frames (facts.draw_facts; the subtopic fact
    banks have no total questions yet), with its first hop added."""
    facts, key_id = draw_facts(seed, ttype, terms, kind, key_position, n, confusers,
                               allow_longest)
    return add_first_hop(facts, key_id, seed, ttype)


def redraw_sheet(spec: ItemSpec, seed: int) -> tuple[list[Fact], str]:
    """A new two-hop sheet of the same shape for a re-seeded item."""
    confusers = sum(f.role == "confuser" for f in spec.facts)
    return draw_sheet(seed, spec.type, list(spec.terms), spec.detail_kind,
                      (spec.key_decile + spec.key_offset) / 10, len(spec.facts), confusers,
                      spec.answer_may_be_longest)


def add_first_hop(facts: list[Fact], key_id: str, seed: int, ttype: str
                  ) -> tuple[list[Fact], str]:
    """The sheet (and its key's id) with one fact turned into the first hop: the key's frame
    (context, term, unit) about another subject of the frame's role, a fresh value of the
    key's kind, said between 10% and 50% of the way to the key. The fact nearest that place
    is the one replaced; when the key is the sheet's first fact, the next one moves there
    (ids follow the new order)."""
    rng = rng_for(seed, "two_hop")
    key = next(f for f in facts if f.id == key_id)
    want = round(key.position * rng.uniform(*FIRST_SPAN), 6)
    before = [f for f in facts if f.position < key.position and f.role == "fact"]
    after = [f for f in facts if f.position > key.position and f.role == "fact"]
    if before:
        target = min(before, key=lambda f: abs(f.position - want))
    elif after:
        target = replace(after[0], position=want)
    else:
        return facts, key_id
    role = "org" if key.subject.split()[-1] in _ORG_TAILS else \
        "project" if key.subject.endswith(" project") else "person"
    subjects = {f.subject for f in facts}
    values = {f.value for f in facts}
    subject = next(s for s in (_entity(role, rng, ttype) for _ in range(200))
                   if s not in subjects)
    unit = key.slots.get("unit", "")
    for _ in range(200):
        value = _value(key.kind, rng, unit)
        if value not in values and total(value, key.value) not in values:
            break
    else:
        raise ValueError(f"could not draw a first-hop value of kind {key.kind}")
    hop = replace(target, kind=key.kind, subject=subject, context=key.context,
                  value=value, frame=key.frame, slots=dict(key.slots), role="hop")
    new = sorted((hop if f.id == target.id else f for f in facts), key=lambda f: f.position)
    ids = {f.id: f"f{i + 1}" for i, f in enumerate(new)}
    return [replace(f, id=ids[f.id]) for f in new], ids[key_id]


_ORG_TAILS = frozenset({"Institute", "Laboratory", "Observatory", "Foundation", "Archive",
                        "Society", "Group", "Agency", "Company", "Network", "Alliance",
                        "Studio", "Club", "Collective", "Centre", "Market", "Workshop"})


def sentence_index(item: Item, fact: Fact) -> int | None:
    """The one sentence that says `fact`'s value (None unless exactly one does)."""
    hits = [i for i, s in enumerate(item.sentences()) if mentions(s, fact.value)]
    return hits[0] if len(hits) == 1 else None


def _swaps(value: str, kind: str, unit: str, pool: list[str], rng: random.Random,
           avoid: set[str]) -> list[str]:
    """Values of `value`'s kind a listener could take for it: figures of the same kind said
    about other subjects first, then fresh ones of the same size."""
    from pipeline.writing.details import _same_kind

    out = [v for v in pool if v != value and parse(v) and parse(v)[1] == parse(value)[1]
           and v not in avoid]
    rng.shuffle(out)
    for _ in range(200):
        cand = _same_kind(value, kind, rng, unit)
        if cand not in out and cand != value and cand not in avoid and parse(cand):
            out.append(cand)
        if len(out) >= 4:
            break
    return out


def question(item: Item, stems: dict[str, str]) -> Question:
    """The total question, its answer at the planned letter, wrong choices one-fact-swapped."""
    spec = item.spec
    key = next(f for f in spec.facts if f.id == spec.key_fact)
    first = first_hop(spec.facts, spec.key_fact)
    if first is None:
        raise ValueError("a two-hop item needs a first-hop fact")
    rng = rng_for(spec.seed, "two_hop_question")
    subject = f"{first.subject} and {key.subject}"
    text = stems[key.frame].format(subject=subject, **key.slots)
    text = text[0].upper() + text[1:].rstrip("?") + ", added together?"
    answer = total(first.value, key.value)
    said = " ".join(item.sentences())
    pool = [f.value for f in spec.facts if f.kind == key.kind and f.role not in ("key", "hop")]
    unit = key.slots.get("unit", "")
    wrong: list[str] = []
    avoid = {first.value, key.value}
    # one fact right, the other swapped: the key's value with a swapped first, then the
    # first's with a swapped key, alternating until three distinct unsaid totals
    firsts = _swaps(first.value, key.kind, unit, pool, rng, avoid)
    seconds = _swaps(key.value, key.kind, unit, pool, rng, avoid)
    for k in range(8):
        pairs = []
        if k < len(firsts):
            pairs.append((firsts[k], key.value))
        if k < len(seconds):
            pairs.append((first.value, seconds[k]))
        for pair in pairs:
            c = total(*pair)
            if len(wrong) < 3 and c != answer and c not in wrong and not mentions(said, c) \
                    and not mentions(text, c):
                wrong.append(c)
    if len(wrong) < 3:
        raise ValueError(f"no three one-fact-swapped totals for {answer!r}")
    rng.shuffle(wrong)
    wrong.insert(LETTERS.index(spec.letter), answer)
    return Question(stem=text, choices=wrong, letter=spec.letter)


def checks(item: Item) -> list[Check]:
    """The two-hop soundness gates (see the module docstring)."""
    spec, q, key_detail = item.spec, item.question, item.key
    assert q is not None and key_detail is not None
    key = next(f for f in spec.facts if f.id == spec.key_fact)
    first = first_hop(spec.facts, spec.key_fact)
    out: list[Check] = []

    def check(name: str, ok: bool, why: str) -> None:
        out.append(Check(name, ok, "" if ok else why))

    if first is None:
        return [Check("two_hop_facts", False, "no first-hop fact on the sheet")]
    sents = item.sentences()
    i1 = sentence_index(item, first)
    check("two_hop_facts", i1 is not None and i1 < key_detail.index
          and mentions(key_detail.sentence, key.value),
          f"first fact {first.value!r} said {'not once' if i1 is None else f'at {i1}'}, key "
          f"at {key_detail.index}: both must be said once, the first before the key")
    answer = q.choices[LETTERS.index(q.letter)]
    try:
        right = total(first.value, key.value) == answer
    except ValueError:
        right = False
    check("two_hop_answer", right, f"answer {answer!r} is not {first.value} + {key.value}")
    wrong = [c for c in q.choices if c != answer]
    a, b = parse(first.value), parse(key.value)
    amounts = [parse(c) for c in wrong]
    shaped = a is not None and b is not None and all(
        p is not None and p[1] == b[1] and p[0] - a[0] != b[0] and
        (p[0] - a[0] > 0 or p[0] - b[0] > 0) for p in amounts)
    # knowing one value: the choices a second value could complete (amount above it)
    alone_a = sum(1 for c in q.choices if (p := parse(c)) and a and p[0] > a[0])
    alone_b = sum(1 for c in q.choices if (p := parse(c)) and b and p[0] > b[0])
    check("two_hop_one_fact_insufficient", alone_a >= 2 and alone_b >= 2,
          f"one fact alone leaves {alone_a} / {alone_b} choices possible (need 2 or more)")
    swapped = shaped and all(_one_swapped(c, first.value, key.value) for c in wrong)
    check("two_hop_wrong_choices", swapped,
          f"wrong choices {wrong} are not each one fact right and the other swapped")
    text = " ".join(sents)
    check("two_hop_answer_unsaid", not mentions(text, answer),
          f"the total {answer!r} is said in the transcript")
    return out


def _one_swapped(choice: str, a: str, b: str) -> bool:
    """`choice` = a + x or x + b, x another value of the size of the one it stands for (a
    figure of the same number of digits, give or take one): one fact right, one swapped."""
    p, pa, pb = parse(choice), parse(a), parse(b)
    if p is None or pa is None or pb is None:
        return False

    def like(x: int, orig: int) -> bool:
        return x > 0 and x != orig and abs(len(str(x)) - len(str(orig))) <= 1

    return like(p[0] - pa[0], pb[0]) or like(p[0] - pb[0], pa[0])


def heard_answer(item: Item) -> str:
    """What the key sentence must be heard to say: the key's own value for a two-hop item
    (its answer is a total said nowhere), else the correct choice."""
    assert item.key is not None and item.question is not None
    if item.spec.hops == 2:
        return item.key.answer
    return item.question.choices[LETTERS.index(item.question.letter)]
