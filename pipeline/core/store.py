"""Run folders, atomic writes and the content-addressed stage cache.

Every file is written to a temporary name in the same folder and renamed into place, so a
run killed at any moment leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from pipeline.core.errors import notice


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
    """sha256 of a file, read a megabyte at a time: the export's Arrow file holds every
    item's audio (~4.6 MB per item), so reading it whole made the run's peak memory grow
    with the number of items."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _umask() -> int:
    # os.umask can only be read by setting it; done once, at import, before any thread.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


UMASK = _umask()
FILE_MODE = 0o666 & ~UMASK  # what open() would give a new file: others may read the output
DIR_MODE = 0o777 & ~UMASK


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    atomic_write_with(path, lambda fh: fh.write(data))


def atomic_write_with(path: str | Path, write: Callable[[BinaryIO], object]) -> None:
    """`write(fh)` fills a temp file that then replaces `path`: for content too big to hold
    twice in memory (an hour of audio), written straight from its buffer."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # The writer's pid in the name: a shared cache's cleanup can tell a dead writer's debris.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp",
                               dir=path.parent)
    try:
        os.fchmod(fd, FILE_MODE)  # mkstemp makes 0600 whatever the umask
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.filename is None:
            exc.filename = str(path)  # a full disk names the file it could not write
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, ensure_ascii=False, indent=1) + "\n")


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


_TMP_PID = re.compile(r"\.(\d+)\.[^.]+\.tmp$")
ORPHAN_AGE_S = 3600.0  # a temp file with no pid in its name, this old, is nobody's


def _writer_alive(tmp: Path) -> bool:
    match = _TMP_PID.search(tmp.name)
    if match is None:
        try:
            return time.time() - tmp.stat().st_mtime < ORPHAN_AGE_S
        except FileNotFoundError:
            return False
    try:
        os.kill(int(match.group(1)), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        pass
    return True


def remove_stale_temps(root: str | Path, shared: bool = False) -> int:
    """Delete temporary files a killed run left behind; they are never read.

    `shared`: `root` is written by other runs too (`_cache/`), so only the temp files of
    writers that are no longer running go.
    """
    count = 0
    for tmp in Path(root).rglob(".*.tmp"):
        if shared and _writer_alive(tmp):
            continue
        tmp.unlink(missing_ok=True)
        count += 1
    return count


class StageCache:
    """One JSON file per (stage, item): `{"key": <hash of inputs>, "record": {...},
    "sha256": <hash of the record>, "files": {<path under the run folder>: <sha256>},
    "entry_sha256": <hash of key, record and files>}`.

    Nothing is reused unverified: a record that is unreadable or fails its checksum, or
    whose files are missing or changed since it was written, is recomputed, and said so.
    """

    def __init__(self, run_dir: str | Path, stage: str) -> None:
        self.run_dir = Path(run_dir)
        self.dir = self.run_dir / stage

    def path(self, item_id: str) -> Path:
        return self.dir / f"{item_id}.json"

    def _entry(self, item_id: str) -> dict | None:
        path = self.path(item_id)
        try:
            data = read_json(path)
        except FileNotFoundError:
            return None
        except ValueError:  # not JSON, or not UTF-8
            data = None
        if not isinstance(data, dict) or not isinstance(data.get("record"), dict):
            notice(f"{path}: not a readable stage record; recomputing the item")
            return None
        whole = data.get("entry_sha256")
        if data.get("sha256") != content_hash(data["record"]) or (
                whole is not None and whole != _entry_hash(data)):
            notice(f"{path}: stage record fails its checksum; recomputing the item")
            return None
        return data

    def get(self, item_id: str, key: str) -> dict | None:
        data = self._entry(item_id)
        if data is None or data.get("key") != key:
            return None
        for rel, sha in (data.get("files") or {}).items():
            path = self.run_dir / rel
            if not path.is_file():
                notice(f"{path}: missing; recomputing {item_id} at {self.dir.name}")
                return None
            if file_hash(path) != sha:
                notice(f"{path}: changed since {self.dir.name} wrote it (checksum mismatch); "
                       f"recomputing {item_id}")
                return None
        return data["record"]

    def record(self, item_id: str) -> dict | None:
        """The item's record whatever its key (readers such as the review page), verified."""
        data = self._entry(item_id)
        return data["record"] if data else None

    def files(self, item_id: str) -> dict[str, str]:
        """The checksums of the files this item's record stands for, by run-folder path."""
        data = self._entry(item_id)
        return dict(data.get("files") or {}) if data else {}

    def put(self, item_id: str, key: str, record: dict, files: Iterable[str] = ()) -> None:
        entry: dict[str, Any] = {"key": key, "record": record, "sha256": content_hash(record)}
        sums = {str(rel): file_hash(self.run_dir / rel) for rel in files}
        if sums:
            entry["files"] = sums
        entry["entry_sha256"] = _entry_hash(entry)
        atomic_write_json(self.path(item_id), entry)


def _entry_hash(entry: dict) -> str:
    """The key and the files' checksums too: an edited checksum must not vouch for an edited
    file. (Entries written before this field are checked on their record alone.)"""
    return content_hash(entry.get("key"), entry["record"], entry.get("files") or {})


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
            except RecursionError:  # 200k nested brackets: input, not a crash
                raise error(f"{path}:{n}: JSON nested too deeply") from None
            if not isinstance(obj, dict):
                raise error(f"{path}:{n}: expected a JSON object per line")
            yield n, obj
