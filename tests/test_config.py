from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.core.config import ConfigError, load_config
from tests.conftest import ROOT


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spiral.yaml"
    path.write_text(text)
    return path


def test_repository_config_loads_with_documented_defaults() -> None:
    cfg = load_config(ROOT / "spiral.yaml")
    assert cfg.llm.backend == "offline" and cfg.tts.backend == "espeak"
    assert cfg.audio.sample_rate == 24000 and cfg.audio.loudness_lufs == -23.0
    assert (cfg.audio.target_seconds, cfg.audio.tolerance_seconds) == (90, 10)
    assert cfg.output_root == "data/runs"


def test_set_overrides_nested_keys_with_typed_values() -> None:
    cfg = load_config(ROOT / "spiral.yaml", ["tts.workers=3", "llm.base_url=http://x/v1",
                                             "audio.target_seconds=60", "run=abc"])
    assert cfg.tts.workers == 3 and cfg.llm.base_url == "http://x/v1"
    assert cfg.audio.target_seconds == 60.0 and cfg.run == "abc"


def test_yaml_error_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "run: demo\nllm: [unclosed\n")
    with pytest.raises(ConfigError, match=r"spiral\.yaml: line \d+.*not valid YAML"):
        load_config(path)


def test_unknown_key_names_the_dotted_key(tmp_path: Path) -> None:
    path = write(tmp_path, "tts:\n  workerz: 2\n")
    with pytest.raises(ConfigError, match=r"spiral\.yaml.*unknown key 'tts\.workerz'.*workers"):
        load_config(path)


def test_wrong_type_names_key_and_expected_type(tmp_path: Path) -> None:
    path = write(tmp_path, "audio:\n  sample_rate: fast\n")
    with pytest.raises(ConfigError, match=r"'audio\.sample_rate': expected int, got 'fast'"):
        load_config(path)


def test_bad_override_names_the_flag() -> None:
    with pytest.raises(ConfigError, match=r"--set tts\.workers.*expected int"):
        load_config(ROOT / "spiral.yaml", ["tts.workers=many"])
    with pytest.raises(ConfigError, match="unknown key 'llm.modle'"):
        load_config(ROOT / "spiral.yaml", ["llm.modle=gpt"])
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        load_config(ROOT / "spiral.yaml", ["tts.workers"])


def test_unknown_backend_is_rejected() -> None:
    with pytest.raises(ConfigError, match=r"'llm\.backend' must be one of"):
        load_config(ROOT / "spiral.yaml", ["llm.backend=gpt"])


def test_cli_reports_config_errors_in_one_line(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "n_itemz: 3\n")
    assert main(["run", "--config", str(path), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown key 'n_itemz'" in err[0] and str(path) in err[0]
