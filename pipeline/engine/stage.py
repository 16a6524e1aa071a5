"""The shared machinery of per-item stages: context, cache lookup, parallel map, failures.

A stage is `inputs(item, ctx)` (everything that shapes its output, hashed into the cache
key), `apply(item, ctx) -> item`, and the names of the fields it produces. Only those fields
are cached, so a stage's record never carries a stale copy of another stage's work.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from tqdm import tqdm

from pipeline.core.config import Config
from pipeline.core.records import Item
from pipeline.core.resources import (
    Subtopic,
    Voice,
    load_key_templates,
    load_stem_templates,
    load_topics,
    load_voices,
    load_writer_bank,
)
from pipeline.core.store import StageCache, content_hash, file_hash


class StageFailure(Exception):
    """An item cannot pass this stage; the message is the machine-readable reason."""


@dataclass
class Context:
    cfg: Config
    quiet: bool = False
    stats: dict[str, dict[str, int]] = field(default_factory=dict)
    llm: Any = field(default=None, repr=False)  # the run's LLMSession, made on first use
    _digests: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def run_dir(self) -> Path:
        return self.cfg.run_dir

    @property
    def cache_root(self) -> Path:
        """Caches shared by every run under the same output root."""
        return Path(self.cfg.output_root) / "_cache"

    def prompt(self, name: str) -> Path:
        return Path(self.cfg.prompts_dir) / name

    @cached_property
    def topics(self) -> dict[str, list[Subtopic]]:
        return load_topics(self.prompt("topics.yaml"))

    @cached_property
    def writer_bank(self) -> dict[str, Any]:
        return load_writer_bank(self.prompt("offline_writer.yaml"))

    @cached_property
    def key_templates(self) -> dict[str, list[dict[str, str]]]:
        return load_key_templates(self.prompt("offline_keys.yaml"))

    @cached_property
    def stem_templates(self) -> dict[str, str]:
        return load_stem_templates(self.prompt("offline_questions.yaml"))

    @cached_property
    def difficulty(self) -> dict[str, dict[str, Any]] | None:
        """The baseline's tags for this run, read once (None before any baseline)."""
        from pipeline.core import difficulty

        return difficulty.load(self.run_dir)

    @cached_property
    def voices(self) -> dict[str, Voice]:
        return {v.id: v for v in load_voices(self.cfg.voices,
                                             check_espeak=self.cfg.tts.backend == "espeak")}

    def file_digest(self, path: str | Path) -> str:
        key = str(path)
        if key not in self._digests:
            self._digests[key] = file_hash(path)
        return self._digests[key]

    def progress(self, iterable: Any, desc: str, total: int) -> Any:
        return tqdm(iterable, desc=f"{desc:<11}", total=total, file=sys.stderr,
                    disable=self.quiet, leave=True, dynamic_ncols=True)


@dataclass(frozen=True)
class Stage:
    name: str
    version: str
    outputs: tuple[str, ...]
    inputs: Callable[[Item, Context], Any]
    apply: Callable[[Item, Context], Item]
    workers: Callable[[Context], int] = lambda ctx: 1
    # A cached record can be stale for reasons its key cannot see (a deleted audio file).
    still_valid: Callable[[Item, Context], bool] = lambda item, ctx: True
    # An I/O-bound stage (LLM calls) runs its items as coroutines in one event loop, at most
    # `workers(ctx)` in flight; `close_async` runs in that loop once the stage is done.
    apply_async: Callable[[Item, Context], Awaitable[Item]] | None = None
    close_async: Callable[[Context], Awaitable[None]] | None = None


def _load(item: Item, record: dict[str, Any]) -> Item:
    merged = item.to_dict()
    merged.update(record)
    return Item.from_dict(merged)


def failure(stage: Stage, item: Item, exc: Exception) -> Item:
    """The item marked failed by an exception: not cached, so the next run retries it."""
    if isinstance(exc, StageFailure):
        reason = str(exc)
    else:  # one bad item must not sink the run
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        reason = f"error: {detail}"
    return replace(item, failed={"stage": stage.name, "reason": reason, "retry": True})


def apply_one(stage: Stage, item: Item, ctx: Context) -> Item:
    """Run one item through one stage; a failure becomes the item's recorded reason."""
    try:
        return stage.apply(item, ctx)
    except Exception as exc:
        return failure(stage, item, exc)


def local_map(stage: Stage, items: list[Item], ctx: Context) -> Iterator[tuple[int, Item]]:
    """(position, result) pairs as items finish, on a thread pool of the stage's size."""
    workers = max(1, min(stage.workers(ctx), len(items)))
    if workers == 1:
        yield from ((j, apply_one(stage, item, ctx)) for j, item in enumerate(items))
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(apply_one, stage, item, ctx): j for j, item in enumerate(items)}
        for fut in as_completed(futures):
            yield futures[fut], fut.result()


def run_stage(stage: Stage, items: list[Item], ctx: Context) -> list[Item]:
    cache = StageCache(ctx.run_dir, stage.name)
    out: list[Item | None] = [None] * len(items)
    todo: list[tuple[int, str]] = []
    for i, item in enumerate(items):
        if item.failed:
            out[i] = item
            continue
        key = content_hash(stage.name, stage.version, stage.inputs(item, ctx))
        record = cache.get(item.id, key)
        loaded = _load(item, record) if record is not None else None
        if loaded is not None and stage.still_valid(loaded, ctx):
            out[i] = loaded
        else:
            todo.append((i, key))

    pending = [items[i] for i, _ in todo]
    if stage.apply_async is not None and pending:
        from pipeline.engine.async_map import (
            async_map,  # I/O-bound: one event loop, whatever the executor
        )

        results = async_map(stage, pending, ctx)
    elif ctx.cfg.executor == "ray" and pending:
        from pipeline.engine.ray_executor import ray_map

        results = ray_map(stage, pending, ctx)
    else:
        results = local_map(stage, pending, ctx)
    # Records are written here, by the driver, as each item finishes: whatever executes the
    # work, a killed run keeps every finished item and loses nothing half-written.
    for j, new in ctx.progress(results, stage.name, len(todo)):
        i, key = todo[j]
        if not (new.failed or {}).get("retry"):  # a verdict (validation) is a result too
            cache.put(new.id, key, {f: new.to_dict()[f] for f in stage.outputs})
        out[i] = new
    ctx.stats[stage.name] = {"cached": len(items) - len(todo), "computed": len(todo),
                             "failed": sum(1 for it in out if it and it.failed)}
    return [it for it in out if it is not None]
