"""Read the baseline's difficulty tags: `data/runs/<run>/baseline/difficulty.jsonl`.

One JSON object a line, `{"id": str, "hard": bool, "too_easy": bool, ...}`, written by the
baseline. Publishing, the SPIRAL export (`data_h.jsonl`) and `spiral reroll --hard` read it
here, so a malformed file is reported once, naming its line, in every one of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.core.records import Check, Item
from pipeline.core.store import read_jsonl

FILE = Path("baseline") / "difficulty.jsonl"


class DifficultyError(ValueError):
    """The difficulty file is malformed; the message names the file and line."""


def path(run_dir: str | Path) -> Path:
    return Path(run_dir) / FILE


def load(run_dir: str | Path) -> dict[str, dict[str, Any]] | None:
    """Tags by item id, or None when the baseline has not tagged this run."""
    src = path(run_dir)
    if not src.exists():
        return None
    tags: dict[str, dict[str, Any]] = {}
    for n, row in read_jsonl(src, DifficultyError):
        if not isinstance(row.get("id"), str):
            raise DifficultyError(f"{src}:{n}: expected an object with a string 'id'")
        for flag in ("hard", "too_easy"):
            if not isinstance(row.get(flag, False), bool):
                raise DifficultyError(f"{src}:{n}: '{flag}' of {row['id']} must be a bool")
        tags[row["id"]] = row
    return tags


def hard_ids(tags: dict[str, dict[str, Any]] | None) -> set[str]:
    return {i for i, row in (tags or {}).items() if row.get("hard") is True}


def too_easy_check(item: Item, tags: dict[str, dict[str, Any]] | None) -> Check:
    """The validation check behind `baseline.reject_too_easy`: fails an item the blind reader
    answered right. An item with no tag yet passes (the baseline runs after a first export)."""
    tag = (tags or {}).get(item.id)
    if tag is None:
        return Check("not_too_easy", True, "no baseline tag yet")
    if tag.get("too_easy"):
        return Check("not_too_easy", False,
                     f"answered right with no audio by the {tag.get('adapter', '?')} baseline")
    return Check("not_too_easy", True)
