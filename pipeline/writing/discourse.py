"""The offline writer's discourse: the item's fact sheet realised as coherent speech.

Each fact gets a sub-point: it is introduced (a lecturer's lead-in, a friend's question, a
chair's agenda item), stated (the only sentence with its detail), explained, illustrated and
concluded, with a reaction from another speaker in a dialogue. The same subjects recur
through an item, referred back to without their names ("the institute", "my cousin"), so
only fact sentences carry details and the key is one fact sentence among several, phrased
from the same templates. Sentences are drawn without replacement within an item from
combinatorial banks (prompts/offline_discourse.yaml and the openings, explanations and
closings of prompts/offline_writer.yaml).

The discourse is written with the key sentence in place, at the planned depth; the script
stage keeps every other sentence and the plant stage puts the key back with `insert_key`,
exactly as it does for a model's script, so both writers share one planting path.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.core.records import Fact, ItemSpec, Turn
from pipeline.core.resources import ResourceError, load_writer_bank, load_yaml
from pipeline.core.seeds import rng_for
from pipeline.writing.bank_sheet import bank_fact
from pipeline.writing.budget import KEY_WORDS
from pipeline.writing.fact_bank import Who, render
from pipeline.writing.facts import FRAME, key_fact, key_position, subject_ref
from pipeline.writing.rules import script_words

ROLES = {"lecture": ("intro", "explain", "example", "conclude", "transition", "fact_lead",
                     "term_lead"),
         "conversation": ("ask", "react", "explain", "example", "conclude", "fact_lead",
                          "term_lead"),
         "meeting": ("intro", "react", "explain", "example", "conclude", "fact_lead",
                     "term_lead")}
FACT_SLOTS = {"Subject", "subject", "value", "term", "count", "ref", "unit"}
TEXT_SLOTS = {"term", "term2", "ref", "subtopic", "subtopic_lc", "main_topic_lc", "a", "b", "c"}
_SLOT = re.compile(r"\{([^{}]*)\}")
WORDS_PER_LINE = 13.0
# Explanations built from the lexicons rather than written whole: none. Their word salad
# ("the road trips has messed up my precious mood", "given the interim escalation path")
# meant nothing to a listener; the written talk and templates carry the variety now.
GENERATED_SHARE = 0.0
# Roles said from the term's own talk (explain, illustrate, carry on): the sentences each
# prefers, and how often; the rest keep the templates' signposts ("Let's turn to ...").
TALK = {"explain": ((0, 2, 1), 0.9), "tell": ((0, 2, 1), 0.9), "example": ((1, 2, 0), 0.9),
        "intro": ((0,), 0.8), "conclude": ((2, 1), 0.9), "react": ((2, 1), 0.7)}


def load_discourse_bank(writer_path: str | Path, discourse_path: str | Path,
                        talk_path: str | Path) -> dict[str, Any]:
    """The three banks as one, each template's slots checked, naming the file and field."""
    bank = load_writer_bank(writer_path)
    bank["prompts_dir"] = str(Path(writer_path).parent)  # where prompts/fact_bank lives
    bank["talk"] = load_talk(talk_path)
    path = Path(discourse_path)
    extra = load_yaml(path)
    if not isinstance(extra, dict):
        raise ResourceError(f"{path}: field '<top>' must be a mapping")
    mix = extra.get("mix") or {}
    for name in ("a", "b", "c", *mix):
        if not (isinstance(mix.get(name), list) and mix[name]):
            raise ResourceError(f"{path}: field 'mix.{name}' must be a non-empty list")
    known = TEXT_SLOTS | set(mix)
    gen = extra.get("gen") or {}
    parts = ("", "_tail", "_open", "_close", "_lead")
    for name in [f"{t}{part}" for t in ROLES for part in parts]:
        seq = gen.get(name)
        if not (isinstance(seq, list) and seq):
            raise ResourceError(f"{path}: field 'gen.{name}' must be a non-empty list")
        for i, tmpl in enumerate(seq):
            bad = set(_SLOT.findall(str(tmpl))) - known
            if bad:
                raise ResourceError(f"{path}: field 'gen.{name}[{i}]' uses unknown slots "
                                    f"{sorted(bad)}")
    for ttype, roles in ROLES.items():
        for role in roles:
            seq = (extra.get(ttype) or {}).get(role)
            if not (isinstance(seq, list) and len(seq) >= 2):
                raise ResourceError(f"{path}: field '{ttype}.{role}' must be a list of at least "
                                    "two templates")
            for i, tmpl in enumerate(seq):
                bad = set(_SLOT.findall(str(tmpl))) - known
                if bad:
                    raise ResourceError(f"{path}: field '{ttype}.{role}[{i}]' uses unknown "
                                        f"slots {sorted(bad)}")
            bank[ttype][role] = [str(t) for t in seq]
    for ttype in ROLES:
        for part in parts:
            bank[ttype]["gen" + part] = [str(t) for t in gen[ttype + part]]
    facts = extra.get("facts") or {}
    for fid in FRAME:
        seq = facts.get(fid)
        if not (isinstance(seq, list) and seq):
            raise ResourceError(f"{path}: field 'facts.{fid}' must be a non-empty list")
        for i, tmpl in enumerate(seq):
            slots = _SLOT.findall(str(tmpl))
            if slots.count("value") != 1 or not {"Subject", "subject"} & set(slots) \
                    or set(slots) - FACT_SLOTS:
                raise ResourceError(f"{path}: field 'facts.{fid}[{i}]' must say {{value}} once, "
                                    f"name the {{subject}} and use only {sorted(FACT_SLOTS)}")
    bank["facts"] = facts
    bank["mix"] = mix
    leads = extra.get("subtopic_lead") or {}
    for ttype, seq in leads.items():
        if ttype not in ROLES or not (isinstance(seq, list) and seq and all(
                isinstance(x, str) and set(_SLOT.findall(x)) == {"subtopic_lc"} for x in seq)):
            raise ResourceError(f"{path}: field 'subtopic_lead.{ttype}' must be a list of "
                                "lead-ins naming {subtopic_lc}")
    bank["subtopic_lead"] = leads
    turn = extra.get("turn_openers") or {}
    for ttype, seq in turn.items():
        if ttype not in ROLES or not (isinstance(seq, list) and seq and all(
                isinstance(x, str) and x.endswith(" ") and "{" not in x for x in seq)):
            raise ResourceError(f"{path}: field 'turn_openers.{ttype}' must be a list of "
                                "openers, each ending in a space")
    bank["turn_openers"] = turn
    vary = extra.get("vary") or {}
    for word, alts in vary.items():
        if not (isinstance(alts, list) and alts and all(isinstance(a, str) for a in alts)):
            raise ResourceError(f"{path}: field 'vary.{word}' must be a list of phrases")
    bank["vary"] = vary
    bank["vary_re"] = re.compile(r"(?<![\w{'])(" + "|".join(
        re.escape(w) for w in sorted(vary, key=len, reverse=True)) + r")(?![\w}'])", re.I) \
        if vary else None
    return bank


