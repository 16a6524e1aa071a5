"""`spiral review`: the page in a real browser (Debian's chromium driven by playwright), the
verdict file, `reroll --rejected`, the static copy and bad input.

The shared 6-item `small_run` is copied with hard links (no byte copied; every write in the
pipeline replaces files, so the original stays as it was); in the copy the last item is turned
into one validation left out, so the page shows both kinds of item.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from pipeline.cli import main
from pipeline.core import reviews
from pipeline.core.store import StageCache, atomic_write_text, read_json
from pipeline.orchestration.reroll import RerollError, Selection, select
from pipeline.orchestration.runner import RunResult
from pipeline.reports.audit import audit_records, load_records, write_report
from pipeline.review.data import load_run, view
from pipeline.review.render import render
from pipeline.review.server import ReviewServer, start
from pipeline.review.static import export_static
from tests.conftest import ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
LEFT_OUT_REASON = "key segment WER 0.71 > 0.5 (heard: 'the study was led')"


@pytest.fixture(scope="module")
def run_copy(small_run: RunResult, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small run, hard-linked, its last item left out at validation, an audit written."""
    root = tmp_path_factory.mktemp("review")
    run_dir = root / "small"
    shutil.copytree(small_run.ctx.run_dir, run_dir, copy_function=os.link)
    export = run_dir / "export"
    lines = (export / "data.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    out_id = json.loads(lines[-1])["metadata"]["id"]
    atomic_write_text(export / "data.jsonl", "".join(lines[:-1]))
    atomic_write_text(export / "failures.jsonl", json.dumps(
        {"id": out_id, "stage": "validate", "reason": f"asr_wer: {LEFT_OUT_REASON}"}) + "\n")
    cached = read_json(run_dir / "validate" / f"{out_id}.json")
    for check in cached["record"]["checks"]:
        if check["name"] == "asr_wer":
            check.update(ok=False, value=0.71, reason=LEFT_OUT_REASON)
    # Through the cache's own writer: a hand-edited record fails its checksum and is unread.
    StageCache(run_dir, "validate").put(out_id, cached["key"], cached["record"],
                                        cached.get("files", {}))
    result = audit_records(load_records(export / "data.jsonl"), export / "wavs")
    write_report(result, export / "audit")
    return run_dir


@pytest.fixture(scope="module")
def records(run_copy: Path) -> list[dict[str, Any]]:
    return load_records(run_copy / "export" / "data.jsonl")


@pytest.fixture(scope="module")
def server(run_copy: Path) -> Iterator[ReviewServer]:
    srv = start(load_run(run_copy), 0)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Debian chromium for the module; playwright downloads no browser."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} missing: the browser tests need Debian's chromium "
                    "(`make os-deps-test`, or apt-get install chromium)")
    pw = sync_playwright().start()
    b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield b
    b.close()
    pw.stop()


@pytest.fixture
def page(browser: Any, server: ReviewServer) -> Iterator[Any]:
    """A fresh page on the server; fails the test on a script error or a request that leaves
    the review server."""
    pg = browser.new_page(viewport={"width": 1400, "height": 900})
    errors: list[str] = []
    base = f"http://127.0.0.1:{server.port}/"
    pg.on("pageerror", lambda e: errors.append(f"script error: {e}"))
    pg.on("request", lambda r: None if r.url.startswith((base, "data:")) else
          errors.append(f"request outside the server: {r.url}"))
    pg.goto(base)
    yield pg
    pg.close()
    assert not errors, errors


def _open(pg: Any, item: str) -> None:
    pg.goto(pg.url.split("#")[0] + f"#i={item}")
    pg.wait_for_selector(f"#item-{item}", state="visible")  # shown at the hashchange event


def _visible_ids(pg: Any) -> list[str]:
    return pg.eval_on_selector_all("#list .row:not([hidden])", "rs => rs.map(r => r.dataset.id)")


def _option_labels(pg: Any, name: str) -> dict[str, str]:
    return pg.eval_on_selector_all(
        f"#filters select[name={name}] option",
        "os => Object.fromEntries(os.map(o => [o.value, o.textContent]))")


