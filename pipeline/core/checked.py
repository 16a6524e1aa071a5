"""Checksummed records: the one format every cache entry is written in and read back through.

A cache entry is `{"sha256": <hash of the payload>, "payload": {...}}`. Whatever reads an
entry gets the payload only when the checksum holds; a damaged, truncated or hand-edited
entry is reported on one line (`notice`) and treated as absent, so the caller recomputes
it and overwrites the entry: reuse is never silent and never trusts bytes it cannot check.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.core.errors import notice
from pipeline.core.store import atomic_write_json, content_hash, read_json


def wrap(payload: dict[str, Any]) -> dict[str, Any]:
    return {"sha256": content_hash(payload), "payload": payload}


def write_checked(path: str | Path, payload: dict[str, Any]) -> None:
    atomic_write_json(path, wrap(payload))


def unwrap(data: Any) -> dict[str, Any] | None:
    """The payload of an entry already parsed, or None when it fails its checksum."""
    if not isinstance(data, dict) or not isinstance(data.get("payload"), dict):
        return None
    if data.get("sha256") != content_hash(data["payload"]):
        return None
    return data["payload"]


def read_checked(path: str | Path, what: str, redo: str = "recomputing it"
                 ) -> dict[str, Any] | None:
    """The payload at `path`; None (silently) when there is no entry, None with a notice
    naming the file when it is unreadable or fails its checksum."""
    try:
        data = read_json(path)
    except FileNotFoundError:
        return None
    except (ValueError, RecursionError):  # not JSON, not UTF-8, absurdly nested
        data = None
    payload = unwrap(data)
    if payload is None:
        notice(f"{path}: damaged {what} (unreadable or fails its checksum); {redo}")
    return payload
