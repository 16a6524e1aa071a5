"""The fact sheet: the facts an item's transcript states, planned before any text is written.

A fact is `{id, kind, subject, context, value, position}`: `value` is said word for word
exactly once, at about `position` (0..1, the share of the transcript before it). One fact is
the key (the question asks for it, at the planned depth); `confusers` are other facts of the
key's kind about other subjects, whose values become wrong choices. Everything else about
the sheet is drawn from the item's seed, so a re-seeded item gets new facts with the same
plan (kind, depth, letter, size).

Kinds are short values (number, quantity, date, time, name, place, percentage, money) or
descriptive phrases (finding, decision, cause, method, proposal): what a study found, what a
team decided, why something failed, which method was chosen, what a person proposed.
The frames below are the contract both writers share: what the fact is about (`context`) and
how the question asks for it (`ask`).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass

from pipeline.core.records import Fact, ItemSpec
from pipeline.core.seeds import derive_seed, rng_for
from pipeline.writing.details import (
    COUNT_NOUNS,
    FIRST_NAMES,
    KINDS,
    SURNAMES,
    UNITS,
    _same_kind,
    _value,
)

VALUE_KINDS = KINDS
PHRASE_KINDS = ("finding", "decision", "cause", "method", "proposal")
ALL_KINDS = VALUE_KINDS + PHRASE_KINDS
FEMALE = frozenset({
    "Adele", "Celia", "Esther", "Greta", "Imogen", "Karin", "Marta", "Odette", "Rosalind",
    "Tamsin", "Vera", "Yvonne", "Beatrix", "Delia", "Freya", "Helena", "Juno", "Lorna",
    "Nadia", "Petra"})
PROJECT_NAMES = ("Kestrel", "Larchmont", "Alder", "Hollin", "Rookwood", "Stavely", "Wickham",
                 "Carrow", "Orrin", "Greystone", "Elmstead", "Quillon", "Marrowby", "Pellham")


@dataclass(frozen=True)
class Frame:
    id: str
    kind: str
    role: str  # the subject: org | person | project
    types: tuple[str, ...]  # transcript types the frame suits
    context: str  # what the fact is about, with {term}, {count}, {unit} slots
    ask: str  # the question stem, with {subject} and the context's slots


L, M, C = ("lecture",), ("meeting",), ("conversation",)
LM = L + M
FRAMES = (
    # lecture: research groups, researchers, projects
    Frame("num_collect", "number", "org", L, "{count} collected on the {term}",
          "How many {count} did {subject} collect on the {term}?"),
    Frame("num_review", "number", "person", L, "{count} about the {term} reviewed",
          "How many {count} about the {term} did {subject} review?"),
    Frame("qty_use", "quantity", "org", L, "material used while studying the {term}",
          "How much material did {subject} use while studying the {term}?"),
    Frame("date_present", "date", "org", L, "the date it presents its results on the {term}",
          "On what date will {subject} present its results on the {term}?"),
    Frame("time_lecture", "time", "person", L, "the start time of the public talk on the "
          "{term}", "At what time does the public talk by {subject} on the {term} start?"),
    Frame("name_lead", "name", "org", L, "the person who leads its work on the {term}",
          "Who leads the work on the {term} at {subject}?"),
    Frame("place_trial", "place", "org", L, "where it ran its first trial on the {term}",
          "Where did {subject} run its first trial on the {term}?"),
    Frame("pct_recheck", "percentage", "org", L, "the share of its {term} records needing a "
          "second look", "What share of its records on the {term} did {subject} find "
          "needed a second look?"),
    Frame("money_grant", "money", "person", L, "the grant secured for the work on the {term}",
          "How large a grant did {subject} secure for the work on the {term}?"),
    Frame("find_study", "finding", "org", L, "what its study of the {term} found",
          "What did {subject} find in its study of the {term}?"),
    Frame("dec_org", "decision", "org", L, "what it decided about the work on the {term}",
          "What did {subject} decide about its work on the {term}?"),
    Frame("cause_attempt", "cause", "org", L, "why its first attempt at measuring the {term} "
          "failed", "Why did the first attempt by {subject} at measuring the {term} fail?"),
    Frame("method_person", "method", "person", L, "the method chosen to track the {term}",
          "Which method did {subject} choose to track the {term}?"),
    Frame("prop_person", "proposal", "person", L, "what was proposed for the study of the "
          "{term}", "What did {subject} propose for the study of the {term}?"),
    # lecture and meeting: projects
    Frame("num_log", "number", "project", LM, "{count} logged on the {term}",
          "How many {count} on the {term} did {subject} log?"),
    Frame("qty_ship", "quantity", "project", LM, "equipment shipped for the work on the {term}",
          "How much equipment did {subject} ship for the work on the {term}?"),
    Frame("date_start", "date", "project", LM, "the date work on the {term} started",
          "On what date did {subject} start its work on the {term}?"),
    Frame("name_join", "name", "project", LM, "the person who joined to handle the {term}",
          "Who joined {subject} to handle the {term}?"),
    Frame("place_move", "place", "project", LM, "where the work on the {term} moved",
          "Where did {subject} move its work on the {term}?"),
    Frame("pct_drop", "percentage", "project", LM, "the drop in errors on the {term} after "
          "the changes", "By how much did errors on the {term} drop at {subject} after the "
          "changes?"),
    Frame("find_review", "finding", "project", LM, "what its review of the {term} showed",
          "What did the review of the {term} by {subject} show?"),
    Frame("dec_project", "decision", "project", LM, "what was decided after the setback with "
          "the {term}", "What did {subject} decide after the setback with the {term}?"),
    Frame("cause_trial", "cause", "project", LM, "why the trial on the {term} failed",
          "Why did the trial on the {term} at {subject} fail?"),
    # meeting: vendors and partners, colleagues
    Frame("num_handle", "number", "org", M, "{count} handled about the {term}",
          "How many {count} about the {term} did {subject} handle?"),
    Frame("date_deliver", "date", "org", M, "the date it delivers the {term}",
          "On what date will {subject} deliver the {term}?"),
    Frame("time_call", "time", "person", M, "the time of the call about the {term}",
          "At what time did {subject} set the call about the {term}?"),
    Frame("money_quote", "money", "org", M, "its quote for the {term}",
          "How much did {subject} quote for the {term}?"),
    Frame("money_budget", "money", "person", M, "the budget asked for the {term}",
          "How much did {subject} ask for in the budget for the {term}?"),
    Frame("method_org", "method", "org", M, "the method it chose for checking the {term}",
          "Which method did {subject} choose for checking the {term}?"),
    Frame("prop_colleague", "proposal", "person", M, "what was proposed about the {term}",
          "What did {subject} propose about the {term}?"),
    # conversation: friends and relatives, clubs and shops
    Frame("num_people", "number", "person", C, "{count} at the {term} evening",
          "How many {count} were at the {term} evening that {subject} ran?"),
    Frame("num_club", "number", "org", C, "{count} that came in after the {term} post",
          "How many {count} came in at {subject} after the post about the {term}?"),
    Frame("qty_carry", "quantity", "person", C, "the distance walked for the {term}",
          "How far did {subject} walk for the {term}?"),
    Frame("date_event", "date", "org", C, "the date of its {term} day",
          "On what date is the {term} day at {subject}?"),
    Frame("time_class", "time", "org", C, "the start time of its {term} class",
          "At what time does the {term} class at {subject} start?"),
    Frame("name_runs", "name", "org", C, "the person who runs its {term} group",
          "Who runs the {term} group at {subject}?"),
    Frame("place_went", "place", "person", C, "where the {term} trip went",
          "Where did {subject} go on the {term} trip?"),
    Frame("pct_discount", "percentage", "org", C, "the discount on the {term}",
          "What discount did {subject} give on the {term}?"),
    Frame("money_paid", "money", "person", C, "the amount paid for the {term}",
          "How much did {subject} pay for the {term}?"),
    Frame("find_friend", "finding", "person", C, "what was found out about the {term}",
          "What did {subject} find out about the {term}?"),
    Frame("dec_friend", "decision", "person", C, "what was decided about the {term}",
          "What did {subject} decide to do about the {term}?"),
    Frame("cause_friend", "cause", "person", C, "why the plan for the {term} fell through",
          "Why did the plan of {subject} for the {term} fall through?"),
    Frame("method_friend", "method", "person", C, "what was tried to keep on top of the "
          "{term}", "What did {subject} try to keep on top of the {term}?"),
    Frame("prop_club", "proposal", "org", C, "what it suggested for the {term}",
          "What did {subject} suggest for the {term}?"),
)
FRAME = {f.id: f for f in FRAMES}
COUNTS = {"lecture": COUNT_NOUNS,
          "meeting": ("support tickets", "complaints", "job applications", "orders",
                      "invoices", "sign-ups", "site visits", "training places"),
          "conversation": ("people", "guests", "volunteers", "tickets", "photos", "entries",
                           "messages", "orders")}
UNITS_BY_TYPE = {"lecture": UNITS, "meeting": ("kilograms", "tonnes", "litres", "metres"),
                 "conversation": ("kilometres",)}
ORG_TAILS_BY_TYPE = {"lecture": ("Institute", "Laboratory", "Observatory", "Foundation",
                                 "Archive", "Society"),
                     "meeting": ("Group", "Agency", "Company", "Network", "Alliance",
                                 "Studio"),
                     "conversation": ("Club", "Society", "Collective", "Centre", "Market",
                                      "Workshop")}
ORG_REFS = {"Institute": "the institute", "Laboratory": "the lab", "Observatory":
            "the observatory", "Foundation": "the foundation", "Archive": "the archive",
            "Society": "the society", "Group": "the group", "Agency": "the agency",
            "Company": "the company", "Network": "the network", "Alliance": "the alliance",
            "Studio": "the studio", "Club": "the club",
            "Collective": "the collective", "Centre": "the centre", "Market": "the market",
            "Workshop": "the workshop"}
RELATIONS = ("my neighbour", "my cousin", "my sister-in-law", "my old flatmate",
             "a friend from work", "my aunt", "my brother-in-law", "a friend from school")

# Descriptive values: combinatorial phrases of one form per kind, none with a number or a
# name, so every wrong choice drawn from the same parts is of the same form and length.
_WORK_DECISION_OBJECTS = (
    "the field trials", "the public launch", "the training sessions", "the site visits",
    "the supplier review", "the data audit", "the second survey", "the equipment order",
    "the pilot study", "the open day", "the final report", "the move to new offices")
_DELAYS = ("until next spring", "until the new staff arrive", "until after the holidays",
           "until the funding is settled", "until the autumn", "until the safety checks "
           "are done", "until the weather improves", "until the board has met")
PHRASES: dict[str, dict[str, tuple[tuple[str, ...], ...]]] = {
    "work": {
        "finding": (
            ("the older samples", "the smaller sites", "the night readings",
             "the newer sensors", "the coastal stations", "the early batches",
             "the control groups", "the winter records", "the manual counts",
             "the outer stations", "the volunteer reports", "the cheaper kits",
             "the field notes", "the repeat visits", "the hand measurements",
             "the morning shifts"),
            ("changed much faster than expected", "held steady through the whole season",
             "varied far more than the models said", "drifted badly after heavy rain",
             "matched the older records closely", "improved once the cleaning step was dropped",
             "fell off sharply in colder weather", "recovered within a few weeks",
             "stayed well below the usual range", "were noisier than anyone had thought",
             "lagged behind the main trend", "peaked much earlier in the year",
             "agreed with each other surprisingly well", "missed most of the small changes",
             "picked up problems nobody had noticed", "gave almost the same answer as the lab"),
        ),
        "decision": (("to delay", "to postpone", "to pause", "to put off", "to hold back"),
                     _WORK_DECISION_OBJECTS, _DELAYS),
        "cause": (
            ("the supplier", "the courier", "the night crew", "the old software",
             "the backup server", "the cooling unit", "the field crew", "the booking system",
             "the main pump", "the spare battery", "the label printer", "the survey app"),
            ("sent the wrong parts", "lost power overnight", "missed the deadline",
             "overheated during testing", "skipped the calibration step",
             "dropped half the records", "ran out of storage", "ignored the safety check",
             "mixed up the sample labels", "crashed in the middle of the run",
             "froze in the cold weather", "sent the data to the wrong team"),
        ),
        "method": (
            ("a blind comparison", "weekly manual checks", "remote sensor logging",
             "paired site visits", "a rolling sample", "short phone interviews",
             "a shared online diary", "spot checks by volunteers", "a simple tally sheet",
             "photo records", "a peer review round", "random audits"),
            ("across both seasons", "at every partner site", "with an outside reviewer",
             "over a full year", "before and after each change", "against the old records",
             "with the local schools", "at the end of every month", "led by the students",
             "in place of the lab tests"),
        ),
        "proposal": (
            ("to share", "to publish", "to archive", "to rewrite", "to simplify",
             "to translate", "to digitise", "to pool"),
            ("the raw data", "the booking calendar", "the safety checklist",
             "the training notes", "the survey forms", "the equipment logs",
             "the field schedule", "the budget sheets", "the meeting minutes",
             "the cleaning rota"),
            ("with the partner groups", "before the next review", "on a shared drive",
             "in plain language", "across all the teams", "at the start of each term",
             "for the local council", "once the season ends"),
        ),
    },
    "life": {
        "finding": (
            ("the cheaper ones", "the early classes", "the weekend sessions",
             "the smaller shops", "the online reviews", "the second-hand ones",
             "the newer models", "the free lessons", "the local groups", "the longer routes",
             "the evening slots", "the bigger sizes"),
            ("lasted just as long as the expensive ones", "were far less crowded than expected",
             "filled up within a few days", "were much friendlier than they looked",
             "turned out to be much better value", "were mostly written by the same people",
             "sold out before lunch", "made a bigger difference than anything else",
             "were quieter in the mornings", "needed far less looking after",
             "got booked up by the regulars", "were easier for beginners"),
        ),
        "decision": (
            ("to put off", "to postpone", "to push back", "to delay", "to hold off on"),
            ("the camping trip", "the house move", "the birthday dinner", "the garden party",
             "the road trip", "the cooking class", "the big clear-out", "the swimming lessons",
             "the family visit", "the kitchen repairs"),
            ("until next spring", "until after the holidays", "until the weather improves",
             "until the kids are back at school", "until payday", "until the new car arrives",
             "until the end of the month", "until everyone is back in town"),
        ),
        "cause": (
            ("the car", "the booking website", "the landlord", "the tent", "the old laptop",
             "the oven", "the babysitter", "the train", "the delivery driver", "the heating",
             "the ferry", "the campsite"),
            ("broke down halfway there", "cancelled at the last minute",
             "lost the whole booking", "leaked in the first storm",
             "stopped working after an hour", "never turned up",
             "sent everything to the wrong house", "got the dates mixed up",
             "ran out of battery", "was double booked", "closed early for repairs",
             "changed the rules without warning"),
        ),
        "method": (
            ("a shared shopping list", "a weekly meal plan", "a simple spending diary",
             "a group chat", "a wall calendar", "an early morning routine",
             "a swap with the neighbours", "a rota for the chores", "a jar for spare change",
             "a sticker chart"),
            ("for the whole family", "on the fridge door", "with a small reward at the end",
             "that everyone can edit", "for the rest of the summer", "instead of the old app",
             "kept by the front door", "checked every Sunday evening"),
        ),
        "proposal": (
            ("to share", "to split", "to rotate", "to swap", "to organise", "to book"),
            ("the driving", "the grocery bill", "the cooking", "the holiday cottage",
             "the spare tickets", "the garden tools", "the school runs", "the dog walking"),
            ("every other weekend", "between all of us", "for the whole summer",
             "once a month", "with the neighbours", "starting next week",
             "through the group chat", "before the prices go up"),
        ),
    },
}
PHRASE_MIN_WORDS = 3


def form(kind: str) -> str:
    """'phrase' for descriptive kinds, 'value' for short values."""
    return "phrase" if kind in PHRASE_KINDS else "value"


def phrase_value(kind: str, rng: random.Random, ttype: str) -> str:
    parts = PHRASES["life" if ttype == "conversation" else "work"][kind]
    return " ".join(rng.choice(part) for part in parts)


def n_facts(target_seconds: float) -> int:
    """About one fact every three or four sentences: 5 for 90 s, 33 for 10 minutes."""
    return max(2, round(target_seconds / 18))


def relation(name: str) -> str:
    """How a conversation refers to a person it names (one relation per name)."""
    return RELATIONS[derive_seed("relation", name) % len(RELATIONS)]


def subject_ref(subject: str, ttype: str) -> str:
    """How later sentences refer to a subject without naming it again."""
    words = subject.split()
    if words[-1] == "project":
        return "the project"
    if words[-1] in ORG_REFS:
        return ORG_REFS[words[-1]]
    if ttype == "conversation":
        return relation(subject)
    return "her team" if words[0] in FEMALE else "his team"


def _entity(role: str, rng: random.Random, ttype: str) -> str:
    if role == "org":
        return f"the {rng.choice(SURNAMES)} {rng.choice(ORG_TAILS_BY_TYPE[ttype])}"
    if role == "project":
        return f"the {rng.choice(PROJECT_NAMES)} project"
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(SURNAMES)}"


def _names(text: str) -> set[str]:
    """Capitalised words and digit groups: what two facts must never share."""
    return {w for w in re.findall(r"[A-Z][a-z'-]+|\d+", text) if w != "The"}


def draw_value(kind: str, rng: random.Random, unit: str, ttype: str) -> str:
    if kind in PHRASE_KINDS:
        return phrase_value(kind, rng, ttype)
    return _value(kind, rng, unit)


def similar_value(answer: str, kind: str, rng: random.Random, unit: str, ttype: str) -> str:
    """A value of `answer`'s kind and shape (same digit count, unit, ...)."""
    if kind in PHRASE_KINDS:
        return phrase_value(kind, rng, ttype)
    return _same_kind(answer, kind, rng, unit)


