"""The LLM backend driven over real HTTP: `spiral serve-offline-llm` on a random 127.0.0.1
port, the real `openai` client, no monkeypatching of the SDK."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from pipeline.cli import main as cli_main
from pipeline.core.config import Config, ConfigError
from pipeline.llm.openai_client import LLMSession, LLMTaskError, ask
from pipeline.orchestration.runner import RunResult, run_pipeline
from pipeline.testing.offline_server import Faults, OfflineLLMServer
from pipeline.writing.facts import key_fact
from pipeline.writing.llm_writer import judge_variables
from tests.conftest import ROOT, make_config

SECRET = "sk-test-DO-NOT-LEAK-7f3a9c"


@pytest.fixture
def server() -> Iterator[OfflineLLMServer]:
    srv = OfflineLLMServer(ROOT / "prompts", port=0, log=io.StringIO())
    srv.start()
    yield srv
    srv.stop()


def llm_config(tmp: Path, srv: OfflineLLMServer, *overrides: str) -> Config:
    return make_config(tmp, "llm.backend=openai", f"llm.base_url={srv.base_url}",
                       "llm.model=offline", "llm.backoff_s=0.01", "llm.max_retries=3",
                       *overrides)


def chat(srv: OfflineLLMServer) -> list[dict]:
    """The run's chat requests, without preflight's negotiation probes."""
    return [r for r in srv.requests if r["path"].endswith("/chat/completions")
            and r["task"] != "probe"]


def stage_records(run_dir: Path, stage: str) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text())["record"] for p in (run_dir / stage).glob("*.json")}


def test_full_run_over_http_equals_offline_keeps_the_key_secret_and_reruns_free(
        tmp_path: Path, server: OfflineLLMServer, small_run: RunResult,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    args = ["run", "--quiet", "--run", "http", "--n", "6", "--seed", "7",
            "--config", str(ROOT / "spiral.yaml"),
            "--set", f"output_root={tmp_path}", "--set", f"prompts_dir={ROOT / 'prompts'}",
            "--set", f"voices={ROOT / 'voices' / 'voices.yaml'}",
            "--set", "llm.backend=openai", "--set", f"llm.base_url={server.base_url}",
            "--set", "llm.model=offline"]
    assert cli_main(args) == 0
    sent = len(chat(server))
    reseeds = tmp_path / "http" / "reseeds.json"
    rebuilt = sum(map(len, json.loads(reseeds.read_text()).values())) if reseeds.exists() else 0
    tasks = Counter(r["task"] for r in chat(server))
    assert tasks["script"] == 6 + rebuilt  # one script per attempt; plant, stem, distractors
    # once per attempt and once per key the pre-check draws again; the distractors only for
    # a key with no alternatives of its own (a subtopic with no fact bank yet)
    assert tasks["facts"] == tasks["script"]
    assert tasks["plant"] >= 6 + rebuilt and tasks["question"] >= tasks["distractors"]
    assert sent == sum(tasks.values())
    assert {r["task"] for r in chat(server)} <= {"facts", "script", "plant", "question",
                                                 "distractors"}
    # The offline writer answers over HTTP: the same items as the offline backend.
    offline = (small_run.ctx.run_dir / "export" / "data.jsonl").read_text().splitlines()
    http = (tmp_path / "http" / "export" / "data.jsonl").read_text().splitlines()
    assert len(http) == len(offline) >= 5  # an item may use up its regenerations
    usage = json.loads((tmp_path / "http" / "llm_usage.json").read_text())
    compared = 0
    for a, b in zip(offline, http, strict=True):
        ra, rb = json.loads(a), json.loads(b)
        assert rb["provenance"]["llm_backend"] == "openai"
        pa, pb = ra.pop("provenance"), rb.pop("provenance")
        # An item rebuilt a different number of times, or re-asked, is another attempt.
        asked = usage["per_item"].get(rb["metadata"]["id"], {}).values()
        if pa.get("seed_history") == pb.get("seed_history") and not any(
                u["reasks"] for u in asked):
            assert ra == rb
            compared += 1
    assert compared >= 3
    assert usage["items"] == 6 and usage["run"]["prompt_tokens"] > 0
    assert all(usage["stages"][s]["completion_tokens"] > 0 for s in ("script", "plant",
                                                                     "question"))
    # A second identical run sends the server nothing at all.
    assert cli_main(args) == 0
    assert len(chat(server)) == sent
    # The key reaches no file: run folder, response cache, manifest, export, server log.
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    assert SECRET not in server.log.getvalue()  # type: ignore[attr-defined]


def test_a_changed_prompt_resends_exactly_the_calls_it_shapes(
        tmp_path: Path, server: OfflineLLMServer) -> None:
    prompts = tmp_path / "prompts"
    shutil.copytree(ROOT / "prompts", prompts)
    cfg = llm_config(tmp_path, server, "n_items=6", f"prompts_dir={prompts}")
    first = run_pipeline(cfg, until="question", quiet=True)
    # facts, script, plant and question per item; distractors where the key has none
    assert len(first.built) == 6 and len(chat(server)) == 24 + 6 - sum(
        bool(key_fact(it.spec.facts, it.spec.key_fact).alternatives) for it in first.items)
    plant = prompts / "llm_plant.yaml"
    plant.write_text(plant.read_text().replace("It must blend in:", "It must blend in well:"))
    before = len(chat(server))
    run_pipeline(cfg, until="question", quiet=True)
    new = chat(server)[before:]
    assert [r["task"] for r in new] == ["plant"] * 6
    lecture = prompts / "llm_script_lecture.yaml"
    lecture.write_text(lecture.read_text().replace("no markup.", "no markup at all."))
    before = len(chat(server))
    again = run_pipeline(cfg, until="question", quiet=True)
    new = chat(server)[before:]
    lectures = {it.id for it in again.items if it.spec.type == "lecture"}
    assert lectures and {r["item"] for r in new} == lectures
    assert [r["task"] for r in new] == ["script"] * len(lectures)
    assert again.ctx.stats["question"]["computed"] == 0


def test_transport_faults_are_retried_and_bad_replies_reasked(tmp_path: Path) -> None:
    faults = Faults(rate_limit=1, retry_after=0.6, server_error=2, hang=1, hang_s=3,
                    malformed=1, truncated=1)
    with OfflineLLMServer(ROOT / "prompts", faults=faults, log=io.StringIO()) as srv:
        cfg = llm_config(tmp_path, srv, "n_items=2", "llm.concurrency=1",
                         "llm.timeout_s=1.0", "llm.max_retries=5")
        result = run_pipeline(cfg, until="question", quiet=True)
        assert len(result.built) == 2, [it.failed for it in result.failed]
        statuses = [r["status"] for r in chat(srv)]
    assert statuses[:3] == [429, 500, 500]
    # Retry-After (0.6 s) was honoured although the backoff base is 0.01 s.
    times = [r["t"] for r in chat(srv)]
    assert times[1] - times[0] >= 0.55
    usage = json.loads((tmp_path / "demo" / "llm_usage.json").read_text())
    reasks = [r for it in usage["per_item"].values() for st in it.values() for r in st["reasks"]]
    assert any("not valid JSON" in r for r in reasks)
    assert any("cut off" in r for r in reasks)


def test_an_item_that_keeps_failing_is_reported_and_rebuilt_next_run(
        tmp_path: Path, server: OfflineLLMServer) -> None:
    cfg = llm_config(tmp_path, server, "n_items=4", "llm.max_retries=2")
    bad = run_pipeline(cfg, until="plan", quiet=True).items[1].id
    server.faults.fail_items = (bad,)
    first = run_pipeline(cfg, until="question", quiet=True)
    assert [it.id for it in first.failed] == [bad]
    reason = first.failed[0].failed
    assert reason and reason["stage"] == "script" and "http 500 after 3 tries" in reason["reason"]
    assert len(first.built) == 3
    server.faults.fail_items = ()
    before = len(chat(server))
    second = run_pipeline(cfg, until="question", quiet=True)
    assert not second.failed
    assert {r["item"] for r in chat(server)[before:]} == {bad}


def test_the_budget_stops_new_calls_and_keeps_finished_work(
        tmp_path: Path, server: OfflineLLMServer) -> None:
    price = "llm.prices={offline: {input: 1000.0, output: 1000.0}}"  # $0.001 a token
    # a budget for about two items of four: each asks for a fact sheet, then a script
    cfg = llm_config(tmp_path, server, "n_items=4", "llm.concurrency=1", price,
                     "llm.max_tokens=1000", "llm.max_cost_usd=8.0")
    first = run_pipeline(cfg, until="script", quiet=True)
    assert first.built and first.failed
    assert all("budget" in (it.failed or {}).get("reason", "") for it in first.failed)
    assert first.ctx.writer.session.spent_usd <= 8.0

    def scripts() -> int:  # the script stage asks for the fact sheet, then the script
        return sum(r["task"] == "script" for r in chat(server))

    calls = scripts()
    assert calls == len(first.built)
    cfg.llm.max_cost_usd = None
    second = run_pipeline(cfg, until="script", quiet=True)
    assert not second.failed
    assert scripts() - calls == len(first.failed)  # finished work was kept


def test_json_object_fallback_where_json_schema_is_unsupported(tmp_path: Path) -> None:
    with OfflineLLMServer(ROOT / "prompts", faults=Faults(no_json_schema=True),
                          log=io.StringIO()) as srv:
        result = run_pipeline(llm_config(tmp_path, srv, "n_items=2", "llm.concurrency=1"),
                              until="script", quiet=True)
        assert len(result.built) == 2  # a fact sheet and a script per item
        # Found once by preflight's probe; the run's requests are all accepted.
        probes = [r for r in srv.requests if r["task"] == "probe"]
        assert [(r["format"], r["status"]) for r in probes][:2] == [
            ("json_schema", 400), ("json_object_schema", 200)]
        assert [r["status"] for r in chat(srv)] == [200] * 4
        assert {r["format"] for r in chat(srv)} == {"json_object_schema"}


def test_a_broken_rule_is_reasked_with_its_reason_then_fails(
        tmp_path: Path, server: OfflineLLMServer) -> None:
    cfg = llm_config(tmp_path, server, "llm.max_reasks=2")
    item = run_pipeline(make_config(tmp_path, "run=plain", "n_items=1"), until="question",
                        quiet=True).items[0]
    seen: list[str] = []

    def only_second(data: dict) -> str:  # rejects the first answer, as a rule would
        seen.append(data["answer"])
        return "" if len(seen) > 1 else "the stem names the answer"

    variables = judge_variables(item)
    session = LLMSession(cfg)

    async def run(check):  # type: ignore[no-untyped-def]
        try:
            return await session.complete("judge", variables, "validate", check)
        finally:
            await session.aclose()

    import asyncio

    data, usage = asyncio.run(run(only_second))
    assert data["answer"] == item.question.letter  # type: ignore[union-attr]
    assert usage.reasks == ["judge: the stem names the answer"] and usage.calls == 2
    with pytest.raises(LLMTaskError, match=r"no valid reply in 3 replies \(2 re-asks\)"):
        asyncio.run(run(lambda d: "always wrong"))
    # The failed exchange was forgotten, so the next try asks afresh (here through the sync
    # entry point for validation's judge); after that it is served from the cache.
    before = len(chat(server))
    for _ in range(2):
        assert ask("judge", variables, cfg)["answer"] == item.question.letter  # type: ignore
        assert len(chat(server)) == before + 1


def test_config_and_key_errors_name_the_key(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="llm.response_format"):
        make_config(tmp_path, "llm.response_format=xml")
    with pytest.raises(ConfigError, match="llm.concurrency"):
        make_config(tmp_path, "llm.concurrency=0")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        LLMSession(make_config(tmp_path, "llm.backend=openai", "llm.model=gpt-4o"))


def test_serve_offline_llm_command_speaks_the_openai_api(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "serve-offline-llm", "--port", "0",
         "--prompts-dir", str(ROOT / "prompts")],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        base_url = first.split(" on ", 1)[1].split()[0]
        assert base_url.startswith("http://127.0.0.1:")
        client = openai.OpenAI(base_url=base_url, api_key=SECRET, max_retries=0, timeout=10)
        assert [m.id for m in client.models.list()] == ["offline"]
        with pytest.raises(openai.BadRequestError, match="no item data block"):
            client.chat.completions.create(
                model="offline", messages=[{"role": "user", "content": "hello"}])
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    lines = [first, *out.splitlines()]
    assert any(line.startswith("GET /v1/models 200") for line in lines)
    assert any(line.startswith("POST /v1/chat/completions 400") for line in lines)
    assert SECRET not in "".join(lines)


def test_concurrency_bounds_requests_in_flight_across_items(tmp_path: Path) -> None:
    with OfflineLLMServer(ROOT / "prompts", faults=Faults(latency_ms=300),
                          log=io.StringIO()) as srv:
        result = run_pipeline(llm_config(tmp_path, srv, "n_items=9", "llm.concurrency=3"),
                              until="script", quiet=True)
        spans = [(r["t"], r["end"]) for r in chat(srv)]
    assert len(result.built) == 9 and len(spans) == 18  # a fact sheet and a script each
    peak = max(sum(1 for a, b in spans if a <= t < b) for t, _ in spans)
    assert peak == 3


def test_a_broken_prompt_file_stops_the_run_before_any_call_naming_the_file(
        tmp_path: Path, server: OfflineLLMServer) -> None:
    from pipeline.core.resources import ResourceError

    prompts = tmp_path / "prompts"
    shutil.copytree(ROOT / "prompts", prompts)
    plant = prompts / "llm_plant.yaml"
    plant.write_text(plant.read_text().replace("    sentence: {type: string, minLength: 8}",
                                               "    sentence: {type: 12}"))
    cfg = llm_config(tmp_path, server, "n_items=1", f"prompts_dir={prompts}")
    with pytest.raises(ResourceError, match="llm_plant.yaml: 'schema' is not a valid"):
        run_pipeline(cfg, until="question", quiet=True)
    # Found by the preflight: not one call made, nothing built for the script stage.
    assert not chat(server) and not (tmp_path / "demo" / "script").exists()


def test_validation_judge_runs_on_the_llm_endpoint(tmp_path: Path,
                                                    server: OfflineLLMServer) -> None:
    cfg = llm_config(tmp_path, server, "run=judge", "n_items=3", "validate.judge_backend=llm")
    result = run_pipeline(cfg, quiet=True)
    judged = [r for r in chat(server) if r["task"] == "judge"]
    # One informed call and `judge_orders` blind ones per validated attempt.
    assert len(judged) >= 3 * (1 + cfg.validate.judge_orders)
    for it in result.items:
        checks = {c.name: c for c in it.checks}
        assert checks["judge_informed"].ok and checks["judge_blind"].ok, it.id
    before = len(chat(server))
    run_pipeline(cfg, quiet=True)
    assert len(chat(server)) == before
