"""Coqui TTS (`coqui-tts`, import `TTS`): XTTS v2 cloning from reference wavs, or a
multi-speaker model (VITS) by speaker id.

The model is a Coqui model name (fetched by Coqui's model manager; XTTS v2 asks to accept the
CPML unless COQUI_TOS_AGREED=1) or a local checkpoint: a folder with config.json and the model
file, or a model file with config.json beside it. Loading goes through `TTS.api.TTS`, the
same path for a downloaded model and a local one. Conditioning latents for cloning are
computed once per voice and cached on disk, keyed by the model and the reference wavs.

One model serves every worker thread; its calls are serialised by a lock (torch already uses
every core for one call), and each sentence is rendered under a seed drawn from its text and
voice, so the same input gives the same audio.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.core.audio import resample
from pipeline.core.resources import ResourceError, Voice
from pipeline.core.store import atomic_write_bytes, content_hash, file_hash
from pipeline.tts.base import trim_silence

CHECKPOINT_NAMES = ("model.pth", "model_file.pth", "best_model.pth", "checkpoint.pth")
RATE_MIN, RATE_MAX = 0.5, 2.0  # speed factors XTTS and VITS still render sensibly


def resolve_device(device: str) -> str:
    """`auto` is cuda when a GPU is visible, else cpu."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ResourceError("tts.device is 'cuda' but torch sees no CUDA device")
    return device


def _checkpoint_of(path: Path) -> tuple[Path, Path, list[Path]]:
    """(what TTS.api gets as model_path, config.json, files that identify the model)."""
    folder = path if path.is_dir() else path.parent
    config = folder / "config.json"
    if not config.is_file():
        raise ResourceError(f"tts.model {path}: no config.json in {folder}")
    if path.is_file():
        return path, config, [config, path]
    import json

    if json.loads(config.read_text(encoding="utf-8")).get("model") == "xtts":
        files = [config] + [folder / n for n in ("model.pth", "vocab.json") if
                            (folder / n).is_file()]
        if len(files) < 3:
            raise ResourceError(f"tts.model {path}: an XTTS folder needs model.pth and "
                                f"vocab.json beside config.json")
        return path, config, files
    for name in CHECKPOINT_NAMES:
        if (folder / name).is_file():
            return folder / name, config, [config, folder / name]
    found = sorted(folder.glob("*.pth"))
    if not found:
        raise ResourceError(f"tts.model {path}: no model file (*.pth) beside config.json")
    return found[0], config, [config, found[0]]


def load_tts(model: str, device: str) -> tuple[Any, str]:
    """A `TTS.api.TTS` on `device` and an id of the model for cache keys."""
    try:
        from TTS.api import TTS
    except ImportError as exc:
        raise ResourceError(f"tts.backend coqui needs coqui-tts: run `make setup-coqui` "
                            f"(pip install -e '.[coqui]') ({exc})") from None
    path = Path(model).expanduser()
    try:
        if path.exists():
            checkpoint, config, files = _checkpoint_of(path)
            api = TTS(model_path=str(checkpoint), config_path=str(config), progress_bar=False)
            model_id = content_hash([file_hash(f) for f in files])
        elif model.startswith((".", "/", "~")) or model.endswith((".pth", ".json")):
            raise ResourceError(f"tts.model {model}: no such file or folder")
        else:
            api = TTS(model_name=model, progress_bar=False)
            model_id = model
    except ResourceError:
        raise
    except Exception as exc:  # a failed download or a broken checkpoint
        raise ResourceError(f"tts.model {model}: could not load the Coqui model: "
                            f"{type(exc).__name__}: {exc}") from None
    return api.to(device), model_id


