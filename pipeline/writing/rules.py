"""The rules the offline writer obeys by construction, checked on what a model writes.

Each check returns '' when the reply is fine, else one line that says what is wrong; the
client shows that line to the model and asks again (bounded), and the item records it.
"""

from __future__ import annotations

import re
from typing import Any

from pipeline.core.records import SPEAKERS, ItemSpec
from pipeline.text.compare import mentions
from pipeline.text.numbers import MONTHS

# The written form of each detail kind: short, speakable, and checkable.
KIND_FORMATS = {
    "number": ("a whole number in digits, e.g. 482", r"[1-9]\d{1,5}"),
    "quantity": ("digits then a plural unit, e.g. 37 kilograms", r"[1-9]\d{0,4} [a-z]+s"),
    "date": ("month name then day, e.g. March 14", rf"(?:{'|'.join(MONTHS)}) [1-9]\d?"),
    "time": ("hours:minutes on a 12-hour clock, e.g. 4:35", r"(?:[1-9]|1[0-2]):[0-5]\d"),
    "name": ("an invented person's first and last name, e.g. Marta Quillfeather",
             r"[A-Z][a-z]+(?: [A-Z][a-z'-]+){1,2}"),
    "place": ("an invented two- or three-word place name, e.g. Port Larkhaven",
              r"[A-Z][a-z]+(?: [A-Z][a-z'-]+){1,2}"),
    "percentage": ("digits then the word percent, e.g. 42 percent", r"[1-9]\d? percent"),
    "money": ("digits then the word dollars, e.g. 4300 dollars", r"[1-9]\d{1,6} dollars"),
}
FLAGS = ("important", "importantly", "note that", "notice that", "remember", "key detail",
         "crucial", "critical", "pay attention", "by the way", "don't forget", "keep in mind",
         "write this down", "take note")
DETAIL_WORDS = re.compile(r"\d|\b(?:percent|dollars?)\b|\b(?:" + "|".join(MONTHS) + r") \d")
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
    detail = [s for s in sentences if DETAIL_WORDS.search(s)]
    if detail:
        return f"the transcript must not contain numbers, dates or amounts yet: {detail[0]!r}"
    return ""


def answer_shape_error(answer: str, kind: str) -> str:
    desc, pattern = KIND_FORMATS[kind]
    if not re.fullmatch(pattern, answer):
        return f"the {kind} detail {answer!r} is not in the form: {desc}"
    return ""


def check_key(data: dict[str, Any], kind: str, transcript: list[str]) -> str:
    sentence, answer = data["sentence"].strip(), data["answer"].strip()
    if error := answer_shape_error(answer, kind):
        return error
    low = sentence.lower()
    count = len(re.findall(r"(?<![\w:])" + re.escape(answer.lower()) + r"(?![\w:])", low))
    if count != 1:
        return f"the sentence must say the detail {answer!r} exactly once; it says it {count} times"
    if len(sentence.split()) > MAX_KEY_WORDS:
        return f"the sentence has {len(sentence.split())} words; at most {MAX_KEY_WORDS}"
    if re.search(r"[.!?]\s+[A-Z]", sentence):
        return "write one sentence, not several"
    flags = [f for f in FLAGS if re.search(r"\b" + re.escape(f) + r"\b", low)]
    if flags:
        return f"the sentence flags itself as special ({flags[0]!r}); it must blend in"
    said = [s for s in transcript if mentions(s, answer)]
    if said:
        return f"the detail {answer!r} is already said in the transcript: {said[0]!r}"
    if any(mentions(v, answer) for v in data["slots"].values() if v):
        return "a slot (the question's context) must not contain the answer"
    return ""


def check_stem(data: dict[str, Any], answer: str) -> str:
    stem = data["question"].strip()
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
                      stem: str, allow_longest: bool) -> str:
    ds = [d.strip() for d in data["distractors"]]
    if len(set(ds)) != 3 or answer in ds:
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
    if not allow_longest and max(len(d) for d in ds) < len(answer):
        return "the correct answer must not be the longest choice; make one wrong answer longer"
    return ""
