"""Benchmark `spiral publish`: wall time and peak RSS for runs of 25 and 100 items, and the
bytes on disk per hour of audio (parquet shards, FLAC and WAV, and the whole folder).

Target (issue 8): peak RSS under 1.5 GB and flat in the item count (publishing streams).
Each publish runs in its own process, which reports its own peak RSS, so the builds before
it do not count. Usage: python benchmarks/bench_publish.py [--sizes 25 100] [--seed 2026]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MEASURE = """
import json, resource, sys
from pipeline.cli import main
code = main(sys.argv[1:])
print(json.dumps({"rc": code, "rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}),
      file=sys.stderr)
"""


def spiral(args: list[str]) -> None:
    subprocess.run([sys.executable, "-m", "pipeline.cli", *args], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)


def measured_publish(args: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of one `spiral publish` process."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", MEASURE, "publish", "--quiet", *args],
                          cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    report = json.loads(proc.stderr.strip().splitlines()[-1])
    if proc.returncode or report["rc"]:
        raise SystemExit(f"publish failed: {proc.stderr}")
    return wall, report["rss_kb"] / 1024


def folder_bytes(path: Path, pattern: str = "*") -> int:
    return sum(p.stat().st_size for p in path.rglob(pattern) if p.is_file())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", type=int, nargs="+", default=[25, 100])
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--workers", type=int, default=2)
    opts = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="spiral-bench-publish-") as tmp:
        for n in opts.sizes:
            common = ["--run", f"p{n}", "--set", f"output_root={tmp}"]
            spiral(["run", "--quiet", "--n", str(n), "--seed", str(opts.seed),
                    "--set", f"tts.workers={opts.workers}", *common])
            wall, rss = measured_publish(common)
            run_dir = Path(tmp) / f"p{n}"
            recs = [json.loads(line) for line in
                    (run_dir / "export" / "data.jsonl").read_text().splitlines()]
            hours = sum(r["duration"] for r in recs) / 3600
            hub = run_dir / "hub"
            flac = folder_bytes(hub / "data", "*.parquet")
            total = folder_bytes(hub)
            wav_wall, wav_rss = measured_publish(
                [*common, "--set", "publish.audio_format=wav", "--set", "publish.folder=hub-wav",
                 "--set", "publish.spiral_files=false"])
            wav = folder_bytes(run_dir / "hub-wav" / "data", "*.parquet")
            rows.append({
                "items": len(recs), "audio_h": round(hours, 3),
                "publish_s": round(wall, 1), "peak_rss_mb": round(rss),
                "publish_wav_s": round(wav_wall, 1), "peak_rss_wav_mb": round(wav_rss),
                "parquet_flac_mb_per_audio_h": round(flac / hours / 1e6, 1),
                "parquet_wav_mb_per_audio_h": round(wav / hours / 1e6, 1),
                "folder_mb_per_audio_h": round(total / hours / 1e6, 1),
            })
    peaks = [max(r["peak_rss_mb"], r["peak_rss_wav_mb"]) for r in rows]
    result = {
        "rows": rows,
        "target_rss_ok": max(peaks) < 1536,
        # "Flat": the largest run peaks within 15% (or 100 MB) of the smallest.
        "target_flat_ok": max(peaks) - min(peaks) <= max(100, 0.15 * min(peaks)),
    }
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / "bench_publish.json").write_text(json.dumps(result, indent=1) + "\n")
    for r in rows:
        print("  ".join(f"{k}={v}" for k, v in r.items()))
    print(f"peak RSS < 1.5 GB: {result['target_rss_ok']}; flat in item count: "
          f"{result['target_flat_ok']}")
    return 0 if result["target_rss_ok"] and result["target_flat_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
