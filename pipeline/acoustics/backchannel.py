"""Backchannels: a listener's short "hmm", "right", "yeah" said over the speaker's talk.

A share of the item's sentences each gets one, from another speaker of the item (a lecture
with one speaker has none), placed 40-80% of the way into the sentence at a level a little
under the talk it answers. Nothing moves: every sentence keeps its samples and its
timestamps, and each backchannel's own [start, end] is recorded. Never over the key sentence
(nor another protected one, such as a two-hop item's first fact): a backchannel that would
run into one is moved earlier inside its own sentence, or dropped, so a key clip cut by the
exported timestamps holds the key speaker alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

# As a listener says them and espeak-ng renders them: its "mm-hm" and "uh-huh" come out
# spelled or garbled (whisper hears "MMChem", "Buh-buh"), its "hmm" is a hum.
WORDS = ("hmm", "right", "yeah", "okay", "I see", "sure")
LEVEL_DB = -6.0  # under the sentence it answers: a listener, not a turn
CLEARANCE_S = 0.15  # kept clear before a protected sentence
MIN_SENTENCE_S = 1.5  # too short to talk over
PLACE = (0.4, 0.8)  # where in the sentence it starts, as a share of the sentence

# A word said by a speaker of the item, as float samples at the run's rate.
Say = Callable[[str, str], np.ndarray]


@dataclass
class Backchannel:
    over: int  # the sentence it is said over
    speaker: str
    text: str
    start: float
    end: float

    def record(self) -> dict:
        return asdict(self)


def draw(times: list[list[float]], speakers: list[str], protected: set[int], share: float,
         rng: np.random.Generator) -> list[tuple[int, str, str, float]]:
    """(sentence, listener, word, share of the sentence where it starts) for `share` of the
    item's sentences, from those not protected and long enough."""
    cast = sorted(set(speakers))
    if share <= 0 or len(cast) < 2:
        return []
    eligible = [i for i, (s, e) in enumerate(times)
                if i not in protected and e - s >= MIN_SENTENCE_S]
    want = min(len(eligible), int(round(share * len(times))))
    if want == 0:
        return []
    out = []
    for i in sorted(int(i) for i in rng.choice(eligible, size=want, replace=False)):
        listeners = [s for s in cast if s != speakers[i]]
        out.append((i, listeners[int(rng.integers(len(listeners)))],
                    WORDS[int(rng.integers(len(WORDS)))], float(rng.uniform(*PLACE))))
    return out


def place(stems: dict[str, np.ndarray], times: list[list[float]], protected: set[int],
          drawn: list[tuple[int, str, str, float]], say: Say, sample_rate: int
          ) -> list[Backchannel]:
    """Add each drawn backchannel to its listener's stem (in place); the ones said. Level:
    `LEVEL_DB` under the RMS of the sentence it is said over (all stems summed there)."""
    sr = sample_rate
    n = min(len(s) for s in stems.values())
    guards = sorted(times[p][0] - CLEARANCE_S for p in protected if 0 <= p < len(times))
    said = []
    for i, who, word, at in drawn:
        audio = np.asarray(say(word, who), dtype=np.float64)
        if not len(audio):
            continue
        dur = len(audio) / sr
        s0, e0 = times[i]
        start = s0 + at * (e0 - s0)
        # Never into a protected sentence: the first one that starts after this sentence.
        limit = min([g for g in guards if g > s0] + [n / sr])
        start = min(start, limit - dur)
        if start < s0:
            continue  # no room inside this sentence: dropped, not squeezed
        a = int(round(start * sr))
        lo, hi = int(round(s0 * sr)), int(round(e0 * sr))
        over = sum(stem[lo:hi] for stem in stems.values())
        ref = float(np.sqrt(np.mean(over ** 2))) if hi > lo else 0.0
        rms = float(np.sqrt(np.mean(audio ** 2)))
        if ref <= 0 or rms <= 0:
            continue
        gain = ref / rms * 10.0 ** (LEVEL_DB / 20.0)
        stems[who][a:a + len(audio)] += gain * audio[:max(0, len(stems[who]) - a)]
        said.append(Backchannel(i, who, word, round(a / sr, 4),
                                round((a + len(audio)) / sr, 4)))
    return said