def test_list_filters_and_counts(page: Any, records: list[dict], run_copy: Path) -> None:
    ids = [r["metadata"]["id"] for r in records]
    out_id = json.loads((run_copy / "export" / "failures.jsonl").read_text())["id"]
    assert sorted(_visible_ids(page)) == sorted([*ids, out_id])
    assert page.text_content("#shown") == f"{len(ids) + 1} of {len(ids) + 1} items shown"
    # The first page: the audit's verdict, thresholds and plots.
    assert page.locator("#overview table.thresholds tr").count() >= 6
    assert page.locator("#overview .plots img").count() >= 3
    assert page.evaluate("Array.from(document.querySelectorAll('#overview img'))"
                         ".every(i => i.complete && i.naturalWidth > 100)")
    types = [r["metadata"]["transcript_type"] for r in records]
    top = max(set(types), key=types.count)
    page.select_option("#filters select[name=type]", top)
    shown = _visible_ids(page)
    assert set(shown) - {out_id} == {i for i, t in zip(ids, types, strict=True) if t == top}
    assert _option_labels(page, "type")[top] == f"{top} ({len(shown)})"
    # Other filters count what they would leave under this one.
    assert _option_labels(page, "verdict")[""] == f"all ({len(_visible_ids(page))})"
    page.select_option("#filters select[name=type]", "")
    page.select_option("#filters select[name=check]", "asr_wer")
    assert _visible_ids(page) == [out_id]
    page.select_option("#filters select[name=check]", "__none")
    assert sorted(_visible_ids(page)) == sorted(ids)
    page.select_option("#filters select[name=check]", "")
    page.select_option("#filters select[name=status]", "failed")
    assert _visible_ids(page) == [out_id]
    page.click(f"#list .row[data-id='{out_id}'] a")
    sec = page.locator(f"#item-{out_id}")
    assert LEFT_OUT_REASON in sec.locator(".failure").text_content()
    assert sec.locator("table.checks tr.failed").count() == 1
    page.select_option("#filters select[name=status]", "")
    kind = records[0]["key_detail"]["kind"]
    page.select_option("#filters select[name=kind]", kind)
    assert ids[0] in _visible_ids(page)
    assert all(page.get_attribute(f"#list .row[data-id='{i}']", "data-kind") == kind
               for i in _visible_ids(page))


def test_clicking_a_sentence_seeks_and_the_key_button_plays_the_key_alone(
        page: Any, records: list[dict]) -> None:
    rec = records[1]
    item, (start, end) = rec["metadata"]["id"], rec["timestamps"]["key_sentence"]
    _open(page, item)
    sec = f"#item-{item}"
    key = page.locator(f"{sec} .sent.key")
    assert key.text_content() == rec["original_key_sentence"]
    assert rec["test_question"]["correct_answer"].endswith(
        page.locator(f"{sec} .choices li.correct").text_content().split(" ✓")[0][3:])
    key.click()
    audio = f"document.querySelector('{sec} audio.main')"
    page.wait_for_function(f"() => {audio}.readyState >= 1 && !{audio}.seeking")
    now = page.evaluate(f"{audio}.currentTime")
    assert start - 0.01 <= now < start + 1.5, (now, start)
    # Another sentence: the player moves there (the server answers byte ranges).
    first = page.locator(f"{sec} .sent").first
    first.click()
    page.wait_for_function(f"() => !{audio}.seeking && {audio}.currentTime < {start}")
    # The key button: from the key's start, paused at its end (played 16x to stay quick).
    page.evaluate(f"{audio}.pause(); {audio}.playbackRate = 16")
    page.click(f"{sec} .play-key")
    page.wait_for_function(f"() => {audio}.paused && {audio}.currentTime > {start}",
                           timeout=5000)
    stopped = page.evaluate(f"{audio}.currentTime")
    assert end - 0.05 <= stopped < end + 0.6, (stopped, end)


