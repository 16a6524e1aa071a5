"""What a per-item stage is: the run's context, the Stage record, and how a failure is kept.

A stage is `inputs(item, ctx)` (everything that shapes its output, hashed into the cache
key), `apply(item, ctx) -> item`, and the names of the fields it produces. Only those fields
are cached, so a stage's record never carries a stale copy of another stage's work. The
driver (`driver.run_stage`) and the executors (`local`, `async_map`, `ray_executor`) build on
these types and nothing here knows them.
"""

from __future__ import annotations

import errno
import sys
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from tqdm import tqdm

from pipeline.core.config import Config
from pipeline.core.errors import (
    CONTENT,
    INFRASTRUCTURE,
    InfrastructureError,
    RunStopped,
    StageFailure,
)
from pipeline.core.records import Item
from pipeline.core.resources import Subtopic, Voice, load_topics, load_voices
from pipeline.core.store import file_hash
from pipeline.writing.backends import make_writer
from pipeline.writing.writer import Writer


@dataclass
class Context:
    cfg: Config
    quiet: bool = False
    stats: dict[str, dict[str, int]] = field(default_factory=dict)
    phase: str = ""  # progress label prefix: where the run is ("[5/6] ", "regen 1 ")
    rejected: int = 0  # attempts a stage rejected so far in this run, shown as they happen
    draws_rejected: int = 0  # the pre-check's key draws rejected (each item may have several)
    last_rejection: str = ""
    _digests: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def run_dir(self) -> Path:
        return self.cfg.run_dir

    @property
    def cache_root(self) -> Path:
        return self.cfg.cache_root

    def prompt(self, name: str) -> Path:
        return Path(self.cfg.prompts_dir) / name

    @cached_property
    def topics(self) -> dict[str, list[Subtopic]]:
        return load_topics(self.prompt("topics.yaml"))

    @cached_property
    def writer(self) -> Writer:
        """The run's writer (offline or LLM), chosen once from `llm.backend`."""
        return make_writer(self.cfg)

    @cached_property
    def difficulty(self) -> dict[str, dict[str, Any]] | None:
        """The run's difficulty tags (spiral eval --tag), read once (None when untagged)."""
        from pipeline.core import difficulty

        return difficulty.load(self.run_dir)

    @cached_property
    def voices(self) -> dict[str, Voice]:
        return {v.id: v for v in load_voices(self.cfg.voices,
                                             check_espeak=self.cfg.tts.backend == "espeak",
                                             reference_dirs=self.cfg.tts.reference_dirs)}

    def file_digest(self, path: str | Path) -> str:
        key = str(path)
        if key not in self._digests:
            self._digests[key] = file_hash(path)
        return self._digests[key]

    def progress(self, iterable: Any, desc: str, total: int) -> Any:
        label = f"{self.phase}{desc:<11}"  # e.g. "[5/6] regen 1 validate"
        if sys.stderr.isatty() or self.quiet:
            return self._bar(tqdm(iterable, desc=label, total=total, file=sys.stderr,
                                  disable=self.quiet, leave=True, dynamic_ncols=True))
        return _log_lines(iterable, label, total)

    def _bar(self, bar: Any) -> Any:
        """The bar, registered so a rejection can show on it while it runs."""
        _BARS[id(self)] = bar
        if self.rejected or self.draws_rejected:
            bar.set_postfix_str(self.rejection_line(), refresh=False)
        try:
            yield from bar
        finally:
            _BARS.pop(id(self), None)

    def note_rejection(self, what: str, reason: str, draw: bool = False) -> None:
        """A gate rejected an attempt (`draw`: one key draw of the pre-check): shown at once,
        on the running bar or as its own log line, so a run that keeps failing says so
        while it runs, not only in the summary."""
        if draw:
            self.draws_rejected += 1
        else:
            self.rejected += 1
        self.last_rejection = f"{what}: {reason}"
        if self.quiet:
            return
        bar = _BARS.get(id(self))
        if bar is not None:
            bar.set_postfix_str(self.rejection_line())
        else:
            print(f"{self.phase}{self.rejection_line()}", file=sys.stderr, flush=True)

    def rejection_line(self) -> str:
        counts = [f"rejected {self.rejected}"] if self.rejected else []
        if self.draws_rejected:
            counts.append(f"key draws rejected {self.draws_rejected}")
        last = self.last_rejection
        return ", ".join([*counts, "last: " + (last if len(last) <= 100 else last[:99] + "…")])


