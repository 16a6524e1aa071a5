from __future__ import annotations

import json
from pathlib import Path

from pipeline.orchestration import reseed
from pipeline.orchestration.runner import run_pipeline
from tests.conftest import make_config


def test_reseeded_item_is_rebuilt_alone_keeping_its_spec(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, "run=rs", "n_items=4")
    first = run_pipeline(cfg, until="question", quiet=True)
    target = first.items[2]
    new_seed = reseed.next_seed(target, cfg.run_dir)
    second = run_pipeline(cfg, until="question", quiet=True)
    assert second.ctx.stats["script"] == {"cached": 3, "computed": 1, "failed": 0}
    after = second.items[2]
    assert after.spec.seed == new_seed and after.sentences() != target.sentences()
    for field in ("letter", "key_decile", "type", "detail_kind"):
        assert getattr(after.spec, field) == getattr(target.spec, field)
    old, new = target.spec.speakers, after.spec.speakers
    assert [(s.id, s.gender) for s in new] == [(s.id, s.gender) for s in old]
    assert len({s.voice for s in new}) == len(new)
    assert after.provenance["seed_history"] == [target.spec.seed, new_seed]
    assert [it.sentences() for i, it in enumerate(second.items) if i != 2] == [
        it.sentences() for i, it in enumerate(first.items) if i != 2]
    third = run_pipeline(cfg, until="question", quiet=True)
    assert all(st["computed"] == 0 for st in third.ctx.stats.values())
    history = json.loads((cfg.run_dir / "reseeds.json").read_text())
    assert history == {target.id: [new_seed]}
