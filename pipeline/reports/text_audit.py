"""Is the key hidden among other details? Figures on the text of any SPIRAL-format file.

The same code measures our export and the public release, from fields both have: the
transcript's sentences, the key sentence's index, the choices. A sentence is *fact-bearing*
when it carries a concrete detail a question could ask for: a digit or a number word, a date
or a month, a clock time, an amount (percent, dollars, ...), or a proper name (a capitalised
word that does not start the sentence and is not "I").
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from pipeline.text.numbers import MONTHS, spoken_amount_value

NUMBER_WORDS = (
    "two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty "
    "ninety hundred thousand million billion dozen").split()
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_DETAIL = re.compile(
    r"\d|\b(?:" + "|".join(NUMBER_WORDS) + r")\b|\b(?:percent|per cent|dollars?|euros?|"
    r"pounds|o'clock|a\.m\.|p\.m\.)\b|[%$€£]", re.I)
_CALENDAR = re.compile(r"\b(?:" + "|".join(MONTHS[:4] + MONTHS[5:] + DAYS) + r")\b")
_TOKEN = re.compile(r"\S+")
_WORD = re.compile(r"[a-z0-9']+")
NOT_NAMES = {"I", "I'm", "I've", "I'd", "I'll", "OK", "Okay", "TV", "AI"}


def proper_names(sentence: str) -> list[str]:
    """Capitalised words that do not start the sentence (or a quoted or new clause)."""
    out = []
    prev = ""
    for i, tok in enumerate(_TOKEN.findall(sentence)):
        word = tok.strip("\"'“”‘’()[],;:!?.")
        starts = i == 0 or prev.endswith((".", "!", "?", ":", "\"", "“")) or tok[0] in "\"“'‘"
        if word and word[0].isupper() and not starts and word not in NOT_NAMES \
                and not word.isupper():
            out.append(word)
        prev = tok
    return out


def fact_bearing(sentence: str) -> bool:
    return bool(_DETAIL.search(sentence) or _CALENDAR.search(sentence)
                or proper_names(sentence))


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def distinct2(texts: list[str], limit: int) -> tuple[float, int]:
    """Distinct word bigrams / all bigrams over the first `limit` words (bigrams stay inside
    one item's transcript), and the words counted."""
    seen: set[tuple[str, str]] = set()
    total = n_words = 0
    for text in texts:
        ws = words(text)[: max(0, limit - n_words)]
        n_words += len(ws)
        for pair in zip(ws, ws[1:], strict=False):
            seen.add(pair)
            total += 1
        if n_words >= limit:
            break
    return (round(len(seen) / total, 4) if total else 0.0), n_words


def _norm(sentence: str) -> str:
    return " ".join(words(sentence))


def text_figures(items: list[dict[str, Any]], distinct_words: int) -> dict[str, Any]:
    """`items`: {id, sentences, key_index, answer, wrong, planned} per record."""
    n = len(items)
    key_only = 0
    other_total = other_facts = 0
    by_item: list[set[str]] = []
    owners: Counter[str] = Counter()
    for it in items:
        sents, k = it["sentences"], it["key_index"]
        others = [s for i, s in enumerate(sents) if i != k]
        facts = sum(fact_bearing(s) for s in others)
        key_only += facts == 0
        other_total += len(others)
        other_facts += facts
        norm = {_norm(s) for s in others if len(words(s)) >= 4}
        by_item.append(norm)
        owners.update(norm)
    long_sents = sum(len(x) for x in by_item)
    repeated = sum(sum(owners[s] > 1 for s in x) for x in by_item)
    d2, counted = distinct2([" ".join(it["sentences"]) for it in items], distinct_words)
    # A two-hop answer is a total by design: the phrase share is of one-hop items.
    one_hop = [it for it in items if it.get("hops") != 2]
    # An amount said in words ("forty thousand dollars") is a value, not a phrase.
    phrases = sum(len(it["answer"].split()) >= 3 and spoken_amount_value(it["answer"]) is None
                  for it in one_hop)
    planned = sum(len(it["planned"]) for it in items)
    planned_items = sum(bool(it["planned"]) for it in items)
    return {
        "key_only_fact": round(key_only / n, 4) if n else 0.0,
        "fact_density": round(other_facts / other_total, 4) if other_total else 0.0,
        "distinct2": d2,
        "distinct2_words": counted,
        "repeated_sentences": round(repeated / long_sents, 4) if long_sents else 0.0,
        "answers": {"phrase": phrases, "value": len(one_hop) - phrases,
                    "phrase_share": round(phrases / len(one_hop), 4) if one_hop else 0.0},
        "confusers": {"planned": planned, "items_with_planned": planned_items},
    }