def test_verdicts_round_trip_to_reviews_jsonl_and_reroll_rejected(
        page: Any, records: list[dict], run_copy: Path, small_run: RunResult,
        tmp_path: Path) -> None:
    accept_id, reject_id = records[2]["metadata"]["id"], records[3]["metadata"]["id"]
    _open(page, accept_id)
    saved = "[data-saved]"
    page.keyboard.press("a")
    page.wait_for_selector(f"#item-{accept_id} .verdict{saved}")
    page.keyboard.press("j")
    page.keyboard.press("k")
    assert page.url.endswith(f"#i={accept_id}")
    page.keyboard.press("j")
    assert page.url.endswith(f"#i={reject_id}")
    page.keyboard.press("r")
    page.wait_for_selector(f"#item-{reject_id} .verdict{saved}")
    page.keyboard.type("answer said twice")
    page.keyboard.press("Enter")
    page.wait_for_function(f"() => document.querySelector('#item-{reject_id} .vstatus').textContent"
                           ".startsWith('rejected')")
    page.wait_for_function(f"() => document.querySelector('#item-{reject_id} .note') !== "
                           "document.activeElement")
    rows = reviews.load(run_copy)
    seeds = {r["metadata"]["id"]: r["provenance"]["item_seed"] for r in records}
    assert rows[accept_id]["verdict"] == "accept" and rows[accept_id]["seed"] == seeds[accept_id]
    assert rows[reject_id] | {"at": None} == {"id": reject_id, "verdict": "reject",
                                              "note": "answer said twice",
                                              "seed": seeds[reject_id], "at": None}
    # Back from the file: a fresh page shows both verdicts and filters by them.
    page.reload()
    assert page.input_value(f"#item-{reject_id} .note") == "answer said twice"
    assert page.get_attribute(f"#item-{reject_id} .reject", "aria-pressed") == "true"
    page.select_option("#filters select[name=verdict]", "reject")
    assert _visible_ids(page) == [reject_id]
    page.select_option("#filters select[name=verdict]", "")
    shot = tmp_path / "review.png"
    page.screenshot(path=str(shot), full_page=False)
    assert shot.stat().st_size > 30_000
    # `reroll --rejected` picks exactly the rejected item, and no longer once it is re-seeded.
    chosen = select(small_run.items, run_copy, Selection(rejected=True))
    assert [it.id for it in chosen] == [reject_id]
    reseeded = [replace(it, spec=replace(it.spec, seed=it.spec.seed + 1))
                if it.id == reject_id else it for it in small_run.items]
    assert select(reseeded, run_copy, Selection(rejected=True)) == []
    assert select(small_run.items, run_copy, Selection(rejected=True, type="lecture")) == [
        it for it in chosen if it.spec.type == "lecture"]
    _open(page, accept_id)
    page.keyboard.press("u")
    page.wait_for_function(f"() => document.querySelector('#item-{accept_id} .vstatus').textContent"
                           ".startsWith('cleared')")
    assert accept_id not in reviews.load(run_copy)


def test_reroll_rejected_needs_reviews(small_run: RunResult, tmp_path: Path) -> None:
    with pytest.raises(RerollError, match="reviews.jsonl: no reviews"):
        select(small_run.items, tmp_path, Selection(rejected=True))
    from pipeline.cli import build_parser

    args = build_parser().parse_args(["reroll", "--run", "x", "--rejected"])
    assert args.rejected is True


def test_confusers_named_by_a_record_are_highlighted() -> None:
    rec = {"metadata": {"id": "meeting_1"},
           "transcript": [{"speaker": "spk_1", "text": ["Ann sold 12 kegs.", "Bo sold 40 kegs."]},
                          {"speaker": "spk_2", "text": ["We sold 31 kegs.", "Fine."]}],
           "audio_data": {"key_sentences": {"indices": [2, 3]}},
           "test_question": {"question": "How many kegs did we sell?",
                             "choices": ["A. 12 kegs", "B. 31 kegs", "C. 40 kegs", "D. 9 kegs"],
                             "correct_answer": "B. 31 kegs"},
           "key_detail": {"kind": "quantity", "confusers": [{"value": "12 kegs"}, 1]}}
    it = view(rec, "exported", (None, None), None)
    flags = [(s["key"], s["confuser"]) for t in it["turns"] for s in t["sentences"]]
    assert flags == [(False, True), (False, True), (True, False), (False, False)]
    assert [c["confuser"] for c in it["question"]["choices"]] == [True, False, False, False]
    assert it["decile"] == 5 and it["has_confusers"]