_BARS: dict[int, Any] = {}  # Context id -> its running bar (a bar never travels with a ctx)


def _log_lines(iterable: Any, label: str, total: int) -> Any:
    """Progress for a log file or CI: plain lines (no carriage-return redraws), one every
    10% and one at the end, each with the rate and the time left."""
    import time

    t0 = time.perf_counter()
    step = max(1, total // 10)
    done = 0
    for x in iterable:
        yield x
        done += 1
        if done % step == 0 or done == total:
            took = time.perf_counter() - t0
            left = took / done * (total - done)
            print(f"{label.rstrip()}: {done}/{total} in {took:.1f} s, about {left:.0f} s left",
                  file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Stage:
    name: str
    version: str
    outputs: tuple[str, ...]
    inputs: Callable[[Item, Context], Any]
    # Exactly one of `apply` (CPU-bound, threads or Ray) and `apply_async` (I/O-bound).
    apply: Callable[[Item, Context], Item] | None = None
    workers: Callable[[Context], int] = lambda ctx: 1
    # A cached record can be stale for reasons its key cannot see (a deleted audio file).
    still_valid: Callable[[Item, Context], bool] = lambda item, ctx: True
    # An I/O-bound stage (LLM calls) runs its items as coroutines in one event loop, at most
    # `workers(ctx)` in flight; `close_async` runs in that loop once the stage is done.
    apply_async: Callable[[Item, Context], Awaitable[Item]] | None = None
    close_async: Callable[[Context], Awaitable[None]] | None = None
    # Runs once before any item is computed (load files, check what every item needs).
    setup: Callable[[list[Item], Context], None] | None = None
    # A stage that holds a model (TTS) keeps it in long-lived workers under Ray.
    holds_model: bool = False
    # The files (relative to the run folder) an item's record stands for: checksummed when
    # the record is written and verified before it is reused.
    files: Callable[[Item, Context], list[str]] | None = None

    def __post_init__(self) -> None:
        if (self.apply is None) == (self.apply_async is None):
            raise TypeError(f"stage {self.name}: give exactly one of apply and apply_async")


# A full or read-only disk fails every item alike: the run stops with one line instead.
FATAL_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)


def writer_stage(name: str, version: str, outputs: tuple[str, ...],
                 inputs: Callable[[Item, Context], Any],
                 apply_async: Callable[[Item, Context], Awaitable[Item]]) -> Stage:
    """A stage whose text the run's writer makes: as many items in flight as the writer
    allows, its files loaded before the first item, its connections closed at the end."""
    return Stage(name, version, outputs, inputs, apply_async=apply_async,
                 workers=lambda ctx: ctx.writer.concurrency,
                 setup=lambda items, ctx: ctx.writer.prepare(name, items),
                 close_async=lambda ctx: ctx.writer.close())
def _raised_at(exc: BaseException) -> str:
    """` (file:line in function)` of the frame that raised: a bug a 1,012-item run hits once
    must be findable from its one-line reason (the run keeps no traceback)."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return ""
    last = frames[-1]
    path = Path(last.filename)
    root = Path(__file__).resolve().parents[2]
    shown = path.relative_to(root) if path.is_relative_to(root) else Path(path.name)
    return f" ({shown}:{last.lineno} in {last.name})"


def failure(stage: Stage, item: Item, exc: Exception) -> Item:
    """The item marked failed by an exception: not cached, so the next run retries it.

    A `StageFailure` is about the content (regeneration may give the item a new seed);
    anything else is infrastructure (the item keeps its seed; the next run retries it).
    """
    if isinstance(exc, OSError) and exc.errno in FATAL_ERRNOS or isinstance(exc, RunStopped):
        raise exc
    if isinstance(exc, StageFailure):
        reason, kind = str(exc), CONTENT
    elif isinstance(exc, InfrastructureError):
        reason, kind = str(exc), INFRASTRUCTURE
    else:  # one bad item must not sink the run
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        reason, kind = f"error: {detail}{_raised_at(exc)}", INFRASTRUCTURE
    return replace(item, failed={"stage": stage.name, "reason": reason, "retry": True,
                                 "kind": kind})


def apply_one(stage: Stage, item: Item, ctx: Context) -> Item:
    """Run one item through one stage; a failure becomes the item's recorded reason."""
    assert stage.apply is not None
    try:
        return stage.apply(item, ctx)
    except Exception as exc:
        return failure(stage, item, exc)


__all__ = ["Context", "Stage", "StageFailure", "apply_one", "failure"]
