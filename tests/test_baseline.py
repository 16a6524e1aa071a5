from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from pipeline.baseline.cascade import CascadeAdapter
from pipeline.baseline.evaluate import conditions, load_export, run_baseline
from pipeline.cli import main
from pipeline.core import difficulty
from pipeline.core.config import ConfigError
from pipeline.engine.stage import Context
from pipeline.orchestration.runner import RunResult
from pipeline.stages import validate
from tests.conftest import make_config


def _copy_export(small_run: RunResult, tmp: Path, keep: int | None = None) -> None:
    """The shared run's export under `tmp/small`, so the shared run stays read-only."""
    src = small_run.ctx.run_dir / "export"
    dst = tmp / "small" / "export"
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("hf"))
    if keep is not None:
        lines = (dst / "data.jsonl").read_text().splitlines()[:keep]
        (dst / "data.jsonl").write_text("".join(line + "\n" for line in lines))


def test_cascade_baseline_table_and_cache_define_no_difficulty(small_run: RunResult,
                                                               tmp_path: Path) -> None:
    _copy_export(small_run, tmp_path)
    cfg = make_config(tmp_path, "run=small")
    report = run_baseline(cfg, quiet=True)
    n = len(small_run.built)
    assert report["n_items"] == n and report["computed"] == n
    rows = {(r["method"], r["pr"]): r for r in report["rows"]}
    assert len(rows) == 2 + 3 * 4
    for (method, _pr), row in rows.items():
        assert 0.0 <= row["accuracy"]["all"] <= 100.0
        if method in ("rap", "rac"):
            assert len(row["per_seed"]) == 3 and row["std"]["all"] >= 0.0
    # the reader answers from what ASR heard: with every token kept it beats chance (25%)
    adapter = CascadeAdapter(cfg.run_dir)  # ASR comes from the run's cache now
    full = 0
    for rec, wav in load_export(cfg.run_dir):
        tokens, item = adapter.prepare(rec, wav)
        full += adapter.answer(tokens, item, torch.arange(tokens.n)) == rec[
            "test_question"]["correct_answer"][0]
    assert full >= n / 2
    out = tmp_path / "small" / "baseline"
    # the proxy's table is no difficulty label: tags come from `spiral eval --tag` only
    assert not (out / "difficulty.jsonl").exists() and "difficulty" not in report
    assert difficulty.load(tmp_path / "small") is None
    assert (out / "baseline.png").read_bytes()[:4] == b"\x89PNG"
    md = (out / "baseline.md").read_text()
    assert "SpeechPrune" in md and "89.23" in md  # ours next to the paper's
    # a rerun answers from the per-item cache and writes the same table
    again = run_baseline(cfg, quiet=True)
    assert again["computed"] == 0 and again["rows"] == report["rows"]
    assert json.loads((out / "baseline.json").read_text())["rows"] == report["rows"]


def test_qwen2_audio_adapter_runs_the_protocol(small_run: RunResult, tmp_path: Path) -> None:
    from pipeline.baseline.qwen2_audio import Qwen2AudioAdapter

    _copy_export(small_run, tmp_path, keep=2)
    cfg = make_config(tmp_path, "run=small", "baseline.adapter=qwen2-audio",
                      "baseline.model_path=tiny-random", "baseline.prune_rates=[0.5]",
                      "baseline.seeds=1")
    adapter = Qwen2AudioAdapter()
    report = run_baseline(cfg, adapter=adapter, quiet=True)
    assert report["adapter"] == "qwen2-audio" and report["n_items"] == 2
    assert len(conditions([0.5], 1)) == 5
    assert len(adapter.timings["prefill"]) == 2 * 5 and len(adapter.timings["encode"]) == 2
    assert (tmp_path / "small" / "baseline" / "results-qwen2-audio").is_dir()


def test_config_rejects_bad_baseline_settings(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="baseline.adapter"):
        make_config(tmp_path, "baseline.adapter=gpt")
    with pytest.raises(ConfigError, match="baseline.prune_rates"):
        make_config(tmp_path, "baseline.prune_rates=[0.2, 1.5]")
    with pytest.raises(ConfigError, match="baseline.seeds"):
        make_config(tmp_path, "baseline.seeds=hello")


def test_missing_export_and_broken_tags_are_named(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["baseline", "--run", "nothing", "--set", f"output_root={tmp_path}",
                 "--quiet"]) == 2
    assert "nothing/export/data.jsonl not found" in capsys.readouterr().err
    # qwen2-audio never falls back to the random model silently
    assert main(["baseline", "--run", "nothing", "--adapter", "qwen2-audio", "--set",
                 f"output_root={tmp_path}", "--quiet"]) == 2
    assert "needs --model-path" in capsys.readouterr().err
    assert difficulty.load(tmp_path / "nothing") is None
    bad = tmp_path / "broken" / "baseline" / "difficulty.jsonl"
    bad.parent.mkdir(parents=True)
    bad.write_text('{"id": "a", "too_easy": true}\nnot json\n')
    with pytest.raises(difficulty.DifficultyError, match="difficulty.jsonl:2: not valid JSON"):
        difficulty.load(tmp_path / "broken")


def test_validation_can_reject_too_easy_items(small_run: RunResult, tmp_path: Path) -> None:
    items = [it for it in small_run.items if not it.failed]
    run_dir = tmp_path / "small"
    shutil.copytree(small_run.ctx.run_dir / "audio", run_dir / "audio")  # the ASR gate hears it
    tag_file = run_dir / "baseline" / "difficulty.jsonl"
    tag_file.parent.mkdir(parents=True)
    tag_file.write_text("".join(json.dumps({"id": it.id, "too_easy": i == 0}) + "\n"
                                for i, it in enumerate(items)))
    off = validate.run(items, Context(make_config(tmp_path, "run=small"), quiet=True))
    assert not any(it.failed for it in off)
    cfg = make_config(tmp_path, "run=small", "baseline.reject_too_easy=true")
    on = validate.run(items, Context(cfg, quiet=True))
    assert on[0].failed and "not_too_easy" in on[0].failed["reason"]
    assert not any(it.failed for it in on[1:])
