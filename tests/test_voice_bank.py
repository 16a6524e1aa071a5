"""The voice bank's schema: every bad field stops with the file and field named."""

from __future__ import annotations

from pathlib import Path

import pytest
import soundfile as sf
import yaml

from pipeline.cli import main
from pipeline.core.resources import ResourceError, load_voices
from tests.conftest import ROOT, make_config

BANK = ROOT / "voices" / "voices.yaml"


def _write(tmp: Path, edit) -> Path:
    data = yaml.safe_load(BANK.read_text())
    edit(data["voices"])
    path = tmp / "voices.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_repository_bank_is_balanced_and_has_coqui_speakers() -> None:
    voices = load_voices(BANK)
    assert len({v.id for v in voices}) == len(voices)
    assert sum(v.gender == "female" for v in voices) == sum(v.gender == "male" for v in voices)
    assert all(v.coqui_speaker for v in voices)
    assert len({v.coqui_speaker for v in voices}) == len(voices)


def test_unknown_espeak_variant_names_voice_and_field(tmp_path: Path) -> None:
    def edit(vs):
        vs[2]["espeak"]["variant"] = "f99"
    with pytest.raises(ResourceError, match=r"voices\[2\] \(us_f4\)\.espeak\.variant.*'f99'"):
        load_voices(_write(tmp_path, edit))


def test_missing_reference_wav_names_the_file(tmp_path: Path) -> None:
    def edit(vs):
        vs[0]["coqui"]["references"] = [{"wav": "refs/none.wav", "source": "x", "licence": "y"}]
    with pytest.raises(ResourceError, match=r"coqui\.references\[0\]\.wav': file not found"):
        load_voices(_write(tmp_path, edit))


def test_reference_without_licence_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "a.wav").write_bytes(b"")

    def edit(vs):
        vs[1]["coqui"]["references"] = [{"wav": "a.wav", "source": "me"}]
    with pytest.raises(ResourceError, match=r"'wav', 'source' and 'licence'"):
        load_voices(_write(tmp_path, edit))


def test_reference_paths_resolve_beside_the_bank(tmp_path: Path) -> None:
    (tmp_path / "refs").mkdir()
    (tmp_path / "refs" / "a.wav").write_bytes(b"RIFF")

    def edit(vs):
        vs[0]["coqui"]["references"] = [{"wav": "refs/a.wav", "source": "LibriTTS-R 19/198",
                                         "licence": "CC-BY-4.0"}]
    v = load_voices(_write(tmp_path, edit))[0]
    assert v.references[0].wav == str((tmp_path / "refs" / "a.wav").resolve())
    assert v.references[0].licence == "CC-BY-4.0"


def test_unknown_voice_stops_the_run_before_rendering(tmp_path: Path) -> None:
    def edit(vs):
        vs[0]["espeak"]["voice"] = "en-zz"
    bank = _write(tmp_path, edit)
    code = main(["synthesize", "--quiet", "--set", f"voices={bank}", "--set",
                 f"output_root={tmp_path}", "--set", f"prompts_dir={ROOT / 'prompts'}"])
    assert code == 2
    assert not (tmp_path / "_cache" / "tts").exists()


def test_spiral_voices_lists_and_renders_a_sample_of_each(tmp_path: Path, capsys) -> None:
    cfg = make_config(tmp_path)
    out = tmp_path / "samples"
    code = main(["voices", "--out", str(out), "--set", f"voices={cfg.voices}", "--set",
                 f"output_root={tmp_path}"])
    assert code == 0
    text = capsys.readouterr().out
    voices = load_voices(cfg.voices)
    for v in voices:
        assert v.id in text
        audio, sr = sf.read(out / f"{v.id}.wav")
        assert sr == cfg.audio.sample_rate and 3.0 < len(audio) / sr < 20.0
    assert "words/s" in text and "8 female, 8 male" in text


def test_export_states_the_audio_licence(small_run) -> None:
    text = (small_run.ctx.run_dir / "export" / "AUDIO_LICENSE.md").read_text()
    assert "espeak-ng" in text and "no licence terms" in text


def test_tts_device_and_model_are_checked() -> None:
    from pipeline.core.config import ConfigError, load_config

    with pytest.raises(ConfigError, match="'tts.device' must be one of"):
        load_config(ROOT / "spiral.yaml", ["tts.device=tpu"])
    with pytest.raises(ConfigError, match="'tts.model' must be a Coqui model name"):
        load_config(ROOT / "spiral.yaml", ["tts.backend=coqui", "tts.model="])
    cfg = load_config(ROOT / "spiral.yaml", ["tts.backend=coqui"])
    assert cfg.tts.model.endswith("xtts_v2") and cfg.tts.device == "auto"
