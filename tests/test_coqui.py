"""The Coqui backend, offline and for real: XTTS v2 and a multi-speaker VITS built from their
configs with random weights, saved as checkpoints and loaded by `tts.model: <folder>`, the
path a downloaded model takes. Reference wavs for cloning are rendered here with espeak-ng.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

from pipeline.core.resources import ResourceError, load_voices
from pipeline.engine.stage import Context
from pipeline.orchestration import precheck
from pipeline.orchestration.runner import run_pipeline
from pipeline.testing.coqui_random import build_vits, build_xtts
from pipeline.tts.backends import get_backend
from pipeline.tts.coqui import CoquiBackend
from tests.conftest import make_config

SPEAKERS = ["p225", "p226", "p227", "p228", "p229", "p230"]
GENDERS = ["female", "male", "male", "female", "female", "male"]


@pytest.fixture(scope="module")
def coqui_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("coqui")
    return {"xtts": build_xtts(root / "xtts", small=True, max_audio_tokens=16),
            "vits": build_vits(root / "vits", SPEAKERS, small=True), "root": root}


def _bank(folder: Path, speaker_ids: list[str], refs: bool) -> Path:
    """A six-voice bank whose references are espeak renders made here."""
    folder.mkdir(parents=True, exist_ok=True)
    voices = []
    for i, (sid, gender) in enumerate(zip(speaker_ids, GENDERS, strict=True)):
        variant = f"{'f' if gender == 'female' else 'm'}{i % 3 + 1}"
        entry = {"id": f"v{i}", "gender": gender, "accent": "american",
                 "espeak": {"voice": "en-us", "variant": variant},
                 "coqui": {"speaker": sid}}
        if refs:
            wav = folder / f"v{i}.wav"
            subprocess.run(["espeak-ng", "-v", f"en-us+{variant}", "-w", str(wav),
                            "This is a short reference recording for voice cloning."],
                           check=True)
            entry["coqui"]["references"] = [{"wav": wav.name, "source": "espeak-ng, this test",
                                             "licence": "generated, no restrictions"}]
        voices.append(entry)
    path = folder / "voices.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "voices": voices}), encoding="utf-8")
    return path


def _cfg(tmp: Path, model: Path, bank: Path, *extra: str):
    return make_config(tmp, "tts.backend=coqui", f"tts.model={model}", "tts.device=cpu",
                       f"voices={bank}", "writer.aim_from_voices=false", *extra)


def test_coqui_vits_run_renders_every_item_by_speaker_id(coqui_models, tmp_path, monkeypatch):
    # Random weights speak no words: the pre-check's ASR gate would reject every draw.
    monkeypatch.setattr(precheck, "draw_checks", lambda item, ctx: [])
    bank = _bank(tmp_path / "bank", SPEAKERS, refs=False)
    cfg = _cfg(tmp_path, coqui_models["vits"], bank, "n_items=1", "run=vits",
               "tts.max_duration_fixes=0")
    result = run_pipeline(cfg, until="synthesize", quiet=True)
    assert not result.failed, [it.failed for it in result.failed]
    for item in result.items:
        assert item.audio is not None and item.audio.tts_backend == "coqui"
        audio, sr = sf.read(cfg.run_dir / "audio" / item.audio.wav, dtype="float32")
        assert sr == cfg.audio.sample_rate
        assert len(audio) / sr == pytest.approx(item.audio.duration, abs=0.01)
        assert np.abs(audio).max() > 0.01
        assert len(item.audio.sentence_times) == len(item.sentences())
    manifest = json.loads((cfg.run_dir / "manifest.json").read_text())
    assert manifest["versions"]["coqui-tts"] == "0.28.0"
    # A second run with nothing changed renders nothing and gives the same bytes.
    wav = (cfg.run_dir / "audio" / result.items[0].audio.wav).read_bytes()
    again = run_pipeline(cfg, until="synthesize", quiet=True)
    assert again.ctx.stats["synthesize"]["computed"] == 0
    assert (cfg.run_dir / "audio" / result.items[0].audio.wav).read_bytes() == wav


def test_coqui_vits_unknown_speaker_stops_before_rendering(coqui_models, tmp_path):
    bank = _bank(tmp_path / "bank", [*SPEAKERS[:5], "p999"], refs=False)
    cfg = _cfg(tmp_path, coqui_models["vits"], bank, "n_items=4", "run=bad",
               f"tts.cache_dir={tmp_path / 'tts'}")
    with pytest.raises(ResourceError, match=r"voice v5: coqui.speaker 'p999' is not a speaker"):
        ctx = Context(cfg, quiet=True)
        get_backend(cfg.tts, ctx.cache_root).check_voices(ctx.voices.values())
    with pytest.raises(ResourceError, match="p999"):
        run_pipeline(cfg, until="synthesize", quiet=True)
    assert not list((cfg.run_dir / "audio").glob("*.wav"))
    assert not (tmp_path / "tts").exists()


def test_coqui_xtts_clones_with_latents_computed_once(coqui_models, tmp_path):
    bank = _bank(tmp_path / "bank", SPEAKERS, refs=True)
    voices = load_voices(bank, check_espeak=True)
    cache = tmp_path / "cache"
    tts = CoquiBackend(str(coqui_models["xtts"]), "cpu", "en", cache)
    assert tts.cloning
    tts.check_voices(voices)
    first = tts.synthesize("The meeting moved to March fourteenth.", voices[0], 1.0, 24000)
    tts.synthesize("A second sentence in the same voice.", voices[0], 1.0, 24000)
    tts.synthesize("Another voice.", voices[1], 1.0, 24000)
    assert tts.latent_computations == 2  # once per voice, not per sentence
    assert len(list((cache / "coqui_latents").glob("*.pt"))) == 2
    assert first.dtype == np.float32 and first.size > 0 and np.abs(first).max() > 0
    # A new process (a new backend) loads the latents from disk and renders the same audio.
    fresh = CoquiBackend(str(coqui_models["xtts"]), "cpu", "en", cache)
    again = fresh.synthesize("The meeting moved to March fourteenth.", voices[0], 1.0, 24000)
    assert fresh.latent_computations == 0
    np.testing.assert_array_equal(first, again)
    # Speed changes the length (duration control), and the cache key.
    fast = fresh.synthesize("The meeting moved to March fourteenth.", voices[0], 1.5, 24000)
    assert fresh.params(voices[0], 1.5) != fresh.params(voices[0], 1.0)
    assert len(fast) < len(first)


def test_coqui_xtts_voice_without_references_stops(coqui_models, tmp_path):
    bank = _bank(tmp_path / "bank", SPEAKERS, refs=False)
    tts = CoquiBackend(str(coqui_models["xtts"]), "cpu", "en", tmp_path / "cache")
    with pytest.raises(ResourceError, match=r"voice v0: field 'coqui.references'"):
        tts.check_voices(load_voices(bank))


def test_coqui_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(ResourceError, match="no config.json"):
        CoquiBackend(str(tmp_path), "cpu", "en", tmp_path / "cache")
    with pytest.raises(ResourceError, match="no such file"):
        CoquiBackend(str(tmp_path / "nope" / "model.pth"), "cpu", "en", tmp_path / "cache")


def test_coqui_xtts_licence_section_names_cpml_and_references(coqui_models, tmp_path):
    from pipeline.tts.licences import audio_licence_section

    bank = _bank(tmp_path / "bank", SPEAKERS, refs=True)
    cfg = _cfg(tmp_path, coqui_models["xtts"], bank)
    text = audio_licence_section(cfg, load_voices(bank))
    assert "CPML" in text and "non-commercial" in text
    assert "v0: v0.wav, source espeak-ng, this test, licence generated" in text
    vits = audio_licence_section(_cfg(tmp_path, coqui_models["vits"], bank), load_voices(bank))
    assert "CPML" not in vits and "local checkpoint" in vits
