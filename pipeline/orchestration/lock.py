"""One writer per run folder: `<run>/.lock` names the process (pid, host, start time).

A second `spiral run` on the same folder stops at once instead of interleaving its writes
with the first (two exports, one record describing another seed's audio). A lock whose
process is gone (same host, pid dead or reused by another program) is stale and taken over.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
from pathlib import Path
from types import TracebackType

from pipeline.core.errors import notice

NAME = ".lock"


class RunLocked(Exception):
    """Another live process holds the run folder."""


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), to tell a reused pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _alive(pid: int, start: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        pass
    now = _start_time(pid)
    return start is None or now is None or now == start


class RunLock:
    """`with RunLock(run_dir):` holds the folder; raises `RunLocked` naming the holder."""

    def __init__(self, run_dir: str | Path) -> None:
        self.path = Path(run_dir) / NAME
        self.me = {"pid": os.getpid(), "host": socket.gethostname(),
                   "start": _start_time(os.getpid())}
        self.held = False

    def _holder(self) -> dict | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except ValueError:
            data = None
        return data if isinstance(data, dict) else {}

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f"{NAME}.{os.getpid()}.", suffix=".tmp",
                                   dir=self.path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(self.me, fh)
        try:
            for _ in range(3):
                try:
                    os.link(tmp, self.path)  # atomic, and fails when the lock exists
                    self.held = True
                    return
                except FileExistsError:
                    pass
                holder = self._holder()
                if holder is None:
                    continue  # released meanwhile
                if holder == self.me:
                    return  # this process holds it already (reroll, then the run): nested
                if self._stale(holder):
                    notice(f"{self.path}: taking over the stale lock of pid "
                           f"{holder.get('pid')} on {holder.get('host')} (no longer running)")
                    self.path.unlink(missing_ok=True)
                    continue
                raise RunLocked(
                    f"{self.path.parent} is in use by pid {holder.get('pid')} on "
                    f"{holder.get('host')}; wait for it to finish (if that process is gone "
                    f"for good, delete {self.path})")
            raise RunLocked(f"{self.path}: could not take the lock")
        finally:
            Path(tmp).unlink(missing_ok=True)

    def _stale(self, holder: dict) -> bool:
        pid = holder.get("pid")
        if not isinstance(pid, int) or holder.get("host") != self.me["host"]:
            # Another host's lock cannot be checked from here; one with no pid is debris
            # of a process killed while writing it.
            return not isinstance(pid, int)
        return not _alive(pid, holder.get("start"))

    def release(self) -> None:
        if self.held and self._holder() == self.me:
            self.path.unlink(missing_ok=True)
        self.held = False

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, tp: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