def load_talk(path: str | Path) -> dict[str, dict[str, dict[str, list[str]]]]:
    """`type -> subtopic -> term -> sentences`: what speakers say about each term, written
    whole (no slots); a subtopic or term without talk falls back to the templates."""
    path = Path(path)
    data = load_yaml(path)
    if not isinstance(data, dict):
        raise ResourceError(f"{path}: field '<top>' must be a mapping")
    out: dict[str, dict[str, dict[str, list[str]]]] = {}
    for ttype in ROLES:
        subs = data.get(ttype) or {}
        if not isinstance(subs, dict):
            raise ResourceError(f"{path}: field '{ttype}' must map subtopics to terms")
        for sub, terms in subs.items():
            if not isinstance(terms, dict):
                raise ResourceError(f"{path}: field '{ttype}.{sub}' must map terms to sentences")
            for term, seq in terms.items():
                if not (isinstance(seq, list) and seq
                        and all(isinstance(x, str) and x.strip() and "{" not in x for x in seq)):
                    raise ResourceError(f"{path}: field '{ttype}.{sub}.{term}' must be a list "
                                        "of sentences without slots")
        out[ttype] = {str(sub): {str(t): list(seq) for t, seq in terms.items()}
                      for sub, terms in subs.items()}
    return out


OPENED_ROLES = {"ask", "intro", "react", "conclude", "opening", "closing"}
OPENER_SHARE = 0.4
OPENER_WORDS = {"so", "okay", "ok", "right", "well", "oh", "and", "but", "now", "wait", "hey",
                "anyway", "alright", "good", "thanks", "sure", "yes", "yeah", "hmm", "huh"}
