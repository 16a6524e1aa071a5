"""The stage driver and its executors, on fake stages: what is cached, retried, overlapped."""

from __future__ import annotations

import asyncio
import re
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from pipeline.core.records import Item, ItemSpec, Speaker
from pipeline.engine.driver import executor_for, run_stage
from pipeline.engine.stage import Context, Stage, StageFailure
from tests.conftest import make_config


def items(n: int) -> list[Item]:
    return [Item(spec=ItemSpec(
        index=i, id=f"lecture_{i}", seed=100 + i, type="lecture", main_topic="t",
        subtopic="s", terms=[], speakers=[Speaker("spk_1", "v", "female")], key_decile=0,
        key_offset=0.0, letter="A", detail_kind="number", answer_may_be_longest=False))
        for i in range(n)]


def ctx_for(tmp_path: Path, *overrides: str) -> Context:
    return Context(make_config(tmp_path, "run=fake", *overrides), quiet=True)


def tag(item: Item, ctx: Context) -> Item:
    """A CPU stage: stamps the item's seed into its provenance, fails item 2 on purpose."""
    if item.spec.index == 2:
        raise StageFailure("rejected: two")
    if item.spec.index == 3 and not ctx.cfg.run.endswith("-ok"):
        raise OSError("disk on fire")
    return replace(item, provenance={"tag": item.spec.seed}, failed=None)


def test_driver_caches_declared_outputs_and_retries_errors(tmp_path: Path) -> None:
    calls: list[str] = []

    def counted(item: Item, ctx: Context) -> Item:
        calls.append(item.id)
        return tag(item, ctx)

    stage = Stage("fake", "1", ("provenance",), lambda it, ctx: it.spec.seed, counted)
    ctx = ctx_for(tmp_path)
    out = run_stage(stage, items(5), ctx)
    assert [it.id for it in out] == [f"lecture_{i}" for i in range(5)]  # input order kept
    assert out[0].provenance == {"tag": 100}
    assert out[2].failed == {"stage": "fake", "reason": "rejected: two", "retry": True,
                             "kind": "content"}  # a StageFailure: the content's fault
    assert out[3].failed and re.fullmatch(  # and where: the run keeps no traceback
        r"error: OSError: disk on fire \(tests/test_engine\.py:\d+ in tag\)",
        out[3].failed["reason"])
    assert out[3].failed["kind"] == "infrastructure"  # anything else: same seed next run
    assert ctx.stats["fake"] == {"cached": 0, "computed": 5, "failed": 2}
    # Only the fields a stage declares are stored; failures are not cached at all.
    record = (ctx.run_dir / "fake" / "lecture_0.json").read_text()
    assert '"tag": 100' in record and '"spec"' not in record
    assert not (ctx.run_dir / "fake" / "lecture_3.json").exists()

    calls.clear()
    again = run_stage(stage, items(5), ctx)
    assert sorted(calls) == ["lecture_2", "lecture_3"]  # the rest comes from the cache
    assert again[0] == out[0]
    assert ctx.stats["fake"] == {"cached": 3, "computed": 7, "failed": 4}  # added up per run


def test_a_changed_input_misses_the_cache(tmp_path: Path) -> None:
    ctx = ctx_for(tmp_path, "run=fake-ok")
    first = Stage("fake", "1", ("provenance",), lambda it, ctx: "a", tag)
    run_stage(first, items(2), ctx)
    run_stage(replace(first, inputs=lambda it, ctx: "b"), items(2), ctx)
    assert ctx.stats["fake"]["computed"] == 4
    run_stage(replace(first, version="2"), items(2), ctx)
    assert ctx.stats["fake"]["computed"] == 6


def test_local_executor_uses_its_workers_and_keeps_order(tmp_path: Path) -> None:
    threads: set[str] = set()
    gate = threading.Barrier(3, timeout=10)  # three items must be in flight at once

    def wait_for_peers(item: Item, ctx: Context) -> Item:
        threads.add(threading.current_thread().name)
        gate.wait()
        return replace(item, provenance={"tag": item.spec.index})

    stage = Stage("fake", "1", ("provenance",), lambda it, ctx: it.id, wait_for_peers,
                  workers=lambda ctx: 3)
    out = run_stage(stage, items(6), ctx_for(tmp_path))
    assert [it.provenance["tag"] for it in out] == list(range(6))
    assert len(threads) == 3


def test_async_executor_overlaps_waiting_and_closes_once(tmp_path: Path) -> None:
    state = {"in_flight": 0, "peak": 0, "closed": 0, "setup": 0}

    async def wait(item: Item, ctx: Context) -> Item:
        state["in_flight"] += 1
        state["peak"] = max(state["peak"], state["in_flight"])
        await asyncio.sleep(0.05)
        state["in_flight"] -= 1
        if item.spec.index == 1:
            raise StageFailure("rejected: one")
        return replace(item, provenance={"tag": item.spec.index})

    async def close(ctx: Context) -> None:
        state["closed"] += 1

    def setup(pending: list[Item], ctx: Context) -> None:
        state["setup"] += len(pending)

    stage = Stage("fake", "1", ("provenance",), lambda it, ctx: it.id, apply_async=wait,
                  close_async=close, setup=setup, workers=lambda ctx: 4)
    ctx = ctx_for(tmp_path)
    assert executor_for(stage, ctx) == "async"
    out = run_stage(stage, items(10), ctx)
    assert state["peak"] == 4 and state["closed"] == 1 and state["setup"] == 10
    assert out[1].failed and out[1].failed["reason"] == "rejected: one"
    assert [it.provenance.get("tag") for it in out] == [0, None, *range(2, 10)]
    run_stage(stage, items(10), ctx)  # only the failed item is pending now
    assert state["setup"] == 11


def test_executor_is_chosen_by_what_the_stage_declares(tmp_path: Path) -> None:
    cpu = Stage("synthesize", "1", (), lambda it, ctx: 0, tag)
    assert executor_for(cpu, ctx_for(tmp_path)) == "local"
    assert executor_for(cpu, ctx_for(tmp_path, "executor=ray")) == "ray"
    with pytest.raises(TypeError, match="exactly one of apply and apply_async"):
        Stage("fake", "1", (), lambda it, ctx: 0)
