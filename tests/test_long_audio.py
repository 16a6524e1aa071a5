"""Long items: loudness a chunk at a time gives the whole-track figures, and an hour renders
in bounded memory (slow)."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import numpy as np
import pyloudnorm
import pytest

from pipeline.tts.assemble import assemble
from pipeline.tts.loudness import integrated_loudness, normalise_in_place
from tests.conftest import ROOT

SR = 24000


def speechy(seconds: float, seed: int) -> np.ndarray:
    """Bursts of coloured noise between silences: a signal the gate has work to do on."""
    rng = np.random.default_rng(seed)
    out = np.zeros(int(seconds * SR), dtype=np.float32)
    at = 0
    while at < len(out):
        n = int(rng.uniform(0.3, 2.5) * SR)
        burst = np.cumsum(rng.normal(0, 1, n)).astype(np.float32)
        burst -= np.convolve(burst, np.ones(64) / 64, mode="same").astype(np.float32)
        out[at:at + n] = (burst * rng.uniform(0.02, 0.3))[: len(out) - at]
        at += n + int(rng.uniform(0.1, 0.8) * SR)
    return np.clip(out, -1, 1)


def whole_track(pcm16: np.ndarray, lufs: float) -> np.ndarray:
    """What assembly did before: the whole track through pyloudnorm at once."""
    pcm = pcm16.astype(np.float32) / 32768.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loudness = pyloudnorm.Meter(SR).integrated_loudness(pcm)
    pcm = pcm * (10.0 ** ((lufs - loudness) / 20.0))
    return (np.clip(pcm, -1.0, 1.0) * 32767.0).round().astype(np.int16)


@pytest.mark.parametrize("chunk", [4096, 48_001, 1 << 20])
def test_chunked_loudness_is_pyloudnorms(chunk: int) -> None:
    pcm16 = (speechy(23.7, 1) * 32767).astype(np.int16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = pyloudnorm.Meter(SR).integrated_loudness(pcm16.astype(np.float32) / 32768.0)
    assert integrated_loudness(pcm16, SR, chunk) == pytest.approx(expected, abs=1e-9)
    track = pcm16.copy()
    normalise_in_place(track, SR, -23.0, chunk)
    assert np.array_equal(track, whole_track(pcm16, -23.0))


def test_assembly_joins_sentences_with_pauses_at_the_right_times() -> None:
    sentences = [speechy(1.5, k) for k in range(4)]
    track, times = assemble(iter(sentences), ["a", "a", "b", "b"], SR, 300, 650, -23.0)
    lengths = [len(s) for s in sentences]
    gaps = [0, int(0.3 * SR), int(0.65 * SR), int(0.3 * SR)]
    starts = np.cumsum([g + (lengths[i - 1] if i else 0) for i, g in enumerate(gaps)])
    assert [t[0] for t in times] == [round(s / SR, 4) for s in starts]
    assert len(track) == sum(lengths) + sum(gaps) and track.dtype == np.int16
    joined = np.concatenate([np.concatenate([np.zeros(g, np.int16),
                                             (np.clip(s, -1, 1) * 32767).astype("<i2")])
                             for g, s in zip(gaps, sentences, strict=True)])
    assert np.array_equal(track, whole_track(joined, -23.0))


@pytest.mark.slow
def test_an_hour_renders_within_its_memory_and_time() -> None:
    """benchmarks/bench_long.py renders, writes, hands over and embeds a 60-minute item in a
    process of its own: peak RSS <= 1.5 GB, and CPU per audio-minute <= 1.5x a 90-s item's."""
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_long.py"),
                          "--lengths", "90,3600", "--json"], capture_output=True, text=True,
                         timeout=3600, check=True)
    rows = {r["seconds"]: r for r in json.loads(out.stdout.splitlines()[-1])}
    hour, short = rows[3600], rows[90]
    print(hour, short)
    assert hour["peak_rss_mb"] <= 1500
    assert hour["cpu_per_audio_min"] <= 1.5 * short["cpu_per_audio_min"]
