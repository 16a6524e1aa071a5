"""Issue #25.2-3: a cache entry is reused only when its checksum holds; a damaged one is
recomputed, said on one line, and the dataset comes out as a clean run's, byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pipeline.orchestration.runner import run_pipeline
from pipeline.tts.tracks import TrackStore
from pipeline.validation import intelligibility
from tests.conftest import ROOT, make_config


def _edit(path: Path, change) -> None:  # noqa: ANN001
    """Change an entry's fields in place, wherever its format keeps them."""
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data.get("payload", data))
    path.write_text(json.dumps(data), encoding="utf-8")


def test_garbled_asr_and_shifted_track_entries_give_the_clean_bytes(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def config(root: str):  # noqa: ANN202
        return make_config(tmp_path / root, "run=c", "n_items=2", "seed=5",
                           f"tts.cache_dir={tmp_path / root / 'tts'}")

    run_pipeline(config("clean"), quiet=True)
    cfg = config("faulty")
    run_pipeline(cfg, until="precheck", quiet=True)
    asr = sorted((cfg.cache_root / "asr").rglob("*.json"))
    tracks = sorted((cfg.tts_cache / "tracks").rglob("*.json"))
    assert asr and len(tracks) == 2
    for k, path in enumerate(asr):
        if k % 2:
            path.write_bytes(path.read_bytes()[:9])  # truncated
        else:
            _edit(path, lambda d: d.update(text="garbled words nobody said"))

    def shift(d: dict) -> None:
        d["times"][1][0] += 0.0007

    _edit(tracks[0], shift)
    _edit(tracks[1], lambda d: d.update(scale=d["scale"] + 1e-7))
    capsys.readouterr()
    result = run_pipeline(cfg, quiet=True)
    err = capsys.readouterr().err
    assert len(result.items) == 2
    clean = tmp_path / "clean" / "c" / "export"
    faulty = tmp_path / "faulty" / "c" / "export"
    assert (faulty / "data.jsonl").read_bytes() == (clean / "data.jsonl").read_bytes()
    for wav in sorted((clean / "wavs").iterdir()):
        assert (faulty / "wavs" / wav.name).read_bytes() == wav.read_bytes(), wav.name
    assert err.count("damaged kept track") == 2, err
    assert "damaged ASR cache entry" in err


def test_asr_entry_is_checked_then_rewritten(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    calls = []

    def fake(audio: np.ndarray, sr: int, **_: object) -> tuple[str, list]:
        calls.append(1)
        return "the meeting is at nine", []

    monkeypatch.setattr(intelligibility, "transcribe", fake)
    from pipeline.core.config import load_config

    v = load_config(ROOT / "spiral.yaml").validate
    clip = np.linspace(-0.5, 0.5, 800, dtype=np.float32)
    assert intelligibility.heard_text(clip, 16000, v, tmp_path) == "the meeting is at nine"
    entry = next(tmp_path.rglob("*.json"))
    _edit(entry, lambda d: d.update(text="the meeting is at five"))
    assert intelligibility.heard_text(clip, 16000, v, tmp_path) == "the meeting is at nine"
    assert intelligibility.heard_text(clip, 16000, v, tmp_path) == "the meeting is at nine"
    assert len(calls) == 2  # recomputed once, then the repaired entry is a hit


def test_a_kept_track_with_edited_metadata_is_refused(tmp_path: Path) -> None:
    store = TrackStore(tmp_path)
    store.put("ab12", np.zeros(8, dtype=np.int16), [[0.0, 0.5]], 1.0)
    _edit(next(tmp_path.rglob("*.json")), lambda d: d.update(times=[[0.0007, 0.5]]))
    assert store.take("ab12") is None and not list(tmp_path.rglob("*.*"))
