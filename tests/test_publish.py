"""`spiral publish`: parquet shards that decode alone, configs default/hard, the card, the
SPIRAL files beside them, errors that name what is wrong."""

from __future__ import annotations

import glob
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

from pipeline.cli import main
from pipeline.core import difficulty
from pipeline.core.errors import InfrastructureError
from pipeline.orchestration.runner import RunResult, run_pipeline
from pipeline.publishing import card
from pipeline.publishing.publish import PublishError, publish
from tests.conftest import make_config

HARD = ("meeting_0", "conversation_4")


def copy_run(small_run: RunResult, dest: Path) -> Path:
    """A private copy of the shared 6-item run, so publishing never touches the original."""
    run_dir = dest / "pub"
    shutil.copytree(small_run.ctx.run_dir, run_dir)
    return run_dir


def tag(run_dir: Path, hard: tuple[str, ...] = HARD, model: str = "openai:audio-model",
        proxy: bool = False) -> None:
    ids = [json.loads(line)["metadata"]["id"]
           for line in (run_dir / "export" / "data.jsonl").read_text().splitlines()]
    lines = [json.dumps({"id": i, "hard": i in hard, "too_easy": False, "accuracy": 0.25,
                         "model": model, "proxy": proxy}) for i in ids]
    (run_dir / "baseline").mkdir(exist_ok=True)
    (run_dir / "baseline" / "difficulty.jsonl").write_text("\n".join(lines) + "\n")


def plot(path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 2))
    ax.bar(["A", "B", "C", "D"], [1, 2, 3, 4])
    fig.savefig(path)
    plt.close(fig)
    return path


def front_matter(readme: Path) -> tuple[dict, str]:
    text = readme.read_text(encoding="utf-8")
    assert text.startswith("---\n")
    head, body = text[4:].split("\n---\n", 1)
    return yaml.safe_load(head), body


