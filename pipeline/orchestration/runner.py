"""Run the stages in order over one run folder, then write the manifest and a summary."""

from __future__ import annotations

import json
import platform
import shutil
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

from pipeline import __version__
from pipeline.core import memory
from pipeline.core.config import Config
from pipeline.core.errors import RunStopped, is_infrastructure, notice
from pipeline.core.grid import item_audio
from pipeline.core.records import Item
from pipeline.core.store import atomic_write_json, atomic_write_text, remove_stale_temps
from pipeline.engine.stage import Context
from pipeline.orchestration import precheck, regenerate, reseed
from pipeline.orchestration.lock import RunLock
from pipeline.orchestration.preflight import run_preflight
from pipeline.stages import export, plan, plant, question, script, synthesize, validate

STAGES = ("plan", "script", "plant", "question", "precheck", "synthesize", "validate", "export")
PER_ITEM = {"script": script, "plant": plant, "question": question, "precheck": precheck,
            "synthesize": synthesize, "validate": validate}


@dataclass
class RunResult:
    items: list[Item]
    ctx: Context
    wall_seconds: float
    stages: list[str] = field(default_factory=list)

    @property
    def built(self) -> list[Item]:
        return [it for it in self.items if not it.failed]

    @property
    def failed(self) -> list[Item]:
        return [it for it in self.items if it.failed]

    @property
    def unfinished(self) -> list[Item]:
        """Items that failed for infrastructure reasons: the next run retries them."""
        return [it for it in self.items if is_infrastructure(it.failed)]


