"""Run a stage's per-item work on Ray: tasks for text stages, actors for synthesis.

The driver keeps every decision that makes runs reproducible and resumable (cache keys,
record writes, order of the output); Ray only executes `apply_one`. A task whose worker
dies is retried (`ray.max_retries`); a synthesis actor that dies is restarted and its
in-flight call retried, so killing a worker loses and duplicates nothing.

On a cluster, every node needs this package installed and the run folder on a shared
filesystem, since workers write audio files into it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from pipeline.core.records import Item
from pipeline.engine.stage import Context, Stage, apply_one

_started_here = False


def ensure_ray(ctx: Context) -> None:
    """Connect to `ray.address`, or start a local head bound to 127.0.0.1."""
    global _started_here
    import ray

    if ray.is_initialized():
        return
    rc = ctx.cfg.ray
    root = str(Path(__file__).resolve().parents[2])
    env = {"PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
    if rc.address:
        ray.init(address=rc.address, runtime_env={"env_vars": env}, log_to_driver=False)
    else:
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        ray.init(num_cpus=rc.num_cpus, include_dashboard=False, log_to_driver=False,
                 _node_ip_address="127.0.0.1", runtime_env={"env_vars": env})
        _started_here = True


def shutdown() -> None:
    """Stop the local head this process started (a cluster we joined is left alone)."""
    global _started_here
    if _started_here:
        import ray

        ray.shutdown()
        _started_here = False


def _tts_actor_class():  # noqa: ANN202 - a Ray actor class
    import ray

    @ray.remote
    class TTSWorker:
        """Holds the context (and so the TTS model) for the life of the worker."""

        def __init__(self, ctx: Context) -> None:
            self.ctx = ctx

        def apply(self, stage: Stage, item: Item) -> Item:
            return apply_one(stage, item, self.ctx)

    return TTSWorker


def ray_map(stage: Stage, items: list[Item], ctx: Context) -> Iterator[tuple[int, Item]]:
    """(position, result) pairs as Ray finishes them."""
    import ray

    ensure_ray(ctx)
    rc = ctx.cfg.ray
    ctx_ref = ray.put(ctx)
    if stage.holds_model:
        n = max(1, min(rc.tts_actors, len(items)))
        actor = _tts_actor_class().options(
            num_gpus=rc.num_gpus_per_tts_actor, max_restarts=-1, max_task_retries=-1)
        actors = [actor.remote(ctx_ref) for _ in range(n)]
        refs = {actors[j % n].apply.remote(stage, item): j for j, item in enumerate(items)}
    else:
        task = ray.remote(max_retries=rc.max_retries)(apply_one)
        refs = {task.remote(stage, item, ctx_ref): j for j, item in enumerate(items)}
    pending = list(refs)
    try:
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                yield refs[ref], ray.get(ref)
    finally:
        for ref in pending:
            ray.cancel(ref)
        if stage.holds_model:
            for a in actors:
                ray.kill(a)
