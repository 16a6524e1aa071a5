"""The intelligibility gate: answer matching rules, real ASR on espeak audio, model lookup."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from pipeline.asr import whisper
from pipeline.core.config import ValidateConfig
from pipeline.orchestration.runner import RunResult
from pipeline.validation.intelligibility import answer_recognised, intelligibility_checks


@pytest.mark.parametrize(("answer", "heard", "ok"), [
    ("412", "they logged four hundred and twelve tremors", True),
    ("412", "they logged 421 tremors", False),
    ("9:35", "meet at 935 sharp", True),
    ("4:40", "starts at for forty", True),
    ("4200 dollars", "spent $4,200 on it", True),
    ("9500 dollars", "spent 1500 dollars", False),
    ("Rosalind Thornbury", "led by rosalind thornberry", True),  # a misspelt name
    ("Rosalind Thornbury", "led by somebody else entirely", False),
])
def test_answer_recognised(answer: str, heard: str, ok: bool) -> None:
    assert answer_recognised(answer, heard, "names_fuzzy", 0.6)[0] is ok


def test_exact_rule_wants_names_spelt_right() -> None:
    assert not answer_recognised("Rosalind Thornbury", "rosalind thornberry", "exact", 0.6)[0]


def test_gate_on_real_key_audio(small_run: RunResult, tmp_path: Path) -> None:
    item = small_run.built[0]
    assert item.key and item.audio
    wav = small_run.ctx.run_dir / "audio" / "key" / item.audio.key_wav
    cfg = ValidateConfig(asr_model="packaged:tiny.en")
    wer, heard = intelligibility_checks(item.key.sentence, item.key.answer, wav, cfg)
    assert wer.name == "asr_wer" and wer.value is not None and 0 <= wer.value <= 1.5
    assert heard.name == "asr_answer" and heard.value is not None
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(24000, dtype=np.float32), 24000)
    wer, heard = intelligibility_checks(item.key.sentence, item.key.answer, silent, cfg)
    assert not wer.ok and not heard.ok and "WER" in wer.reason
    missing = intelligibility_checks("x", "y", tmp_path / "nope.wav", cfg)
    assert not missing[0].ok and "unreadable" in missing[0].reason


def test_offline_never_downloads_and_names_the_package() -> None:
    with pytest.raises(whisper.ASRModelError, match="offline mode forbids a hub download"):
        whisper.resolve_model("Systran/faster-whisper-small", offline=True)


def test_split_model_is_joined_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for k, body in ((1, b"abc"), (2, b"defg")):
        pkg = tmp_path / "site" / f"fake_split_part{k}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        (pkg / "data" / f"model.bin.part{k}").write_bytes(body)
        if k == 1:
            (pkg / "data" / "config.json").write_text("{}")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setenv("SPIRAL_MODEL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setitem(whisper.SPLIT, "packaged:fake", (
        ("fake_split_part1", "fake-part1"), ("fake_split_part2", "fake-part2")))
    path = Path(whisper.resolve_model("packaged:fake"))
    assert (path / "model.bin").read_bytes() == b"abcdefg"
    assert (path / "config.json").exists() and not list(path.glob("*.part*"))
    stamp = (path / "model.bin").stat().st_mtime_ns
    assert Path(whisper.resolve_model("packaged:fake")) == path
    assert (path / "model.bin").stat().st_mtime_ns == stamp
    monkeypatch.setitem(whisper.SPLIT, "packaged:gone", (("no_such_mod_x", "no-such-pkg"),))
    with pytest.raises(whisper.ASRModelError, match="pip install no-such-pkg"):
        whisper.resolve_model("packaged:gone")
    assert "fake_split_part1" in sys.modules


def test_missing_asr_model_stops_the_run_naming_it(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    from pipeline.cli import main
    from tests.conftest import ROOT

    code = main(["validate", "--quiet", "--run", "nomodel", "--n", "1",
                 "--config", str(ROOT / "spiral.yaml"), "--set", f"output_root={tmp_path}",
                 "--set", "validate.asr_model=some-org/whisper-hub-name"])
    err = capsys.readouterr().err
    assert code == 2 and "some-org/whisper-hub-name" in err and "offline mode" in err
    assert not (tmp_path / "nomodel" / "validate").exists()


def test_workers_asking_at_once_build_the_model_once(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The pre-check's workers start together; a second build doubled the run's peak memory."""
    import threading
    import time

    import faster_whisper

    built = []

    class SlowModel:
        def __init__(self, path: str, **kwargs: object) -> None:
            time.sleep(0.2)  # long enough for the other worker to ask meanwhile
            built.append(path)

    monkeypatch.setattr(faster_whisper, "WhisperModel", SlowModel)
    whisper._build.cache_clear()
    try:
        got = []
        workers = [threading.Thread(target=lambda: got.append(
            whisper.load(str(tmp_path), offline=True, parallel=2))) for _ in range(2)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    finally:
        whisper._build.cache_clear()
    assert len(built) == 1 and got[0] is got[1]


def test_fitted_window_encodes_the_clip_and_two_seconds_and_hears_it(
        small_run: RunResult) -> None:
    """The gate's default: a key clip encoded in a window fitted to it, not in whisper's 30 s
    (a third of the CPU); a clip too long for one window is heard in the 30-s window."""
    from pipeline.validation.intelligibility import read_clip

    item = small_run.built[0]
    assert item.key and item.audio
    clip, sr = read_clip(small_run.ctx.run_dir / "audio" / "key" / item.audio.key_wav)
    model = whisper.load("packaged:tiny.en", True)
    shapes = []

    class Spy:  # the CTranslate2 model, recording what the encoder is given
        def __getattr__(self, name: str) -> object:
            return getattr(real, name)

        def generate(self, features: object, *args: object, **kwargs: object) -> object:
            shapes.append(tuple(features.shape))
            return real.generate(features, *args, **kwargs)

    real, model.model = model.model, Spy()
    try:
        text, _ = whisper.transcribe(clip, sr, "packaged:tiny.en", window="fitted")
        long = np.tile(clip, int(np.ceil(29 * sr / len(clip))))
        assert whisper.fitted_text(model, long) is None
    finally:
        model.model = real
    seconds = len(clip) / sr
    assert len(shapes) == 1 and shapes[0][:2] == (1, 80), shapes
    width = shapes[0][2]  # frames of 10 ms: the clip and 2 s, in whole seconds
    assert width % 100 == 0 and 100 * (seconds + 2) <= width + 1 < 100 * (seconds + 3) + 2, \
        (width, seconds)
    from pipeline.text.compare import wer

    assert wer(item.key.sentence, text) <= 0.5, text
