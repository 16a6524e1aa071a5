"""`spiral reroll`: chosen items are rebuilt from new seeds with their specs; nothing else moves."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.engine.stage import Context
from pipeline.orchestration import reseed
from pipeline.orchestration.reroll import RerollError, Selection, new_seed, select
from pipeline.orchestration.runner import run_pipeline
from pipeline.stages import plan
from tests.conftest import ROOT, make_config

PER_ITEM = ("script", "plant", "question", "synthesize", "validate")


def by_id(run_dir: Path) -> dict[str, str]:
    lines = (run_dir / "export" / "data.jsonl").read_text().splitlines()
    return {json.loads(line)["metadata"]["id"]: line for line in lines}


def test_reroll_rebuilds_only_the_chosen_item_keeping_its_spec(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, "run=rr", "n_items=4", "seed=11")
    first = run_pipeline(cfg, quiet=True)
    run_dir = cfg.run_dir
    before = by_id(run_dir)
    target = first.items[1]
    untouched = {p: (p.stat().st_mtime_ns, p.read_bytes())
                 for stage in (*PER_ITEM, "audio") for p in (run_dir / stage).rglob("*")
                 if p.is_file() and not p.name.startswith(target.id)}
    assert len(untouched) >= 3 * (len(PER_ITEM) + 1)
    # spiral.yaml says 12 items: the reroll must rebuild the run as it was built (4 items).
    code = main(["reroll", "--config", str(ROOT / "spiral.yaml"), "--run", "rr",
                 "--set", f"output_root={tmp_path}", "--ids", target.id, "--quiet"])
    assert code == 0
    after = by_id(run_dir)
    assert set(after) == set(before)
    assert {k: v for k, v in after.items() if k != target.id} == \
        {k: v for k, v in before.items() if k != target.id}
    old, new = json.loads(before[target.id]), json.loads(after[target.id])
    assert new["transcript"] != old["transcript"]
    assert new["test_question"]["correct_answer"][0] == old["test_question"]["correct_answer"][0]
    assert new["key_detail"]["depth"] == old["key_detail"]["depth"]
    assert new["metadata"]["transcript_type"] == old["metadata"]["transcript_type"]
    assert [(v["id"], v["gender"]) for v in new["voices"]] == [
        (v["id"], v["gender"]) for v in old["voices"]]  # voices are redrawn, genders kept
    history = json.loads((run_dir / "reseeds.json").read_text())
    planned = target.provenance.get("seed_history", [target.spec.seed])[0]  # before regeneration
    assert new["provenance"]["seed_history"] == [planned, *history[target.id]]
    assert new["provenance"]["item_seed"] == history[target.id][-1]
    for path, (mtime, data) in untouched.items():
        assert path.stat().st_mtime_ns == mtime and path.read_bytes() == data, path
    # A second reroll of the same item extends its history.
    assert main(["reroll", "--config", str(ROOT / "spiral.yaml"), "--run", "rr", "--set",
                 f"output_root={tmp_path}", "--ids", target.id, "--seed", "99",
                 "--quiet"]) == 0
    # The reroll's seed is recorded; a draw the gates reject is then regenerated after it.
    extended = json.loads((run_dir / "reseeds.json").read_text())[target.id]
    assert extended[:len(history[target.id])] == history[target.id] and 99 in extended
    rebuilt = by_id(run_dir).get(target.id)
    if rebuilt is None:  # seed 99 failed a gate and the item is out of regenerations
        assert target.id in (run_dir / "export" / "failures.jsonl").read_text()
    else:  # built from 99, or from a seed regenerated after it
        assert json.loads(rebuilt)["provenance"]["seed_history"][-1] == extended[-1]


def test_filters_choose_by_id_type_failure_and_difficulty(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, "run=sel", "n_items=9")
    ctx = Context(cfg, quiet=True)
    items = plan.run(cfg, ctx.topics, list(ctx.voices.values()))
    run_dir = cfg.run_dir
    (run_dir / "export").mkdir(parents=True)
    meetings = [it.id for it in items if it.spec.type == "meeting"]
    assert [it.id for it in select(items, run_dir, Selection(type="meeting"))] == meetings
    (run_dir / "export" / "failures.jsonl").write_text(
        json.dumps({"id": items[4].id, "stage": "validate", "reason": "x"}) + "\n")
    assert [it.id for it in select(items, run_dir, Selection(failed=True))] == [items[4].id]
    ids = [items[0].id, items[4].id]
    assert [it.id for it in select(items, run_dir, Selection(ids=ids, failed=True))] == \
        [items[4].id]
    with pytest.raises(RerollError, match="difficulty.jsonl: no difficulty tags"):
        select(items, run_dir, Selection(hard=True))
    (run_dir / "baseline").mkdir()
    (run_dir / "baseline" / "difficulty.jsonl").write_text("".join(
        json.dumps({"id": it.id, "hard": i % 3 == 0, "too_easy": False}) + "\n"
        for i, it in enumerate(items)))
    assert [it.id for it in select(items, run_dir, Selection(hard=True))] == \
        [it.id for i, it in enumerate(items) if i % 3 == 0]
    with pytest.raises(RerollError, match="lecture_999 not in run sel"):
        select(items, run_dir, Selection(ids=["lecture_999"]))
    with pytest.raises(RerollError, match="--ids ID,ID or a filter"):
        select(items, run_dir, Selection())


def test_seed_option_is_exact_for_one_item_and_derived_for_several(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, "run=sd", "n_items=3")
    ctx = Context(cfg, quiet=True)
    items = plan.run(cfg, ctx.topics, list(ctx.voices.values()))
    assert new_seed(items[0], 5, several=False) == 5
    seeds = {new_seed(it, 5, several=True) for it in items}
    assert len(seeds) == 3 and 5 not in seeds
    assert new_seed(items[0], None, several=True) is None
    assert reseed.next_seed(items[0], cfg.run_dir, new_seed(items[0], 5, False)) == 5


def test_reroll_of_an_unbuilt_run_says_so(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["reroll", "--config", str(ROOT / "spiral.yaml"), "--run", "ghost",
                 "--set", f"output_root={tmp_path}", "--ids", "lecture_0"]) == 2
    assert "manifest" in capsys.readouterr().err


def test_a_rerolled_item_that_fails_a_gate_is_regenerated(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An item that used its regenerations in the build, rerolled onto a seed a gate rejects,
    is rebuilt again within the same bound instead of vanishing from the export."""
    from pipeline.stages import validate
    from tests.test_regenerate import _fake_gates

    planned: dict[str, int] = {}

    def reject(it) -> bool:  # noqa: ANN001
        planned.setdefault(it.id, it.spec.seed)
        return it.spec.index == 0 and it.spec.seed in (planned[it.id], 5)

    monkeypatch.setattr(validate, "gate_checks", _fake_gates(reject))
    cfg = make_config(tmp_path, "run=rb", "n_items=2", "seed=3",
                      "validate.max_regenerations=1")
    first = run_pipeline(cfg, quiet=True)
    assert not first.failed  # item 0: planned seed rejected, its one regeneration passed
    target = first.items[0].id
    assert main(["reroll", "--config", str(ROOT / "spiral.yaml"), "--run", "rb", "--set",
                 f"output_root={tmp_path}", "--ids", target, "--seed", "5", "--quiet"]) == 0
    assert target in by_id(cfg.run_dir)  # before: "regenerate 0 computed, 1 failed", gone
    seeds = json.loads((cfg.run_dir / "reseeds.json").read_text())[target]
    assert seeds[1] == 5 and len(seeds) == 3


