"""The rules the offline writer obeys by construction, checked on what a model writes.

Each check returns '' when the reply is fine, else one line that says what is wrong; the
client shows that line to the model and asks again (bounded), and the item records it.
"""

from __future__ import annotations

import re
from typing import Any

from pipeline.core.records import SPEAKERS, Fact, ItemSpec
from pipeline.text.compare import mentions
from pipeline.text.numbers import MONTHS, SPOKEN_BIG
from pipeline.writing.facts import PHRASE_KINDS

# The written form of each detail kind: short, speakable, and checkable.
KIND_FORMATS = {
    "number": ("a whole number in digits, e.g. 482", rf"(?:[1-9]\d{{1,5}}|{SPOKEN_BIG})"),
    "quantity": ("digits then a plural unit, e.g. 37 kilograms",
                 r"(?:[1-9]\d{0,4} [a-z]+s|1 [a-z]+)"),
    "date": ("month name then day, e.g. March 14", rf"(?:{'|'.join(MONTHS)}) [1-9]\d?"),
    "time": ("hours:minutes on a 12-hour clock, e.g. 4:35", r"(?:[1-9]|1[0-2]):[0-5]\d"),
    "name": ("an invented person's first and last name, e.g. Marta Quillfeather",
             r"[A-Z][a-z]+(?: [A-Z][a-z'-]+){1,2}"),
    "place": ("an invented two- or three-word place name, e.g. Port Larkhaven",
              r"[A-Z][a-z]+(?: [A-Z][a-z'-]+){1,2}"),
    "percentage": ("digits then the word percent, e.g. 42 percent", r"[1-9]\d? percent"),
    "money": ("digits then the word dollars, e.g. 4300 dollars",
              rf"(?:[1-9]\d{{1,6}}|{SPOKEN_BIG}) dollars"),
    **{kind: ("a short phrase of three to fourteen words, no digits or names, e.g. "
              f"{example!r}", r"[a-z][a-z' ,-]*[a-z]")
       for kind, example in (("finding", "the older samples drifted after heavy rain"),
                             ("decision", "to delay the field trials until next spring"),
                             ("cause", "the supplier sent the wrong parts"),
                             ("method", "weekly spot checks at every partner site"),
                             ("proposal", "to share the raw data with the partner groups"))},
}
FLAGS = ("important", "importantly", "note that", "notice that", "remember", "key detail",
         "crucial", "critical", "pay attention", "by the way", "don't forget", "keep in mind",
         "write this down", "take note")
POSITION_SLACK = 0.25  # a fact may be said this far (share of the sentences) from its place
MAX_KEY_WORDS = 32
MAX_STEM_WORDS = 28


def words(sentences: list[str]) -> int:
    return sum(len(s.split()) for s in sentences)


def script_words(words_min: int, words_max: int) -> tuple[int, int]:
    """The word range a script without its key sentence (about a dozen words) must land in:
    with the key, ~90 s of speech at the synthesiser's rate."""
    return words_min - 25, words_max - 2


def check_script(data: dict[str, Any], spec: ItemSpec, words_min: int, words_max: int) -> str:
    turns = data["turns"]
    ids = [s.id for s in spec.speakers]
    used = [t["speaker"] for t in turns]
    stray = sorted(set(used) - set(ids))
    if stray:
        return f"speakers {stray} are not in this item; use only {ids}"
    lo_s, hi_s = SPEAKERS[spec.type]
    if not lo_s <= len(set(used)) <= hi_s or set(used) != set(ids):
        return f"every one of the speakers {ids} must speak; only {sorted(set(used))} did"
    sentences = [s for t in turns for s in t["sentences"]]
    if any(not s.strip() for s in sentences):
        return "a sentence is empty"
    if spec.type != "lecture" and len(turns) < len(ids) + 2:
        return f"a {spec.type} needs at least {len(ids) + 2} turns, got {len(turns)}"
    lo, hi = script_words(words_min, words_max)
    n = words(sentences)
    if not lo <= n <= hi:
        return f"the transcript has {n} words; it must have between {lo} and {hi}"
    return check_facts(sentences, spec)


def _count(text: str, value: str) -> int:
    pattern = r"(?<![\w:])" + re.escape(value.lower()) + r"(?![\w:])"
    return len(re.findall(pattern, text.lower()))


def check_facts(sentences: list[str], spec: ItemSpec) -> str:
    """Every fact of the sheet but the key said once, word for word, near its position, in
    order; the key not yet; no other value of the key's kind than the planned confusers."""
    facts = [f for f in spec.facts if f.id != spec.key_fact]
    key = next((f for f in spec.facts if f.id == spec.key_fact), None)
    text = " ".join(sentences)
    n = max(1, len(sentences))
    for f in facts:
        count = _count(text, f.value)
        if count != 1:
            return (f"the fact about {f.subject} ({f.context}) must say {f.value!r} exactly "
                    f"once, word for word; the transcript says it {count} times")
        at = next(i for i, s in enumerate(sentences) if _count(s, f.value))
        if abs(at / n - f.position) > POSITION_SLACK:
            return (f"the fact {f.value!r} is said {at / n:.0%} of the way in; say it near "
                    f"{f.position:.0%}, keeping the facts in the order given")
    if key is not None:
        if _count(text, key.value):
            return f"the transcript must not say {key.value!r}: that fact is added later"
        if stray := stray_values(text, key.kind, spec.facts):
            return (f"the transcript says {stray!r}, another {key.kind} that is not one of the "
                    f"facts given; state only the facts given")
    return ""


