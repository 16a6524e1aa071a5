"""Seed derivation and stratified assignment.

Item i's seed and its balanced attributes depend only on (run seed, i), so a run of 50 items
is exactly the first 50 items of a run of 500 with the same seed.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def derive_seed(*parts: object) -> int:
    text = "\x1f".join(str(p) for p in parts).encode("utf-8")
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "big") >> 1


def rng_for(*parts: object) -> random.Random:
    return random.Random(derive_seed(*parts))


def stratified(run_seed: int, name: str, index: int, strata: Sequence[T]) -> T:
    """Item `index`'s value when every consecutive block of len(strata) items takes each
    stratum exactly once, in an order shuffled per block."""
    size = len(strata)
    block = list(strata)
    rng_for(run_seed, "stratum", name, index // size).shuffle(block)
    return block[index % size]


def stratified_ordinal(run_seed: int, name: str, index: int, strata: Sequence[T]
                       ) -> tuple[T, int]:
    """Item `index`'s stratum (as `stratified`) and how many earlier items drew the same one,
    so a second draw can take turns within each stratum."""
    size = len(strata)
    block, pos = divmod(index, size)
    drawn = [stratified(run_seed, name, size * block + j, strata) for j in range(pos + 1)]
    value = drawn[pos]
    return value, block * list(strata).count(value) + drawn[:pos].count(value)


def weighted_strata(weights: dict[str, float], block: int = 12) -> list[str]:
    """A block of labels whose counts follow the weights (largest remainder)."""
    total = sum(weights.values())
    names = sorted(weights)
    exact = {n: block * weights[n] / total for n in names}
    counts = {n: int(exact[n]) for n in names}
    rest = sorted(names, key=lambda n: (-(exact[n] - counts[n]), n))
    for n in rest[: block - sum(counts.values())]:
        counts[n] += 1
    return [n for n in names for _ in range(counts[n])]
