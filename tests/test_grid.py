"""Length grids: items at several lengths in one run, stratified within each length."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.core.config import ConfigError
from pipeline.core.records import LETTERS
from pipeline.core.resources import load_topics, load_voices
from pipeline.orchestration import remember
from pipeline.stages import plan
from tests.conftest import ROOT, make_config

TOPICS = load_topics(ROOT / "prompts" / "topics.yaml")
VOICES = load_voices(ROOT / "voices" / "voices.yaml")


def specs(tmp: Path, *overrides: str) -> list:
    return [it.spec for it in plan.run(make_config(tmp, *overrides), TOPICS, VOICES)]


def test_each_length_is_stratified_on_its_own(tmp_path: Path) -> None:
    grid = specs(tmp_path, "n_items=20", "lengths=[30, 120, 600]", "seed=5")
    assert len(grid) == 60 and len({s.id for s in grid}) == 60
    by_length: dict[float, list] = {}
    for s in grid:
        by_length.setdefault(s.target_seconds, []).append(s)
    assert sorted(by_length) == [30.0, 120.0, 600.0]
    for length, items in by_length.items():
        assert len(items) == 20
        deciles = Counter(s.key_decile for s in items)
        assert sorted(deciles) == list(range(10)) and set(deciles.values()) == {2}, length
        letters = Counter(s.letter for s in items)
        assert set(letters) == set(LETTERS) and set(letters.values()) == {5}, length
        types = Counter(s.type for s in items[:12])  # types come in blocks of 12
        assert set(types.values()) == {4}, (length, types)
        # the window keeps the config's share of the target (10 s of 90 s)
        assert all(s.tolerance_seconds == pytest.approx(length * 10 / 90, abs=1e-3)
                   for s in items)
    # more facts for longer items
    assert len(by_length[600.0][0].facts) > len(by_length[30.0][0].facts)


def test_lengths_draw_independent_seeds(tmp_path: Path) -> None:
    """A length's items do not depend on which other lengths the grid holds."""
    both = specs(tmp_path, "n_items=6", "lengths=[30, 600]", "seed=5")
    alone = specs(tmp_path, "n_items=6", "lengths=[600]", "seed=5")

    def body(s: object) -> dict:
        d = asdict(s)
        d.pop("index"), d.pop("id")
        return d

    assert [body(s) for s in both[6:]] == [body(s) for s in alone]
    assert {s.seed for s in both[:6]}.isdisjoint({s.seed for s in both[6:]})
    plain = specs(tmp_path, "n_items=6", "seed=5")
    assert all(s.target_seconds == 90 and s.tolerance_seconds == 10 for s in plain)


def test_bad_lengths_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'lengths'"):
        make_config(tmp_path, "lengths=[30, 30]")
    with pytest.raises(ConfigError, match="'lengths'"):
        make_config(tmp_path, "lengths=[5]")


def test_lengths_are_remembered_like_n(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    where = ["--config", str(ROOT / "spiral.yaml"), "--run", "g", "--set",
             f"output_root={tmp_path}", "--set", f"prompts_dir={ROOT / 'prompts'}", "--set",
             f"voices={ROOT / 'voices' / 'voices.yaml'}", "--quiet"]
    assert main(["plan", *where, "--n", "2", "--lengths", "30,120"]) == 0
    run_dir = tmp_path / "g"
    assert json.loads((run_dir / remember.FILE).read_text())["lengths"] == [30.0, 120.0]
    assert main(["plan", *where]) == 0  # a bare rerun keeps the grid
    assert "at each of [30.0, 120.0] s" in capsys.readouterr().err
    plan_lines = (run_dir / "plan.jsonl").read_text().splitlines()
    assert [json.loads(x)["target_seconds"] for x in plan_lines] == [30.0, 30.0, 120.0, 120.0]
    assert main(["plan", *where, "--lengths", "600"]) == 0
    assert "lengths changes from [30.0, 120.0] to [600.0]" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["plan", *where, "--lengths", "thirty"])


def test_a_script_that_cannot_fill_its_window_fails_as_the_scripts_content(
        tmp_path: Path) -> None:
    from dataclasses import replace

    from pipeline.core.records import Turn
    from pipeline.engine.stage import Context, StageFailure
    from pipeline.stages.script import check_reachable

    cfg = make_config(tmp_path, "n_items=1", "lengths=[1800]", "types={lecture: 1}")
    ctx = Context(cfg, quiet=True)
    item = plan.run(cfg, ctx.topics, list(ctx.voices.values()))[0]
    sentence = "The survey crew counted the readings again before the long winter break."
    short = replace(item, transcript=[Turn("spk_1", [sentence] * 200)])  # ~2,400 words
    with pytest.raises(StageFailure, match=r"script_too_short: .*1800\+-200s window cannot"):
        check_reachable(short, ctx, 4300)
    enough = replace(item, transcript=[Turn("spk_1", [sentence] * 330)])
    check_reachable(enough, ctx, 4300)
    too_long = replace(item, transcript=[Turn("spk_1", [sentence] * 900)])
    with pytest.raises(StageFailure, match="script_too_long"):
        check_reachable(too_long, ctx, 4300)


