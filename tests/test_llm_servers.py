"""The LLM client against stand-ins that behave as the real servers we tried (docs/llm.md):
llama-cpp-python (HTTP 500 for json_schema, one request at a time, a slow /models while
busy), a model that wraps its JSON in prose and fences, OpenAI's reasoning models (HTTP 400
for max_tokens and temperature), and a model too small for the job (SmolLM2-135M)."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest

from pipeline.cli import main as cli_main
from pipeline.core.errors import is_infrastructure
from pipeline.orchestration.runner import run_pipeline, summary
from pipeline.testing.offline_server import Faults, OfflineLLMServer
from tests.conftest import ROOT, make_config
from tests.test_llm import chat, llm_config


def probes(srv: OfflineLLMServer) -> list[dict]:
    return [r for r in srv.requests if r["task"] == "probe"]


def cli_args(tmp: Path, srv: OfflineLLMServer, n: int, *sets: str) -> list[str]:
    args = ["run", "--quiet", "--run", "real", "--n", str(n), "--seed", "3",
            "--config", str(ROOT / "spiral.yaml")]
    for s in (f"output_root={tmp}", f"prompts_dir={ROOT / 'prompts'}",
              f"voices={ROOT / 'voices' / 'voices.yaml'}", "llm.backend=openai",
              f"llm.base_url={srv.base_url}", "llm.model=offline", "llm.backoff_s=0.01",
              *sets):
        args += ["--set", s]
    return args


def test_negotiation_finds_the_format_once_and_records_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # llama-cpp-python answers json_schema with a 500 (a validation error): not transient.
    with OfflineLLMServer(ROOT / "prompts", faults=Faults(json_schema_500=True),
                          log=io.StringIO()) as srv:
        cfg = llm_config(tmp_path, srv, "n_items=2", "llm.concurrency=1")
        result = run_pipeline(cfg, until="script", quiet=True)
        assert len(result.built) == 2, [it.failed for it in result.failed]
        found = [(r["format"], r["status"]) for r in probes(srv)]
        assert found[:2] == [("json_schema", 500), ("json_object_schema", 200)]
        assert set(found[2:]) <= {("json_object_schema", 200)}  # timing, if slow enough
        assert {r["format"] for r in chat(srv)} == {"json_object_schema"}
        assert all(r["status"] == 200 for r in chat(srv))
        endpoint = json.loads((tmp_path / "demo" / "llm_usage.json").read_text())["endpoint"]
        assert endpoint["format"] == "json_object_schema"
        assert endpoint["server"] == "spiral-offline"
        err = capsys.readouterr().err
        assert err.count("JSON by json_object_schema") == 1
        # Once per endpoint and model: a second run (new items) negotiates nothing.
        before = len(srv.requests)
        cfg = llm_config(tmp_path, srv, "n_items=3", "llm.concurrency=1")
        run_pipeline(cfg, until="script", quiet=True)
        assert len(probes(srv)) == len(found) and len(srv.requests) > before


def test_refused_parameters_are_swapped_once_and_never_retried(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    faults = Faults(refuse_max_tokens=True, refuse_temperature=True)
    with OfflineLLMServer(ROOT / "prompts", faults=faults, log=io.StringIO()) as srv:
        cfg = llm_config(tmp_path, srv, "n_items=2", "llm.max_retries=5")
        result = run_pipeline(cfg, until="question", quiet=True)
        assert len(result.built) == 2, [it.failed for it in result.failed]
        assert [r["status"] for r in probes(srv)][:3] == [400, 400, 200]
        assert all(r["status"] == 200 for r in probes(srv)[2:])
        for r in chat(srv):
            assert r["status"] == 200
            assert "max_tokens" not in r["body"] and "temperature" not in r["body"]
            assert r["body"]["max_completion_tokens"] == cfg.llm.max_tokens
    err = capsys.readouterr().err.splitlines()
    assert sum("refuses 'max_tokens'; sending 'max_completion_tokens'" in x for x in err) == 1
    assert sum("refuses 'temperature'; leaving it out" in x for x in err) == 1


def test_a_refusal_mid_run_is_adjusted_not_retried(tmp_path: Path) -> None:
    # A past negotiation said json_schema works; the server now refuses it (HTTP 500).
    with OfflineLLMServer(ROOT / "prompts", log=io.StringIO()) as srv:
        cfg = llm_config(tmp_path, srv, "n_items=2", "llm.concurrency=1")
        run_pipeline(cfg, until="plan", quiet=True)
        from pipeline.writing.llm_writer import LLMWriter

        writer = LLMWriter(cfg)
        writer.reach()
        srv.faults.json_schema_500 = True
        srv.requests.clear()
        cfg2 = llm_config(tmp_path, srv, "n_items=2", "llm.concurrency=1", "run=again")
        result = run_pipeline(cfg2, until="script", quiet=True)
        assert len(result.built) == 2
        statuses = [(r["format"], r["status"]) for r in chat(srv)]
    assert statuses[0] == ("json_schema", 500)
    # One refusal, no retries: two items, each asked for its facts and then its script.
    assert statuses[1:] == [("json_object_schema", 200)] * 4


def test_a_server_that_answers_one_request_at_a_time_gets_one_at_a_time(
        tmp_path: Path) -> None:
    # llama-cpp-python generates one request at a time: with 8 in flight the client's
    # timeout counted the queue, and every item ended in timeouts.
    faults = Faults(serial=True, latency_ms=400)
    with OfflineLLMServer(ROOT / "prompts", faults=faults, log=io.StringIO()) as srv:
        cfg = llm_config(tmp_path, srv, "n_items=4", "llm.concurrency=8", "llm.timeout_s=1.0",
                         "llm.max_retries=2")
        result = run_pipeline(cfg, until="script", quiet=True)
        assert len(result.built) == 4, [it.failed for it in result.failed]
        assert all(r["status"] == 200 for r in chat(srv))
        # Nothing timed out and was sent again: one facts and one script request per item.
        assert [r["task"] for r in chat(srv)].count("facts") == 4
        assert len(chat(srv)) == 2 * 4
        spans = [(r["t"], r["end"]) for r in chat(srv)]
    assert max(sum(1 for a, b in spans if a <= t < b) for t, _ in spans) == 1
    endpoint = json.loads((tmp_path / "demo" / "llm_usage.json").read_text())["endpoint"]
    assert endpoint["parallel"] == 1


def test_fenced_json_is_read_and_unparsable_replies_are_content_failures(
        tmp_path: Path) -> None:
    with OfflineLLMServer(ROOT / "prompts", faults=Faults(fenced=True),
                          log=io.StringIO()) as srv:
        result = run_pipeline(llm_config(tmp_path, srv, "n_items=2"), until="question",
                              quiet=True)
        assert len(result.built) == 2, [it.failed for it in result.failed]
        assert all(r["status"] == 200 for r in chat(srv))
    # Replies that never parse: re-asked with the error shown, then the item's content
    # failure (re-seeded later), never infrastructure ("rerun the same command").
    # The facts task takes the first two (its sheet then falls back to the bank's), the
    # script task the next two.
    # (No competence check: two tasks with no valid reply would stop the run as the model's.)
    faults = Faults(malformed=4)
    with OfflineLLMServer(ROOT / "prompts", faults=faults, log=io.StringIO()) as srv:
        cfg = llm_config(tmp_path, srv, "run=garbled", "n_items=1", "llm.max_repairs=1",
                         "llm.competence_replies=0")
        result = run_pipeline(cfg, until="script", quiet=True)
        sent = chat(srv)
    (item,) = result.failed
    assert not is_infrastructure(item.failed), item.failed
    assert "not valid JSON" in item.failed["reason"]  # type: ignore[index]
    assert "in 2 replies (1 re-asks)" in item.failed["reason"]  # type: ignore[index]
    assert [r["task"] for r in sent] == ["facts", "facts", "script", "script"]
    assert sent[0]["body"] != sent[1]["body"] and sent[2]["body"] != sent[3]["body"]


def test_a_model_that_cannot_follow_the_schema_stops_the_run_in_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    srv = OfflineLLMServer(ROOT / "prompts", faults=Faults(off_schema=True), log=io.StringIO())
    srv.start()
    try:
        assert cli_main(cli_args(tmp_path, srv, 3, "llm.concurrency=1")) == 1
        sent = chat(srv)
    except BaseException:
        srv.stop()
        raise
    err = capsys.readouterr().err.strip().splitlines()
    # The facts task is the first asked: its verdict stops the run.
    assert err[-1] == (
        "spiral: error: llm: model 'offline' returned JSON that does not follow the facts "
        "schema in 4 of 4 replies (typical: schema violation at (top level): Additional "
        "properties are not allowed ('message', 'responseStatusCode', 'type' were "
        "unexpected)); use a larger model or llm.backend: offline")
    assert len(sent) == 4  # stopped at once: no more items tried, none re-seeded
    assert not (tmp_path / "real" / "reseeds.json").exists()
    # Re-asks show the model its error: no request is sent twice.
    assert len({json.dumps(r["body"], sort_keys=True) for r in sent}) == len(sent)
    assert {r["task"] for r in sent} == {"facts"}
    usage_dir = tmp_path / "real" / "llm" / "facts"
    (record,) = [r for p in usage_dir.glob("*.json") if (r := json.loads(p.read_text()))["usage"]
                 ["reasks"]]
    assert "returned JSON that does not follow" in record["failed"]
    assert len(record["usage"]["reasks"]) == 4
    usage = json.loads((tmp_path / "real" / "llm_usage.json").read_text())
    assert usage["endpoint"]["format"] == "json_schema"
    assert usage["per_item"][record["item"]]["facts"]["failed"] == record["failed"]
    # The rerun stops the same way, sending nothing: the verdict is kept with the replies.
    before = len(srv.requests)
    assert cli_main(cli_args(tmp_path, srv, 3, "llm.concurrency=1")) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == err[-1]
    assert not [r for r in srv.requests[before:] if r["method"] == "POST"]
    srv.stop()
    assert json.loads((usage_dir / f"{record['item']}.json").read_text()) == record


def test_a_busy_server_slow_to_list_its_models_is_not_down(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from pipeline.llm import openai_client

    monkeypatch.setattr(openai_client, "REACH_TIMEOUT_S", 0.3)
    with OfflineLLMServer(ROOT / "prompts", faults=Faults(models_delay_s=0.8),
                          log=io.StringIO()) as srv:
        result = run_pipeline(llm_config(tmp_path, srv, "n_items=1"), until="script",
                              quiet=True)
        assert len(result.built) == 1
    assert "took over 0.3 s (a busy server); going on" in capsys.readouterr().err


def test_infrastructure_failures_are_summed_up_without_contradiction(
        tmp_path: Path) -> None:
    with OfflineLLMServer(ROOT / "prompts", log=io.StringIO()) as srv:
        cfg = llm_config(tmp_path, srv, "n_items=2", "llm.max_retries=2")
        bad = run_pipeline(cfg, until="plan", quiet=True).items[0].id
        srv.faults.fail_items = (bad,)
        result = run_pipeline(cfg, quiet=True)
        answered = sum(1 for r in chat(srv) if r["status"] == 200)
    text = summary(result)
    assert f"FAILED {bad} at script" in text
    assert "NOT BUILT" not in text and "reroll" not in text and "rejections" not in text
    assert "0 still failing after" in text  # nothing re-seeded is "still failing"
    sent = len(chat(srv))
    assert f"{sent} requests sent ({answered} answered)" in text
    # The script stage asks for the item's facts first: that is the request that failed.
    record = json.loads((tmp_path / "demo" / "llm" / "facts" / f"{bad}.json").read_text())
    assert "http 500 after 3 tries" in record["failed"]


def test_each_task_sees_only_what_it_needs(tmp_path: Path) -> None:
    with OfflineLLMServer(ROOT / "prompts", log=io.StringIO()) as srv:
        result = run_pipeline(llm_config(tmp_path, srv, "n_items=3"), until="question",
                              quiet=True)
        sent = chat(srv)
    specs = {it.id: it.spec for it in result.items}
    assert len(result.built) == 3
    for r in sent:
        spec = specs[r["item"]]
        key = next(f for f in spec.facts if f.id == spec.key_fact)
        others = [f.value for f in spec.facts if f.id != spec.key_fact]
        prompt = "\n".join(m["content"] for m in r["body"]["messages"])
        assert '"letter"' not in prompt and '"spec"' not in prompt and "key_decile" not in prompt
        if r["task"] == "script":
            assert key.value not in prompt and all(v in prompt for v in others)
        if r["task"] == "plant":
            assert key.value in prompt


def test_reply_json_is_found_in_fences_and_prose() -> None:
    from pipeline.llm import dialects

    assert dialects.extract_json('Sure!\n```json\n{"a": 1}\n```\nDone.') == {"a": 1}
    assert dialects.extract_json('Here you go: {"a": [1, 2]} -- hope it helps') == {"a": [1, 2]}
    assert dialects.extract_json('{"a": "two\nlines"}') == {"a": "two\nlines"}  # raw break
    # Braces in the prose around a fence: only the fence's content parses.
    assert dialects.extract_json('In {JSON}:\n```json\n{"a": 2}\n```\nAs {asked}.') == {"a": 2}
    with pytest.raises(json.JSONDecodeError):
        dialects.extract_json("I cannot help with that.")


def test_refused_parameter_is_read_from_the_body_whatever_the_status() -> None:
    from pipeline.llm import dialects

    req = {"model": "m", "messages": [], "max_tokens": 5, "temperature": 0.7,
           "response_format": {"type": "json_schema"}}
    llama_cpp_python = ("[{'type': 'literal_error', 'loc': ('body', 'response_format', "
                        "'type'), 'msg': \"Input should be 'text' or 'json_object'\"}]")
    assert dialects.refused_parameter(500, llama_cpp_python, req) == "response_format"
    assert dialects.refused_parameter(
        400, "Unsupported parameter: 'max_tokens' is not supported with this model.",
        req) == "max_tokens"
    llama_server = 'Either "json_schema" or "grammar" can be specified, but not both'
    assert dialects.refused_parameter(400, llama_server, req) == "response_format"
    assert dialects.refused_parameter(500, "injected server error", req) is None
    assert dialects.refused_parameter(429, "Unsupported max_tokens", req) is None


def test_serve_llm_loads_without_extra_buffer_types_on_amx_and_says_what_is_missing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pipeline.llm import local_server

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("flags\t: fpu avx512f amx_bf16 amx_tile amx_int8\n")
    assert local_server.amx_cpu(cpuinfo)
    cpuinfo.write_text("flags\t: fpu avx2\n")
    assert not local_server.amx_cpu(cpuinfo)
    cmd = local_server.command(tmp_path / "m.gguf", 8123, "local", extra_bufts=False)
    assert cmd[1:4] == ["-m", "pipeline.llm.llama_launch", "--no-extra-bufts"]
    assert "127.0.0.1" in cmd and "8192" in cmd
    assert local_server.settings(8123, "local")[1] == "--set llm.base_url=http://127.0.0.1:8123/v1"
    assert cli_main(["serve-llm", "--gguf", str(tmp_path / "none.gguf")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("spiral serve-llm: error: ")
    assert "make llm-local" in err[0] or "none.gguf: no such file" in err[0]


def test_the_docs_describe_the_judge_as_its_prompt_file_does() -> None:
    import re

    import yaml

    judge = yaml.safe_load((ROOT / "prompts" / "judge.yaml").read_text())
    section = (ROOT / "docs" / "llm.md").read_text().split("## The judge", 1)[1]
    section = section.split("\n## ", 1)[0]
    slots = set(re.findall(r"\$([a-z_]+)", judge["user"])) - {"data"}
    assert slots == {"transcript", "question", "choices"}
    for name in slots:
        assert f"`{name}`" in section, name
    for name in judge["schema"]["required"]:
        assert f'"{name}"' in section, name
    assert "`mode`" not in section and '{"answer": "B"}' not in section


def test_an_unusable_judge_reply_is_no_answer_not_an_infrastructure_failure(
        tmp_path: Path) -> None:
    faults = Faults(prose_tasks=("judge",))
    with OfflineLLMServer(ROOT / "prompts", faults=faults, log=io.StringIO()) as srv:
        cfg = llm_config(tmp_path, srv, "n_items=1", "validate.judge_backend=llm",
                         "llm.max_repairs=0", "llm.competence_replies=0",
                         "validate.max_regenerations=0", "validate.max_key_draws=1")
        result = run_pipeline(cfg, until="validate", quiet=True)
    (item,) = result.items
    assert item.failed and not is_infrastructure(item.failed), item.failed
    checks = {c.name: c for c in item.checks}
    assert not checks["judge_informed"].ok
    assert "judge chose no choice" in checks["judge_informed"].reason


def test_items_that_use_up_their_reasks_on_the_rules_stop_the_run(tmp_path: Path) -> None:
    import asyncio

    from pipeline.llm.openai_client import LLMSession, LLMTaskError, ModelUnfit

    run = run_pipeline(make_config(tmp_path, "run=plain", "n_items=2"), until="question",
                       quiet=True)
    with OfflineLLMServer(ROOT / "prompts", log=io.StringIO()) as srv:
        session = LLMSession(llm_config(tmp_path, srv, "llm.max_reasks=1"))

        async def ask(item):  # type: ignore[no-untyped-def]
            from pipeline.writing.llm_writer import judge_variables

            return await session.complete("judge", judge_variables(item), "validate",
                                          lambda d: "the evidence is not a sentence")

        async def both():  # type: ignore[no-untyped-def]
            try:
                with pytest.raises(LLMTaskError) as first:
                    await ask(run.items[0])
                assert not isinstance(first.value, ModelUnfit)  # one item is not the model
                with pytest.raises(ModelUnfit, match="broke the judge rules in all 4 replies to "
                                   "the first 2 items .*competence_replies: 0"):
                    await ask(run.items[1])
            finally:
                await session.aclose()

        asyncio.run(both())
        assert len(chat(srv)) == 4


def test_a_reply_that_keeps_coming_never_times_out_and_a_queue_is_backed_off(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A server that writes one reply at a time, 5 ms a token, and that a past negotiation
    # found answering as many as it was sent (its probe was too fast to time, or it was idle
    # then): a script reply takes longer than llm.timeout_s in all, and of 8 requests sent at
    # once 7 wait for their turn. Non-streamed, each such request timed out (issue 30.1).
    from pipeline.llm import negotiate

    faults = Faults(serial=True, token_ms=5)
    with OfflineLLMServer(ROOT / "prompts", faults=faults, log=io.StringIO()) as srv:
        cfg = llm_config(tmp_path, srv, "n_items=4", "llm.concurrency=8", "llm.timeout_s=1.0",
                         "llm.max_retries=0")
        negotiate.save(cfg.llm, cfg.cache_root / "llm",
                       negotiate.Endpoint(server="spiral-offline", format="json_schema"))
        result = run_pipeline(cfg, until="script", quiet=True)
        assert len(result.built) == 4, [it.failed for it in result.failed]
        sent = chat(srv)
    written = [r for r in sent if not r["closed"]]
    assert all(r["status"] == 200 and r["chunks"] for r in written)
    assert sorted(r["task"] for r in written) == ["facts"] * 4 + ["script"] * 4
    assert max(r["end"] - r["t"] for r in written) > 1.0  # longer than the timeout, in all
    # Those that waited were given up before a token was written, and sent again once the
    # client sent one at a time.
    assert all(not r["chunks"] for r in sent if r["closed"])
    endpoint = json.loads((tmp_path / "demo" / "llm_usage.json").read_text())["endpoint"]
    assert endpoint["parallel"] == 1
    err = capsys.readouterr().err
    assert err.count("the server writes 1 at a time; sending 1 at a time, not "
                     "llm.concurrency=8") == 1


def test_a_stalled_stream_is_a_timeout_and_is_asked_again(tmp_path: Path) -> None:
    faults = Faults(stall_after=5, hang_s=2.0)
    with OfflineLLMServer(ROOT / "prompts", faults=faults, log=io.StringIO()) as srv:
        cfg = llm_config(tmp_path, srv, "n_items=1", "llm.timeout_s=0.5", "llm.max_retries=1")
        result = run_pipeline(cfg, until="script", quiet=True)
        assert len(result.built) == 1, [it.failed for it in result.failed]
        for _ in range(50):  # the stalled reply is logged when the server wakes up
            if len(chat(srv)) == 3:
                break
            time.sleep(0.1)
        sent = sorted(chat(srv), key=lambda r: r["t"])
    # The first reply stopped after 5 tokens; the client gave up on it, closing the stream
    # (the server's next writes failed: one may land in the socket's buffer first), and asked
    # again, once.
    assert sent[0]["closed"] and 5 <= sent[0]["chunks"] <= 7
    assert [r["task"] for r in sent] == ["facts", "facts", "script"]
    assert sent[0]["body"] == sent[1]["body"]
    # With no retry left, the item keeps its seed and the reason says what to set.
    faults = Faults(stall_after=5, hang_s=2.0)
    with OfflineLLMServer(ROOT / "prompts", faults=faults, log=io.StringIO()) as srv:
        cfg = llm_config(tmp_path / "again", srv, "n_items=1", "llm.timeout_s=0.5",
                         "llm.max_retries=0")  # nothing cached
        (item,) = run_pipeline(cfg, until="script", quiet=True).failed
    assert is_infrastructure(item.failed), item.failed
    reason = item.failed["reason"]  # type: ignore[index]
    assert "timeout after 1 tries (no next token within 0.5 s" in reason
    assert reason.endswith("raise llm.timeout_s or lower llm.concurrency")


def test_a_reply_that_loops_is_stopped_as_it_is_written(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # SmolLM2-135M under a JSON grammar: the same sentences again and again up to
    # max_tokens (2,048 tokens, 372 s on this machine). Stopped within a few hundred tokens,
    # four times, then the run stops in one line (issue 27.2).
    faults = Faults(ramble_tasks=("script",), token_ms=1)
    srv = OfflineLLMServer(ROOT / "prompts", faults=faults, log=io.StringIO())
    with srv:
        assert cli_main(cli_args(tmp_path, srv, 2, "llm.concurrency=1")) == 1
        scripts = [r for r in chat(srv) if r["task"] == "script"]
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("spiral: error: llm: model 'offline' wrote script replies that "
                              "loop or pad instead of ending in 4 of 4 replies (typical: the "
                              "reply keeps saying what it already said")
    assert len(scripts) == 4
    assert all(r["closed"] and r["chunks"] < 512 for r in scripts), \
        [(r["closed"], r["chunks"]) for r in scripts]
    # Each re-ask shows the model only the start of its reply, not the loop.
    assert all(len(r["body"]["messages"][-2]["content"]) <= 604 for r in scripts[1:])


def test_a_model_with_no_valid_reply_to_an_items_tasks_stops_after_that_item(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # SmolLM2 under a JSON grammar: every fact sheet breaks a rule (the bank's sheet is used
    # instead), every script names speakers the item does not have. Both tasks of the first
    # item used up their re-asks with no valid reply of any task: the run stops there
    # instead of trying the next item's (issue 27.2, within 5 minutes on a real server).
    faults = Faults(bad_facts=True, stray_speakers=True)
    with OfflineLLMServer(ROOT / "prompts", faults=faults, log=io.StringIO()) as srv:
        assert cli_main(cli_args(tmp_path, srv, 2, "llm.concurrency=1")) == 1
        sent = chat(srv)
        err = capsys.readouterr().err.strip().splitlines()
        assert [r["task"] for r in sent] == ["facts"] * 3 + ["script"] * 3
        assert len({r["item"] for r in sent}) == 1
        assert err[-1].startswith(
            "spiral: error: llm: model 'offline' broke the facts and script rules in all 6 "
            "replies to its first 2 tasks, none valid (typical: ")
        assert err[-1].endswith("use a larger model or llm.backend: offline (or "
                                "llm.competence_replies: 0 to go on)")
        assert not (tmp_path / "real" / "reseeds.json").exists()
        # The rerun stops at the first task it asks, sending nothing.
        before = len(srv.requests)
        assert cli_main(cli_args(tmp_path, srv, 2, "llm.concurrency=1")) == 1
        assert not [r for r in srv.requests[before:] if r["method"] == "POST"]
    assert capsys.readouterr().err.strip().splitlines()[-1] == err[-1]


@pytest.mark.parametrize("slots", [1, 2])
def test_preflight_sees_how_many_replies_the_server_writes_at_once(
        tmp_path: Path, slots: int) -> None:
    # The server is slow to start each reply (a busy CPU reading the prompt) and writes
    # `slots` at a time: the count comes from which replies were being written together,
    # not from timings, which a busy machine blurs (a serial llama-cpp-python was once timed
    # as 3 at once).
    from pipeline.llm.openai_client import LLMSession

    faults = Faults(serial=True, slots=slots, latency_ms=100, token_ms=100)
    with OfflineLLMServer(ROOT / "prompts", faults=faults, log=io.StringIO()) as srv:
        session = LLMSession(llm_config(tmp_path, srv, "llm.concurrency=8"))
        session.reach()
        endpoint = session.negotiate()
        streamed = [r for r in probes(srv) if r["body"].get("stream")]
    assert endpoint.parallel == slots
    assert len(streamed) == 4 and all(r["chunks"] >= 2 for r in streamed)


def test_a_reply_going_nowhere_is_told_from_one_going_on() -> None:
    from pipeline.llm.streaming import runaway

    assert "blank characters" in runaway('{"turns": [' + "\n" * 60)  # grammar padding
    assert "repeats '" in runaway('{"a": "' + "la " * 200)  # one stretch over and over
    looping = " ".join(f"{i}. The Wickham region team drove around the new territory last "
                       "month." for i in range(40))
    assert "keeps saying what it already said" in runaway(looping)
    prose = " ".join(f"Speaker {i} reported {i * 7} orders from region {i % 5} in week {i}, "
                     f"and item {i * 3} was late." for i in range(60))
    assert runaway(prose) == ""  # numbers change, words repeat, phrases do not
