"""The Ray executor against a real local head on 127.0.0.1 (never a mock)."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import ray  # the `ray` extra; `make setup` and CI install it

from pipeline.orchestration.runner import RunResult, run_pipeline
from tests.conftest import ROOT, make_config


@pytest.fixture(scope="module")
def ray_head() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             _node_ip_address="127.0.0.1",
             runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}})
    yield
    ray.shutdown()


def data(result: RunResult) -> bytes:
    return (result.ctx.run_dir / "export" / "data.jsonl").read_bytes()


def test_ray_run_is_byte_identical_to_local_and_shares_its_cache(
        ray_head: None, small_run: RunResult, tmp_path: Path) -> None:
    on_ray = run_pipeline(make_config(tmp_path, "run=small", "n_items=6", "seed=7",
                                      "executor=ray"), quiet=True)
    assert data(on_ray) == data(small_run)
    for wav in (small_run.ctx.run_dir / "export" / "wavs").iterdir():
        assert wav.read_bytes() == (on_ray.ctx.run_dir / "export" / "wavs" / wav.name
                                    ).read_bytes()
    # The local run's folder, resumed on Ray: everything is found in the cache.
    again = run_pipeline(make_config(small_run.ctx.cfg.output_root, "run=small", "n_items=6",
                                     "seed=7", "executor=ray"), quiet=True)
    assert all(st["computed"] == 0 for st in again.ctx.stats.values()), again.ctx.stats


def _tts_worker_pids() -> list[int]:
    out = subprocess.run(["pgrep", "-f", "ray::TTSWorker"], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def test_ray_run_survives_a_killed_worker(ray_head: None, small_run: RunResult,
                                          tmp_path: Path) -> None:
    cfg = make_config(tmp_path, "run=small", "n_items=6", "seed=7", "executor=ray",
                      "ray.tts_actors=2")
    result: dict[str, RunResult] = {}
    thread = threading.Thread(target=lambda: result.setdefault("r", run_pipeline(cfg, quiet=True)))
    thread.start()
    synth = cfg.run_dir / "synthesize"
    killed = None
    deadline = time.time() + 180
    while killed is None and time.time() < deadline and thread.is_alive():
        pids = _tts_worker_pids()
        if pids and len(list(synth.glob("*.json"))) >= 1:
            killed = pids[0]
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.05)
    thread.join(timeout=300)
    assert killed is not None, "a synthesis worker must be killed mid-run"
    run = result["r"]
    assert len(run.built) == 6 and not run.failed
    assert data(run) == data(small_run)
    assert not list(cfg.run_dir.rglob("*.tmp"))


def stamp_pid(item, ctx):  # noqa: ANN001, ANN201 - a fake stage's apply, shipped to Ray workers
    from dataclasses import replace

    return replace(item, provenance={"pid": os.getpid()})


@pytest.mark.parametrize("holds_model", [True, False])
def test_ray_executor_runs_a_fake_stage(ray_head: None, tmp_path: Path,
                                        holds_model: bool) -> None:
    from pipeline.engine.driver import run_stage
    from pipeline.engine.stage import Context, Stage
    from tests.test_engine import items

    ctx = Context(make_config(tmp_path, "run=fake", "executor=ray", "ray.tts_actors=2"),
                  quiet=True)
    stage = Stage("fake", "1", ("provenance",), lambda it, ctx: it.id, stamp_pid,
                  holds_model=holds_model)
    out = run_stage(stage, items(6), ctx)
    pids = {it.provenance["pid"] for it in out}
    assert [it.id for it in out] == [f"lecture_{i}" for i in range(6)]
    assert os.getpid() not in pids  # executed by Ray workers, not here
    if holds_model:  # long-lived actors, as many as asked for, whatever the stage's name
        assert len(pids) == 2