def test_first_page_says_when_there_is_no_audit(run_copy: Path, tmp_path: Path) -> None:
    bare = tmp_path / "bare"
    shutil.copytree(run_copy, bare, copy_function=os.link, ignore=shutil.ignore_patterns("audit"))
    html = render(load_run(bare), "server")
    assert 'id="no-audit"' in html and "<img" not in html
    html = render(load_run(bare, run_copy / "export" / "audit"), "server")  # --audit DIR
    assert 'id="no-audit"' not in html and 'src="audit/letters.png"' in html


def test_reviews_file_is_checked_line_by_line(tmp_path: Path) -> None:
    row = reviews.record(tmp_path, "lecture_1", "reject", " too easy ", 5)
    assert row is not None and row["note"] == "too easy"
    assert reviews.rejected_ids(reviews.load(tmp_path), {"lecture_1": 5}) == {"lecture_1"}
    assert reviews.rejected_ids(reviews.load(tmp_path), {"lecture_1": 6}) == set()
    with pytest.raises(reviews.ReviewError, match="verdict 'maybe'"):
        reviews.record(tmp_path, "lecture_1", "maybe")
    (tmp_path / "reviews.jsonl").write_text('{"id": "a", "verdict": "accept"}\n'
                                            '{"id": "b", "verdict": "meh"}\n')
    with pytest.raises(reviews.ReviewError, match=r"reviews.jsonl:2: 'verdict' of b"):
        reviews.load(tmp_path)


def test_server_takes_verdicts_only_from_its_page(server: ReviewServer) -> None:
    def post(body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        conn.request("POST", "/api/verdict", body, headers)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())

    good = {"Content-Type": "application/json", "X-Spiral-Review": "1"}
    body = json.dumps({"id": "nope_9", "verdict": "reject"}).encode()
    assert post(body, {"Content-Type": "text/plain"})[0] == 403
    assert post(body, {**good, "Host": "evil.example:80"})[0] == 403
    status, answer = post(body, good)
    assert status == 400 and "nope_9" in answer["error"]
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    conn.request("GET", "/../manifest.json")
    assert conn.getresponse().status == 404
    wav = next(u for u in server.run.files if u.startswith("audio/wavs/"))
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    conn.request("GET", "/" + wav, headers={"Range": "bytes=100-199"})
    resp = conn.getresponse()
    assert resp.status == 206 and len(resp.read()) == 100
    assert resp.getheader("Content-Range").startswith("bytes 100-199/")


def test_static_copy_opens_without_a_server(browser: Any, run_copy: Path,
                                            records: list[dict], tmp_path: Path) -> None:
    out = tmp_path / "static"
    export_static(load_run(run_copy), out)
    html = (out / "index.html").read_text(encoding="utf-8")
    assert "http://" not in html and "https://" not in html  # no CDN, nothing fetched
    for rec in records:
        assert (out / "audio" / "wavs" / rec["audio_data"]["combined"]["audio_files"][0]).is_file()
    before = reviews.path(run_copy).read_bytes() if reviews.path(run_copy).exists() else None
    pg = browser.new_page()
    requests: list[str] = []
    pg.on("request", lambda r: requests.append(r.url))
    item = records[0]["metadata"]["id"]
    pg.goto(out.as_uri() + f"/index.html#i={item}")
    assert "localStorage" in pg.text_content("#static-banner")
    pg.keyboard.press("a")
    pg.wait_for_selector(f"#item-{item} .verdict[data-saved]")
    pg.reload()
    assert pg.get_attribute(f"#item-{item} .accept", "aria-pressed") == "true"
    with pg.expect_download() as dl:
        pg.click("#download")
    got = {(row := json.loads(line))["id"]: row
           for line in Path(dl.value.path()).read_text().splitlines()}
    assert got[item]["verdict"] == "accept"
    assert got[item]["seed"] == records[0]["provenance"]["item_seed"]  # exact past 2**53
    pg.close()
    assert all(u.startswith("file://") for u in requests), requests
    after = reviews.path(run_copy).read_bytes() if reviews.path(run_copy).exists() else None
    assert after == before


