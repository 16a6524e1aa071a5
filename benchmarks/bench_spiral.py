"""Benchmark a SPIRAL-size build: `spiral run` for 1,012 items from a cold run folder, every
gate on, offline. Reports wall time, CPU seconds per item, peak RSS, attempts per item (full
builds: first tries plus regenerations), the share of attempts rejected, items built, and the
pre-check's key draws per item.

With `--ref TREE` the same build runs first in another checkout (e.g. a worktree of `main`),
so old and new are measured side by side, on the same machine load, in one run.

Targets (issue 17): every item built; <= 15% of attempts rejected; >= 2x faster than the
reference; peak RSS <= 1 GB and flat in the number of items.
Usage: python benchmarks/bench_spiral.py [--n 1012] [--n 100 ...] [--ref /path/to/main-tree]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from report import report

ROOT = Path(__file__).resolve().parents[1]


def build(tree: Path, n: int, seed: int, workers: int, out: Path) -> dict:
    """One cold `spiral run` of `n` items in `tree`; its own figures (wait4: this child only)."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    args = [sys.executable, "-m", "pipeline.cli", "run", "--quiet", "--run", "bench",
            "--n", str(n), "--seed", str(seed), "--config", str(tree / "spiral.yaml"),
            "--set", f"output_root={out}", "--set", f"tts.workers={workers}",
            "--set", f"prompts_dir={tree / 'prompts'}",
            "--set", f"voices={tree / 'voices' / 'voices.yaml'}"]
    t0 = time.perf_counter()
    errors = out / "stderr.txt"
    with errors.open("w") as err:
        proc = subprocess.Popen(args, cwd=tree, env=env, stdout=subprocess.PIPE, stderr=err,
                                text=True)
        assert proc.stdout is not None
        summary = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    run = out / "bench"
    data = run / "export" / "data.jsonl"
    recs = [json.loads(line) for line in data.read_text().splitlines()] if data.exists() else []
    reseeds = json.loads((run / "reseeds.json").read_text()) \
        if (run / "reseeds.json").exists() else {}
    rejected = sum(1 for line in (run / "rejections.jsonl").read_text().splitlines() if line) \
        if (run / "rejections.jsonl").exists() else 0
    attempts = n + sum(len(s) for s in reseeds.values())
    draws = [r["provenance"]["key_draw"] + 1 for r in recs if "key_draw" in r["provenance"]]
    cpu = usage.ru_utime + usage.ru_stime
    return {
        "items": n, "built": len(recs), "exit_code": proc.returncode,
        "wall_s": round(wall, 1), "cpu_s_per_item": round(cpu / n, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024),
        "attempts_per_item": round(attempts / n, 3),
        "rejected_share": round(rejected / attempts, 3),
        "key_draws_per_item": round(sum(draws) / len(draws), 2) if draws else None,
        "summary_tail": summary.strip().splitlines()[-1] if summary.strip() else "",
        # Why items were not built: the folder is temporary, so say it here.
        "failed": [x for x in summary.splitlines() if x.startswith(("FAILED ", "NOT BUILT"))],
        "stderr_tail": errors.read_text().strip().splitlines()[-5:],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, action="append", help="items (repeatable; default 1012)")
    ap.add_argument("--ref", type=Path, help="another checkout to measure first, side by side")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=2026)
    opts = ap.parse_args()
    sizes = opts.n or [1012]
    result: dict = {"workers": opts.workers, "seed": opts.seed}
    ok = True
    for n in sizes:
        for name, tree in ([("ref", opts.ref)] if opts.ref else []) + [("new", ROOT)]:
            with tempfile.TemporaryDirectory(prefix=f"spiral-bench-{name}-") as tmp:
                got = build(tree.resolve(), n, opts.seed, opts.workers, Path(tmp))
            for k, v in got.items():
                result[f"{name}_{n}_{k}"] = v
        new = {k: result[f"new_{n}_{k}"] for k in ("built", "rejected_share", "peak_rss_mb")}
        ok &= new["built"] == n and new["rejected_share"] <= 0.15 and new["peak_rss_mb"] <= 1024
        if opts.ref:
            speedup = result[f"ref_{n}_wall_s"] / max(result[f"new_{n}_wall_s"], 1e-9)
            result[f"speedup_{n}"] = round(speedup, 2)
            ok &= speedup >= 2
    if len(sizes) > 1:
        lo, hi = min(sizes), max(sizes)
        result["rss_growth_mb"] = result[f"new_{hi}_peak_rss_mb"] - result[f"new_{lo}_peak_rss_mb"]
    result["targets_ok"] = bool(ok)
    report("bench_spiral", result)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
