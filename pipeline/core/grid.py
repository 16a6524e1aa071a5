"""Where each planned item sits in a run's grid: its length, and the seed its strata draw from.

A plain run is one cell (the config's `audio.target_seconds`, the run seed). A length grid
(`lengths: [30, 120, 600]`, `spiral run --lengths ...`) is one cell per length, each holding
`n_items` items with a seed of its own, so depth deciles, letters and types are stratified
*within* each length (item j of a length takes the same strata as item j of a plain run with
that length's seed) and adding a length never changes the items of another. Other grid axes
(acoustic levels, say) can add their own cells here the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from pipeline.core.config import AudioConfig, Config
from pipeline.core.records import ItemSpec
from pipeline.core.seeds import derive_seed


@dataclass(frozen=True)
class Cell:
    """Item `index` of the run, built as item `local` of a run with seed `seed`."""

    index: int
    local: int
    seed: int
    target_seconds: float
    tolerance_seconds: float


def cell_seed(run_seed: int, target_seconds: float) -> int:
    """The seed a length's items draw every stratum and fact from."""
    return derive_seed(run_seed, "length", f"{target_seconds:g}")


MIN_SHARE = 0.05  # no window narrower than 5% of the target


def tolerance_for(audio: AudioConfig, target_seconds: float) -> float:
    """The window at another length keeps the config's share: 10 s at 90 s is 200 s at
    1,800 s (a fixed number of seconds would be unreachable at 30 s and meaningless at 60
    minutes). It is never under 5% of the target: synthesis scales speaking rates in 1%
    steps and a script's length is known to a few percent, so `--set
    audio.target_seconds=3600` with the default 10 s gets 3600 +- 180 s, not +- 10 s."""
    return scaled_tolerance(audio.target_seconds, audio.tolerance_seconds, target_seconds)


def scaled_tolerance(base_target: float, base_tolerance: float, target_seconds: float
                     ) -> float:
    share = base_tolerance / base_target
    return round(target_seconds * max(share, MIN_SHARE), 3)


def cells(cfg: Config) -> list[Cell]:
    """One cell per planned item, in item order: length after length, `n_items` each."""
    if not cfg.lengths:
        a = cfg.audio
        tol = tolerance_for(a, a.target_seconds)
        return [Cell(i, i, cfg.seed, a.target_seconds, tol) for i in range(cfg.n_items)]
    out = []
    for g, length in enumerate(cfg.lengths):
        seed = cell_seed(cfg.seed, length)
        tol = tolerance_for(cfg.audio, length)
        out += [Cell(g * cfg.n_items + j, j, seed, float(length), tol)
                for j in range(cfg.n_items)]
    return out


def audio_for(target_seconds: float, tolerance_seconds: float, audio: AudioConfig
              ) -> AudioConfig:
    """The audio section as one item sees it: its own duration window, the rest shared.
    A record planned before items carried a window (0) keeps the config's."""
    if target_seconds <= 0:
        return audio
    return replace(audio, target_seconds=target_seconds, tolerance_seconds=tolerance_seconds)


def item_audio(spec: ItemSpec, audio: AudioConfig) -> AudioConfig:
    return audio_for(spec.target_seconds, spec.tolerance_seconds, audio)