def similar_length(cand: str, answer: str) -> bool:
    return abs(len(cand) - len(answer)) <= max(3, len(answer) // 4)


def _positions(n: int, key_index: int, key_pos: float, rng: random.Random) -> list[float]:
    """n increasing positions in (0, 1), the key's at `key_pos`, the others spread out."""
    before, after = key_index, n - 1 - key_index
    out = []
    for i in range(before):
        lo, hi = 0.04, max(0.05, key_pos - 0.06)
        out.append(lo + (hi - lo) * (i + 0.25 + 0.5 * rng.random()) / max(1, before))
    out.append(key_pos)
    for i in range(after):
        lo, hi = min(0.95, key_pos + 0.06), 0.97
        out.append(lo + (hi - lo) * (i + 0.25 + 0.5 * rng.random()) / max(1, after))
    return [round(p, 4) for p in out]


def draw_facts(seed: int, ttype: str, terms: list[str], key_kind: str, key_position: float,
               n: int, confusers: int, allow_longest: bool) -> tuple[list[Fact], str]:
    """The item's facts in order of position, and the key fact's id.

    Values are unique within the item and share no name or digit group; the non-key facts
    are of other kinds than the key's, except `confusers` facts of the key's kind about other
    subjects. Unless `allow_longest`, with three confusers one is at least as long as the key,
    so that the correct choice is not the longest by construction.
    """
    rng = rng_for(seed, "facts")
    confusers = max(0, min(confusers, 3, n - 1))
    # The key sits among the facts where its depth says.
    key_index = min(n - 1, int(key_position * n))
    if key_position >= 0.88:
        key_index = n - 1  # nothing after a key in the last decile but the closing
    elif key_position < 0.1:
        key_index = 0
    positions = _positions(n, key_index, key_position, rng)
    others = [k for k in ALL_KINDS if k != key_kind]
    conf_slots = set(rng.sample([i for i in range(n) if i != key_index], confusers))
    kinds: list[str] = []
    pool: list[str] = []
    for i in range(n):
        if i == key_index or i in conf_slots:
            kinds.append(key_kind)
            continue
        if not pool:
            pool = list(others)
            rng.shuffle(pool)
        kinds.append(pool.pop())
    used: set[str] = set()
    subjects: dict[str, list[str]] = {"org": [], "person": [], "project": []}

    def subject_for(role: str, avoid: str = "") -> str:
        have = [s for s in subjects[role] if s != avoid]
        if have and rng.random() < 0.6:
            return rng.choice(have)
        for _ in range(200):
            cand = _entity(role, rng, ttype)
            if cand != avoid and not (_names(cand) & used):
                subjects[role].append(cand)
                used.update(_names(cand))
                return cand
        raise ValueError("could not draw a fresh subject")

    key_subject = ""
    order = [key_index, *[i for i in range(n) if i != key_index]]  # the key first
    drawn: dict[int, Fact] = {}
    term_cycle = list(terms)
    rng.shuffle(term_cycle)
    for slot, i in enumerate(order):
        kind = kinds[i]
        frames = [f for f in FRAMES if f.kind == kind and ttype in f.types]
        frame = rng.choice(frames)
        subject = subject_for(frame.role, avoid=key_subject if i in conf_slots else "")
        if i == key_index:
            key_subject = subject
        term = term_cycle[slot % len(term_cycle)]
        slots = {"term": term, "count": rng.choice(COUNTS[ttype]),
                 "unit": rng.choice(UNITS_BY_TYPE[ttype])}
        key = drawn.get(key_index)
        if i in conf_slots and key is not None:
            slots["unit"] = key.slots["unit"]
        value = ""
        for _ in range(400):
            if i in conf_slots and key is not None:
                cand = similar_value(key.value, kind, rng, key.slots["unit"], ttype)
                if not similar_length(cand, key.value):
                    continue
            else:
                cand = draw_value(kind, rng, slots["unit"], ttype)
            if _clash(cand, [f.value for f in drawn.values()], used, kind):
                continue
            value = cand
            break
        if not value:
            raise ValueError(f"could not draw a unique {kind} value")
        used.update(_names(value))
        drawn[i] = Fact(id=f"f{i + 1}", kind=kind, subject=subject,
                        context=frame.context.format(**slots), value=value,
                        position=positions[i], frame=frame.id, slots=slots,
                        role="key" if i == key_index else
                        "confuser" if i in conf_slots else "fact")
    if confusers == 3 and not allow_longest:
        key = drawn[key_index]
        conf = sorted(conf_slots)
        if max(len(drawn[i].value) for i in conf) < len(key.value):
            drawn[conf[0]].value = _longer_value(
                key, [f.value for f in drawn.values()], used, rng, ttype)
    facts = [drawn[i] for i in range(n)]
    return facts, facts[key_index].id


def _clash(cand: str, values: list[str], used: set[str], kind: str) -> bool:
    if cand in values or any(cand in v or v in cand for v in values):
        return True
    if kind in PHRASE_KINDS:
        return False
    return bool(_names(cand) & used)


def _longer_value(key: Fact, values: list[str], used: set[str], rng: random.Random,
                  ttype: str) -> str:
    for _ in range(2000):
        cand = similar_value(key.value, key.kind, rng, key.slots["unit"], ttype)
        if len(key.value) <= len(cand) and similar_length(cand, key.value) \
                and not _clash(cand, values, used, key.kind):
            used.update(_names(cand))
            return cand
    raise ValueError(f"no confuser at least as long as {key.value!r}")


def key_fact(facts: list[Fact], key_id: str) -> Fact:
    return next(f for f in facts if f.id == key_id)


def stem(fact: Fact) -> str:
    """The question that asks for `fact`, naming its subject and context, never its value."""
    text = FRAME[fact.frame].ask.format(subject=fact.subject, **fact.slots)
    return text[0].upper() + text[1:]


def phrase_distractors(answer: str, kind: str, ttype: str, rng: random.Random,
                       forbidden: Callable[[str], bool], allow_longest: bool,
                       fixed: list[str]) -> list[str]:
    """Wrong phrases of `answer`'s kind and form, of similar length, none `forbidden`;
    `fixed` (planned confusers) come first."""
    out = list(fixed)
    seen = {answer, *out}
    for _ in range(3000):
        if len(out) == 3:
            break
        cand = phrase_value(kind, rng, ttype)
        if cand in seen or not similar_length(cand, answer) or forbidden(cand):
            continue
        need_long = not allow_longest and len(out) == 2 and \
            max([len(c) for c in out], default=0) < len(answer)
        if need_long and len(cand) < len(answer):
            continue
        seen.add(cand)
        out.append(cand)
    if len(out) < 3:
        raise ValueError(f"could not find three wrong phrases for {answer!r}")
    return out


def redraw_facts(spec: ItemSpec, seed: int) -> tuple[list[Fact], str]:
    """A new sheet for a re-seeded item: same key kind, depth, size and confuser count."""
    if not spec.facts:
        return [], ""
    confusers = sum(f.role == "confuser" for f in spec.facts)
    return draw_facts(seed, spec.type, list(spec.terms), spec.detail_kind,
                      (spec.key_decile + spec.key_offset) / 10, len(spec.facts), confusers,
                      spec.answer_may_be_longest)