_CHOICE = re.compile(r"\[([^\[\]]*)\]")
TAIL_SHARE = 0.1  # fact sentences that go on to say what the fact did
LEAD_SHARE = 0.15  # fact sentences led in by a clause built from the lexicons
MAX_FACT_WORDS = 20  # besides the value's own words
BANK_LEAD_SHARE = 0.1  # bank fact sentences led in by a spoken phrase ("So, ", "Right, ")
TERM_LEAD_SHARE = 0.55  # ... or by the term they are about ("As for the ice cores, ")


def article(text: str) -> str:
    """'a' before a vowel made 'an', and 'an' before a consonant 'a' (a lexicon's adjective or
    a varied word may start with either; 'h' is left alone: 'an hour')."""
    text = re.sub(r"\b([Aa]) (?=[aeioAEIO])", r"\1n ", text)
    return re.sub(r"\b([Aa])n (?=[b-df-gj-np-tv-zB-DF-GJ-NP-TV-Z])", r"\1 ", text)


def lexicon_fill(template: str, bank: dict[str, Any], rng: random.Random) -> str:
    """Each {name} of a lexicon (`mix:` but a, b, c) replaced by one of its entries."""
    mix = bank["mix"]
    for _ in range(2):  # a lexicon entry may itself hold a slot
        template = _SLOT.sub(lambda m: rng.choice(mix[m.group(1)])
                             if m.group(1) in mix and m.group(1) not in "abc"
                             else m.group(0), template)
    return template


def vary(template: str, bank: dict[str, Any], rng: random.Random) -> str:
    """The template with one alternative of each [a|b|c] group, and each interchangeable
    word (`vary:` in the bank) replaced by one of its alternatives; slots are kept."""
    template = _CHOICE.sub(lambda m: rng.choice(m.group(1).split("|")), template)
    template = re.sub(r" {2,}", " ", template).replace(" ,", ",")
    pattern = bank.get("vary_re")
    if pattern is None:
        return template

    def swap(m: re.Match[str]) -> str:
        word = m.group(1)
        alt = rng.choice(bank["vary"][word.lower()])
        return alt[0].upper() + alt[1:] if word[0].isupper() else alt

    return pattern.sub(swap, template)


@dataclass
class Line:
    speaker: str
    text: str
    fact: str = ""  # the id of the fact the line states


def _cap(text: str) -> str:
    return text[0].upper() + text[1:] if text else text


def fact_sentence(spec: ItemSpec, fact: Fact, bank: dict[str, Any], rng: random.Random) -> str:
    """One way of saying `fact`: a template of its frame, with a spoken lead-in; at most
    MAX_FACT_WORDS words, the same bound for the key and every other fact."""
    text = ""
    for _ in range(20):
        text = _fact_sentence(spec, fact, bank, rng)
        if len(text.split()) <= MAX_FACT_WORDS + len(fact.value.split()):
            break
    return text