def _review(tmp: Path, *args: str) -> list[str]:
    return ["review", "--config", str(ROOT / "spiral.yaml"), "--set", f"output_root={tmp}",
            *args]


def test_bad_input_gets_one_line_and_exit_2(run_copy: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    def served(self: ReviewServer, *args: Any) -> None:
        pytest.fail("the server started despite the bad input")

    monkeypatch.setattr(ReviewServer, "serve_forever", served)  # fail, never hang
    def error(*args: str, root: Path = run_copy.parent) -> str:
        assert main(_review(root, *args)) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("spiral review: error: "), err
        return err

    assert "run 'nope'" in error("--run", "nope")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert f"--port {port}: already in use" in error("--run", "small", "--port", str(port))
    silent = tmp_path / "silent"
    shutil.copytree(run_copy, silent, copy_function=os.link)
    shutil.rmtree(silent / "export" / "wavs")
    err = error("--run", "silent", root=tmp_path)
    assert "audio of" in err and "export/wavs/" in err
    assert "export folder" in error("--run", "small", "--out", str(run_copy / "export" / "x"))


def test_page_reads_as_words_and_players_say_their_length(
        browser: Any, run_copy: Path, records: list[dict], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The difficulty tag was raw JSON (`\\u003e= 3 of 4` shown literally), the key wav's
    label sat under its player, players read 0:00 / 0:00 until played, and the static
    banner named `small/reviews.jsonl` for a run in data/runs/small."""
    from pipeline.review.data import clock
    from pipeline.review.render import run_path

    run_dir = tmp_path / "runs" / "tagged"
    shutil.copytree(run_copy, run_dir, copy_function=os.link)
    rec = records[0]
    item = rec["metadata"]["id"]
    rule = "hard: wrong in the original order; too_easy: blind right in >= 3 of 4 rotations"
    (run_dir / "baseline").mkdir(exist_ok=True)
    (run_dir / "baseline" / "difficulty.jsonl").write_text(json.dumps({
        "id": item, "hard": False, "too_easy": False, "model": "cascade (offline proxy)",
        "proxy": True, "original_correct": True, "rotations_correct": 4,
        "blind_rotations_correct": 0, "rule": rule}) + "\n")
    out = tmp_path / "static"
    export_static(load_run(run_dir), out)
    pg = browser.new_page(viewport={"width": 1400, "height": 900})
    pg.goto(out.as_uri() + f"/index.html#i={item}")
    sec = f"#item-{item}"
    pg.wait_for_selector(sec, state="visible")
    tag = pg.text_content(f"{sec} table.tag")
    assert rule in tag and "\\u003e" not in tag and "{" not in tag
    assert "rotations right with no audio0 of 4" in tag.replace("\n", "")
    assert "offline proxyyes" in tag.replace("\n", "")
    label = pg.locator(f"{sec} .keywav-label").bounding_box()
    player = pg.locator(f"{sec} audio.keywav").bounding_box()
    assert label["x"] + label["width"] <= player["x"]  # beside it, before it
    middle = label["y"] + label["height"] / 2
    assert player["y"] <= middle <= player["y"] + player["height"]
    key_len = rec["timestamps"]["key_sentence"][1] - rec["timestamps"]["key_sentence"][0]
    assert pg.text_content(f"{sec} .player .dur") == clock(rec["duration"])
    assert pg.text_content(f"{sec} .keywav-row .dur") == clock(key_len)
    main_audio = f"document.querySelector('{sec} audio.main')"
    pg.wait_for_function(f"() => {main_audio}.readyState >= 1", timeout=5000)
    assert abs(pg.evaluate(f"{main_audio}.duration") - rec["duration"]) < 0.1
    banner = pg.text_content("#static-banner")
    assert f"{run_dir.resolve()}/reviews.jsonl" in banner
    pg.close()
    monkeypatch.chdir(tmp_path)
    assert run_path(load_run(run_dir)) == "runs/tagged"
