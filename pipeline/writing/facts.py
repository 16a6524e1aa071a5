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

from pipeline.core.records import Fact
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
                 "Carrow", "Orrin", "Greystone", "Elmstead", "Quillon", "Marrowby", "Pellham",
                 "Heron", "Osprey", "Lantern", "Beacon", "Meridian", "Juniper", "Harbour",
                 "Compass", "Bramble", "Falcon", "Willow", "Granite", "Tidewater", "Foxglove",
                 "Northstar", "Copperfield", "Sandpiper", "Thornfield", "Ember", "Linden")


@dataclass(frozen=True)
class Frame:
    id: str
    kind: str
    role: str  # the subject: org | person | project
    types: tuple[str, ...]  # transcript types the frame suits
    context: str  # what the fact is about, with {term}, {count}, {unit} slots


L, M, C = ("lecture",), ("meeting",), ("conversation",)
LM = L + M
FRAMES = (
    # lecture: research groups, researchers, projects
    Frame("num_collect", "number", "org", L, "{count} collected on the {term}"),
    Frame("num_review", "number", "person", L, "{count} about the {term} reviewed"),
    Frame("qty_use", "quantity", "org", L, "material used while studying the {term}"),
    Frame("date_present", "date", "org", L, "the date it presents its results on the {term}"),
    Frame("time_lecture", "time", "person", L, "the start time of the public talk on the {term}"),
    Frame("name_lead", "name", "org", L, "the person who leads its work on the {term}"),
    Frame("place_trial", "place", "org", L, "where it ran its first trial on the {term}"),
    Frame("pct_recheck", "percentage", "org", L, 
          "the share of its {term} records needing a second look"),
    Frame("money_grant", "money", "person", L, "the grant secured for the work on the {term}"),
    Frame("find_study", "finding", "org", L, "what its study of the {term} found"),
    Frame("dec_org", "decision", "org", L, "what it decided about the work on the {term}"),
    Frame("cause_attempt", "cause", "org", L, 
          "why its first attempt at measuring the {term} failed"),
    Frame("method_person", "method", "person", L, "the method chosen to track the {term}"),
    Frame("prop_person", "proposal", "person", L, "what was proposed for the study of the {term}"),
    # lecture and meeting: projects
    Frame("num_log", "number", "project", LM, "{count} logged on the {term}"),
    Frame("qty_ship", "quantity", "project", LM, "equipment shipped for the work on the {term}"),
    Frame("date_start", "date", "project", LM, "the date work on the {term} started"),
    Frame("name_join", "name", "project", LM, "the person who joined to handle the {term}"),
    Frame("place_move", "place", "project", LM, "where the work on the {term} moved"),
    Frame("pct_drop", "percentage", "project", LM, 
          "the drop in errors on the {term} after the changes"),
    Frame("find_review", "finding", "project", LM, "what its review of the {term} showed"),
    Frame("dec_project", "decision", "project", LM, 
          "what was decided after the setback with the {term}"),
    Frame("cause_trial", "cause", "project", LM, "why the trial on the {term} failed"),
    # meeting: vendors and partners, colleagues
    Frame("num_handle", "number", "org", M, "{count} handled about the {term}"),
    Frame("date_deliver", "date", "org", M, "the date it delivers the {term}"),
    Frame("time_call", "time", "person", M, "the time of the call about the {term}"),
    Frame("money_quote", "money", "org", M, "its quote for the {term}"),
    Frame("money_budget", "money", "person", M, "the budget asked for the {term}"),
    Frame("method_org", "method", "org", M, "the method it chose for checking the {term}"),
    Frame("prop_colleague", "proposal", "person", M, "what was proposed about the {term}"),
    # conversation: friends and relatives, clubs and shops
    Frame("num_people", "number", "person", C, "{count} at the {term} evening"),
    Frame("num_club", "number", "org", C, "{count} that came in after the {term} post"),
    Frame("qty_carry", "quantity", "person", C, "the distance walked for the {term}"),
    Frame("date_event", "date", "org", C, "the date of its {term} day"),
    Frame("time_class", "time", "org", C, "the start time of its {term} class"),
    Frame("name_runs", "name", "org", C, "the person who runs its {term} group"),
    Frame("place_went", "place", "person", C, "where the {term} trip went"),
    Frame("pct_discount", "percentage", "org", C, "the discount on the {term}"),
    Frame("money_paid", "money", "person", C, "the amount paid for the {term}"),
    Frame("find_friend", "finding", "person", C, "what was found out about the {term}"),
    Frame("dec_friend", "decision", "person", C, "what was decided about the {term}"),
    Frame("cause_friend", "cause", "person", C, "why the plan for the {term} fell through"),
    Frame("method_friend", "method", "person", C, "what was tried to keep on top of the {term}"),
    Frame("prop_club", "proposal", "org", C, "what it suggested for the {term}"),
)
FRAME = {f.id: f for f in FRAMES}
COUNTS = {"lecture": COUNT_NOUNS,
          "meeting": ("support tickets", "complaints", "job applications", "orders",
                      "invoices", "sign-ups", "site visits", "training places"),
          "conversation": ("people", "guests", "volunteers", "tickets", "photos", "entries",
                           "messages", "orders")}