class CoquiBackend:
    name = "coqui"

    def __init__(self, model: str, device: str, language: str, cache_root: str | Path) -> None:
        self.device = resolve_device(device)
        api, self.model_id = load_tts(model, self.device)
        self.model = api.synthesizer.tts_model
        self.model_sample_rate = int(api.synthesizer.output_sample_rate)
        self.cloning = type(self.model).__name__ == "Xtts"
        self.language = language
        self.latents_dir = Path(cache_root) / "coqui_latents"
        self.latent_computations = 0  # how often latents were computed, not loaded
        self._latents: dict[str, tuple[Any, Any]] = {}
        self._lock = threading.Lock()
        self._version = metadata.version("coqui-tts")

    # -- voices -------------------------------------------------------------------------
    def speakers(self) -> list[str]:
        manager = getattr(self.model, "speaker_manager", None)
        return sorted(manager.name_to_id) if manager is not None else []

    def check_voices(self, voices: Iterable[Voice]) -> None:
        known = set(self.speakers())
        for v in voices:
            if self.cloning and not v.references:
                raise ResourceError(f"voice {v.id}: field 'coqui.references' must list at least "
                                    f"one reference wav for XTTS cloning")
            if not self.cloning:
                if v.coqui_speaker is None:
                    raise ResourceError(f"voice {v.id}: field 'coqui.speaker' must name a "
                                        f"speaker of the multi-speaker model")
                if v.coqui_speaker not in known:
                    some = ", ".join(sorted(known)[:8]) or "none"
                    raise ResourceError(f"voice {v.id}: coqui.speaker {v.coqui_speaker!r} is "
                                        f"not a speaker of the model (it has {len(known)}: "
                                        f"{some}...)")

    def params(self, voice: Voice, rate_scale: float) -> dict:
        p: dict[str, Any] = {"coqui": self._version, "model": self.model_id,
                             "speed": self.speed(rate_scale)}
        if self.cloning:
            p["language"] = self.language
            p["references"] = [file_hash(r.wav) for r in voice.references]
        else:
            p["speaker"] = voice.coqui_speaker
        return p

    def speed(self, rate_scale: float) -> float:
        return round(min(RATE_MAX, max(RATE_MIN, rate_scale)), 3)

    # -- cloning ------------------------------------------------------------------------
    def latents(self, voice: Voice) -> tuple[Any, Any]:
        """(gpt_cond_latent, speaker_embedding) of a voice: computed once, then from disk."""
        import torch

        key = content_hash("xtts-latents", self.model_id,
                           [file_hash(r.wav) for r in voice.references])
        if key in self._latents:
            return self._latents[key]
        path = self.latents_dir / f"{key}.pt"
        if path.exists():
            saved = torch.load(path, map_location="cpu", weights_only=True)
            pair = (saved["gpt_cond_latent"], saved["speaker_embedding"])
        else:
            pair = self.model.get_conditioning_latents(audio_path=[r.wav for r in voice.references])
            self.latent_computations += 1
            buf = io.BytesIO()
            torch.save({"gpt_cond_latent": pair[0].cpu(), "speaker_embedding": pair[1].cpu()},
                       buf)
            atomic_write_bytes(path, buf.getvalue())
        self._latents[key] = pair
        return pair

    # -- rendering ----------------------------------------------------------------------
    def synthesize(self, text: str, voice: Voice, rate_scale: float, sample_rate: int
                   ) -> np.ndarray:
        import torch

        speed = self.speed(rate_scale)
        seed = int(content_hash(text, self.params(voice, rate_scale))[:8], 16)
        with self._lock, torch.inference_mode():
            torch.manual_seed(seed)
            if self.cloning:
                latent, embedding = self.latents(voice)
                out = self.model.inference(text, self.language, latent, embedding, speed=speed)
            else:
                self.model.length_scale = 1.0 / speed
                out = self.model.synthesize(text, speaker=voice.coqui_speaker)
        wav = out["wav"]
        audio = np.asarray(wav.cpu().numpy() if hasattr(wav, "cpu") else wav,
                           dtype=np.float32).reshape(-1)
        if audio.size == 0:
            raise RuntimeError(f"coqui rendered no audio for {text!r}")
        audio = resample(trim_silence(audio), self.model_sample_rate, sample_rate)
        return np.clip(audio, -1.0, 1.0)
