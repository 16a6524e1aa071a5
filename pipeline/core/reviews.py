"""Reviewers' verdicts on a run's items: `data/runs/<run>/reviews.jsonl`.

One JSON object a line, the latest verdict per item:
`{"id": str, "verdict": "accept" | "reject", "note": str, "seed": int | null, "at": str}`.
`spiral review` writes it; `spiral reroll --rejected` reads it. A verdict names the item seed
it was given to, so once a rejected item is rebuilt from a new seed its old verdict no longer
applies (it is "stale"): the new version needs a review of its own, and a second
`reroll --rejected` does not rebuild it again.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pipeline.core.store import FILE_MODE, atomic_write_text, read_jsonl

FILE = "reviews.jsonl"
VERDICTS = ("accept", "reject")
_lock = threading.Lock()


class ReviewError(ValueError):
    """The reviews file or a verdict is malformed; the message names the file, line or field."""


def path(run_dir: str | Path) -> Path:
    return Path(run_dir) / FILE


def load(run_dir: str | Path) -> dict[str, dict[str, Any]]:
    """Verdicts by item id, in file order; empty when nobody has reviewed the run."""
    src = path(run_dir)
    if not src.exists():
        return {}
    out: dict[str, dict[str, Any]] = {}
    for n, row in read_jsonl(src, ReviewError):
        where = f"{src}:{n}"
        if not isinstance(row.get("id"), str):
            raise ReviewError(f"{where}: expected an object with a string 'id'")
        if row.get("verdict") not in VERDICTS:
            raise ReviewError(f"{where}: 'verdict' of {row['id']} must be one of {VERDICTS}")
        if not isinstance(row.get("note", ""), str):
            raise ReviewError(f"{where}: 'note' of {row['id']} must be a string")
        seed = row.get("seed")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise ReviewError(f"{where}: 'seed' of {row['id']} must be an integer or null")
        out[row["id"]] = row
    return out


def record(run_dir: str | Path, item_id: str, verdict: str | None, note: str = "",
           seed: int | None = None) -> dict[str, Any] | None:
    """Set (or, with `verdict` None, clear) one item's verdict; the file is rewritten
    atomically. Returns the stored row."""
    if verdict is not None and verdict not in VERDICTS:
        raise ReviewError(f"verdict {verdict!r} of {item_id}: expected one of {VERDICTS}")
    if not isinstance(note, str):
        raise ReviewError(f"note of {item_id}: expected a string")
    with _lock, _file_lock(run_dir):
        rows = load(run_dir)
        row = None
        if verdict is None:
            rows.pop(item_id, None)
        else:
            row = {"id": item_id, "verdict": verdict, "note": note.strip(), "seed": seed,
                   "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            rows[item_id] = row
        atomic_write_text(path(run_dir), "".join(
            json.dumps(r, ensure_ascii=False) + "\n" for r in rows.values()))
    return row


@contextmanager
def _file_lock(run_dir: str | Path) -> Iterator[None]:
    """Held across read-modify-write: two review servers on one run (two processes) would
    otherwise each rewrite the file from what they read, and one's verdicts would be lost."""
    lock = Path(run_dir) / ".reviews.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # waits: a verdict is written in milliseconds
        yield
    finally:
        os.close(fd)  # releases the lock


def applies(row: dict[str, Any], seed: int | None) -> bool:
    """Whether a verdict was given to the item's current version (same seed)."""
    return row.get("seed") is None or seed is None or row["seed"] == seed


def rejected_ids(rows: dict[str, dict[str, Any]], seeds: dict[str, int]) -> set[str]:
    """Items whose current version (seed in `seeds`) a reviewer rejected."""
    return {i for i, row in rows.items() if row["verdict"] == "reject" and i in seeds
            and applies(row, seeds[i])}
