"""`spiral eval`: letter reading, circular scoring, sources, reports, tags, and the whole path
over HTTP with the audio as `input_audio` against the offline server."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from pipeline.cli import main
from pipeline.core import difficulty
from pipeline.eval.backends import Answers, BackendError, ModelSpec, parse_model, wav16k
from pipeline.eval.protocol import parse_letter, parse_prompt, render, rotation
from pipeline.eval.report import wilson
from pipeline.eval.run import run_eval
from pipeline.eval.sources import EvalItem, SourceError, load_source
from pipeline.orchestration.runner import RunResult
from pipeline.testing.offline_server import OfflineLLMServer
from tests.conftest import ROOT, make_config

CHOICES = ["12", "12 km", "Paris", "the red door"]


@pytest.mark.parametrize("reply,want", [
    ("B", 1), ("B.", 1), ("(C)", 2), (" D) the red door", 3), ("A: 12", 0),
    ("The answer is B", 1), ("Answer: (C)", 2), ("The correct option is D.", 3),
    ("12 km", 1),  # a choice's text; "12" inside "12 km" yields to the longer one
    ("I think it is Paris.", 2), ("A good guess is C", 2),  # "A" the article
    ("the answer is a bit unclear", None), ("A and B", None), ("Paris or 12 km", None),
    ("", None), ("I cannot hear the audio.", None), ("Because of the door", None),
])
def test_letters_are_read_robustly_and_unreadable_ones_are_none(reply: str,
                                                                want: int | None) -> None:
    assert parse_letter(reply, CHOICES) == want


def test_prompt_round_trips_and_rotations_cover_every_position() -> None:
    text = render("Which one?", ["A. 12", "B. 12 km", "C. Paris", "D. the red door"])
    assert parse_prompt(text) == ("Which one?", CHOICES)
    assert parse_prompt("Which one?\nA. x\nB. y") is None
    shown = [[CHOICES[i] for i in rotation(k)] for k in range(4)]
    assert {s.index("Paris") for s in shown} == {0, 1, 2, 3}


def test_wilson_interval() -> None:
    assert wilson(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    lo, hi = wilson(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=1e-4)


def copy_run(small_run: RunResult, tmp: Path, name: str = "ev") -> Path:
    """The shared run's manifest and export (no hf/) under `tmp/name`: a run to write into."""
    src = small_run.ctx.run_dir
    dst = tmp / name
    shutil.copytree(src / "export", dst / "export", ignore=shutil.ignore_patterns("hf"))
    shutil.copy(src / "manifest.json", dst / "manifest.json")
    return dst


class Fake:
    """A local backend answering by rule: `audio` and `blind` map an item to a reply
    function of the choices as shown."""

    def __init__(self, audio: Any, blind: Any = None) -> None:
        self.audio, self.blind, self.calls = audio, blind, 0

    def answer(self, item: EvalItem, orders: list[list[str]], audio: bool) -> Answers:
        self.calls += 1
        rule = self.audio if audio else self.blind
        return Answers([rule(item, shown) for shown in orders])


def right_text(item: EvalItem, shown: list[str]) -> str:
    return item.rec["test_question"]["correct_answer"][3:]


