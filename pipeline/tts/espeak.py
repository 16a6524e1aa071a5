"""espeak-ng through its command line: offline, deterministic, hundreds of times real time."""

from __future__ import annotations

import io
import subprocess
from collections.abc import Iterable
from functools import lru_cache

import numpy as np
import soundfile as sf

from pipeline.core.audio import resample
from pipeline.core.resources import Voice
from pipeline.tts.base import trim_silence

RATE_MIN, RATE_MAX = 80, 450


@lru_cache(maxsize=1)
def espeak_version() -> str:
    out = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True, check=True)
    return out.stdout.split("Data at")[0].strip()


class EspeakBackend:
    name = "espeak"

    def rate(self, voice: Voice, rate_scale: float) -> int:
        return int(min(RATE_MAX, max(RATE_MIN, round(voice.rate * rate_scale))))

    def params(self, voice: Voice, rate_scale: float) -> dict:
        return {
            "espeak": espeak_version(),
            "voice": f"{voice.espeak_voice}+{voice.espeak_variant}",
            "pitch": voice.pitch,
            "rate": self.rate(voice, rate_scale),
        }

    def synthesize(self, text: str, voice: Voice, rate_scale: float, sample_rate: int
                   ) -> np.ndarray:
        p = self.params(voice, rate_scale)
        cmd = ["espeak-ng", "-v", p["voice"], "-p", str(p["pitch"]), "-s", str(p["rate"]),
               "--stdout", "--", text]
        proc = subprocess.run(cmd, capture_output=True, check=False)
        if proc.returncode != 0 or not proc.stdout:
            raise RuntimeError(f"espeak-ng failed on {text!r}: {proc.stderr.decode()[:200]}")
        audio, sr = sf.read(io.BytesIO(proc.stdout), dtype="float32")
        audio = resample(trim_silence(audio), sr, sample_rate)
        return np.clip(audio, -1.0, 1.0)

    def check_voices(self, voices: Iterable[Voice]) -> None:
        """Languages and variants are checked when the bank loads (resources.load_voices)."""
