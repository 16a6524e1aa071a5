"""Checks made before a run does any work, so a bad file or a missing resource stops it in
seconds with one line instead of failing (and, before, re-seeding) every item.

Every prompt, bank and template the planned stages read is parsed and its slots checked; the
ASR and judge models are looked up; the disk must hold at least the planned audio. The LLM
endpoint is reached once, here when some item has no record yet of a writing stage (a
rerun of a finished run needs no server), else by the writer's `prepare` at the first stage
that turns out to have calls to make.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from pipeline.core.errors import InfrastructureError
from pipeline.core.grid import item_audio
from pipeline.core.records import Item
from pipeline.engine.stage import Context
from pipeline.writing.writer import STAGES as WRITER_STAGES

JUDGE_VARIABLES = {"transcript", "question", "choices"}  # stages.validate.llm_ask
WAV_HEADER = 44


def planned_audio_bytes(ctx: Context, items: list[Item], export: bool) -> int:
    """The least the run still has to write: the combined wavs of the items without audio
    yet (16-bit mono at the target length) and, when exporting, the dataset's copy of them."""
    def size(it: Item) -> int:
        a = item_audio(it.spec, ctx.cfg.audio)
        return WAV_HEADER + int(a.target_seconds * a.sample_rate) * 2

    audio = ctx.run_dir / "audio"
    missing = sum(size(it) for it in items if not (audio / f"{it.id}.wav").exists())
    return missing + (sum(size(it) for it in items) if export else 0)


def check_disk(ctx: Context, items: list[Item], export: bool) -> None:
    need = planned_audio_bytes(ctx, items, export)
    free = shutil.disk_usage(ctx.run_dir).free
    if free < need:
        raise InfrastructureError(
            f"not enough disk space under {ctx.run_dir}: {free / 1e6:.1f} MB free, the planned "
            f"audio alone needs {need / 1e6:.1f} MB; free some space or move output_root")


def run_preflight(ctx: Context, items: list[Item], stages: list[str]) -> None:
    """Raise (ResourceError: exit 2; InfrastructureError: exit 1) before any work."""
    if any(s in stages for s in ("script", "precheck", "synthesize")):  # stages that render
        from pipeline.stages import synthesize

        synthesize.check_voices(items, ctx)  # a planned voice the backend cannot say stops here
    writer_stages = tuple(s for s in WRITER_STAGES if s in stages)
    if writer_stages:
        ctx.writer.preflight(items, writer_stages)
        if not all((ctx.run_dir / s / f"{it.id}.json").exists()
                   for s in writer_stages for it in items):
            ctx.writer.reach()
    if "validate" in stages:
        from pipeline.stages import validate

        validate.preflight(ctx)
        if ctx.cfg.validate.judge_backend == "llm":
            from pipeline.llm.prompts import load_prompt

            load_prompt(Path(ctx.cfg.prompts_dir), "judge").check_slots(JUDGE_VARIABLES)
    if "synthesize" in stages:
        check_disk(ctx, items, "export" in stages)