@pytest.fixture(scope="module")
def published(small_run: RunResult, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run tagged by a baseline, with an audit report, published in tiny shards."""
    run_dir = copy_run(small_run, tmp_path_factory.mktemp("publish"))
    tag(run_dir)
    plots = [plot(run_dir / "letters.png")]
    audit = ("# Audit\n\n| check | value |\n| --- | --- |\n| items | 6 |\n\n"
             "![letters](letters.png)\n")
    cfg = make_config(run_dir.parent, "run=pub", "publish.max_shard_mb=12",
                      "publish.row_group_mb=2")
    publish(cfg, None, audit, plots)
    return run_dir / "hub"


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_parquet_loads_offline_and_decodes_audio_with_no_other_file(
        published: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets

    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    for source in ("audio", "export/wavs", "export/key_wavs"):  # the source wavs are gone
        shutil.rmtree(published.parent / source)
    alone = tmp_path / "alone"
    shutil.copytree(published, alone, ignore=shutil.ignore_patterns("spiral"))
    src = records(published / "spiral" / "data.jsonl")
    ds = datasets.load_dataset(str(alone), split="test", cache_dir=str(tmp_path / "cache"))
    assert len(ds) == len(src) >= 5  # an item may use up its regenerations
    shards = sorted((alone / "data" / "default").glob("*.parquet"))
    assert len(shards) >= 2  # the shard size limit
    import pyarrow.parquet as pq

    groups = [pq.ParquetFile(f).metadata.num_row_groups for f in shards]
    assert sum(groups) > len(shards)  # row groups bounded by publish.row_group_mb
    for rec, row in zip(src, ds, strict=True):
        for fact in row["key_detail"]["facts"]:  # one struct of every slot name: None = absent
            fact["slots"] = {k: v for k, v in fact["slots"].items() if v is not None}
        for field in ("transcript", "original_key_sentence", "test_question", "metadata",
                      "timestamps", "voices", "duration", "key_detail"):
            assert row[field] == rec[field], field
        used = row["audio_data"]["combined"]["prompts_used"]
        assert {u["speaker"]: u["prompt"] for u in used} == \
            rec["audio_data"]["combined"]["prompts_used"]  # one entry per speaker, no padding
        assert row["audio_data"]["combined"]["audio_folder"] == "spiral/wavs"
        assert "ABCD"[row["answer_label"]] == rec["test_question"]["correct_answer"][0]
        assert json.loads(row["provenance"]) == rec["provenance"]
        assert {c.pop("name"): c for c in row["checks"]} == rec["checks"]
        assert row["difficulty"]["hard"] is (rec["metadata"]["id"] in HARD)
        assert json.loads(row["difficulty"]["details"]) == {
            "accuracy": 0.25, "model": "openai:audio-model", "proxy": False}
        wav = published / "spiral" / "wavs" / rec["audio_data"]["combined"]["audio_files"][0]
        expected, sr = sf.read(wav, dtype="int16")
        decoded = row["audio"].get_all_samples()
        assert decoded.sample_rate == sr == 24000
        got = np.round(decoded.data.numpy()[0] * 32768).astype(np.int64)
        assert np.array_equal(got, expected.astype(np.int64))  # lossless
        key = row["key_audio"].get_all_samples()
        start, end = rec["timestamps"]["key_sentence"]
        assert abs(key.data.shape[1] / sr - (end - start)) < 0.02
    hard = datasets.load_dataset(str(alone), "hard", split="test",
                                 cache_dir=str(tmp_path / "cache"))
    assert sorted(hard["metadata"], key=lambda m: m["id"])[0]["id"] in HARD
    assert sorted(m["id"] for m in hard["metadata"]) == sorted(HARD)
    stream = datasets.load_dataset(str(alone), split="test", streaming=True)
    assert [r["metadata"]["id"] for r in stream] == [r["metadata"]["id"] for r in src]


def test_card_yaml_parses_and_names_the_files_that_exist(published: Path) -> None:
    meta, body = front_matter(published / "README.md")
    assert meta["license"] == "cc-by-4.0" and "synthetic" in meta["tags"]
    assert meta["task_categories"] and meta["size_categories"] == ["n<1K"]
    parquet = {p.relative_to(published).as_posix() for p in published.rglob("*.parquet")}
    covered = set()
    for conf in meta["configs"]:
        for files in conf["data_files"]:
            found = {Path(p).relative_to(published).as_posix()
                     for p in glob.glob(str(published / files["path"]))}
            assert found, files["path"]
            covered |= found
    assert covered == parquet
    assert [c["config_name"] for c in meta["configs"]] == ["default", "hard"]
    infos = {i["config_name"]: i for i in meta["dataset_info"]}
    assert infos["default"]["splits"][0]["num_examples"] == len(
        records(published / "spiral" / "data.jsonl"))
    assert infos["hard"]["splits"][0]["num_examples"] == len(HARD)
    for name, info in infos.items():
        on_disk = sum(p.stat().st_size for p in (published / "data" / name).glob("*"))
        assert info["download_size"] == on_disk
    names = {f["name"] for f in infos["default"]["features"]}
    assert {"transcript", "test_question", "audio_data", "metadata", "timestamps", "voices",
            "duration", "checks", "difficulty", "provenance", "audio"} <= names
    images = [m for m in body.split("](")[1:] if m.split(")")[0].endswith(".png")]
    assert images
    for ref in images:
        assert (published / ref.split(")")[0]).is_file()
    for must in ("2412.12009", "## Audit", "espeak-ng", "seed", "offline writer",
                 "`hard` config holds the 2 items that `openai:audio-model` answered"):
        assert must in body, must
    gen = yaml.safe_load((published / "generation" / "spiral.yaml").read_text())
    assert gen["seed"] == 7 and gen["n_items"] == 6 and gen["output_root"] == "data/runs"


def test_spiral_files_beside_the_parquet(published: Path) -> None:
    spiral = published / "spiral"
    data = (spiral / "data.jsonl").read_text().splitlines(keepends=True)
    hard = (spiral / "data_h.jsonl").read_text().splitlines(keepends=True)
    assert len(hard) == len(HARD) and all(line in data for line in hard)
    for rec in records(spiral / "data.jsonl"):
        assert (spiral / "wavs" / rec["audio_data"]["combined"]["audio_files"][0]).is_file()
        assert (spiral / "key_wavs" / rec["audio_data"]["key_sentences"]["audio_file"]).is_file()


def test_export_writes_the_hard_subset_once_tagged(small_run: RunResult, tmp_path: Path) -> None:
    run_dir = copy_run(small_run, tmp_path)
    cfg = make_config(tmp_path, "run=pub", "n_items=6", "seed=7")
    tag(run_dir, model="cascade (offline proxy)", proxy=True)
    run_pipeline(cfg, quiet=True)
    assert not (run_dir / "export" / "data_h.jsonl").exists()  # a proxy's tags: not asked for
    tag(run_dir)
    result = run_pipeline(cfg, quiet=True)
    assert result.ctx.stats["synthesize"]["computed"] == 0  # only the export is redone
    export = run_dir / "export"
    data = (export / "data.jsonl").read_text().splitlines(keepends=True)
    hard = (export / "data_h.jsonl").read_text().splitlines(keepends=True)
    assert [json.loads(h)["metadata"]["id"] for h in hard] == [
        json.loads(d)["metadata"]["id"] for d in data if json.loads(d)["metadata"]["id"] in HARD]
    assert all(h in data for h in hard)


def test_untagged_run_has_no_hard_config_and_publishing_is_deterministic(
        small_run: RunResult, tmp_path: Path) -> None:
    run_dir = copy_run(small_run, tmp_path)
    cfg = make_config(tmp_path, "run=pub")
    first = publish(cfg)
    meta, body = front_matter(run_dir / "hub" / "README.md")
    assert [c["config_name"] for c in meta["configs"]] == ["default"]
    assert not (run_dir / "hub" / "spiral" / "data_h.jsonl").exists()
    assert "no `hard` config" in body and "No audit report" in body
    snapshot = {p: p.read_bytes() for p in first.files}
    (run_dir / ".hub-killed").mkdir()  # what a publish killed mid-way leaves
    second = publish(cfg)
    assert not (run_dir / ".hub-killed").exists()
    assert second.files == first.files
    assert all(p.read_bytes() == snapshot[p] for p in second.files)
    # The previous publish stays whole when a new one fails.
    (run_dir / "baseline").mkdir()
    (run_dir / "baseline" / "difficulty.jsonl").write_text('{"id": "meeting_0", "hard": 1}\n')
    with pytest.raises(difficulty.DifficultyError, match=r"difficulty.jsonl:1: 'hard'"):
        publish(cfg)
    assert all(p.read_bytes() == snapshot[p] for p in first.files)


def test_bad_input_names_the_file_or_item(small_run: RunResult, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(PublishError, match="no export to publish"):
        publish(make_config(tmp_path, "run=nothing"))
    run_dir = copy_run(small_run, tmp_path)
    rec = records(run_dir / "export" / "data.jsonl")[2]
    wav = rec["audio_data"]["combined"]["audio_files"][0]
    (run_dir / "export" / "wavs" / wav).unlink()
    # Not bad input: the run's own export is damaged (issue #25.5), and `spiral run` repairs it.
    with pytest.raises(InfrastructureError, match=rf"{wav}: missing since the export"):
        publish(make_config(tmp_path, "run=pub"))
    assert main(["publish", "--run", "pub", "--set", f"output_root={tmp_path}",
                 "--config", str(Path(__file__).parents[1] / "spiral.yaml")]) == 1
    assert f"{wav}" in capsys.readouterr().err


def test_audio_licence_follows_the_speech_model() -> None:
    from pipeline.core.config import TTSConfig
    from pipeline.tts.licences import audio_licence

    policy = audio_licence(TTSConfig(backend="coqui", model="xtts_v2"))
    assert policy.card_fields == card.CPML and "non-commercial" in policy.text
    policy = audio_licence(TTSConfig(backend="espeak"))
    assert policy.card_fields is None and "espeak-ng" in policy.text
    assert card.redact_url("https://user:pw@llm.example:8443/v1?key=abc") == \
        "https://llm.example:8443/v1"


@pytest.mark.parametrize(("override", "key"), [
    ("publish.folder=export", "publish.folder"),
    ("publish.audio_format=mp3", "publish.audio_format"),
    ("publish.max_shard_mb=0", "publish.max_shard_mb"),
])
def test_publish_config_is_checked(override: str, key: str, tmp_path: Path) -> None:
    from pipeline.core.config import ConfigError

    with pytest.raises(ConfigError, match=rf"'{key}' must be"):
        make_config(tmp_path, override)


def test_card_names_the_model_behind_hard_and_flags_a_proxy() -> None:
    from types import SimpleNamespace

    from pipeline.publishing.publish import Subset

    hard = Subset("hard", ["a", "b"], "x", num_examples=2)
    named = SimpleNamespace(tagged=True, subsets=[hard], unknown_tags=[],
                            hard_by={"model": "openai:audio-model", "proxy": False})
    text = card._difficulty(named)
    assert "2 items that `openai:audio-model` answered wrongly" in text
    assert "offline proxy" not in text
    asked = SimpleNamespace(**{**vars(named), "hard_by": {"model": "cascade", "proxy": True}})
    assert "defined by an offline proxy" in card._difficulty(asked)
    withheld = SimpleNamespace(**{**vars(asked), "subsets": []})
    assert "not published as a `hard` config" in card._difficulty(withheld)


def test_every_card_sentence_about_the_data_agrees_with_it(
        small_run: RunResult, tmp_path: Path) -> None:
    """The card said "Each answer is one short detail (a number, date, ...)" beside phrase
    answers, and "the share ... was not recorded" beside `rejected_attempts: 0`."""
    import re
    from collections import Counter

    run_dir = copy_run(small_run, tmp_path)
    recs = records(run_dir / "export" / "data.jsonl")
    answers = [r["test_question"]["correct_answer"][3:] for r in recs]
    phrases = [a for a in answers if len(a.split()) >= 3]
    if not phrases:  # the shared run's answers: make one a phrase, as 5 of 12 were
        rec = recs[0]
        q = rec["test_question"]
        old = q["correct_answer"]
        new = old[:3] + "moved the launch back a week"
        q["choices"] = [new if c == old else c for c in q["choices"]]
        q["correct_answer"] = new
        (run_dir / "export" / "data.jsonl").write_text(
            "".join(json.dumps(r) + "\n" for r in recs))
        answers = [r["test_question"]["correct_answer"][3:] for r in recs]
        phrases = [a for a in answers if len(a.split()) >= 3]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    (run_dir / "rejections.jsonl").unlink(missing_ok=True)  # a build no gate rejected
    manifest["counts"]["rejected_attempts"] = 0
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    cfg = make_config(tmp_path, "run=pub")
    publish(cfg, quiet=True)
    text = (run_dir / "hub" / "README.md").read_text()
    assert "Each answer is one short detail" not in text
    assert f"Of the {len(answers)} answers, {len(answers) - len(phrases)} are short details" \
        in text and f"{len(phrases)} are phrases of 3 or more words" in text
    assert f"e.g. `{phrases[0]}`" in text
    assert "was not recorded" not in text
    assert f"no attempt was rejected by a gate ({len(recs)} attempts)" in text
    types = sorted({r["metadata"]["transcript_type"] for r in recs})
    assert f"of spoken {types[0]}" in text and all(t in text.split("hides")[0] for t in types)
    kinds = Counter(r["key_detail"]["kind"] for r in recs)
    intro = text.split("## Contents")[0]
    assert all(k in intro for k in kinds)
    assert "no audit to show how well they are" in intro  # no audit was given
    assert "hard` config separately" not in text  # untagged: no hard config to report
    # rejections recorded: the count and share as they are
    manifest["counts"]["rejected_attempts"] = 3
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    publish(cfg, quiet=True)
    text = (run_dir / "hub" / "README.md").read_text()
    n = len(recs) + 3
    assert re.search(rf"3 of {n} generated attempts \({100 * 3 / n:.1f}%\) were rejected", text)
