"""Local executor against Ray (local head, 2 workers) on the same items, side by side.

Reports both wall times, their ratio (Ray's overhead) and whether the exports are
byte-identical. Usage: python benchmarks/bench_ray.py [--n 40]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from report import report

ROOT = Path(__file__).resolve().parents[1]


def run(root: str, n: int, extra: list[str]) -> float:
    args = [sys.executable, "-m", "pipeline.cli", "run", "--quiet", "--run", "bench",
            "--n", str(n), "--seed", "40", "--set", f"output_root={root}", *extra]
    t0 = time.perf_counter()
    subprocess.run(args, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=40)
    opts = ap.parse_args()
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        local = run(a, opts.n, ["--set", "tts.workers=2"])
        on_ray = run(b, opts.n, ["--set", "executor=ray", "--set", "ray.num_cpus=2",
                                 "--set", "ray.tts_actors=2"])
        same = all((Path(a) / "bench" / "export" / f).read_bytes()
                   == (Path(b) / "bench" / "export" / f).read_bytes()
                   for f in ["data.jsonl", *(p.relative_to(Path(a) / "bench" / "export")
                             for p in (Path(a) / "bench" / "export" / "wavs").iterdir())])
    result = {"items": opts.n, "local_s": round(local, 1), "ray_s": round(on_ray, 1),
              "ray_over_local": round(on_ray / local, 2), "identical_output": same}
    report("bench_ray", result)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
