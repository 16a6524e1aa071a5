"""Read a run's difficulty tags: `data/runs/<run>/baseline/difficulty.jsonl`.

One JSON object a line, `{"id": str, "hard": bool, "too_easy": bool, "model": str,
"proxy": bool, ...}`, written by `spiral eval --tag`: `hard` when the named model fails the
item in its original choice order, `too_easy` when a blind (text-only) pass answers right in
at least 3 of 4 rotations. Publishing, the SPIRAL export (`data_h.jsonl`) and
`spiral reroll --hard` read it here, so a malformed file is reported once, naming its line.

A tag belongs to one version of its item: it carries the item's seed and a hash of its content
(transcript, question, voices, timings) as they were when the model answered. Once the item
changes (a reroll, a regenerated question), its tag no longer applies: readers drop it with a
one-line notice, and the item is untagged until `spiral eval --tag` runs again. Rows written
before tags carried a stamp apply as they are (nothing to compare them with).

Tags from an offline proxy (the cascade) measure where the answer is said rather than how
hard the item is: they become the published `hard` subset only when asked for
(`publish.hard_from_proxy`), and so do tags that name no model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipeline.core.errors import notice
from pipeline.core.records import Check, Item, to_spiral
from pipeline.core.store import atomic_write_text, content_hash, read_jsonl

FILE = Path("baseline") / "difficulty.jsonl"


class DifficultyError(ValueError):
    """The difficulty file is malformed; the message names the file and line."""


def path(run_dir: str | Path) -> Path:
    return Path(run_dir) / FILE


def stamp(rec: dict[str, Any], seed: int | None = None) -> dict[str, Any]:
    """What ties a tag to one version of an item: its seed (the record's
    `provenance.item_seed` unless given) and a hash of what a model hears and reads."""
    combined = rec["audio_data"]["combined"]
    if seed is None:
        seed = (rec.get("provenance") or {}).get("item_seed")
    return {"seed": seed,
            "content": content_hash(rec["transcript"], rec["test_question"],
                                    combined.get("prompts_used"), rec.get("timestamps"),
                                    rec.get("duration"))[:16]}


def item_stamp(item: Item) -> dict[str, Any]:
    return stamp(to_spiral(item), item.spec.seed)


def applies(row: dict[str, Any], now: dict[str, Any] | None) -> bool:
    """Whether a tag row was made on the item's current version (`now`, its stamp). Rows
    with no stamp (older files) and items not known here apply as they are."""
    if now is None or "content" not in row:
        return True
    if now["content"] is None:  # known by its seed alone
        return row.get("seed") == now["seed"]
    return row.get("seed") == now["seed"] and row.get("content") == now["content"]


def load(run_dir: str | Path, records: list[dict[str, Any]] | None = None
         ) -> dict[str, dict[str, Any]] | None:
    """Tags by item id that apply to the items as they are: `records` (SPIRAL records about
    to be exported), else the run's `export/data.jsonl`. None when no model has tagged this
    run. Tags of items changed since they were tagged are dropped, with a notice."""
    tags = load_all(run_dir)
    if tags is None:
        return None
    now: dict[str, dict[str, Any]] = {}
    if records is None:
        data = Path(run_dir) / "export" / "data.jsonl"
        records = [rec for _, rec in read_jsonl(data, DifficultyError)] if data.exists() else []
        # an item left out of the export (a reroll that failed its gates) is known by the
        # seed the run ended on
        plan = Path(run_dir) / "plan.jsonl"
        if plan.exists():
            for _, spec in read_jsonl(plan, DifficultyError):
                if isinstance(spec.get("id"), str):
                    now[spec["id"]] = {"seed": spec.get("seed"), "content": None}
    for rec in records:  # a malformed record is its reader's to report, not this one's
        try:
            now[rec["metadata"]["id"]] = stamp(rec)
        except (KeyError, TypeError, IndexError):
            continue
    stale = sorted(i for i, row in tags.items() if not applies(row, now.get(i)))
    if stale:
        _notice_once(f"{path(run_dir)}: dropped the difficulty tags of {len(stale)} item(s) "
                     f"changed since they were tagged ({', '.join(stale[:5])}"
                     f"{', ...' if len(stale) > 5 else ''}); they are untagged until "
                     "spiral eval --tag runs again")
    return {i: row for i, row in tags.items() if i not in stale}


_said: set[str] = set()


def _notice_once(message: str) -> None:
    """Several readers in one command (export, publish, review) say it once."""
    if message not in _said:
        _said.add(message)
        notice(message)


def load_all(run_dir: str | Path) -> dict[str, dict[str, Any]] | None:
    """Every tag row by item id, current or not; None when no model has tagged this run."""
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
    if not applies(tag, item_stamp(item)):
        return Check("not_too_easy", True, "its difficulty tag is of an earlier version")
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
