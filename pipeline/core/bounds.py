"""Bounds on every number of the config: a value outside them is refused with one line
naming the key and its range, before anything is planned or written.

Without them `--set tts.workers=100000` started 100000 threads (SIGABRT at 5 GB) and
`--set n_items=1000000000` planned a billion items in memory before the disk check; and the
run folder remembered the value, so every rerun crashed the same way.
"""

from __future__ import annotations

import math
from typing import Any

HOUR = 3600

# key: (lowest, highest) inclusive; int bounds for an int key, float ones for a float key.
# Generous: they stop absurd values, not large runs.
BOUNDS: dict[str, tuple[float, float]] = {
    "n_items": (1, 100_000),
    "tts.workers": (1, 64),
    "tts.max_duration_fixes": (0, 20),
    "ray.tts_actors": (1, 256),
    "llm.concurrency": (1, 256),
    "llm.max_retries": (0, 100),
    "llm.max_repairs": (0, 100),
    "llm.max_reasks": (0, 100),
    "llm.timeout_s": (0.001, 24.0 * HOUR),
    "llm.backoff_s": (0.0, 1.0 * HOUR),
    "audio.sample_rate": (8000, 192_000),
    "audio.target_seconds": (1.0, 24.0 * HOUR),
    "audio.tolerance_seconds": (0.0, 24.0 * HOUR),
    "audio.pause_sentence_ms": (0, 60_000),
    "audio.pause_turn_ms": (0, 60_000),
    "audio.loudness_lufs": (-70.0, 0.0),
    "writer.words_min": (1, 1_000_000),
    "writer.words_max": (1, 1_000_000),
    "writer.disfluency_rate": (0.0, 1.0),
    "validate.max_regenerations": (0, 100),
    "validate.max_key_draws": (1, 100),
    "validate.judge_orders": (1, 24),
    "validate.max_wer": (0.0, 10.0),
    "publish.max_shard_mb": (1, 50_000),
    "publish.row_group_mb": (1, 4096),
    "baseline.seeds": (1, 1000),
    "baseline.k1": (1, 10_000_000),
    "baseline.frame_tokens": (1, 100_000),
}


def _get(cfg: Any, dotted: str) -> Any:
    node = cfg
    for part in dotted.split("."):
        node = getattr(node, part, None)
    return node


def out_of_bounds(cfg: Any) -> str | None:
    """'KEY must be ... (got V)' for the first number outside its bounds, else None."""
    for key, (lo, hi) in BOUNDS.items():
        value = _get(cfg, key)
        if value is None and key != "n_items":
            continue  # optional, or a section this version does not have
        integer = isinstance(lo, int)
        kind = "an int" if integer else "a number"
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or (integer and not isinstance(value, int)) or \
                not math.isfinite(value) or not lo <= value <= hi:
            return f"'{key}' must be {kind} from {_num(lo)} to {_num(hi)} (got {value!r})"
    return None


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"
