from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from pipeline.core.config import Config, load_config
from pipeline.orchestration.runner import RunResult, run_pipeline

ROOT = Path(__file__).resolve().parents[1]
# One TTS sentence cache for the whole session: tests render the same sentences again and
# again. A test about the sentence cache itself passes its own `tts.cache_dir`.
TTS_CACHE = Path(tempfile.mkdtemp(prefix="spiral-tests-tts-"))


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(TTS_CACHE, ignore_errors=True)


def make_config(tmp: Path, *overrides: str) -> Config:
    """The repository's spiral.yaml with outputs under `tmp` and any overrides."""
    return load_config(ROOT / "spiral.yaml", [
        f"output_root={tmp}", f"prompts_dir={ROOT / 'prompts'}",
        f"voices={ROOT / 'voices' / 'voices.yaml'}", f"tts.cache_dir={TTS_CACHE}", *overrides])


@pytest.fixture(scope="session")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    """One real 6-item run (espeak audio, datasets export) shared by read-only tests."""
    tmp = tmp_path_factory.mktemp("runs")
    return run_pipeline(make_config(tmp, "run=small", "n_items=6", "seed=7"), quiet=True)
