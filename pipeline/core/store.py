"""Run folders, atomic writes and the content-addressed stage cache.

Every file is written to a temporary name in the same folder and renamed into place, so a
run killed at any moment leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def stable_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def content_hash(*parts: Any) -> str:
    h = hashlib.sha256()
    for part in parts:
        data = part if isinstance(part, bytes) else stable_json(part).encode("utf-8")
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


def file_hash(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _umask() -> int:
    # os.umask can only be read by setting it; done once, at import, before any thread.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


UMASK = _umask()
FILE_MODE = 0o666 & ~UMASK  # what open() would give a new file: others may read the output
DIR_MODE = 0o777 & ~UMASK


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, FILE_MODE)  # mkstemp makes 0600 whatever the umask
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, ensure_ascii=False, indent=1) + "\n")


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def remove_stale_temps(root: str | Path) -> int:
    """Delete temporary files a killed run left behind; they are never read."""
    count = 0
    for tmp in Path(root).rglob(".*.tmp"):
        tmp.unlink(missing_ok=True)
        count += 1
    return count


class StageCache:
    """One JSON file per (stage, item): `{"key": <hash of inputs>, "record": {...}}`."""

    def __init__(self, run_dir: str | Path, stage: str) -> None:
        self.dir = Path(run_dir) / stage

    def path(self, item_id: str) -> Path:
        return self.dir / f"{item_id}.json"

    def get(self, item_id: str, key: str) -> dict | None:
        path = self.path(item_id)
        try:
            data = read_json(path)
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        return data["record"] if data.get("key") == key else None

    def put(self, item_id: str, key: str, record: dict) -> None:
        atomic_write_json(self.path(item_id), {"key": key, "record": record})


def link_or_copy(src: str | Path, dst: str | Path) -> None:
    """A hard link (no disk spent twice), or a copy where links cannot cross file systems."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def link_tree(src: str | Path, dst: str | Path) -> None:
    """Every file directly under `src` linked (or copied) into `dst`, created if needed."""
    dst = Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    for f in sorted(Path(src).iterdir()):
        if f.is_file():
            link_or_copy(f, dst / f.name)


def replace_dir(tmp: str | Path, dest: str | Path) -> None:
    """Swap a folder built under a temporary name into place; the old one is removed after.

    Not atomic across two renames, but a reader sees either folder whole, and a crash in
    between leaves `.<name>-old` and the temporary folder, both cleaned by the next swap.
    """
    tmp, dest = Path(tmp), Path(dest)
    tmp.chmod(DIR_MODE)  # mkdtemp's 0700 would hide the folder from the umask's readers
    old = dest.parent / f".{dest.name}-old"
    shutil.rmtree(old, ignore_errors=True)
    if dest.exists():
        dest.rename(old)
    tmp.rename(dest)
    shutil.rmtree(old, ignore_errors=True)


def read_jsonl(path: str | Path, error: type[Exception] = ValueError
               ) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line; a line that is not a JSON object
    raises `error` naming the file and line."""
    with Path(path).open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise error(f"{path}:{n}: not valid JSON: {exc.msg}") from None
            if not isinstance(obj, dict):
                raise error(f"{path}:{n}: expected a JSON object per line")
            yield n, obj