def test_circular_scoring_letter_bias_side_by_side_and_resume(small_run: RunResult,
                                                              tmp_path: Path) -> None:
    run_dir = copy_run(small_run, tmp_path)
    cfg = make_config(tmp_path)
    recs = [json.loads(x) for x in (run_dir / "export" / "data.jsonl").read_text().splitlines()]
    n = len(recs)
    always_b = Fake(lambda item, shown: "B")
    rep = run_eval(cfg, "ev", ModelSpec("qwen2-audio", "always-b"), backend=always_b,
                   quiet=True)
    n_b = sum(r["test_question"]["correct_answer"][0] == "B" for r in recs)
    assert rep["plain"]["k"] == n_b and rep["circular"]["k"] == 0  # bias is not skill
    assert rep["letters_picked"] == {"A": 0, "B": 4 * n, "C": 0, "D": 0}
    assert rep["all_rotations"]["k"] == n and always_b.calls == n
    oracle = Fake(lambda item, shown:
                  f"The answer is {'ABCD'[shown.index(right_text(item, shown))]}.")
    rep2 = run_eval(cfg, "ev", ModelSpec("qwen2-audio", "oracle"), backend=oracle, quiet=True)
    assert rep2["plain"]["k"] == rep2["circular"]["k"] == n and rep2["unreadable"] == 0
    out = run_dir / "eval" / "qwen2-audio-oracle"
    preds = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
    assert [p["id"] for p in preds] == [r["metadata"]["id"] for r in recs]
    assert sum(row["plain"]["n"] for row in rep2["by"]["depth"]) == n
    for png in ("accuracy_by_depth.png", "accuracy_by_duration.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    assert "| plain - circular gap | 0.0 points |" in (out / "report.md").read_text()
    table = (run_dir / "eval" / "models.md").read_text()
    assert "always-b" in table and "oracle" in table
    # rerun: every answer from the per-item cache, the backend is never asked
    again = Fake(lambda item, shown: "C")
    rep3 = run_eval(cfg, "ev", ModelSpec("qwen2-audio", "oracle"), backend=again, quiet=True)
    assert again.calls == 0 and rep3["computed"] == 0 and rep3["plain"] == rep2["plain"]


def test_tags_name_their_model_and_proxy_tags_are_not_published_silently(
        small_run: RunResult, tmp_path: Path) -> None:
    run_dir = copy_run(small_run, tmp_path)
    cfg = make_config(tmp_path)
    first = json.loads((run_dir / "export" / "data.jsonl").read_text().splitlines()[0])
    first_id = first["metadata"]["id"]
    wrong_first = Fake(
        lambda item, shown: "unsure" if item.id == first_id else right_text(item, shown),
        # blind: right text for the first item only -> too_easy; "A" elsewhere: 1 of 4 right
        lambda item, shown: right_text(item, shown) if item.id == first_id else "A")
    spec = ModelSpec("openai", "audio-model")
    rep = run_eval(cfg, "ev", spec, tag=True, backend=wrong_first, quiet=True)
    assert rep["tags"]["hard"] == 1 and rep["tags"]["too_easy"] == 1
    tags = difficulty.load(run_dir)
    assert tags[first_id]["hard"] and tags[first_id]["too_easy"]
    assert tags[first_id]["blind_rotations_correct"] == 4
    assert not any(t["hard"] or t["too_easy"] for i, t in tags.items() if i != first_id)
    assert difficulty.definer(tags) == {"model": "openai:audio-model", "proxy": False}
    assert difficulty.publishable_hard(tags) == {first_id}
    # the same tags from the cascade are a proxy's: published only when asked
    run_eval(cfg, "ev", ModelSpec("cascade"), tag=True, backend=wrong_first, quiet=True)
    tags = difficulty.load(run_dir)
    assert difficulty.definer(tags)["proxy"] is True
    assert difficulty.publishable_hard(tags) is None
    assert difficulty.publishable_hard(tags, allow_proxy=True) == {first_id}
    with pytest.raises(Exception, match="--tag rewrites a run's difficulty tags"):
        run_eval(cfg, "ev", spec, tag=True, limit=2, backend=wrong_first, quiet=True)


def test_sources_resolve_like_spiral_and_errors_are_one_line(
        small_run: RunResult, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    export = small_run.ctx.run_dir / "export"
    recs = [json.loads(x) for x in (export / "data.jsonl").read_text().splitlines()]
    # the public release's layout: data.jsonl beside spiral/wavs, audio_folder "spiral/wavs"
    public = tmp_path / "public"
    (public / "spiral").mkdir(parents=True)
    (public / "spiral" / "wavs").symlink_to(export / "wavs")
    for r in recs:
        r["audio_data"]["combined"]["audio_folder"] = "spiral/wavs"
        for k in ("key_detail", "duration"):
            r.pop(k)
    (public / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    src = load_source(str(public), "default", tmp_path, limit=2)
    assert src.kind == "spiral" and len(src.items) == 2
    assert src.items[0].wav == public / "spiral" / "wavs" / recs[0]["audio_data"][
        "combined"]["audio_files"][0]
    assert src.items[0].duration > 30 and src.items[0].depth is not None
    assert src.eval_root == tmp_path / "public" / "eval"
    # the same records read from inside spiral/ resolve against the folder above
    shutil.copy(public / "data.jsonl", public / "spiral" / "data.jsonl")
    assert load_source(str(public / "spiral"), "default", tmp_path).items[1].wav.is_file()
    with pytest.raises(SourceError, match="no data_h.jsonl"):
        load_source(str(public / "spiral"), "hard", tmp_path)
    (public / "spiral" / "wavs").unlink()
    with pytest.raises(SourceError, match=rf"{recs[0]['metadata']['id']}\): audio not found"):
        load_source(str(public), "default", tmp_path)
    with pytest.raises(SourceError, match="not a run under"):
        load_source("no such thing", "default", tmp_path)
    # a qwen2-audio model must be named; the random one only on request
    with pytest.raises(BackendError, match="needs a local model folder"):
        parse_model("qwen2-audio")
    assert parse_model("qwen2-audio:tiny-random", "speechprune", 0.4).model_id == \
        "qwen2-audio-tiny-random-speechprune0.4"
    assert main(["eval", "--data", "x", "--model", "qwen2-audio", "--set",
                 f"output_root={tmp_path}"]) == 2
    err = capsys.readouterr().err
    assert "needs a local model folder" in err and len(err.strip().splitlines()) == 1


def test_qwen2_audio_tiny_random_runs_the_protocol_with_speechprune(
        small_run: RunResult, tmp_path: Path) -> None:
    copy_run(small_run, tmp_path)
    cfg = make_config(tmp_path)
    spec = parse_model("qwen2-audio:tiny-random", "speechprune", 0.4)
    rep = run_eval(cfg, "ev", spec, limit=1, quiet=True)
    assert rep["n_items"] == 1 and rep["answers"] == 4 and rep["unreadable"] == 0
    assert "random weights" in rep["label"]


def test_eval_over_http_with_input_audio_equals_the_cascade_and_reruns_free(
        small_run: RunResult, tmp_path: Path) -> None:
    run = copy_run(small_run, tmp_path)
    # Both paths hear the same samples: the wavs become what the HTTP backend sends (16 kHz
    # 16-bit), which it then sends unchanged (24 kHz float and its 16 kHz copy can differ in
    # a word or two of ASR, and so in the cascade's answer).
    for wav in (run / "export" / "wavs").glob("*.wav"):
        data = wav16k(wav)
        wav.write_bytes(data)
        assert wav16k(wav) == data
    with OfflineLLMServer(ROOT / "prompts", port=0, log=io.StringIO(),
                          audio_cache=tmp_path / "server") as srv:
        cfg = make_config(tmp_path, f"llm.base_url={srv.base_url}")
        spec = parse_model("openai:offline-cascade")
        rep = run_eval(cfg, "ev", spec, limit=1, quiet=True)
        evals = [r for r in srv.requests if r["task"] == "eval"]
        assert len(evals) == 4 and all(r["status"] == 200 for r in evals)
        # the server billed 25 tokens per second of audio it decoded from input_audio
        seconds = json.loads((tmp_path / "ev" / "export" / "data.jsonl").read_text()
                             .splitlines()[0])["duration"]
        assert rep["usage"]["prompt_tokens"] >= 4 * 25 * seconds * 0.95
        assert rep["usage"]["calls"] == 4 and rep["requests_this_run"] == 4
        assert rep["unreadable"] == 0
        # a rerun, even with the per-item results gone, is answered by the request cache
        shutil.rmtree(tmp_path / "ev" / "eval" / "openai-offline-cascade" / "items")
        again = run_eval(cfg, "ev", spec, limit=1, quiet=True)
        assert len([r for r in srv.requests if r["task"] == "eval"]) == 4
        assert again["requests_this_run"] == 0 and again["plain"] == rep["plain"]
    local = run_eval(make_config(tmp_path), "ev", parse_model("cascade"), limit=1, quiet=True)
    http = [json.loads(x) for x in (tmp_path / "ev" / "eval" / "openai-offline-cascade"
                                    / "predictions.jsonl").read_text().splitlines()]
    ours = [json.loads(x) for x in (tmp_path / "ev" / "eval" / "cascade"
                                    / "predictions.jsonl").read_text().splitlines()]
    assert [[r["choice"] for r in p["rotations"]] for p in http] == \
        [[r["choice"] for r in p["rotations"]] for p in ours]
    assert local["proxy"] and "OFFLINE PROXY" in (
        tmp_path / "ev" / "eval" / "cascade" / "report.md").read_text()


def test_eval_flags_mean_what_they_mean_elsewhere_and_errors_are_one_line(
        small_run: RunResult, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--config` is the YAML file, as in every command; the subset is `--subset`. A bad
    argument or model is one line and exit 2, never a usage block or a traceback."""
    copy_run(small_run, tmp_path)
    where = ["--data", "ev", "--set", f"output_root={tmp_path}", "--quiet"]
    bad = [
        (["--model", "cascade", "--limit", "abc"], "argument --limit: invalid int value"),
        (["--model", "cascade", "--subset", "easy"], "argument --subset: invalid choice"),
        (["--model", "cascade", "--config", "hard"], "the subset is --subset hard"),
        (["--model", "cascade:foo"], "--model cascade:foo: the cascade's ASR model must be"),
        (["--model", "cascade", "--config", str(tmp_path / "none.yaml")], "none.yaml"),
    ]
    for args, message in bad:
        with pytest.raises(SystemExit) if "argument" in message else _nothing() as exc:
            code = main(["eval", *where, *args])
        code = exc.value.code if exc is not None else code
        err = capsys.readouterr().err
        assert code == 2 and message in err, (args, err)
        assert err.count("\n") == 1 and "usage:" not in err and "Traceback" not in err, err
    assert main(["eval", *where, "--model", "cascade", "--subset", "hard"]) == 2
    assert "no difficulty tags, so no hard subset" in capsys.readouterr().err


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return False


def test_every_source_puts_its_results_in_one_place(small_run: RunResult,
                                                    tmp_path: Path) -> None:
    """`<output_root>/<name>/eval/[hard/]<model>/`: a run by its name, a published folder
    of a run as `<run>-<folder>`, a SPIRAL folder by its name; `<model>` is `--model` as
    written. Never a folder named `eval` among the runs."""
    run_dir = copy_run(small_run, tmp_path, "demo")
    cfg = make_config(tmp_path)
    oracle = Fake(lambda item, shown: "ABCD"[shown.index(right_text(item, shown))])
    rep = run_eval(cfg, "demo", parse_model("cascade"), limit=1, backend=oracle, quiet=True)
    assert rep["out"] == str(run_dir / "eval" / "cascade")
    hub = run_dir / "hub"
    (hub / "spiral").mkdir(parents=True)
    shutil.copy(run_dir / "export" / "data.jsonl", hub / "spiral" / "data.jsonl")
    (hub / "spiral" / "wavs").symlink_to(run_dir / "export" / "wavs")
    rep = run_eval(cfg, str(hub), parse_model("cascade"), limit=1, backend=oracle, quiet=True)
    assert rep["out"] == str(tmp_path / "demo-hub" / "eval" / "cascade")
    elsewhere = tmp_path / "downloads" / "spiralpub"
    elsewhere.mkdir(parents=True)
    shutil.copy(run_dir / "export" / "data.jsonl", elsewhere / "data.jsonl")
    (elsewhere / "wavs").symlink_to(run_dir / "export" / "wavs")
    rep = run_eval(cfg, str(elsewhere), parse_model("openai:m"), limit=1, backend=oracle,
                   quiet=True)
    assert rep["out"] == str(tmp_path / "spiralpub" / "eval" / "openai-m")
    assert not (tmp_path / "eval").exists()
    # a folder named like a run does not write into that run
    clash = tmp_path / "downloads" / "demo"
    shutil.copytree(elsewhere, clash, symlinks=True)
    with pytest.raises(Exception, match="belongs to the run demo"):
        run_eval(cfg, str(clash), parse_model("cascade"), limit=1, backend=oracle, quiet=True)


def test_tags_lapse_when_their_item_changes(small_run: RunResult, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """`eval --tag`, then `reroll --ids` of a hard item, then export, publish, review,
    `eval --subset hard` and `reroll --hard`: none of them still calls the rebuilt item hard
    (they all did: the tag named only the id)."""
    import pyarrow.parquet as pq

    from pipeline.engine.stage import Context
    from pipeline.orchestration import reseed
    from pipeline.orchestration.reroll import Selection, reroll, select
    from pipeline.orchestration.runner import run_pipeline
    from pipeline.publishing.publish import publish
    from pipeline.review.data import load_run
    from pipeline.stages import plan

    run_dir = tmp_path / "tg"
    shutil.copytree(small_run.ctx.run_dir, run_dir)
    cfg = make_config(tmp_path, "run=tg", "n_items=6", "seed=7")
    ids = [json.loads(x)["metadata"]["id"]
           for x in (run_dir / "export" / "data.jsonl").read_text().splitlines()]
    target, kept = ids[0], ids[1]
    wrong = Fake(lambda item, shown: "unsure" if item.id in (target, kept)
                 else right_text(item, shown), lambda item, shown: "A")
    run_eval(cfg, "tg", ModelSpec("openai", "m"), tag=True, backend=wrong, quiet=True)
    rows = difficulty.load_all(run_dir)
    assert rows[target]["seed"] is not None and len(rows[target]["content"]) == 16
    assert difficulty.hard_ids(difficulty.load(run_dir)) == {target, kept}
    capsys.readouterr()
    reroll(cfg, Selection(ids=[target]), quiet=True)
    err = capsys.readouterr().err
    assert "dropped the difficulty tags of 1 item(s)" in err and target in err
    assert difficulty.hard_ids(difficulty.load(run_dir)) == {kept}
    hard_lines = (run_dir / "export" / "data_h.jsonl").read_text().splitlines()
    assert [json.loads(x)["metadata"]["id"] for x in hard_lines] == [kept]
    publish(cfg)
    table = pq.read_table(sorted((run_dir / "hub" / "data" / "default").glob("*.parquet")),
                          columns=["metadata", "difficulty"]).to_pylist()
    tagged = {r["metadata"]["id"]: r["difficulty"] for r in table}
    assert tagged.get(target) is None and tagged[kept]["hard"] is True
    views = {it["id"]: it for it in load_run(run_dir).items}
    assert views[target]["tag"] == "untagged" and views[kept]["tag"] == "hard"
    assert [it.id for it in load_source("tg", "hard", tmp_path).items] == [kept]
    ctx = Context(cfg, quiet=True)
    voices = list(ctx.voices.values())
    items = reseed.apply(plan.run(cfg, ctx.topics, voices), run_dir, voices)
    assert [it.id for it in select(items, run_dir, Selection(hard=True))] == [kept]
    # nothing changed since: a rebuild keeps every current tag, silently
    run_pipeline(cfg, quiet=True)
    assert difficulty.hard_ids(difficulty.load(run_dir)) == {kept}


def test_plot_legend_covers_no_point_and_proxy_is_said_once() -> None:
    """The legend sat on the 100% points of deciles 0-2; the cascade's title read
    "(offline proxy) ... (proxy)"."""
    import matplotlib.pyplot as plt

    from pipeline.eval.report import _rate, figure, plot_title

    # points everywhere a legend inside the axes could go: 100% left, alternating right
    rows = [{"value": str(d), "plain": _rate([d < 3 or d % 2 == 1] * 5),
             "circular": _rate([d < 3] * 5)} for d in range(10)]
    fig = figure(rows, "t", "key-sentence depth decile")
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    (ax,) = fig.axes
    legend = ax.get_legend() or fig.legends[0]
    box = legend.get_window_extent(renderer)
    points = [ax.transData.transform(xy) for line in ax.lines for xy in line.get_xydata()]
    assert len(points) >= 20
    assert not [p for p in points if box.contains(*p)]
    assert not box.overlaps(ax.get_window_extent(renderer))
    plt.close(fig)
    cascade = {"label": parse_model("cascade").label, "proxy": True}
    assert plot_title(cascade).count("proxy") == 1
    assert plot_title({"label": "some model", "proxy": True}) == "some model (proxy)"
    assert plot_title({"label": "openai:m", "proxy": False}) == "openai:m"