def _bank_sentence(spec: ItemSpec, fact: Fact, bank: dict[str, Any], rng: random.Random
                   ) -> str | None:
    """The fact said with one of its bank sentences (prompts/fact_bank). The sentences open
    in varied ways themselves; now and then a spoken lead-in comes first, and a sentence that
    opens on its subject is often led in by the term it is about, as people say what they
    are talking about ("As for the ice cores, the Hollin station ...")."""
    entry = bank_fact(bank["prompts_dir"], spec.type, spec.subtopic, fact.frame)
    if entry is None:
        return None
    who = Who(fact.subject, fact.slots.get("who", fact.subject),
              fact.slots.get("ref", ""), fact.slots.get("its", "its"))
    template = rng.choice(entry.say)
    text = render(template, who, fact.value)
    draw = rng.random()
    lead = ""
    if draw < BANK_LEAD_SHARE:
        lead = rng.choice([x for x in bank[spec.type]["fact_lead"] if x])
    elif draw < BANK_LEAD_SHARE + TERM_LEAD_SHARE and template.startswith("{Subject}") \
            and not _names_term(text, fact.slots.get("term", "")):
        # "As for the ice cores, the Hollin station ...", never "As for the ice cores, ...
        # the ice cores" (a sentence that names its term already needs no lead), and only
        # where the fact is about its term (its question or another sentence names it): a
        # fact about the orbiter camera is not led in by "the surface features". Otherwise a
        # chat or a meeting names its subtopic ("Speaking of houseplants, ...").
        term = fact.slots.get("term", "")
        if any(_names_term(x, term) for x in (entry.ask, *entry.say)):
            lead = article(rng.choice(bank[spec.type]["term_lead"]).format(term=term))
        elif bank.get("subtopic_lead", {}).get(spec.type) and \
                not _names_term(text, spec.subtopic):  # never "For logistics, our logistics lead"
            lead = rng.choice(bank["subtopic_lead"][spec.type]).format(
                subtopic_lc=spec.subtopic.lower())
    if lead:
        if not any(text.startswith(x) for x in (fact.subject, fact.value)
                   if x[:1].isupper() and not x.startswith(("The ", "My "))):
            text = text[0].lower() + text[1:]
        text = lead + text
    return _cap(text)


def _names_term(text: str, term: str) -> bool:
    """Whether `text` says a content word of `term` (or there is no term)."""
    words = [w for w in re.findall(r"[a-z]+", term.lower()) if len(w) > 3]
    return not words or any(re.search(rf"\b{w[:-1]}", text.lower()) for w in words)


def _fact_sentence(spec: ItemSpec, fact: Fact, bank: dict[str, Any], rng: random.Random) -> str:
    said = _bank_sentence(spec, fact, bank, rng)
    if said is not None:
        return said
    template = vary(rng.choice(bank["facts"][fact.frame]), bank, rng)
    if rng.random() < TAIL_SHARE and template.endswith(".") and "which" not in template:
        tail = lexicon_fill(rng.choice(bank[spec.type]["gen_tail"]), bank, rng)
        template = template[:-1] + tail + "."
    subject = fact.subject
    others = [t for t in spec.terms if t != fact.slots["term"]] or list(spec.terms)
    text = article(template).format(Subject=_cap(subject), subject=subject, value=fact.value,
                           ref=_ref(fact, spec.type), term2=others[0],
                           subtopic_lc=spec.subtopic.lower(),
                           main_topic_lc=spec.main_topic.lower(), **fact.slots)
    lead = rng.choice(bank[spec.type]["fact_lead"])
    if rng.random() < LEAD_SHARE:
        lead = lexicon_fill(rng.choice(bank[spec.type]["gen_lead"]), bank, rng)
    if lead and not any(x[:1].isupper() and text.startswith(x) for x in (subject, fact.value)):
        text = text[0].lower() + text[1:]  # "In fact, the Fenwick Institute ..."
    return _cap(lead + text)


def _ref(fact: Fact, ttype: str) -> str:
    """How later sentences refer to the fact's subject ("the station", "my cousin")."""
    return fact.slots.get("ref") or subject_ref(fact.subject, ttype)