# Units that make sense of what a quantity frame measures (no "46 metres of material").
UNITS_BY_FRAME = {"qty_use": ("kilograms", "litres", "tonnes"), "qty_ship": ("kilograms", "tonnes"),
                  "qty_carry": ("kilometres",)}
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
_WORK_ADJ = ("older", "newer", "smaller", "larger", "remote", "coastal", "northern", "southern",
             "upland", "urban", "rural", "early", "late", "cheaper", "pricier", "manual",
             "automated", "outer", "inner", "overnight", "weekend", "wetter", "drier", "busier")
_WORK_NOUN = ("samples", "sites", "readings", "sensors", "stations", "batches", "records",
              "counts", "surveys", "trials", "plots", "kits", "logs", "cohorts", "transects",
              "panels", "cultures", "shifts", "depots", "crews")
_WORK_VERB = ("changed", "drifted", "varied", "shifted", "declined", "recovered", "improved",
              "fluctuated", "stabilised", "deteriorated", "responded", "rebounded", "slowed",
              "diverged", "settled", "wavered")
_WORK_HOW = ("much faster", "far more slowly", "more sharply", "more gently", "far less",
             "much more", "more steadily", "more erratically", "more quickly", "more evenly")
_WORK_WHEN = ("than anyone expected", "after heavy rain", "in colder weather",
              "during the dry season", "once the cleaning step was dropped",
              "than the models predicted", "after the equipment upgrade",
              "when the crews rotated", "in the second half of the year",
              "than the older records suggested", "under the new schedule",
              "after the funding cut", "near the end of each month",
              "when the staff changed over", "during the long holidays",
              "than in the pilot phase")
_DELAY_VERB = ("to delay", "to postpone", "to pause", "to put off", "to hold back",
               "to suspend", "to defer", "to push back")
_WORK_THING_ADJ = ("field", "pilot", "public", "second", "regional", "annual", "final",
                   "external", "internal", "winter", "summer", "quarterly", "staff", "supplier",
                   "partner", "follow-up")
_WORK_THING = ("trials", "launch", "survey", "review", "audit", "rollout", "training",
               "visits", "order", "report", "consultation", "workshop", "inspection",
               "roadshow", "handover", "campaign")
_WORK_UNTIL = ("until next spring", "until the new staff arrive", "until after the holidays",
               "until the funding is settled", "until the autumn",
               "until the safety checks are done", "until the weather improves",
               "until the board has met", "until the data is cleaned",
               "until the contract is signed", "until the new system is live",
               "until the building work ends", "until the auditors report",
               "until the pilot results are in")
_CAUSE_WHO = ("the supplier", "the courier", "the night crew", "the old software",
              "the backup server", "the cooling unit", "the field crew", "the booking system",
              "the main pump", "the spare battery", "the label printer", "the survey app",
              "the ventilation fan", "the freezer", "the contractor", "the power supply",
              "the data logger", "the scheduling tool", "the hire van", "the test rig")
