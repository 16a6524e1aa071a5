"""Babble: several of the project's own voices saying unrelated talk at once.

A fixed pool of talkers (voices of the bank) each says a bed of talk sentences from the
offline writer's bank (prompts/offline_talk.yaml: no fact, number or name in any of them).
The pool does not depend on the item, so its sentences are rendered once and then come from
the TTS cache; an item's babble is a few talkers of the pool (none of the item's own voices),
each at a random point of its bed, looped to the item's length and mixed at equal power.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

POOL_VOICES = 10
BED_SENTENCES = 12
PAUSE_S = (0.15, 0.5)


def talk_sentences(bank: dict[str, Any]) -> list[str]:
    """Every talk sentence of the bank, in a stable order."""
    out: list[str] = []

    def walk(node: Any) -> Iterator[str]:
        if isinstance(node, str):
            yield node
        elif isinstance(node, list):
            for v in node:
                yield from walk(v)
        elif isinstance(node, dict):
            for k in sorted(node):
                if k != "version":
                    yield from walk(node[k])

    out.extend(walk(bank))
    return out


def pool_plan(voice_ids: list[str], sentences: list[str], rng: np.random.Generator
              ) -> dict[str, list[str]]:
    """The pool's talkers and what each says: drawn once, from a fixed stream."""
    voices = sorted(voice_ids)
    picked = rng.choice(len(voices), size=min(POOL_VOICES, len(voices)), replace=False)
    plan = {}
    for v in sorted(int(i) for i in picked):
        lines = rng.choice(len(sentences), size=min(BED_SENTENCES, len(sentences)),
                           replace=False)
        plan[voices[v]] = [sentences[int(i)] for i in lines]
    return plan


def bed(rendered: list[np.ndarray], sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """One talker's sentences joined with short pauses, at unit power."""
    parts = []
    for audio in rendered:
        parts.append(np.asarray(audio, dtype=np.float64))
        parts.append(np.zeros(int(rng.uniform(*PAUSE_S) * sample_rate)))
    out = np.concatenate(parts)
    p = float(np.dot(out, out) / max(1, len(out)))
    return out / np.sqrt(p) if p > 0 else out


def mix(beds: dict[str, np.ndarray], exclude: set[str], talkers: int, n: int,
        rng: np.random.Generator) -> tuple[np.ndarray, list[str]]:
    """`talkers` beds not spoken by an `exclude`d voice, each from a random offset, looped
    to `n` samples, summed; and the voices used."""
    usable = sorted(v for v in beds if v not in exclude) or sorted(beds)
    chosen = [usable[int(i)] for i in rng.choice(len(usable), size=min(talkers, len(usable)),
                                                 replace=False)]
    out = np.zeros(n)
    for v in chosen:
        b = beds[v]
        start = int(rng.integers(len(b)))
        add_looped(out, b, start)
    return out, chosen


def add_looped(out: np.ndarray, bed_: np.ndarray, start: int) -> None:
    """`out += bed_` read from `start` and looped to `out`'s length: a few slices, no copy
    of the bed and no index array (a 90-s item is a handful of additions)."""
    at, pos = 0, start
    while at < len(out):
        take = min(len(bed_) - pos, len(out) - at)
        out[at:at + take] += bed_[pos:pos + take]
        at += take
        pos = 0


BedSource = Callable[[], dict[str, np.ndarray]]