def key_sentence(spec: ItemSpec, bank: dict[str, Any]) -> str:
    """The key fact's sentence: from its own seed stream, so the plant stage can say it
    again without the script's word budget."""
    fact = key_fact(spec.facts, spec.key_fact)
    return fact_sentence(spec, fact, bank, rng_for(spec.seed, "key sentence"))


class _Filler:
    """Draws role sentences for one item without repeating a template."""

    def __init__(self, spec: ItemSpec, bank: dict[str, Any], rng: random.Random,
                 rate: float) -> None:
        self.spec, self.bank, self.rng, self.rate = spec, bank, rng, rate
        self.used: set[str] = set()
        self.said: set[str] = set()

    def pool(self, role: str) -> list[str]:
        part = self.bank[self.spec.type]
        if role == "explain":  # the new explanations and the older bank's statements
            return part["explain"] + [t for t in part["body"] if not t.rstrip().endswith("?")]
        if role in ("opening", "closing"):  # written whole (the generated ones meant nothing)
            return part[role]
        if role == "tell":  # the teller carries on: explanations and statements
            return part["explain"] + [t for t in part["body"] if not t.rstrip().endswith("?")]
        return part[role]

    def line(self, role: str, term: str, ref: str) -> str:
        if role in TALK and self.rng.random() < TALK[role][1]:
            talk = self.talk(role, term)
            if talk:
                self.said.add(talk)
                return self.disfluent(talk)
        if role in ("explain", "tell") and self.rng.random() < GENERATED_SHARE:
            return self.generated(term, ref)
        pool = self.pool(role)
        # A template built from the lexicons may be drawn again: it comes out differently.
        fresh = [t for t in pool if t not in self.used or self.lexical(t)]
        if not fresh:
            fresh = self.pool("explain")
            fresh = [t for t in fresh if t not in self.used] or fresh
            role = "explain"
        for _ in range(20):
            template = self.rng.choice(fresh)
            text = self.fill(template, term, ref)
            if text not in self.said:
                break
        self.used.add(template)
        self.said.add(text)
        text = self.turn_opener(role, text)
        if role not in ("fact_lead",):
            text = self.disfluent(text)
        return text

    def turn_opener(self, role: str, text: str) -> str:
        """Now and then a spoken opener before a line that asks, introduces, reacts or wraps
        up ("Hey, remind me ...", "Right, next up ..."): the same few templates then open
        sentences in many ways, as speakers do. Never before a line that opens on one."""
        openers = self.bank.get("turn_openers", {}).get(self.spec.type)
        if not openers or role not in OPENED_ROLES or self.rng.random() >= OPENER_SHARE:
            return text
        first = text.split(" ", 1)[0].rstrip(",").lower()
        if first in OPENER_WORDS or text.split(" ", 1)[0].endswith(","):
            return text
        head = self.rng.choice(openers)
        return head + (text if text.startswith(("I ", "I'")) else text[0].lower() + text[1:])

    def talk(self, role: str, term: str) -> str:
        """The term's next unsaid talk sentence in the role's order ('' when none is left)."""
        said = self.bank["talk"].get(self.spec.type, {}).get(self.spec.subtopic, {}).get(term)
        for i in TALK[role][0]:
            if said and i < len(said) and said[i] not in self.said:
                return said[i]
        return ""

    def lexical(self, template: str) -> bool:
        return any(name in self.bank["mix"] and name not in "abc"
                   for name in _SLOT.findall(template))

    def generated(self, term: str, ref: str) -> str:
        """An explanation built from the lexicons, never one already said in the item."""
        for _ in range(20):
            text = self.fill(self.rng.choice(self.bank[self.spec.type]["gen"]), term, ref)
            if text not in self.said:
                break
        self.said.add(text)
        return self.disfluent(text)

    def fill(self, template: str, term: str, ref: str) -> str:
        spec, mix = self.spec, self.bank["mix"]
        others = [t for t in spec.terms if t != term] or list(spec.terms)
        template = lexicon_fill(template, self.bank, self.rng)
        text = vary(template, self.bank, self.rng)
        text = text.format(
            term=term, term2=self.rng.choice(others), ref=ref, subtopic=spec.subtopic,
            subtopic_lc=spec.subtopic.lower(), main_topic_lc=spec.main_topic.lower(),
            a=self.rng.choice(mix["a"]), b=self.rng.choice(mix["b"]),
            c=self.rng.choice(mix["c"]))
        return _cap(article(text))

    def disfluent(self, sentence: str) -> str:
        """Light disfluency: a discourse prefix or a filler after the first few words."""
        rng = self.rng
        if rng.random() >= self.rate:
            return sentence
        dis = self.bank["disfluency"]
        if rng.random() < 0.5:
            prefix = rng.choice(dis["prefixes"]).rstrip()
            if sentence.startswith(("I ", "I'")):
                return f"{prefix} {sentence}"
            return f"{prefix} {sentence[0].lower()}{sentence[1:]}"
        words = sentence.split()
        if len(words) < 6:
            return sentence
        cut = rng.randint(2, 4)
        head = " ".join(words[:cut]).rstrip(",")
        return f"{head}, {rng.choice(dis['fillers'])}, {' '.join(words[cut:])}"