def stray_values(text: str, kind: str, facts: list[Fact]) -> str:
    """The first value shaped like `kind` that is not a fact of the sheet ('' if none).
    Phrases have no shape to look for; names and places are capitalised word pairs that do
    not start a sentence."""
    if kind in PHRASE_KINDS:
        return ""
    masked = text
    for f in sorted(facts, key=lambda f: -len(f.value)):
        for part in (f.value, f.subject):
            masked = re.sub(re.escape(part), " # ", masked, flags=re.I)
    pattern = KIND_FORMATS[kind][1]
    for m in re.finditer(r"(?<![\w:])" + pattern + r"(?![\w:])", masked):
        if kind in ("name", "place"):
            before = masked[:m.start()].rstrip()
            if not before or before[-1] in ".!?\"":
                continue
        return m.group(0)
    return ""


def answer_shape_error(answer: str, kind: str) -> str:
    desc, pattern = KIND_FORMATS[kind]
    n = len(answer.split())
    if not re.fullmatch(pattern, answer) or (kind in PHRASE_KINDS and not 3 <= n <= 14):
        return f"the {kind} detail {answer!r} is not in the form: {desc}"
    return ""


def check_key(data: dict[str, Any], fact: Fact, transcript: list[str]) -> str:
    sentence, answer = data["sentence"].strip(), data["answer"].strip()
    if answer != fact.value:
        return f"the answer must be the fact's value exactly, {fact.value!r}, not {answer!r}"
    low = sentence.lower()
    count = _count(sentence, answer)
    if count != 1:
        return f"the sentence must say the detail {answer!r} exactly once; it says it {count} times"
    if fact.subject.lower() not in low:
        return f"the sentence must name {fact.subject}"
    if len(sentence.split()) > MAX_KEY_WORDS + (len(answer.split()) if fact.kind in
                                                PHRASE_KINDS else 0):
        return f"the sentence has {len(sentence.split())} words; at most {MAX_KEY_WORDS}"
    if re.search(r"[.!?]\s+[A-Z]", sentence):
        return "write one sentence, not several"
    flags = [f for f in FLAGS if re.search(r"\b" + re.escape(f) + r"\b", low)]
    if flags:
        return f"the sentence flags itself as special ({flags[0]!r}); it must blend in"
    said = [s for s in transcript if mentions(s, answer)]
    if said:
        return f"the detail {answer!r} is already said in the transcript: {said[0]!r}"
    return ""


def check_stem(data: dict[str, Any], answer: str, subject: str = "") -> str:
    stem = data["question"].strip()
    if subject and subject.lower() not in stem.lower():
        return f"the question must name {subject}, the subject of the fact it asks for"
    if mentions(stem, answer):
        return f"the question contains the answer {answer!r}"
    parts = [p for p in answer.split() if any(ch.isdigit() for ch in p)]
    leaked = [p for p in parts if mentions(stem, p)]
    if leaked:
        return f"the question gives away part of the answer: {leaked[0]!r}"
    if not stem.endswith("?"):
        return "the question must end with '?'"
    if len(stem.split()) > MAX_STEM_WORDS:
        return f"the question has {len(stem.split())} words; at most {MAX_STEM_WORDS}"
    return ""


def similar_length(cand: str, answer: str) -> bool:
    """The same tolerance the offline writer's distractors obey (details.make_distractors)."""
    return abs(len(cand) - len(answer)) <= max(3, len(answer) // 4)


def check_distractors(data: dict[str, Any], answer: str, kind: str, transcript: str,
                      stem: str, allow_longest: bool, fixed: tuple[str, ...] = ()) -> str:
    """The model's wrong choices, beside the planned confusers `fixed` (said, about other
    subjects), must make three distinct wrong choices of the answer's form."""
    ds = [d.strip() for d in data["distractors"]]
    want = 3 - len(fixed)
    if len(ds) != want:
        return f"write exactly {want} wrong answers, not {len(ds)}"
    every = [*fixed, *ds]
    if len(set(every)) != 3 or answer in every:
        return "the three wrong answers must differ from each other and from the answer"
    for d in ds:
        if error := answer_shape_error(d, kind):
            return f"wrong answer: {error}"
        if not similar_length(d, answer):
            return (f"wrong answer {d!r} has {len(d)} characters; keep within "
                    f"{max(3, len(answer) // 4)} of the answer's {len(answer)}")
        if mentions(transcript, d) or mentions(stem, d):
            return f"wrong answer {d!r} is said in the transcript or the question"
    if kind == "quantity" and any(d.split(" ", 1)[1] != answer.split(" ", 1)[1] for d in ds):
        return f"wrong answers must use the same unit as {answer!r}"
    if not allow_longest and max(len(d) for d in every) < len(answer):
        return "the correct answer must not be the longest choice; make one wrong answer longer"
    return ""
