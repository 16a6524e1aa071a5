"""Benchmark `spiral run`: wall time and peak RSS for N items from a cold cache, audio seconds
produced per wall second, and the time of a rerun with nothing changed.

Targets (issue 2, 2-core machine): 100 items in <= 300 s, rerun <= 5 s.
Usage: python benchmarks/bench_run.py [--n 100] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from report import report

ROOT = Path(__file__).resolve().parents[1]


def timed_run(args: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of one `spiral` process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pipeline.cli", *args], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, max(peak, before) / 1024


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=2026)
    opts = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="spiral-bench-") as tmp:
        args = ["run", "--quiet", "--run", "bench", "--n", str(opts.n), "--seed", str(opts.seed),
                "--set", f"output_root={tmp}", "--set", f"tts.workers={opts.workers}"]
        cold, rss = timed_run(args)
        rerun, _ = timed_run(args)
        export = Path(tmp) / "bench" / "export" / "data.jsonl"
        recs = [json.loads(line) for line in export.read_text().splitlines()]
        audio = sum(r["duration"] for r in recs)
    result = {
        "items": opts.n, "built": len(recs), "workers": opts.workers,
        "wall_s": round(cold, 1), "peak_rss_mb": round(rss), "audio_s": round(audio, 1),
        "audio_s_per_wall_s": round(audio / cold, 1), "rerun_s": round(rerun, 2),
        "target_wall_ok": cold <= 300, "target_rerun_ok": rerun <= 5,
    }
    report("bench_run", result)
    return 0 if result["target_wall_ok"] and result["target_rerun_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
