"""Run every check on each built item; a failing item is reported and left out of the export."""

from __future__ import annotations

from dataclasses import asdict, replace

from .. import difficulty
from ..checks import structural_checks
from ..records import Item
from .base import Context, Stage, run_stage


def _inputs(item: Item, ctx: Context) -> dict:
    data = item.to_dict()
    data.pop("checks")
    out = {"item": data, "audio": asdict(ctx.cfg.audio)}
    if ctx.cfg.baseline.reject_too_easy:
        out["difficulty"] = (ctx.difficulty or {}).get(item.id)
    return out


def _apply(item: Item, ctx: Context) -> Item:
    checks = structural_checks(item, ctx.cfg)
    if ctx.cfg.baseline.reject_too_easy:
        checks.append(difficulty.too_easy_check(item, ctx.difficulty))
    bad = [c for c in checks if not c.ok]
    failed = {"stage": "validate", "reason": "; ".join(f"{c.name}: {c.reason}" for c in bad)}
    return replace(item, checks=checks, failed=failed if bad else None)


STAGE = Stage("validate", "1", ("checks", "failed"), _inputs, _apply)


def run(items: list[Item], ctx: Context) -> list[Item]:
    return run_stage(STAGE, items, ctx)