def test_eval_reports_accuracy_by_length_depth_and_hops(tmp_path: Path) -> None:
    from pipeline.eval import report

    preds = []
    for k in range(60):
        length = (30.0, 600.0, 3600.0)[k % 3]
        right = length == 30.0 or (length == 600.0 and k % 2 == 0)  # long items fail
        preds.append({"id": str(k), "type": "lecture", "depth": (k // 3) % 10, "kind": "date",
                      "duration": length, "n_speakers": 1, "plain": right,
                      "circular": right, "rotations": [{"letter": "A", "correct": right}],
                      "time_s": 0.1, "target_seconds": length, "hops": 1 + k % 2})
    rep = report.summarise(preds, {"label": "m", "proxy": False, "source": "s",
                                   "source_kind": "run", "subset": "c",
                                   "requests_this_run": 0})
    by_length = {r["value"]: r["plain"] for r in rep["grid"]["by_length"]}
    assert by_length[30.0]["acc"] == 1.0 and by_length[3600.0]["acc"] == 0.0
    assert by_length[30.0]["n"] == 20 and 0.8 < by_length[30.0]["lo"] < 1.0
    hour = next(g for g in rep["grid"]["depth_by_length"] if g["length"] == 3600.0)
    assert [r["value"] for r in hour["rows"]] == list(range(10))
    assert all(r["plain"]["n"] == 2 for r in hour["rows"])
    assert [r["value"] for r in rep["grid"]["by_hops"]] == [1, 2]
    md = report.markdown(rep)
    assert "## By length" in md and "| 60 min | 20 | 0.0 [0, 16]" in md
    assert "## By hops" in md
    report.write(tmp_path, rep, preds)
    assert (tmp_path / "accuracy_length_depth.png").read_bytes()[:4] == b"\x89PNG"
    # records without lengths (the public SPIRAL release): no grid section
    plain = [{k: v for k, v in p.items() if k not in ("target_seconds", "hops")}
             for p in preds]
    assert "grid" not in report.summarise(plain, {"label": "m"})


def test_audit_counts_lengths_hops_and_depth_per_length(small_run) -> None:
    from pipeline.reports.audit import audit_records

    path = small_run.ctx.run_dir / "export" / "data.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    for k, rec in enumerate(records):  # as if half were planned at 30 s
        rec["metadata"]["target_seconds"] = 90.0 if k % 2 else 30.0
        rec["metadata"]["hops"] = 1 + (k < 2)
    r = audit_records(records)
    g = r["grid"]
    assert list(g["lengths"]) == ["30", "90"]
    assert g["lengths"]["30"]["items"] == 3 and g["lengths"]["30"]["window"] == [30.0, 3.333]
    assert g["lengths"]["90"]["inside_window"] == 1.0  # built at 90 s, judged at 90 +- 10
    assert g["lengths"]["30"]["inside_window"] == 0.0  # 90-s audio is not a 30-s item
    assert sum(g["lengths"]["90"]["depth_counts"]) == 3
    assert g["hops"] == {"1": 4, "2": 2}
    assert r["duration"]["inside_window"] == 0.5
    answers = r["text"]["answers"]  # totals by design: the phrase share is of one-hop items
    assert answers["phrase"] + answers["value"] == 4
    plain = audit_records([json.loads(line) for line in path.read_text().splitlines()])
    assert plain["grid"]["lengths"].keys() == {"90"}  # this export's own records


def test_an_hour_long_offline_script_repeats_no_sentence(tmp_path: Path) -> None:
    """Every subtopic kind of sheet (bank or frames) scales to 60 minutes: unique values, a
    script long enough for its window, under 1% of its sentences said twice."""
    from pipeline.orchestration.runner import run_pipeline
    from pipeline.writing.budget import reachable_seconds

    cfg = make_config(tmp_path, "run=hour", "n_items=1", "lengths=[3600]", "seed=2",
                      "types={meeting: 1}")
    result = run_pipeline(cfg, until="script", quiet=True)
    assert not result.failed
    for it in result.items:
        values = [f.value for f in it.spec.facts]
        assert len(values) == len(set(values)) == 200
        sents = it.sentences()
        repeated = len(sents) - len(set(sents))
        assert repeated <= 0.01 * len(sents), (it.id, repeated)
        words = sum(len(s.split()) for s in sents)
        rates = [2.6] * len(it.spec.speakers)  # about espeak's words per second
        lo, hi = reachable_seconds(it.spec.type, cfg.audio, rates, words, len(sents),
                                   (0.7, 1.5))
        assert lo < 3600 < hi, (it.id, words, lo, hi)
