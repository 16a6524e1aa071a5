"""Benchmark the LLM stages over HTTP against `spiral serve-offline-llm` with injected latency:
wall time of script+plant+question for N items at concurrency 1 and at C, the requests an
identical rerun makes, and tokens per item and stage (from the run's llm_usage.json).

Targets (issues 4, 17): at least 10x faster at concurrency 16 than at 1; an identical rerun makes
0 requests.
Usage: python benchmarks/bench_llm.py [--n 60] [--latency-ms 250] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from report import report  # noqa: E402

from pipeline.core.config import Config, load_config  # noqa: E402
from pipeline.orchestration.runner import run_pipeline  # noqa: E402

CLI = [sys.executable, "-m", "pipeline.cli"]


class Server:
    """The offline LLM server in its own process; counts chat requests from its log."""

    def __init__(self, latency_ms: int) -> None:
        self.proc = subprocess.Popen(
            [*CLI, "serve-offline-llm", "--port", "0", "--latency-ms", str(latency_ms)],
            cwd=ROOT, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline()
        self.base_url = first.split(" on ", 1)[1].split()[0]
        self.chat = 0
        self._lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("POST /v1/chat/completions") and "task=probe" not in line:
                with self._lock:
                    self.chat += 1

    def requests(self) -> int:
        time.sleep(0.2)  # let the reader catch the last log lines
        with self._lock:
            return self.chat

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def timed(cfg: Config) -> float:
    """Wall seconds of plan + script + plant + question, in this process (imports excluded:
    they are the same at any concurrency)."""
    return run_pipeline(cfg, until="question", quiet=True).wall_seconds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=60)
    ap.add_argument("--latency-ms", type=int, default=250)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--seed", type=int, default=2026)
    opts = ap.parse_args()
    server = Server(opts.latency_ms)
    result: dict = {"items": opts.n, "latency_ms": opts.latency_ms}
    try:
        with tempfile.TemporaryDirectory(prefix="spiral-bench-llm-") as tmp:
            usage: dict = {}
            for conc in (0, 1, opts.concurrency):  # 0: a 2-item warm-up (lazy imports)
                root = Path(tmp) / f"c{conc}"  # its own response cache: a cold start
                cfg = load_config(ROOT / "spiral.yaml", [
                    f"output_root={root}", "run=bench", f"n_items={opts.n if conc else 2}",
                    f"seed={opts.seed}", f"prompts_dir={ROOT / 'prompts'}",
                    f"voices={ROOT / 'voices' / 'voices.yaml'}", "llm.backend=openai",
                    f"llm.base_url={server.base_url}", "llm.model=offline",
                    f"llm.concurrency={max(conc, 1)}"])
                if not conc:
                    timed(cfg)
                    continue
                before = server.requests()
                result[f"wall_s_concurrency_{conc}"] = round(timed(cfg), 2)
                result[f"requests_concurrency_{conc}"] = server.requests() - before
                before = server.requests()
                result[f"rerun_s_concurrency_{conc}"] = round(timed(cfg), 2)
                result[f"rerun_requests_concurrency_{conc}"] = server.requests() - before
                usage = json.loads((root / "bench" / "llm_usage.json").read_text())
    finally:
        server.stop()
    c = opts.concurrency
    result["speedup"] = round(result["wall_s_concurrency_1"] / result[f"wall_s_concurrency_{c}"],
                              1)
    result["tokens_per_item"] = usage["run"]["tokens_per_item"]
    result["prompt_tokens_per_item"] = round(usage["run"]["prompt_tokens"] / usage["items"], 1)
    result["completion_tokens_per_item"] = round(
        usage["run"]["completion_tokens"] / usage["items"], 1)
    for stage, st in usage["stages"].items():
        result[f"tokens_per_item_{stage}"] = st["per_item"]
        result[f"reasks_{stage}"] = st["reasks"]
    result["target_speedup_ok"] = result["speedup"] >= 10
    result["target_rerun_ok"] = (result["rerun_requests_concurrency_1"] == 0
                                 and result[f"rerun_requests_concurrency_{c}"] == 0)
    report("bench_llm", result)
    return 0 if result["target_speedup_ok"] and result["target_rerun_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
