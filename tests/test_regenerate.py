"""Regeneration: a rejected item is rebuilt from a derived seed, bounded, every reason logged,
and a rerun with nothing changed does no work."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pipeline.core.records import Check, Item
from pipeline.orchestration import precheck
from pipeline.orchestration.runner import run_pipeline, summary
from pipeline.stages import validate
from tests.conftest import make_config


@pytest.fixture(autouse=True)
def _precheck_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pre-check runs the real gates; here only validation's stand-in decides."""
    monkeypatch.setattr(precheck, "draw_checks", lambda item, ctx: [])


def _fake_gates(reject: callable):  # noqa: ANN202
    """Real structural checks, a stand-in for ASR and the judge (they have their own tests),
    and a rejection of the items `reject` names."""
    from pipeline.validation.structural import structural_checks

    def gates(item: Item, ctx) -> list[Check]:  # noqa: ANN001
        checks = structural_checks(item, ctx.cfg.audio, ctx.cfg.validate)
        bad = reject(item)
        checks.append(Check("judge_blind", not bad, "leak: forced by the test" if bad else ""))
        return checks

    return gates


def _log(run_dir: Path) -> list[dict]:
    path = run_dir / "rejections.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def test_rejected_item_is_rebuilt_keeping_its_spec_and_rerun_does_no_work(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Item 1 is rejected at its planned seed only: its first regeneration passes.
    monkeypatch.setattr(validate, "gate_checks", _fake_gates(
        lambda it: it.spec.index == 1 and "seed_history" not in it.provenance))
    cfg = make_config(tmp_path, "run=regen", "n_items=3")
    first = run_pipeline(cfg, quiet=True)
    assert len(first.built) == 3
    item = first.items[1]
    history = json.loads((cfg.run_dir / "reseeds.json").read_text())
    assert history == {item.id: [item.spec.seed]}
    planned = item.provenance["seed_history"][0]
    assert item.provenance["seed_history"] == [planned, item.spec.seed]
    assert planned != item.spec.seed
    log = _log(cfg.run_dir)
    assert log == [{"id": item.id, "index": 1, "seed": planned, "attempt": 0,
                    "stage": "validate",
                    "reasons": [{"check": "judge_blind", "reason": "leak: forced by the test"}]}]
    assert first.ctx.stats["regenerate"]["computed"] == 1
    assert first.ctx.stats["synthesize"]["computed"] == 4
    exported = [json.loads(x) for x in
                (cfg.run_dir / "export" / "data.jsonl").read_text().splitlines()]
    assert [r["metadata"]["id"] for r in exported] == [it.id for it in first.items]
    assert exported[1]["provenance"]["seed_history"] == [planned, item.spec.seed]
    manifest = json.loads((cfg.run_dir / "manifest.json").read_text())
    assert manifest["counts"]["rejected_attempts"] == 1
    data = (cfg.run_dir / "export" / "data.jsonl").read_bytes()

    again = run_pipeline(cfg, quiet=True)
    assert all(st["computed"] == 0 for st in again.ctx.stats.values()), again.ctx.stats
    assert _log(cfg.run_dir) == log
    assert json.loads((cfg.run_dir / "reseeds.json").read_text()) == history
    assert (cfg.run_dir / "export" / "data.jsonl").read_bytes() == data
    spec, before = again.items[1].spec, first.items[1].spec
    assert (spec.letter, spec.key_decile, spec.type, spec.seed) == (
        before.letter, before.key_decile, before.type, before.seed)


def test_regeneration_is_bounded_and_logs_every_attempt(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(validate, "gate_checks", _fake_gates(lambda it: it.spec.index == 0))
    cfg = make_config(tmp_path, "run=bound", "n_items=2", "validate.max_regenerations=2")
    result = run_pipeline(cfg, quiet=True)
    assert [it.spec.index for it in result.failed] == [0]
    log = _log(cfg.run_dir)
    assert [r["attempt"] for r in log] == [0, 1, 2]
    assert len({r["seed"] for r in log}) == 3
    failures = (cfg.run_dir / "export" / "failures.jsonl").read_text()
    assert result.failed[0].id in failures and "judge_blind" in failures
    text = summary(result)  # attempts and reasons beside the count, and what to do next
    assert "1 of 2 requested; 1 left out" in text
    assert re.search(r"attempts +4 \(3 rejected", text) and "judge_blind 3" in text
    assert "spiral reroll --run bound --failed" in text
    again = run_pipeline(cfg, quiet=True)
    assert all(st["computed"] == 0 for st in again.ctx.stats.values()), again.ctx.stats
    assert _log(cfg.run_dir) == log