def _wavs(run_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((run_dir / "export" / "wavs").iterdir())}


def test_an_interrupted_reroll_rerun_finishes_the_same_reroll(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue #25.1: killed after it recorded the new seeds, the same command run again
    finishes that reroll (same seeds, same bytes as an uninterrupted one), not a second."""
    from pipeline.orchestration import reroll as reroll_mod

    first = {}
    for root in ("clean", "cut"):
        cfg = make_config(tmp_path / root, "run=rr", "n_items=2", "seed=5")
        first[root] = run_pipeline(cfg, quiet=True)
    ids = first["clean"].items[1].id

    def argv(root: str) -> list[str]:
        return ["reroll", "--config", str(ROOT / "spiral.yaml"), "--run", "rr", "--set",
                f"output_root={tmp_path / root}", "--ids", ids, "--quiet"]

    assert main(argv("clean")) == 0
    real = reroll_mod.run_pipeline

    def killed(cfg, quiet=False, until="export"):  # noqa: ANN001, ANN202
        real(cfg, until="script", quiet=quiet)  # part of the work done, then the kill
        raise KeyboardInterrupt

    monkeypatch.setattr(reroll_mod, "run_pipeline", killed)
    assert main(argv("cut")) == 130
    monkeypatch.setattr(reroll_mod, "run_pipeline", real)
    assert main(argv("cut")) == 0
    clean, cut = tmp_path / "clean" / "rr", tmp_path / "cut" / "rr"
    assert (cut / "reseeds.json").read_bytes() == (clean / "reseeds.json").read_bytes()
    assert [len(v) for v in json.loads((cut / "reseeds.json").read_text()).values()] == [1]
    assert (cut / "export" / "data.jsonl").read_bytes() == \
        (clean / "export" / "data.jsonl").read_bytes()
    assert _wavs(cut) == _wavs(clean)
    assert not (cut / "reroll_intent.json").exists()  # finished: the next reroll is a new one
    assert main(argv("cut")) == 0
    assert [len(v) for v in json.loads((cut / "reseeds.json").read_text()).values()] == [2]


@pytest.mark.parametrize("bad", ['{"lecture_1": [], "meeting_0": "x"}', '{"meeting_0": [true]}',
                                 '["meeting_0"]'])
def test_a_mistyped_reseeds_file_is_one_line_exit_2(
        tmp_path: Path, bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = make_config(tmp_path, "run=mt", "n_items=2", "seed=5")
    run_pipeline(cfg, quiet=True, until="plan")
    (tmp_path / "mt" / "manifest.json").write_text(json.dumps(
        {"config": cfg.to_dict(), "seed": 5}))
    (tmp_path / "mt" / "reseeds.json").write_text(bad)
    assert main(["reroll", "--config", str(ROOT / "spiral.yaml"), "--run", "mt", "--set",
                 f"output_root={tmp_path}", "--ids", "meeting_0", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "reseeds.json" in err[0], err
