"""Typed configuration loaded from `spiral.yaml`, with `--set key=value` overrides.

Every error names the file, the dotted key and the expected type, because a typo in a
long-running build should stop it before any work is done, not halfway through.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """A configuration problem, with the file and key it concerns in the message."""


@dataclass
class LLMConfig:
    backend: str = "offline"  # offline | openai
    model: str = "offline-writer"
    base_url: str | None = None
    temperature: float = 0.7
    max_tokens: int = 2048
    seed: int | None = None
    concurrency: int = 8


@dataclass
class TTSConfig:
    backend: str = "espeak"  # espeak | coqui
    workers: int = 2
    max_duration_fixes: int = 3
    # coqui: a Coqui model name (downloaded by Coqui's model manager) or a local checkpoint
    # folder (config.json + model file), XTTS v2 or a multi-speaker VITS.
    model: str = "tts_models/multilingual/multi-dataset/xtts_v2"
    device: str = "auto"  # auto (cuda when present) | cpu | cuda
    language: str = "en"  # XTTS language code


@dataclass
class AudioConfig:
    sample_rate: int = 24000
    loudness_lufs: float = -23.0
    target_seconds: float = 90.0
    tolerance_seconds: float = 10.0
    pause_sentence_ms: int = 300
    pause_turn_ms: int = 650


@dataclass
class WriterConfig:
    words_min: int = 200
    words_max: int = 230
    disfluency_rate: float = 0.15
    # Aim each script at the word count that the item's voices, at their measured speaking
    # rate, need to fill audio.target_seconds; words_min..words_max is then the fallback.
    aim_from_voices: bool = True


@dataclass
class Config:
    run: str = "demo"
    seed: int = 1234
    n_items: int = 12
    types: dict[str, float] = field(
        default_factory=lambda: {"lecture": 1.0, "conversation": 1.0, "meeting": 1.0}
    )
    output_root: str = "data/runs"
    prompts_dir: str = "prompts"
    voices: str = "voices/voices.yaml"
    llm: LLMConfig = field(default_factory=LLMConfig)
    tts: TTSConfig = field(default_factory=TTSConfig)
    audio: AudioConfig = field(default_factory=AudioConfig)
    writer: WriterConfig = field(default_factory=WriterConfig)

    @property
    def run_dir(self) -> Path:
        return Path(self.output_root) / self.run

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


TRANSCRIPT_TYPES = ("lecture", "conversation", "meeting")
LLM_BACKENDS = ("offline", "openai")
TTS_BACKENDS = ("espeak", "coqui")
TTS_DEVICES = ("auto", "cpu", "cuda")


def _type_name(tp: Any) -> str:
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check `value` against the annotation `tp`; ints are accepted where floats are."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except ConfigError:
                pass
        raise ConfigError(f"{where}: expected {_type_name(tp)}, got {value!r}")
    if origin is dict:
        key_t, val_t = typing.get_args(tp)
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping {_type_name(tp)}, got {value!r}")
        return {_coerce(k, key_t, where): _coerce(v, val_t, f"{where}.{k}")
                for k, v in value.items()}
    if origin is list:
        (item_t,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list {_type_name(tp)}, got {value!r}")
        return [_coerce(v, item_t, f"{where}[{i}]") for i, v in enumerate(value)]
    if tp is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if tp in (int, str, bool) and isinstance(value, tp):
        if not (tp is int and isinstance(value, bool)):
            return value
    raise ConfigError(f"{where}: expected {_type_name(tp)}, got {value!r}")


def _build(cls: type, data: dict[str, Any], prefix: str, source: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if key not in names:
            known = ", ".join(sorted(names))
            raise ConfigError(f"{source}: unknown key '{dotted}' (known keys here: {known})")
        tp = hints[key]
        if dataclasses.is_dataclass(tp):
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: '{dotted}' must be a mapping, got {value!r}")
            kwargs[key] = _build(tp, value, f"{dotted}.", source)
        else:
            try:
                kwargs[key] = _coerce(value, tp, f"'{dotted}'")
            except ConfigError as exc:
                raise ConfigError(f"{source}: {exc}") from None
    return cls(**kwargs)


def _set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = data
    for part in parts[:-1]:
        nxt = node.setdefault(part, {})
        if not isinstance(nxt, dict):
            raise ConfigError(f"--set {dotted}: '{part}' is not a section")
        node = nxt
    node[parts[-1]] = value


def parse_override(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE, e.g. --set tts.workers=2")
    key, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw != "" else ""
    except yaml.YAMLError:
        value = raw
    return key.strip(), value


def _validate(cfg: Config, source: str) -> None:
    checks = [
        (cfg.llm.backend in LLM_BACKENDS, "llm.backend", f"one of {LLM_BACKENDS}"),
        (cfg.tts.backend in TTS_BACKENDS, "tts.backend", f"one of {TTS_BACKENDS}"),
        (cfg.n_items >= 1, "n_items", "an int >= 1"),
        (cfg.tts.workers >= 1, "tts.workers", "an int >= 1"),
        (cfg.tts.device in TTS_DEVICES, "tts.device", f"one of {TTS_DEVICES}"),
        (cfg.tts.backend != "coqui" or bool(cfg.tts.model.strip()), "tts.model",
         "a Coqui model name or a local checkpoint path when tts.backend is coqui"),
        (cfg.audio.sample_rate >= 8000, "audio.sample_rate", "an int >= 8000"),
        (cfg.audio.target_seconds > cfg.audio.tolerance_seconds >= 0, "audio.tolerance_seconds",
         "a float >= 0 and below audio.target_seconds"),
        (0 < cfg.writer.words_min <= cfg.writer.words_max, "writer.words_min",
         "an int > 0 and <= writer.words_max"),
        (bool(cfg.types) and sum(cfg.types.values()) > 0
         and all(t in TRANSCRIPT_TYPES and w >= 0 for t, w in cfg.types.items()),
         "types", f"weights >= 0 for keys among {TRANSCRIPT_TYPES}"),
        (cfg.run != "" and "/" not in cfg.run and not cfg.run.startswith("."), "run",
         "a folder name (no '/')"),
    ]
    for ok, key, expected in checks:
        if not ok:
            raise ConfigError(f"{source}: '{key}' must be {expected}")


def load_config(path: str | Path = "spiral.yaml", overrides: list[str] | None = None) -> Config:
    path = Path(path)
    source = str(path)
    data: dict[str, Any] = {}
    if path.exists():
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            raise ConfigError(f"{source}:{where} is not valid YAML: {exc}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{source}: the top level must be a mapping of keys")
        data = loaded or {}
    elif str(path) != "spiral.yaml":
        raise ConfigError(f"{source}: config file not found")
    set_keys = []
    for text in overrides or []:
        key, value = parse_override(text)
        _set_dotted(data, key, value)
        set_keys.append(key)
    if set_keys:
        source = f"{source} with --set {', '.join(set_keys)}"
    cfg = _build(Config, data, "", source)
    _validate(cfg, source)
    return cfg
