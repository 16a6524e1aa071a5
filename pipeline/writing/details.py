"""The critical details a key sentence can carry, and same-kind distractors for them.

Details are fictional (invented organisations, people and places; arbitrary numbers), so no
listener can answer from world knowledge. A distractor is of the same kind and of similar
length, and the writer checks that none is said in the transcript.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from pipeline.core.records import KINDS  # noqa: F401 - the writers' detail kinds
from pipeline.text.numbers import MONTHS

FIRST_NAMES = (
    "Adele", "Bruno", "Celia", "Dmitri", "Esther", "Felix", "Greta", "Hector", "Imogen",
    "Jonas", "Karin", "Lionel", "Marta", "Nils", "Odette", "Pablo", "Quentin", "Rosalind",
    "Soren", "Tamsin", "Ulrich", "Vera", "Walter", "Yvonne", "Anton", "Beatrix", "Cyrus",
    "Delia", "Emil", "Freya", "Gideon", "Helena", "Ivo", "Juno", "Kasper", "Lorna", "Magnus",
    "Nadia", "Oskar", "Petra",
)
SURNAMES = (
    "Abernathy", "Brightwater", "Castellan", "Dunmore", "Ellwood", "Fairbanks", "Galloway",
    "Hartigan", "Ingram", "Jessop", "Kilbride", "Lockhart", "Merriweather", "Northcott",
    "Oakhurst", "Pendleton", "Quarrie", "Ravensworth", "Sallow", "Thornbury", "Underhill",
    "Vantreight", "Whitcombe", "Yardley", "Ashdown", "Blackwood", "Crowther", "Delacroix",
    "Everly", "Fenwick", "Greaves", "Holloway", "Ivers", "Kettering", "Langridge", "Mallory",
)
PLACE_HEADS = (
    "Port", "North", "Lower", "Upper", "East", "West", "Little", "Fort", "Saint", "Glen",
)
PLACE_ROOTS = (
    "Alder", "Brackenridge", "Carrow", "Dunhollow", "Elmstead", "Farrowdale", "Greystone",
    "Hollin", "Ivybridge", "Kestrel", "Larchmont", "Marrowby", "Netherfield", "Orrin",
    "Pellham", "Quillon", "Rookwood", "Stavely", "Thistleby", "Wickham",
)
PLACE_TAILS = ("Bay", "Falls", "Crossing", "Harbour", "Hollow", "Ridge", "Junction", "Reach")
ORG_TAILS = ("Institute", "Foundation", "Laboratory", "Collective", "Society", "Trust",
             "Observatory", "Workshop", "Council", "Archive")
UNITS = ("kilograms", "litres", "metres", "kilometres", "tonnes", "hectares")
COUNT_NOUNS = ("samples", "interviews", "site visits", "test runs", "survey responses",
               "field reports", "prototypes", "volunteers", "recordings", "case files")


def fictional_org(rng: random.Random) -> str:
    return f"{rng.choice(SURNAMES)} {rng.choice(ORG_TAILS)}"


def fictional_person(rng: random.Random) -> str:
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(SURNAMES)}"


def fictional_place(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return f"{rng.choice(PLACE_HEADS)} {rng.choice(PLACE_ROOTS)}"
    return f"{rng.choice(PLACE_ROOTS)} {rng.choice(PLACE_TAILS)}"


def _value(kind: str, rng: random.Random, unit: str) -> str:
    if kind == "number":
        return str(rng.randint(120, 980))
    if kind == "quantity":
        return f"{rng.randint(14, 96)} {unit}"
    if kind == "date":
        return f"{rng.choice(MONTHS)} {rng.randint(2, 28)}"
    if kind == "time":
        return f"{rng.randint(1, 11)}:{rng.choice((5, 10, 15, 20, 25, 35, 40, 45, 50, 55)):02d}"
    if kind == "name":
        return fictional_person(rng)
    if kind == "place":
        return fictional_place(rng)
    if kind == "percentage":
        return f"{rng.randint(12, 89)} percent"
    if kind == "money":
        return f"{rng.randint(12, 95) * 100} dollars"
    raise ValueError(f"unknown detail kind {kind!r}")


def _same_kind(answer: str, kind: str, rng: random.Random, unit: str) -> str:
    """A candidate distractor shaped like `answer` (same digit count, same unit, ...)."""
    if kind == "number":
        digits = list(answer)
        if rng.random() < 0.5:
            rng.shuffle(digits)
            if digits[0] != "0":
                return "".join(digits)
        lo = 10 ** (len(answer) - 1)
        return str(rng.randint(lo, 10 * lo - 1))
    if kind in ("quantity", "percentage"):
        n = int(answer.split()[0])
        rest = answer.split(" ", 1)[1]
        width = len(str(n))
        return f"{rng.randint(10 ** (width - 1), 10 ** width - 1)} {rest}"
    if kind == "money":
        n = int(answer.split()[0]) // 100
        return f"{max(10, n + rng.choice((-3, -2, -1, 1, 2, 3)) * rng.randint(1, 9)) * 100} dollars"
    return _value(kind, rng, unit)


def _candidates(answer: str, kind: str, rng: random.Random, unit: str) -> list[str]:
    """A shuffled pool of same-kind values: every name or place, or sampled numbers."""
    if kind == "name":
        pool = [f"{f} {s}" for f in FIRST_NAMES for s in SURNAMES]
    elif kind == "place":
        pool = [f"{h} {r}" for h in PLACE_HEADS for r in PLACE_ROOTS]
        pool += [f"{r} {t}" for r in PLACE_ROOTS for t in PLACE_TAILS]
    else:
        pool = list(dict.fromkeys(_same_kind(answer, kind, rng, unit) for _ in range(300)))
    rng.shuffle(pool)
    return pool


def make_distractors(answer: str, kind: str, rng: random.Random, unit: str,
                     forbidden: Callable[[str], bool], allow_longest: bool,
                     count: int = 3) -> list[str]:
    """`count` (three) distinct same-kind distractors of similar length, none `forbidden`.

    Unless `allow_longest`, at least one distractor is at least as long as the answer, so the
    correct choice is not given away by being strictly the longest.
    """
    slack = max(3, len(answer) // 4)
    names = kind in ("name", "place")
    pool = [c for c in _candidates(answer, kind, rng, unit)
            if c != answer and abs(len(c) - len(answer)) <= slack
            and not (names and _overlap(c, answer)) and not forbidden(c)]
    if not allow_longest:
        # Put one candidate at least as long as the answer first.
        long = next((c for c in pool if len(c) >= len(answer)), None)
        if long is not None:
            pool.remove(long)
            pool.insert(0, long)
    out: list[str] = []
    for cand in pool:
        if names and any(_overlap(cand, other) for other in out):
            continue
        out.append(cand)
        if len(out) == count:
            if allow_longest or max(len(c) for c in out) >= len(answer):
                rng.shuffle(out)
                return out
            break
    raise ValueError(f"could not find {count} distractors for {kind} answer {answer!r}")


def _overlap(a: str, b: str) -> bool:
    """Two names share a word: a listener could not tell them apart by half the name."""
    return bool(set(a.split()) & set(b.split()))