_CAUSE_WHAT = ("sent the wrong parts", "lost power overnight", "missed the deadline",
               "overheated during testing", "skipped the calibration step",
               "dropped half the records", "ran out of storage", "ignored the safety check",
               "mixed up the sample labels", "crashed in the middle of the run",
               "froze in the cold weather", "sent the data to the wrong team",
               "failed its first inspection", "shut down without warning",
               "corrupted the weekly backup", "arrived a fortnight late",
               "leaked during the first storm", "wiped the settings overnight",
               "broke down on the access road", "double booked the test slot")
_METHOD_ADJ = ("blind", "weekly", "monthly", "remote", "paired", "rolling", "random",
               "structured", "informal", "staggered", "anonymous", "independent", "repeated",
               "targeted", "shared", "simple")
_METHOD_NOUN = ("comparison", "spot checks", "interviews", "site visits", "sampling",
                "audits", "diary entries", "photo records", "tally sheets", "peer reviews",
                "phone surveys", "sensor logging", "field walks", "focus groups")
_METHOD_WHERE = ("across both seasons", "at every partner site", "with an outside reviewer",
                 "over a full year", "before and after each change", "against the old records",
                 "with the local schools", "at the end of every month", "led by the students",
                 "in place of the lab tests", "run by volunteers", "alongside the main survey",
                 "at the busiest sites", "during the quiet months")
_PROP_VERB = ("to share", "to publish", "to archive", "to rewrite", "to simplify",
              "to translate", "to digitise", "to pool", "to merge", "to standardise",
              "to audit", "to streamline")
_PROP_ADJ = ("raw", "shared", "weekly", "draft", "old", "master", "paper", "booking", "safety",
             "training", "budget", "field", "cleaning", "equipment")
_PROP_NOUN = ("data", "calendar", "checklist", "notes", "forms", "logs", "schedule",
              "sheets", "minutes", "rota", "guidelines", "templates", "records", "manuals")
_PROP_HOW = ("with the partner groups", "before the next review", "on a shared drive",
             "in plain language", "across all the teams", "at the start of each term",
             "for the local council", "once the season ends", "with every new starter",
             "through a single portal", "ahead of the inspection", "in both languages")
_LIFE_ADJ = ("cheaper", "early", "weekend", "smaller", "second-hand", "newer", "free",
             "local", "longer", "evening", "bigger", "quieter", "older", "online", "indoor",
             "outdoor", "budget", "family")
_LIFE_NOUN = ("ones", "classes", "sessions", "shops", "reviews", "models", "lessons",
              "groups", "routes", "slots", "sizes", "options", "courses", "deals", "venues")
_LIFE_WHAT = ("lasted longer", "were far less crowded", "filled up within days",
              "were much friendlier", "turned out to be better value", "sold out before lunch",
              "made the biggest difference", "were quieter in the mornings",
              "needed far less looking after", "got booked up by the regulars",
              "were easier for beginners", "were more fun", "worked out cheaper",
              "were harder to find", "had much better reviews", "were worth the wait")
_LIFE_THAN = ("in the summer", "at the weekends", "after the changes", "once word got around",
              "with the new owners", "this year", "near the station", "for beginners",
              "on weekday mornings", "after the holidays")
_LIFE_THING = ("camping trip", "house move", "birthday dinner", "garden party", "road trip",
               "cooking class", "big clear-out", "swimming lessons", "family visit",
               "kitchen repairs", "beach weekend", "car boot sale", "bathroom refit",
               "holiday booking", "wedding fitting", "bike ride")
_LIFE_UNTIL = ("until next spring", "until after the holidays", "until the weather improves",
               "until the kids are back at school", "until payday", "until the new car arrives",
               "until the end of the month", "until everyone is back in town",
               "until the roof is fixed", "until the exams are over",
               "until the prices come down", "until the baby arrives")
_LIFE_WHO = ("the car", "the booking website", "the landlord", "the tent", "the old laptop",
             "the oven", "the babysitter", "the train", "the delivery driver", "the heating",
             "the ferry", "the campsite", "the caterer", "the hire shop", "the taxi firm",
             "the venue", "the printer", "the boiler")
_LIFE_WRONG = ("broke down halfway there", "cancelled at the last minute",
               "lost the whole booking", "leaked in the first storm",
               "stopped working after an hour", "never turned up",
               "sent everything to the wrong house", "got the dates mixed up",
               "ran out of battery", "was double booked", "closed early for repairs",
               "changed the rules without warning", "doubled the price overnight",
               "forgot to confirm", "flooded the night before")
