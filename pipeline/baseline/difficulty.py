"""Difficulty tags as other stages read them: light (no torch), so validation can import it.

`<run>/baseline/difficulty.jsonl` has one object per item: {"id", "hard", "too_easy",
"original_correct", "blind_correct", "speechprune_correct": {"0.2": bool, ...}, ...}.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..records import Check, Item


class BaselineError(RuntimeError):
    """The run cannot be evaluated (no export, a missing wav, a broken tag file)."""


def load_difficulty(run_dir: str | Path) -> dict[str, dict]:
    """Item id -> its tags from `<run>/baseline/difficulty.jsonl` ({} before any baseline)."""
    path = Path(run_dir) / "baseline" / "difficulty.jsonl"
    if not path.exists():
        return {}
    out = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            tag = json.loads(line)
            out[tag["id"]] = tag
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise BaselineError(f"{path} line {n}: not a difficulty tag ({exc!r})") from None
    return out


def too_easy_check(item: Item, tags: dict[str, dict]) -> Check:
    """The validation check behind `baseline.reject_too_easy`: fails an item the blind reader
    answered right. An item with no tag yet passes (the baseline runs after a first export)."""
    tag = tags.get(item.id)
    if tag is None:
        return Check("not_too_easy", True, "no baseline tag yet")
    if tag["too_easy"]:
        return Check("not_too_easy", False,
                     f"answered right with no audio by the {tag.get('adapter', '?')} baseline")
    return Check("not_too_easy", True)
