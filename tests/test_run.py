"""End-to-end runs with real espeak-ng audio: export format, timestamps, cache, resume."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf

from pipeline.orchestration.runner import RunResult, run_pipeline
from tests.conftest import ROOT, make_config

SPIRAL_KEYS = {"transcript", "original_key_sentence", "test_question", "metadata", "audio_data"}


def records(export: Path) -> list[dict]:
    return [json.loads(line) for line in (export / "data.jsonl").read_text().splitlines()]


def test_export_has_every_spiral_field_with_its_meaning(small_run: RunResult) -> None:
    export = small_run.ctx.run_dir / "export"
    recs = records(export)
    assert len(recs) == len(small_run.built) >= 5  # an item may use up its regenerations
    for r in recs:
        assert SPIRAL_KEYS <= set(r)
        q = r["test_question"]
        assert [c[:3] for c in q["choices"]] == ["A. ", "B. ", "C. ", "D. "]
        assert q["correct_answer"] in q["choices"]
        meta = r["metadata"]
        assert meta["id"] == f"{meta['transcript_type']}_{meta['id'].split('_')[1]}"
        key, comb = r["audio_data"]["key_sentences"], r["audio_data"]["combined"]
        flat = [s for t in r["transcript"] for s in t["text"]]
        assert comb["sentences"] == flat
        start, end = key["indices"]
        assert flat[start:end] == [r["original_key_sentence"]] == [key["text"]]
        assert set(comb["prompts_used"]) == {t["speaker"] for t in r["transcript"]}
        assert (export / "wavs" / comb["audio_files"][0]).exists()
        assert (export / "key_wavs" / key["audio_file"]).exists()
        assert all(c["ok"] for c in r["checks"].values())
        assert r["provenance"]["run_seed"] == 7


def test_timestamps_match_the_audio(small_run: RunResult) -> None:
    export = small_run.ctx.run_dir / "export"
    for r in records(export):
        audio, sr = sf.read(export / "wavs" / r["audio_data"]["combined"]["audio_files"][0])
        key_audio, key_sr = sf.read(export / "key_wavs" / r["audio_data"]["key_sentences"]
                                    ["audio_file"])
        assert sr == key_sr == 24000 and audio.ndim == 1
        start, end = r["timestamps"]["key_sentence"]
        cut = audio[round(start * sr): round(end * sr)]
        assert abs(len(cut) - len(key_audio)) / sr <= 0.010
        assert np.allclose(cut[: len(key_audio)], key_audio[: len(cut)])
        times = r["timestamps"]["sentences"]
        assert len(times) == len(r["audio_data"]["combined"]["sentences"])
        assert all(a[1] <= b[0] for a, b in zip(times, times[1:], strict=False))
        assert times[-1][1] <= len(audio) / sr + 1e-3
        assert abs(len(audio) / sr - r["duration"]) < 1e-3 and 80 <= r["duration"] <= 100
        loud = pyloudnorm.Meter(sr).integrated_loudness(audio)
        assert abs(loud + 23.0) < 0.5


def test_saved_dataset_decodes_audio_without_the_wavs(small_run: RunResult,
                                                      tmp_path: Path) -> None:
    import datasets

    copy = tmp_path / "hf"
    shutil.copytree(small_run.ctx.run_dir / "export" / "hf", copy)
    ds = datasets.load_from_disk(str(copy))
    assert len(ds) == len(small_run.built)
    row = ds[0]
    samples = row["audio"].get_all_samples()
    assert samples.sample_rate == 24000
    assert abs(samples.data.shape[-1] / 24000 - row["duration"]) < 0.01
    key = row["key_audio"].get_all_samples()
    start, end = row["timestamps"]["key_sentence"]
    assert abs(key.data.shape[-1] / 24000 - (end - start)) < 0.01
    assert row["test_question"]["correct_answer"] in row["test_question"]["choices"]


def test_rerun_does_no_work_and_question_edit_skips_tts(tmp_path: Path) -> None:
    prompts = tmp_path / "prompts"
    shutil.copytree(ROOT / "prompts", prompts)
    cfg = make_config(tmp_path, "run=cache", "n_items=3", f"prompts_dir={prompts}")
    run_pipeline(cfg, quiet=True)
    again = run_pipeline(cfg, quiet=True)
    assert all(st["computed"] == 0 for st in again.ctx.stats.values()), again.ctx.stats
    stems = prompts / "offline_questions.yaml"
    stems.write_text(re.sub(r"(?m)^(\w+): (?!\d)", r"\1: Tell me, ", stems.read_text()))
    for bank in (prompts / "fact_bank").glob("*/*.yaml"):  # a bank fact's own question
        bank.write_text(re.sub(r"(?m)^(\s+ask: )", r"\1Tell me, ", bank.read_text()))
    edited = run_pipeline(cfg, quiet=True)
    st = edited.ctx.stats
    assert st["synthesize"]["computed"] == 0 and st["synthesize"]["cached"] == 3
    assert st["script"]["computed"] == 0 and st["plant"]["computed"] == 0
    assert st["question"]["computed"] >= 1 and st["validate"]["computed"] >= 1
    assert all(r["test_question"]["question"].startswith("Tell me, ")
               for r in records(cfg.run_dir / "export"))


def test_a_bank_missing_a_stem_stops_the_run_before_any_item(tmp_path: Path) -> None:
    # A stem missing from the bank used to fail every item of that kind at the question
    # stage (and re-seed it); it is a bad file, found by the preflight before any work.
    from pipeline.core.resources import ResourceError

    prompts = tmp_path / "prompts"
    shutil.copytree(ROOT / "prompts", prompts)
    stems = prompts / "offline_questions.yaml"
    stems.write_text("\n".join(line for line in stems.read_text().splitlines()
                               if not line.startswith("time_")) + "\n")
    cfg = make_config(tmp_path, "run=fail", "n_items=2", f"prompts_dir={prompts}")
    with pytest.raises(ResourceError, match=rf"{stems}: field 'time_\w+': missing"):
        run_pipeline(cfg, quiet=True)
    assert not (cfg.run_dir / "script").exists()


def test_same_seed_gives_the_same_bytes(small_run: RunResult, tmp_path: Path) -> None:
    cfg = make_config(tmp_path, "run=small", "n_items=6", "seed=7")
    run_pipeline(cfg, quiet=True)
    a, b = small_run.ctx.run_dir / "export", cfg.run_dir / "export"
    assert (a / "data.jsonl").read_bytes() == (b / "data.jsonl").read_bytes()
    for wav in sorted((a / "wavs").iterdir()):
        assert wav.read_bytes() == (b / "wavs" / wav.name).read_bytes()


def test_sigkill_during_synthesis_then_resume_loses_nothing(small_run: RunResult,
                                                            tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "pipeline.cli", "run", "--quiet", "--run", "small",
           "--n", "6", "--seed", "7", "--set", f"output_root={tmp_path}",
           "--set", "tts.workers=1", "--config", str(ROOT / "spiral.yaml")]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    synth = tmp_path / "small" / "synthesize"
    deadline = time.time() + 300  # the pre-check's ASR comes first
    while time.time() < deadline and len(list(synth.glob("*.json"))) < 2:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = len(list(synth.glob("*.json")))
    assert 2 <= done_before < 6, "the kill must land in the middle of synthesis"
    assert not (tmp_path / "small" / "export" / "data.jsonl").exists()
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    a = small_run.ctx.run_dir / "export" / "data.jsonl"
    b = tmp_path / "small" / "export" / "data.jsonl"
    assert a.read_bytes() == b.read_bytes()
    assert not list((tmp_path / "small").rglob("*.tmp"))


def test_one_rejection_is_counted_once_and_shown_as_it_happens(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """An item the pre-check rejects was counted three times (`precheck 1 failed`,
    `synthesize 1 failed`, `validate 1 rejected`), the bars read [k/7] beside 8 listed stages,
    and a rejection showed only in the summary, at the end."""
    from pipeline.core.records import Check
    from pipeline.orchestration import precheck
    from pipeline.orchestration.runner import summary
    from pipeline.stages import validate
    from tests.test_regenerate import _fake_gates

    def draws(item, ctx):  # noqa: ANN001, ANN202 - item 0's key is never heard
        return [Check("asr_answer", item.spec.index != 0, "answer not heard (test)")]

    monkeypatch.setattr(precheck, "draw_checks", draws)
    monkeypatch.setattr(validate, "gate_checks", _fake_gates(lambda it: False))
    cfg = make_config(tmp_path, "run=once", "n_items=2", "validate.max_regenerations=0",
                      "validate.max_key_draws=2")
    result = run_pipeline(cfg, quiet=False)
    err = capsys.readouterr().err
    (bad,) = result.failed
    st = result.ctx.stats
    assert st["precheck"]["failed"] == 1
    assert st["synthesize"]["failed"] == st["validate"]["failed"] == st["export"]["failed"] == 0
    text = summary(result)
    assert re.search(r"precheck +\d+ computed, \d+ cached, 1 failed", text)
    assert re.search(r"validate +\d+ computed, \d+ cached, 0 rejected", text)
    assert "[2/8] script" in err and "[7/8] validate" in err and "/7]" not in err
    # each rejected draw, then the item, on its own line while the run goes on
    first = err.index(f"key draws rejected 1, last: {bad.id} key draw 1/2: asr_answer")
    item = err.index(f"rejected 1, key draws rejected 2, last: {bad.id} at precheck: no key "
                     "draw passed in 2")
    assert first < item < err.index("[6/8] synthesize")


def test_a_terminal_bar_carries_the_rejections(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from pipeline.engine.stage import Context

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    err = Tty()
    monkeypatch.setattr(sys, "stderr", err)
    ctx = Context(make_config(tmp_path), quiet=False)
    for n in ctx.progress(iter(range(3)), "validate", 3):
        if n == 1:
            ctx.note_rejection("lecture_3 at validate", "duration: 61.2 s outside 90 +- 10")
    text = err.getvalue()
    assert "rejected 1, last: lecture_3 at validate: duration: 61.2 s" in text
    final = text.split("\r")[-1]
    assert "3/3" in final and "rejected 1" in final  # the bar goes on, the count on it
    ctx.phase = "[7/8] "
    for _ in ctx.progress(iter(range(1)), "export", 1):
        pass
    assert "[7/8] export" in err.getvalue().split("3/3")[-1] and \
        "rejected 1" in err.getvalue().split("export")[-1]
