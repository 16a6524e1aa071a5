"""The evaluation protocol: the prompt, the four rotations of the choices, and reading a letter
out of a free-text reply.

Circular evaluation asks every item four times, the choices rotated by 0-3 places, so a model
that always answers "B" (or that keeps the letter it saw first) scores a quarter, not more, on
the all-four-correct measure: letter bias cannot pass for skill.
"""

from __future__ import annotations

import re

from pipeline.core.records import LETTERS

# SPIRAL's multiple-choice prompt as the project poses it everywhere (the Qwen2-Audio adapter
# too): the question, the four labelled choices, then this instruction.
INSTRUCTION = "Answer with the letter of the correct choice only."
ROTATIONS = 4
_LABEL = re.compile(r"^\s*\(?([A-D])[.):]\s*")


def strip_label(choice: str) -> str:
    """"B. 412" -> "412": the choice's text without its letter."""
    m = _LABEL.match(choice)
    return choice[m.end():] if m else choice


def rotation(k: int, n: int = 4) -> list[int]:
    """Original choice indices in the order shown under rotation k: shown[j] = (j + k) % n."""
    return [(j + k) % n for j in range(n)]


def render(question: str, choices: list[str]) -> str:
    """The prompt text: question, labelled choices (texts without their old labels), instruction.
    Parsed back by `parse_prompt`, so the offline server can answer it."""
    lines = [question.strip()]
    lines += [f"{ltr}. {strip_label(c)}" for ltr, c in zip(LETTERS, choices, strict=True)]
    return "\n".join([*lines, INSTRUCTION])


def parse_prompt(text: str) -> tuple[str, list[str]] | None:
    """(question, four choice texts) of a prompt `render` wrote, or None."""
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    if len(lines) < 6 or lines[-1].strip() != INSTRUCTION:
        return None
    block = lines[-5:-1]
    if [ln[:3] for ln in block] != [f"{x}. " for x in LETTERS]:
        return None
    return "\n".join(lines[:-5]).strip(), [ln[3:] for ln in block]


def _norm(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


_ANSWER_IS = re.compile(r"\b(?i:answer|option|choice)\b\s*(?i:is|would be|:)?\s*:?\s*"
                        r"(?i:option\s+)?\(?([A-D])\b\)?")
_LEADING = re.compile(r"^\s*[\"'*]*\(?([A-D])\)?(?:[.):,]|\s*$|\s+[-:]|\s+(?=[A-Z0-9$]))")
_ALONE = re.compile(r"(?<![A-Za-z'])([A-D])(?![A-Za-z'])")


def parse_letter(reply: str, choices: list[str]) -> int | None:
    """The index (0-3) of the choice a reply picks among `choices` (as shown, without labels),
    or None when it cannot be read.

    Accepted: a bare letter ("B", "B.", "(B)", "B) 412"), "The answer is B" / "Answer: (C)",
    the text of exactly one choice, or exactly one stand-alone capital letter A-D ("A" only
    when it is not the article before a lower-case word). A reply naming two letters or two
    choices is unreadable.
    """
    text = reply.strip()
    if not text:
        return None
    m = _LEADING.match(text)
    if m:
        return LETTERS.index(m.group(1))
    said = set(_ANSWER_IS.findall(text))
    if len(said) == 1:
        return LETTERS.index(said.pop())
    body = _norm(text)
    texts = [_norm(strip_label(c)) for c in choices]
    hits = [i for i, t in enumerate(texts) if t and re.search(rf"\b{re.escape(t)}\b", body)]
    # a choice whose text is inside another's ("12" in "12 km") yields to the longer one
    hits = [i for i in hits if not any(j != i and texts[i] in texts[j] for j in hits)]
    if len(hits) == 1:
        return hits[0]
    alone = set()
    for m in _ALONE.finditer(text):
        after = text[m.end():m.end() + 6]
        if m.group(1) == "A" and re.match(r"\s[a-z]", after) \
                and not re.match(r"\s(?:and|or)\b", after):
            continue  # "a" as an article
        alone.add(m.group(1))
    if len(alone) == 1:
        return LETTERS.index(alone.pop())
    return None