def _versions() -> dict[str, str]:
    out = {"pipeline": __version__, "python": platform.python_version()}
    for pkg in ("datasets", "pydub", "pyloudnorm", "numpy", "openai"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


def manifest(ctx: Context, items: list[Item]) -> dict:
    """Config, seed, versions, prompt hashes and counts; never a secret or a timestamp."""
    cfg = ctx.cfg
    prompts = sorted(p for p in ctx.prompt("").glob("*.yaml"))
    versions = _versions()
    if cfg.tts.backend == "espeak":
        from pipeline.tts.espeak import espeak_version

        versions["espeak-ng"] = espeak_version()
    if cfg.tts.backend == "coqui":
        versions["coqui-tts"] = metadata.version("coqui-tts")
    return {
        "run": cfg.run,
        "seed": cfg.seed,
        "config": cfg.to_dict(),
        "versions": versions,
        "prompt_hashes": {p.name: ctx.file_digest(p) for p in prompts},
        "voices_hash": ctx.file_digest(cfg.voices),
        "counts": {
            "planned": len(items),
            "built": sum(1 for it in items if not it.failed),
            "failed": sum(1 for it in items if it.failed),
            "rejected_attempts": len(regenerate.load_log(cfg.run_dir)),
        },
    }


def _plan_line(spec: dict) -> str:
    if not spec.get("conditions"):  # a run without acoustics writes the plan it always did
        spec.pop("conditions", None)
    return json.dumps(spec, ensure_ascii=False) + "\n"


def write_plan(items: list[Item], run_dir: Path) -> None:
    lines = (_plan_line(asdict(it.spec)) for it in items)
    atomic_write_text(run_dir / "plan.jsonl", "".join(lines))


def clean_leftovers(ctx: Context) -> None:
    """Remove what killed runs left: temp files in the run folder and, of writers no longer
    running, in the shared `_cache/`; half-built export folders."""
    run_dir = ctx.run_dir
    count = remove_stale_temps(run_dir)
    for shared in {ctx.cache_root, ctx.cfg.tts_cache}:
        if shared.is_dir():
            count += remove_stale_temps(shared, shared=True)
    for pattern in (".export-*", ".export-old"):
        for folder in run_dir.glob(pattern):
            if folder.is_dir():
                shutil.rmtree(folder, ignore_errors=True)
                count += 1
    if count:
        notice(f"removed {count} temporary file(s) or folder(s) left by an interrupted run")


def run_pipeline(cfg: Config, until: str = "export", quiet: bool = False) -> RunResult:
    """Run the stages up to `until`, holding the run folder's lock (`RunLocked` if another
    process holds it). Items that failed for infrastructure reasons keep their seeds and no
    export is written while any remain: `RunResult.unfinished` lists them."""
    if until not in STAGES:
        raise ValueError(f"unknown stage {until!r}; stages: {', '.join(STAGES)}")
    cfg.run_dir.mkdir(parents=True, exist_ok=True)
    with RunLock(cfg.run_dir):
        return _run_locked(cfg, until, quiet)


def _run_locked(cfg: Config, until: str, quiet: bool) -> RunResult:
    t0 = time.perf_counter()
    memory.limit_arenas()
    ctx = Context(cfg, quiet=quiet)
    clean_leftovers(ctx)
    voices = list(ctx.voices.values())
    items = reseed.apply(plan.run(cfg, ctx.topics, voices), cfg.run_dir, voices,
                         cfg.prompts_dir)
    todo = STAGES[1:STAGES.index(until) + 1]
    run_preflight(ctx, items, list(todo))
    write_plan(items, cfg.run_dir)
    done = ["plan"]
    try:
        for k, name in enumerate(todo, 2):  # plan, done above, is stage 1
            ctx.phase = f"[{k}/{len(todo) + 1}] "  # where the run is overall, on every bar
            if name == "export":
                if any(is_infrastructure(it.failed) for it in items):
                    break  # an export is of a finished run only; the old one stays
                export.run(items, ctx)
            else:
                items = PER_ITEM[name].run(items, ctx)
                if name == "validate":
                    stages = [PER_ITEM[s] for s in [*done[1:], name]]
                    items = regenerate.regenerate(items, ctx, stages)
                    write_plan(items, cfg.run_dir)  # with the seeds items ended on
            done.append(name)
            memory.trim()
        ctx.phase = ""
    except RunStopped:  # the run stops, but what it spent and why is kept
        ctx.writer.write_report(cfg.run_dir, items)
        raise
    finally:
        if cfg.executor == "ray":
            from pipeline.engine.ray_executor import shutdown

            shutdown()
    # A worker killed mid-write (a Ray actor, a pool process) leaves its temp file; its item
    # was redone by another, so the run ends with none of them.
    remove_stale_temps(cfg.run_dir, shared=True)
    ctx.writer.write_report(cfg.run_dir, items)  # once, over every item and regeneration
    atomic_write_json(cfg.run_dir / "manifest.json", manifest(ctx, items))
    return RunResult(items, ctx, time.perf_counter() - t0, done)


def resume_hint(result: RunResult) -> str:
    """What to do about items that failed for infrastructure reasons ('' when none)."""
    unfinished = result.unfinished
    if not unfinished:
        return ""
    skipped = "; the export was not written" if "validate" in result.stages and \
        "export" not in result.stages else ""
    return (f"{len(unfinished)} item(s) failed for infrastructure reasons, not their content"
            f"{skipped}. Fix the cause and rerun the same command: they are retried with "
            "the same seeds, and finished work is kept.")


def summary(result: RunResult) -> str:
    """What the run built, what it tried, why attempts were rejected, and what to do next."""
    from collections import Counter

    built, failed = result.built, result.failed
    hours = sum(it.audio.duration for it in built if it.audio) / 3600
    cfg = result.ctx.cfg
    window = [it for it in result.items if it.audio]
    inside = sum(abs(it.audio.duration - (a := item_audio(it.spec, cfg.audio)).target_seconds)
                 <= a.tolerance_seconds for it in window)
    ids = {it.id for it in result.items}
    log = [r for r in regenerate.load_log(cfg.run_dir) if r["id"] in ids]
    reasons = Counter(check for r in log for check in {x["check"] for x in r["reasons"]})
    validated = "validate" in result.stages
    rows = [
        ("run", f"{cfg.run} (seed {cfg.seed})"),
        ("folder", str(cfg.run_dir)),
        ("stages", " > ".join(result.stages)),
        ("items built", f"{len(built)} of {len(result.items)} requested"
                        + (f"; {len(failed)} left out" if failed else "")),
    ]
    if validated:
        rows.append(("attempts", f"{len(built) + len(log)} ({len(log)} rejected by a gate and "
                                 "rebuilt from a new seed, or left out)"))
        if reasons:
            rows.append(("rejected by", ", ".join(f"{k} {v}" for k, v in reasons.most_common())))
    rows += [
        ("audio", f"{hours:.3f} h"),
        ("in duration window", f"{inside}/{len(window)}" if window else "-"),
        ("wall time", f"{result.wall_seconds:.1f} s"),
        ("per stage", "attempts this run (regenerations included)"),
    ]
    draws = [it.provenance["key_draw"] + 1 for it in built if "key_draw" in it.provenance]
    if draws:
        rows.append(("key draws", f"{sum(draws)} for {len(draws)} items (pre-check)"))
    for name, st in result.ctx.stats.items():
        bad = "rejected" if name == "validate" else "failed"
        text = f"{st['computed']} computed, {st['cached']} cached, {st['failed']} {bad}"
        if name == "regenerate":
            text = (f"{st['computed']} rebuilt from new seeds, {st['failed']} still failing "
                    f"after {cfg.validate.max_regenerations} seeds")
        rows.append((f"  {name}", text))
    if "writer" in vars(result.ctx) and (llm := result.ctx.writer.summary_line()):
        rows.append(("llm", llm))
    width = max(len(k) for k, _ in rows)
    lines = [f"{k:<{width}}  {v}" for k, v in rows]
    for it in failed:
        assert it.failed
        lines.append(f"FAILED {it.id} at {it.failed['stage']}: {it.failed['reason']}")
    # Items that failed on infrastructure are retried with their seeds (resume_hint says
    # so); only content failures were re-seeded, logged and can be rerolled.
    content = [it for it in failed if not is_infrastructure(it.failed)]
    if content:
        lines.append(f"NOT BUILT: {len(content)} of {len(result.items)} requested items, after "
                     f"up to {cfg.validate.max_regenerations} regenerations each")
        log_file = cfg.run_dir / "rejections.jsonl"
        see = f"see {log_file} for every reason; " if log_file.exists() else ""
        lines.append(f"next: {see}spiral reroll --run {cfg.run} --failed retries the "
                     f"{len(content)} item(s) left out from new seeds")
    elif "export" in result.stages:
        lines.append(f"next: spiral audit {cfg.run_dir / 'export' / 'data.jsonl'}, then "
                     f"spiral publish --run {cfg.run}")
    return "\n".join(lines)