_LIFE_TOOL = ("a shared shopping list", "a weekly meal plan", "a simple spending diary",
              "a group chat", "a wall calendar", "an early morning routine",
              "a swap with the neighbours", "a rota for the chores", "a jar for spare change",
              "a sticker chart", "a packing checklist", "a reminder app", "a savings pot",
              "a lift share", "a labelled storage box", "a tidy-up timer")
_LIFE_TOOL_HOW = ("for the whole family", "on the fridge door", "with a small reward at the end",
                  "that everyone can edit", "for the rest of the summer",
                  "instead of the old app", "kept by the front door",
                  "checked at the end of each week", "shared with the grandparents",
                  "with a colour for each person", "set up on the kitchen tablet")
_LIFE_SHARE = ("to share", "to split", "to rotate", "to swap", "to organise", "to book",
               "to take turns with", "to pool")
_LIFE_SHARED = ("the driving", "the grocery bill", "the cooking", "the holiday cottage",
                "the spare tickets", "the garden tools", "the school runs", "the dog walking",
                "the babysitting", "the washing up", "the petrol money", "the board games")
_LIFE_WHEN = ("every other weekend", "between all of us", "for the whole summer",
              "once a month", "with the neighbours", "starting next week",
              "through the group chat", "before the prices go up", "over the holidays",
              "on a simple rota", "until the end of term")
PHRASES: dict[str, dict[str, tuple[tuple[str, ...], ...]]] = {
    "work": {
        "finding": (("the",), _WORK_ADJ, _WORK_NOUN, _WORK_VERB, _WORK_HOW, _WORK_WHEN),
        "decision": (_DELAY_VERB, ("the",), _WORK_THING_ADJ, _WORK_THING, _WORK_UNTIL),
        "cause": (_CAUSE_WHO, _CAUSE_WHAT),
        "method": (_METHOD_ADJ, _METHOD_NOUN, _METHOD_WHERE),
        "proposal": (_PROP_VERB, ("the",), _PROP_ADJ, _PROP_NOUN, _PROP_HOW),
    },
    "life": {
        "finding": (("the",), _LIFE_ADJ, _LIFE_NOUN, _LIFE_WHAT, _LIFE_THAN),
        "decision": (_DELAY_VERB, ("the",), _LIFE_THING, _LIFE_UNTIL),
        "cause": (_LIFE_WHO, _LIFE_WRONG),
        "method": (_LIFE_TOOL, _LIFE_TOOL_HOW),
        "proposal": (_LIFE_SHARE, _LIFE_SHARED, _LIFE_WHEN),
    },
}
PHRASE_MIN_WORDS = 3


def form(kind: str) -> str:
    """'phrase' for descriptive kinds, 'value' for short values."""
    return "phrase" if kind in PHRASE_KINDS else "value"


def phrase_value(kind: str, rng: random.Random, ttype: str) -> str:
    parts = PHRASES["life" if ttype == "conversation" else "work"][kind]
    text = " ".join(rng.choice(part) for part in parts)
    return re.sub(r"\ba (?=[aeiou])", "an ", text)


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


def layout(rng: random.Random, n: int, key_kind: str, key_position: float, confusers: int
           ) -> tuple[int, list[float], set[int], list[str]]:
    """Where the key sits among the n facts (where its depth says), every fact's position,
    the confusers' slots and every slot's kind (the others take the other kinds in turn)."""
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
    return key_index, positions, conf_slots, kinds


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
    key_index, positions, conf_slots, kinds = layout(rng, n, key_kind, key_position, confusers)
    used: set[str] = set()
    subjects: dict[str, list[str]] = {"org": [], "person": [], "project": []}

    def subject_for(role: str, avoid: str = "") -> str:
        have = [s for s in subjects[role] if s != avoid]
        if have and rng.random() < 0.6:
            return rng.choice(have)
        for tries in range(400):
            cand = _entity(role, rng, ttype)
            # A long item may run out of unshared names: then only the whole must be new.
            if cand != avoid and cand not in subjects[role] and (
                    tries >= 200 or not (_names(cand) & used)):
                subjects[role].append(cand)
                used.update(_names(cand))
                return cand
        if have:
            return rng.choice(have)
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
                 "unit": rng.choice(UNITS_BY_FRAME.get(frame.id, UNITS))}
        key = drawn.get(key_index)
        if i in conf_slots and key is not None:
            slots["unit"] = key.slots["unit"]
        value = ""
        for tries in range(400):
            if i in conf_slots and key is not None:
                cand = similar_value(key.value, kind, rng, key.slots["unit"], ttype)
                if not similar_length(cand, key.value):
                    continue
            else:
                cand = draw_value(kind, rng, slots["unit"], ttype)
            # An hour-long sheet (200 facts) runs out of names no other value shares: then
            # a value need only be new as a whole (as digit groups already may).
            if _clash(cand, [f.value for f in drawn.values()], used if tries < 200 else set(),
                      kind):
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


