"""How many requests to have in flight on a real server: llama-cpp-python (one request at a
time) serving SmolLM2-135M, sent the same N requests three ways:

- `blind`: llm.concurrency requests in flight, each a whole (non-streamed) reply under one
  timeout, as the client did before: the queued ones time out, and the server goes on
  writing replies nobody waits for;
- `backoff`: as many in flight, streamed: a request that waits past its first-token limit
  while another is being written is not a failed try; the client sends fewer from then on;
- `measured`: what preflight measured (`negotiate._parallel`) from the start, streamed;
- `measured-whole`: the same, whole replies (what streaming costs on this server).

Prints, per way: wall time, requests sent, timeouts, the concurrency in the end. Minutes on 2
cores; not part of `make test`. `--timeout` is llm.timeout_s (smaller than the default so the
queue outlasts it with few requests).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.core.config import load_config  # noqa: E402
from pipeline.llm import local_server, negotiate  # noqa: E402
from pipeline.llm.openai_client import LLMSession, LLMUnavailable  # noqa: E402


def session(out: Path, port: int, way: str, timeout: float, concurrency: int) -> LLMSession:
    cfg = load_config(ROOT / "spiral.yaml", [
        f"output_root={out / way}", "llm.backend=openai", "llm.model=local",
        f"llm.base_url=http://127.0.0.1:{port}/v1", f"llm.timeout_s={timeout:g}",
        f"llm.concurrency={concurrency}", "llm.max_retries=3", "llm.competence_replies=0"])
    s = LLMSession(cfg)
    endpoint = s.negotiate()
    if not way.startswith("measured"):  # as if preflight had not measured it
        endpoint.parallel = None
        endpoint.token_s = None  # the timeout is llm.timeout_s, as it was
    if way in ("blind", "measured-whole"):
        endpoint.params["stream"] = None  # whole replies, one limit each
    return s


async def workload(s: LLMSession, n: int, tokens: int) -> tuple[float, int, int]:
    async def one(i: int) -> int:
        messages = [{"role": "user", "content": f"Write a long, detailed essay (request {i}) "
                     "about the history of lighthouses: at least 600 words, in plain prose."}]
        try:
            await s.chat(messages, "bench", tokens, temperature=0.7)
            return 0
        except LLMUnavailable:
            return 1

    t0 = time.monotonic()
    try:
        failed = sum(await asyncio.gather(*(one(i) for i in range(n))))
        limit = s._flight().limit
    finally:
        await s.aclose()
    return time.monotonic() - t0, failed, limit


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--port", type=int, default=8098)
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--tokens", type=int, default=256)
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--ways", default="blind,backoff,measured,measured-whole")
    args = ap.parse_args()
    out = Path(tempfile.mkdtemp(prefix="spiral-llm-parallel-"))
    proc, notes = local_server.start(local_server.default_gguf(), args.port, "local",
                                     log=out / "server.log")
    try:
        for way in args.ways.split(","):
            s = session(out, args.port, way, args.timeout, args.concurrency)
            print(f"--- {way}: {s.parallel()} in flight at the start", flush=True)
            wall, failed, limit = asyncio.run(workload(s, args.n, args.tokens))
            print(f"    {args.n} requests of up to {args.tokens} tokens: {wall:.0f} s, "
                  f"{s.sent} sent, {s.sent - s.answered} not answered (timeouts), "
                  f"{failed} failed; in flight at the end: {limit}; endpoint parallel "
                  f"{(s.endpoint or negotiate.Endpoint()).parallel}", flush=True)
    finally:
        local_server.stop(proc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
