"""Overlapping speech at turn changes: the next speaker starts before the previous one ends.

A share of the item's turn changes is drawn; at each, the next turn (and everything after it)
moves earlier by the pause plus an overlap of 0.2-0.8 s, at most half of either sentence, so
an overlap only ever joins the two sentences of that turn change. The changes into and out
of the key sentence are never drawn: nothing is said over the key. Speech is moved whole,
per speaker, so every sentence keeps its samples and its new [start, end] is exact.
"""

from __future__ import annotations

import numpy as np

OVERLAP_S = (0.2, 0.8)


def turn_changes(speakers: list[str], key_index: int | None) -> tuple[list[int], list[int]]:
    """Sentence indices that start a new speaker's turn, and those of them that may overlap
    (not the key sentence, nor the sentence right after it)."""
    changes = [i for i in range(1, len(speakers)) if speakers[i] != speakers[i - 1]]
    barred = set() if key_index is None else {key_index, key_index + 1}
    return changes, [i for i in changes if i not in barred]


def draw_shifts(times: list[list[float]], speakers: list[str], key_index: int | None,
                share: float, rng: np.random.Generator, sample_rate: int
                ) -> tuple[np.ndarray, list[int]]:
    """Per sentence, how many samples earlier it starts (cumulative), and the sentences that
    overlap the one before. `share` of all turn changes, as far as the eligible ones allow."""
    n = len(times)
    moved = np.zeros(n, dtype=np.int64)
    changes, eligible = turn_changes(speakers, key_index)
    want = min(len(eligible), int(round(share * len(changes))))
    if want == 0:
        return moved, []
    chosen = sorted(int(i) for i in rng.choice(eligible, size=want, replace=False))
    step = np.zeros(n, dtype=np.int64)
    for i in chosen:
        prev = times[i - 1][1] - times[i - 1][0]
        this = times[i][1] - times[i][0]
        ov = min(float(rng.uniform(*OVERLAP_S)), 0.5 * prev, 0.5 * this)
        gap = times[i][0] - times[i - 1][1]
        step[i] = int(round((gap + ov) * sample_rate))
    moved = np.cumsum(step)
    return moved, chosen


def bounds(times: list[list[float]], n_samples: int, sample_rate: int) -> np.ndarray:
    """Sample index where each sentence's stretch of the track begins (its pause before it
    belongs to the sentence before), and the track's end."""
    starts = [0] + [int(round(t[0] * sample_rate)) for t in times[1:]]
    return np.array(starts + [n_samples], dtype=np.int64)


def stems(track: np.ndarray, times: list[list[float]], speakers: list[str],
          moved: np.ndarray, sample_rate: int) -> tuple[dict[str, np.ndarray], list[list[float]]]:
    """Each speaker's own track on the overlapped timeline, and the new sentence times."""
    cut = bounds(times, len(track), sample_rate)
    length = len(track) - int(moved[-1]) if len(moved) else len(track)
    out = {spk: np.zeros(length) for spk in dict.fromkeys(speakers)}
    for i, spk in enumerate(speakers):  # one slice per sentence, never per sample
        a, b = int(cut[i]), int(cut[i + 1])
        dst = a - int(moved[i])
        seg = track[a:b]
        out[spk][dst:dst + len(seg)] += seg[:max(0, length - dst)]
    new_times = [[round(s - int(m) / sample_rate, 4), round(e - int(m) / sample_rate, 4)]
                 for (s, e), m in zip(times, moved, strict=True)]
    return out, new_times
