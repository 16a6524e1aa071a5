"""Benchmark the validation gates: seconds per item for the structural checks, the ASR of the
key segment and the judge, measured on an existing run's synthesized items (no cache).

Usage: python benchmarks/bench_validate.py RUN_DIR [--limit N] [--set KEY=VALUE]
       python benchmarks/bench_validate.py --build 20   (builds a run in a temp folder first)
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.core.config import load_config  # noqa: E402
from pipeline.core.records import LETTERS, Item  # noqa: E402
from pipeline.core.store import read_json  # noqa: E402
from pipeline.engine.stage import Context  # noqa: E402
from pipeline.orchestration.runner import run_pipeline  # noqa: E402
from pipeline.validation.intelligibility import intelligibility_checks  # noqa: E402
from pipeline.validation.judge import judge_question, solver_for  # noqa: E402
from pipeline.validation.structural import structural_checks  # noqa: E402


def load_items(run_dir: Path) -> list[Item]:
    """Items as the validate stage sees them, rebuilt from the per-stage caches."""
    items = []
    for path in sorted((run_dir / "synthesize").glob("*.json")):
        spec = next(json.loads(x) for x in (run_dir / "plan.jsonl").read_text().splitlines()
                    if json.loads(x)["id"] == path.stem)
        merged: dict = {"spec": spec}
        # The pre-check may have drawn the key (and the key speaker's voice) again.
        for stage in ("plant", "question", "precheck", "synthesize"):
            if (run_dir / stage / path.name).exists():
                merged.update(read_json(run_dir / stage / path.name)["record"])
        items.append(Item.from_dict(merged))
    return items


def bench(run_dir: Path, overrides: list[str], config: str, limit: int = 0) -> dict:
    cfg = load_config(config, [f"output_root={run_dir.parent}", f"run={run_dir.name}",
                               *overrides])
    ctx = Context(cfg, quiet=True)
    v = cfg.validate
    items = [it for it in load_items(run_dir) if it.question and it.audio]
    items = items[:limit] if limit else items
    t0 = time.perf_counter()
    solver = solver_for(v.judge_backend, v.judge_margin)
    solver.pick("warm up", ["a", "b", "c", "d"], "a")
    intelligibility_checks("warm up", "up", run_dir / "audio" / "key" / items[0].audio.key_wav, v)
    warm = time.perf_counter() - t0
    times: dict[str, list[float]] = {"structural": [], "asr": [], "judge": [], "total": []}
    for it in items:
        assert it.key and it.question and it.audio
        t = [time.perf_counter()]
        structural_checks(it, cfg.audio, cfg.validate)
        t.append(time.perf_counter())
        correct = LETTERS.index(it.question.letter)
        intelligibility_checks(it.key.sentence, it.question.choices[correct],
                               ctx.run_dir / "audio" / "key" / it.audio.key_wav, v)
        t.append(time.perf_counter())
        judge_question(solver, it.question.stem, it.question.choices, correct, it.key.sentence,
                       v.judge_orders)
        t.append(time.perf_counter())
        for name, a, b in (("structural", 0, 1), ("asr", 1, 2), ("judge", 2, 3)):
            times[name].append(t[b] - t[a])
        times["total"].append(t[3] - t[0])
    return {"items": len(items), "asr_model": v.asr_model, "judge": v.judge_backend,
            "model_load_s": round(warm, 2),
            **{f"{k}_s_per_item": {"mean": round(statistics.fmean(x), 3),
                                   "median": round(statistics.median(x), 3)}
               for k, x in times.items()}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("run_dir", nargs="?")
    ap.add_argument("--build", type=int, default=0, help="build a run of N items first")
    ap.add_argument("--config", default=str(ROOT / "spiral.yaml"))
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--limit", type=int, default=0, help="time only the first N items")
    opts = ap.parse_args()
    if opts.run_dir:
        print(json.dumps(bench(Path(opts.run_dir), opts.set, opts.config, opts.limit),
                         indent=1))
        return 0
    with tempfile.TemporaryDirectory(prefix="spiral-bench-") as tmp:
        cfg = load_config(opts.config, [f"output_root={tmp}", "run=bench",
                                        f"n_items={opts.build or 20}", *opts.set])
        run_pipeline(cfg, until="synthesize", quiet=True)
        print(json.dumps(bench(cfg.run_dir, opts.set, opts.config), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