def key_position(decile: int, offset: float, n_total: int) -> int:
    """Index k, 0 <= k < n_total, with k / n_total inside the planned decile."""
    lo = -(-decile * n_total // 10)  # ceil
    hi = max(lo, -(-(decile + 1) * n_total // 10) - 1)
    lo_ok = max(lo, 1) if hi >= 1 else lo  # avoid the opening line when the decile allows
    # (under ten sentences a decile may hold none: then the nearest sentence)
    return min(n_total - 1, hi, lo_ok + int(offset * (hi - lo_ok + 1)))


def key_fact(facts: list[Fact], key_id: str) -> Fact:
    return next(f for f in facts if f.id == key_id)


def stem(fact: Fact, stems: dict[str, str]) -> str:
    """The question that asks for `fact` (its frame's stem in `stems`, from
    prompts/offline_questions.yaml, or the bank's `ask` for a bank fact), naming its subject
    and context, never its value. A fact the LLM proposed carries its own in `slots["ask"]`."""
    if fact.slots.get("ask"):
        return fact.slots["ask"]
    if "who" in fact.slots:  # a bank fact: {subject} is the subject as a question names it
        from pipeline.writing.fact_bank import Who, render

        text = render(stems[fact.frame], Who(fact.subject, fact.slots["who"],
                                             fact.slots.get("ref", ""),
                                             fact.slots.get("its", "its")))
        return text[0].upper() + text[1:]
    text = stems[fact.frame].format(subject=fact.subject, **fact.slots)
    return text[0].upper() + text[1:]


def _split(text: str, parts: tuple[tuple[str, ...], ...]) -> list[str] | None:
    """`text` as one option of each part, or None."""
    if not parts:
        return [] if not text else None
    for option in sorted(parts[0], key=len, reverse=True):
        if text == option or text.startswith(option + " "):
            rest = _split(text[len(option):].lstrip(), parts[1:])
            if rest is not None:
                return [option, *rest]
    return None


def near_phrase(answer: str, kind: str, ttype: str, rng: random.Random) -> str:
    """A phrase of `answer`'s kind that keeps most of its parts and changes one or two: a
    wrong choice a listener tells apart only by what was said."""
    parts = PHRASES["life" if ttype == "conversation" else "work"][kind]
    split = _split(re.sub(r"\ban (?=[aeiou])", "a ", answer), parts)
    if split is None:
        return phrase_value(kind, rng, ttype)
    free = [i for i, p in enumerate(parts) if len(p) > 1]
    for i in rng.sample(free, min(len(free), rng.choice((1, 1, 2)))):
        split[i] = rng.choice(parts[i])
    return re.sub(r"\ba (?=[aeiou])", "an ", " ".join(split))


def phrase_distractors(answer: str, kind: str, ttype: str, rng: random.Random,
                       forbidden: Callable[[str], bool], allow_longest: bool,
                       fixed: list[str]) -> list[str]:
    """Wrong phrases of `answer`'s kind and form, of similar length, none `forbidden`;
    `fixed` (planned confusers) come first. Most share all but a part or two with the
    answer, so no choice stands out by its wording."""
    out = list(fixed)
    seen = {answer, *out}
    for tries in range(3000):
        if len(out) == 3:
            break
        cand = near_phrase(answer, kind, ttype, rng) if tries < 2000 else \
            phrase_value(kind, rng, ttype)
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