def _targets(spec: ItemSpec, n: int, k: int) -> list[int] | None:
    """Sentence index of each fact (the key's is k), following the planned positions;
    None when n sentences cannot hold them (an opening first, a gap after the key)."""
    if n >= 10 and min(9, 10 * k // n) != spec.key_decile:
        return None  # (under ten sentences not every decile exists: the nearest one)
    facts = spec.facts
    ki = next(i for i, f in enumerate(facts) if f.id == spec.key_fact)
    before, after = facts[:ki], facts[ki + 1:]
    first = 1 if k > 0 else 0
    if k - first < len(before) * 1 or (k < n - 1 and n - 1 - (k + 1) < len(after)) \
            or (k == n - 1 and after):
        return None
    out = [0] * len(facts)
    out[ki] = k
    # Before the key: indices in [first, k - 1], increasing, near position * n.
    lo = first
    for j, f in enumerate(before):
        hi = k - (len(before) - j)
        out[j] = min(hi, max(lo, round(f.position * n)))
        lo = out[j] + 1
    lo = k + 2  # one sentence after the key stays with the key's sub-point
    for j, f in enumerate(after):
        hi = n - 1 - (len(after) - 1 - j) - 1
        out[ki + 1 + j] = min(hi, max(lo, round(f.position * n)))
        lo = out[ki + 1 + j] + 1
    if after and out[-1] > n - 1:
        return None
    return out


def _speakers(spec: ItemSpec, rng: random.Random) -> list[str]:
    ids = [s.id for s in spec.speakers]
    rng.shuffle(ids)
    return ids


def _block_roles(ttype: str, pre: int, post: int, last: bool) -> tuple[list[str], list[str]]:
    """The roles of the sentences before and after a fact, in spoken order."""
    if ttype == "lecture":
        pre_roles = ["intro", "explain", "explain", "explain"][:pre]
        pre_roles += ["explain"] * (pre - len(pre_roles))
        pre_roles = pre_roles[:1] + sorted(pre_roles[1:])
        order = ["conclude", "example", "explain", "explain", "transition"]
        post_roles = (order + ["explain"] * post)[:post]
        rank = {"explain": 0, "example": 1, "conclude": 2, "transition": 3}
        post_roles.sort(key=lambda r: rank[r])
        return pre_roles, post_roles
    ask = "ask" if ttype == "conversation" else "intro"
    pre_roles = (["explain"] * max(0, pre - 1)) + ([ask] if pre else [])
    order = ["tell", "react", "conclude", "example", "explain", "tell"]
    post_roles = (order + ["explain"] * post)[:post]
    rank = {"tell": 0, "react": 1, "explain": 2, "example": 3, "conclude": 4}
    post_roles.sort(key=lambda r: rank[r])
    return pre_roles, post_roles


def _compose(spec: ItemSpec, bank: dict[str, Any], n: int, rate: float,
             rng: random.Random) -> list[Line] | None:
    k = min(n - 1, key_position(spec.key_decile, spec.key_offset, n))
    targets = _targets(spec, n, k)
    if targets is None:
        return None
    filler = _Filler(spec, bank, rng, rate)
    filler.said.add(key_sentence(spec, bank))
    order = _speakers(spec, rng)
    dialogue = spec.type != "lecture"
    chair = order[0]
    facts = spec.facts
    has_open = targets[0] > 0
    lines: list[Line] = []
    tellers = [s for s in order if s != chair] if spec.type == "meeting" else order[1:] + order[:1]
    # Gaps between facts: the first belongs to the opening and the first sub-point, the
    # last to the last sub-point and the closing.
    bounds = [-1, *targets, n]
    for j in range(len(facts) + 1):
        gap = bounds[j + 1] - bounds[j] - 1
        prev = facts[j - 1] if j > 0 else None
        nxt = facts[j] if j < len(facts) else None
        head = 1 if (j == 0 and has_open) else 0
        tail = 1 if (nxt is None and gap > 0 and (prev is None or prev.id != spec.key_fact
                                                   or gap > 1)) else 0
        body = gap - head - tail
        if prev is None:
            post, pre = 0, body
        elif nxt is None:
            post, pre = body, 0
        else:
            pre = min(2 if dialogue else 2, body // 2 if body > 1 else body)
            post = body - pre
        if prev is not None and prev.id == spec.key_fact and post == 0 and body > 0:
            post, pre = 1, body - 1  # the key's teller carries on after it
        teller_prev = tellers[(j - 1) % len(tellers)] if prev else chair
        teller_next = tellers[j % len(tellers)] if nxt else chair
        if head:
            lines.append(Line(chair, filler.line("opening", nxt.slots["term"] if nxt else
                                                  spec.terms[0], "")))
        if prev is not None:
            _post(lines, filler, spec, prev, post, teller_prev, chair, order, rng)
        if tail:
            lines.append(Line(chair, filler.line("closing", spec.terms[0], "")))
        if nxt is not None:
            _pre(lines, filler, spec, nxt, pre, teller_next, chair, order, rng,
                 last=nxt.id == spec.key_fact and targets[j] == n - 1)
            if nxt.id == spec.key_fact:
                text = key_sentence(spec, bank)
            else:
                text = fact_sentence(spec, nxt, bank, rng)
            lines.append(Line(teller_next, text, nxt.id))
    return lines


def _others(order: list[str], *not_these: str) -> list[str]:
    return [s for s in order if s not in not_these] or order


def _pre(lines: list[Line], filler: _Filler, spec: ItemSpec, fact: Fact, count: int,
         teller: str, chair: str, order: list[str], rng: random.Random, last: bool) -> None:
    term, ref = fact.slots["term"], _ref(fact, spec.type)
    pre, _ = _block_roles(spec.type, count, 0, False)
    prev = lines[-1].speaker if lines else ""
    for i, role in enumerate(pre):
        if spec.type == "lecture":
            speaker = teller
        elif last and i == len(pre) - 1:
            speaker, role = teller, "explain"  # the key closes the item: its teller leads in
        elif role in ("ask", "intro"):
            speaker = chair if spec.type == "meeting" and chair != teller else \
                rng.choice(_others(order, teller, prev))
        else:
            speaker = rng.choice(_others(order, teller, prev))
        text = filler.line(role, term, ref)
        for _ in range(5):  # a fact does not answer its own speaker's question
            if speaker != teller or i < len(pre) - 1 or not text.endswith("?"):
                break
            text = filler.line(role, term, ref)
        lines.append(Line(speaker, text))
        prev = speaker


def _post(lines: list[Line], filler: _Filler, spec: ItemSpec, fact: Fact, count: int,
          teller: str, chair: str, order: list[str], rng: random.Random) -> None:
    term, ref = fact.slots["term"], _ref(fact, spec.type)
    _, post = _block_roles(spec.type, 0, count, False)
    for role in post:
        if spec.type == "lecture":
            speaker = teller
        elif role == "tell":
            speaker = teller
        elif role == "conclude":
            speaker = chair if spec.type == "meeting" else \
                rng.choice(_others(order, teller))
        elif role == "react":
            speaker = rng.choice(_others(order, teller))
        else:
            speaker = rng.choice(order)
        lines.append(Line(speaker, filler.line(role, term, ref)))


def _words(lines: list[Line]) -> int:
    return sum(len(x.text.split()) for x in lines)


def write_discourse(spec: ItemSpec, bank: dict[str, Any], words: int, rate: float
                    ) -> list[Line]:
    """Every line of the item, the key's included: about `words` words in all, the lines
    other than the key's within a few words of `words` less the key's, and never outside the
    range the rules give a model's script."""
    key = len(key_sentence(spec, bank).split())
    lo, hi = script_words(words, words)
    words = words - min(key, KEY_WORDS + 8)
    best: tuple[float, list[Line]] | None = None
    n = max(len(spec.facts) + 2, round(words / WORDS_PER_LINE))
    seen: set[int] = set()
    for _ in range(6):  # a few sentence counts, a few draws each: the closest wins
        seen.add(n)
        lengths = []
        for draw in range(4):
            lines = _compose(spec, bank, n, rate, rng_for(spec.seed, "script", n, draw))
            if lines is None:
                break
            got = _words(lines) - key
            lengths.append(got / max(1, len(lines)))
            miss = abs(got - words) + (0 if lo <= got <= hi else 1000)
            if best is None or miss < best[0]:
                best = (miss, lines)
            if best[0] <= 4:
                break
        if best is not None and best[0] <= 4:
            break
        per = sum(lengths) / len(lengths) if lengths else WORDS_PER_LINE
        gap = words - (best[1] and _words(best[1]) - key if best else 0)
        step = round(gap / per) if lengths else 1
        nxt = n + (step or (1 if gap > 0 else -1))
        while nxt in seen:
            nxt += 1 if gap > 0 else -1
        n = max(len(spec.facts) + 2, nxt)
    assert best is not None
    return _ensure_everyone_speaks(spec, best[1])


def _ensure_everyone_speaks(spec: ItemSpec, lines: list[Line]) -> list[Line]:
    ids = [s.id for s in spec.speakers]
    silent = [s for s in ids if s not in {x.speaker for x in lines}]
    for s in silent:
        # Give a non-fact line to the silent speaker where neither neighbour is them; in a
        # script of four or five lines (30 s) a line right after a fact may have to do.
        for strict in (True, False):
            if _give_line(lines, s, strict):
                break
    return lines


def _give_line(lines: list[Line], s: str, strict: bool) -> bool:
    for i, x in enumerate(lines):
        if x.fact or (i > 0 and lines[i - 1].speaker == s) or \
                (i + 1 < len(lines) and lines[i + 1].speaker == s):
            continue
        counts = sum(y.speaker == x.speaker for y in lines)
        if counts > 1 and i > 0 and (not strict or not lines[i - 1].fact):
            lines[i] = Line(s, x.text)
            return True
    return False


def to_turns(lines: list[Line], lecture: bool) -> list[Turn]:
    """Consecutive lines of one speaker form a turn; a lecture is cut into paragraphs."""
    turns: list[Turn] = []
    for x in lines:
        if turns and turns[-1].speaker == x.speaker and not (lecture and len(turns[-1].text) >= 5
                                                                and not x.fact):
            turns[-1].text.append(x.text)
        else:
            turns.append(Turn(x.speaker, [x.text]))
    return turns


def script_lines(spec: ItemSpec, bank: dict[str, Any], words: int, rate: float) -> list[Line]:
    """The discourse without the key sentence: what the script stage keeps."""
    lines = [x for x in write_discourse(spec, bank, words, rate) if x.fact != spec.key_fact]
    return _ensure_everyone_speaks(spec, lines)  # the key's line may have been someone's only

