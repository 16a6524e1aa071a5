"""Read a run's difficulty tags: `data/runs/<run>/baseline/difficulty.jsonl`.

One JSON object a line, `{"id": str, "hard": bool, "too_easy": bool, "model": str,
"proxy": bool, ...}`, written by `spiral eval --tag`: `hard` when the named model fails the
item in its original choice order, `too_easy` when a blind (text-only) pass answers right in
at least 3 of 4 rotations. Publishing, the SPIRAL export (`data_h.jsonl`) and
`spiral reroll --hard` read it here, so a malformed file is reported once, naming its line.

Tags from an offline proxy (the cascade) measure where the answer is said rather than how
hard the item is: they become the published `hard` subset only when asked for
(`publish.hard_from_proxy`), and so do tags that name no model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipeline.core.records import Check, Item
from pipeline.core.store import atomic_write_text, read_jsonl

FILE = Path("baseline") / "difficulty.jsonl"


class DifficultyError(ValueError):
    """The difficulty file is malformed; the message names the file and line."""


def path(run_dir: str | Path) -> Path:
    return Path(run_dir) / FILE


def load(run_dir: str | Path) -> dict[str, dict[str, Any]] | None:
    """Tags by item id, or None when no model has tagged this run."""
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


def definer(tags: dict[str, dict[str, Any]] | None) -> dict[str, Any]:
    """Who defined the tags: {"model": name or None, "proxy": bool}. Files of the old
    baseline name an `adapter` instead; its `cascade` was the offline proxy."""
    rows = list((tags or {}).values())
    names = {r.get("model") or r.get("adapter") for r in rows}
    if len(names) != 1:
        return {"model": None if not names or names == {None} else ", ".join(
            sorted(str(n) for n in names)), "proxy": True}
    name = names.pop()
    proxy = any(r.get("proxy", name == "cascade") for r in rows)
    return {"model": name, "proxy": bool(proxy) or name is None}


def publishable_hard(tags: dict[str, dict[str, Any]] | None,
                     allow_proxy: bool = False) -> set[str] | None:
    """The ids to publish as `hard` (`data_h.jsonl`, the `hard` config), or None when there
    is none to publish: untagged, or tagged by a proxy (or nobody) and not asked for."""
    if tags is None:
        return None
    if definer(tags)["proxy"] and not allow_proxy:
        return None
    return hard_ids(tags)


def hard_ids(tags: dict[str, dict[str, Any]] | None) -> set[str]:
    return {i for i, row in (tags or {}).items() if row.get("hard") is True}


def too_easy_check(item: Item, tags: dict[str, dict[str, Any]] | None) -> Check:
    """The validation check behind `baseline.reject_too_easy`: fails an item a blind pass
    answered right. An item with no tag yet passes (tagging runs after a first export)."""
    tag = (tags or {}).get(item.id)
    if tag is None:
        return Check("not_too_easy", True, "no difficulty tag yet")
    if tag.get("too_easy"):
        return Check("not_too_easy", False,
                     f"answered right with no audio by "
                     f"{tag.get('model') or tag.get('adapter') or 'an unnamed model'}")
    return Check("not_too_easy", True)


def write(run_dir: str | Path, rows: list[dict[str, Any]]) -> Path:
    """Replace the run's tags (atomically) with `rows`, in the format `load` reads."""
    for row in rows:
        if not isinstance(row.get("id"), str) or not all(
                isinstance(row.get(f), bool) for f in ("hard", "too_easy")):
            raise DifficultyError(f"tag row {row!r}: needs a string id and bool hard/too_easy")
    dest = path(run_dir)
    atomic_write_text(dest, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return dest
