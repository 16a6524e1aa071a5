"""Typed configuration loaded from `spiral.yaml`, with `--set key=value` overrides.

Every error names the file, the dotted key and the expected type, because a typo in a
long-running build should stop it before any work is done, not halfway through.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pipeline.core.bounds import out_of_bounds
from pipeline.core.typed import TypedError, from_dict


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
    concurrency: int = 8  # requests in flight across items, per LLM stage
    # auto: negotiated at preflight (json_schema, json_object + schema, json_object, prompt);
    # a format named here is tried first, then those after it.
    response_format: str = "auto"
    distractors: str = "model"  # model (the LLM writes them, rules check) | rules (details.py)
    max_repairs: int = 3  # re-asks with the validation error shown, per call
    max_reasks: int = 2  # re-asks when a rule on the content is broken, per task (same seed)
    max_retries: int = 6  # transport retries (429, 5xx, timeouts, connection errors)
    # The run stops when a task's first this-many replies all fail (the model cannot do the
    # job); 0: never.
    competence_replies: int = 4
    backoff_s: float = 0.5  # first backoff; doubles per retry, with jitter
    backoff_max_s: float = 30.0
    timeout_s: float = 120.0
    max_cost_usd: float | None = None  # stop new calls before the run's cost would pass this
    # USD per million tokens by model name; a model missing here costs 0 in the estimate.
    prices: dict[str, dict[str, float]] = field(default_factory=lambda: {
        "gpt-4o": {"input": 2.5, "output": 10.0},
        "gpt-4o-mini": {"input": 0.15, "output": 0.6},
        "gpt-4.1": {"input": 2.0, "output": 8.0},
        "gpt-4.1-mini": {"input": 0.4, "output": 1.6},
    })


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
    # Rendered sentences, keyed by text, voice and backend settings: shareable between
    # output roots. Default: <output_root>/_cache/tts.
    cache_dir: str | None = None
    # Folders besides the voice bank's own where reference wavs may live (nowhere else).
    reference_dirs: list[str] = field(default_factory=list)


@dataclass
class RayConfig:
    address: str | None = None  # None: start a local head on 127.0.0.1
    num_cpus: int | None = None  # for a local head; None lets Ray count them
    tts_actors: int = 2  # synthesis actors, each loading its TTS model once
    num_gpus_per_tts_actor: float = 0.0
    max_retries: int = 3  # per task, when a worker dies


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
class PublishConfig:
    folder: str = "hub"  # the Hub-ready dataset folder, under the run folder
    max_shard_mb: int = 500  # parquet shard size limit (audio included)
    row_group_mb: int = 32  # audio bytes per parquet row group: bounds publish memory
    audio_format: str = "flac"  # flac (lossless, about half the bytes) | wav (as exported)
    spiral_files: bool = True  # also ship spiral/: data.jsonl, data_h.jsonl, wavs/, key_wavs/
    hard_from_proxy: bool = False  # publish tags from the offline proxy as the hard subset
    clean_audio: bool = False  # also ship spiral/wavs_clean/ (runs with acoustic conditions)
    license: str = "cc-by-4.0"  # the card's licence when no audio licence overrides it
    pretty_name: str = "SPIRAL-style long-context spoken QA (synthetic)"


@dataclass
class BaselineConfig:
    adapter: str = "cascade"  # cascade (offline CPU proxy) | qwen2-audio
    model_path: str | None = None  # local Qwen2-Audio folder (qwen2-audio needs it); tiny-random
    device: str = "cpu"
    asr_model: str = "packaged:tiny.en"  # the cascade's faster-whisper model
    prune_rates: list[float] = field(default_factory=lambda: [0.2, 0.4, 0.6, 0.8])
    seeds: int = 3  # seeds of the random selectors (RAP, RAC)
    k1: int = 750  # phase-1 budget: 30 s of 25 tokens per second
    frame_tokens: int = 25  # phase-1 frame: one second
    reject_too_easy: bool = False  # validation fails items tagged too_easy (spiral eval --tag)


@dataclass
class ValidateConfig:
    """Per-item gates (pipeline/validation/: structural, intelligibility, judge), regeneration."""

    max_choice_length_spread: float = 0.45  # (longest - shortest) / longest choice, chars
    asr_model: str = "packaged:base"  # packaged:base|tiny.en, a CTranslate2 folder, a hub name
    asr_offline: bool = True  # never try a hub download
    asr_window: str = "fitted"  # fitted (the clip + 2 s) | full (whisper's 30-s window)
    max_wer: float = 0.5  # on the key-sentence segment, normalised text
    answer_match: str = "names_fuzzy"  # exact | names_fuzzy (names and places may be misspelt)
    name_similarity: float = 0.6  # character similarity a misspelt name needs
    judge_backend: str = "offline"  # offline (MiniLM text solver) | llm
    judge_margin: float = 0.05  # lead the best choice needs over the next one
    judge_orders: int = 4  # blind presentations (cyclic rotations of the choices)
    judge_alpha: float = 0.05  # blind judge right this improbably often by chance: a leak
    max_regenerations: int = 4  # new seeds per rejected item before it is left out
    max_key_draws: int = 8  # pre-check: key sentences drawn per item before it is rejected


@dataclass
class QuestionConfig:
    """What the planner asks for (pipeline/writing/facts.py)."""

    confusers: int = 0  # 0-3 wrong choices that are other facts of the key's kind, said
    descriptive_share: float = 0.4  # keys whose answer is a phrase (a finding, a decision...)
    multi_hop: float = 0.0  # share of two-hop items: the answer adds two facts said apart


@dataclass
class AuditConfig:
    """Thresholds `spiral audit` gates on (a run of ours must pass every one)."""

    letter_tolerance: float = 0.03  # each correct letter 25% +- this
    longest_correct_max: float = 0.30  # correct choice strictly the longest
    depth_tolerance: float = 0.03  # each key-depth decile 10% +- this ...
    depth_min_items: int = 100  # ... checked on runs this large or larger
    distractor_said_max: float = 0.0  # items with a distractor said in the transcript
    duration_inside_min: float = 0.95  # items inside the duration window
    duration_target_seconds: float | None = None  # window; None: audio.target_seconds
    duration_tolerance_seconds: float | None = None  # None: audio.tolerance_seconds
    gates_pass_min: float = 1.0  # items whose every recorded check passed
    # The text itself (any SPIRAL-format file): is the key hidden among other details?
    key_only_fact_max: float = 0.05  # items whose key is the only fact-bearing sentence
    fact_density_min: float = 0.20  # non-key sentences carrying a detail ...
    fact_density_max: float = 0.35
    distinct2_min: float = 0.60  # distinct word bigrams / bigrams, first `distinct2_words`
    distinct2_words: int = 20000
    repeated_sentences_max: float = 0.02  # non-key sentences said in another item
    phrase_answers_min: float = 0.30  # answers of three words or more ...
    corpus_min_items: int = 20  # distinct-2, repeats, phrase share: on files this large
    # Choices with no clue (reports/blind_audit.py): no rule reading only the choices and the
    # question finds the answer more often than this, overall and within an answer form of
    # `corpus_min_items` items or more; on files of `corpus_min_items` items or more.
    blind_rule_max: float = 0.30
    blind_rule_form_max: float = 0.35
    # Sentences stating facts as on-topic as the others (MiniLM similarity to the subtopic:
    # the others' mean minus the facts'), on files of `corpus_min_items` or more; None: not
    # measured.
    topic_fit_gap_max: float | None = None  # spiral.yaml: 0.03 (measuring loads MiniLM)


@dataclass
class AcousticsConfig:
    """Degraded audio at set levels (pipeline/acoustics/); all off by default. A list of
    levels gives each to an equal share of items (stratified by the planner)."""

    snr_db: float | list[float] | None = None  # additive noise at this SNR over the item
    noise: str | list[str] = "babble"  # babble | pink | white | hum
    rt60_s: float | list[float] | None = None  # image-source room with this RT60
    overlap: float | list[float] = 0.0  # share of turn changes that overlap
    backchannels: float | list[float] = 0.0  # share of sentences a listener answers "hmm"
    telephone: bool | list[bool] = False  # 300-3,400 Hz, 8 kHz, G.711 mu-law
    babble_talkers: int = 5  # voices mixed into babble
    # What the ASR gate hears: `clean`, the key clip of the clean track (the same gate, and
    # so the same items, at every level; the degraded clip's WER is measured and recorded,
    # not gated) | `degraded`, the degraded key clip (a draw the ASR cannot hear is redrawn).
    gate: str = "clean"
    # With gate: clean, also transcribe the degraded key wav and record its WER (one more ASR
    # pass per built item: what each level costs an ASR, shown by the audit).
    measure_degraded: bool = True

    @property
    def enabled(self) -> bool:
        def levels(v: object) -> list:
            return v if isinstance(v, list) else [v]
        return (any(v is not None for v in levels(self.snr_db))
                or any(v is not None for v in levels(self.rt60_s))
                or any(v > 0 for v in levels(self.overlap)) or any(levels(self.telephone))
                or any(v > 0 for v in levels(self.backchannels)))


@dataclass
class Config:
    run: str = "demo"
    seed: int = 1234
    n_items: int = 12
    # A length grid (core/grid.py): n_items items at each of these target lengths, in
    # seconds; empty: every item at audio.target_seconds.
    lengths: list[float] = field(default_factory=list)
    types: dict[str, float] = field(
        default_factory=lambda: {"lecture": 1.0, "conversation": 1.0, "meeting": 1.0}
    )
    output_root: str = "data/runs"
    executor: str = "local"  # local | ray
    prompts_dir: str = "prompts"
    voices: str = "voices/voices.yaml"
    llm: LLMConfig = field(default_factory=LLMConfig)
    tts: TTSConfig = field(default_factory=TTSConfig)
    ray: RayConfig = field(default_factory=RayConfig)
    audio: AudioConfig = field(default_factory=AudioConfig)
    writer: WriterConfig = field(default_factory=WriterConfig)
    publish: PublishConfig = field(default_factory=PublishConfig)
    baseline: BaselineConfig = field(default_factory=BaselineConfig)
    validate: ValidateConfig = field(default_factory=ValidateConfig)
    audit: AuditConfig = field(default_factory=AuditConfig)
    question: QuestionConfig = field(default_factory=QuestionConfig)
    acoustics: AcousticsConfig = field(default_factory=AcousticsConfig)

    @property
    def run_dir(self) -> Path:
        return Path(self.output_root) / self.run

    @property
    def cache_root(self) -> Path:
        """Caches shared by every run under the same output root (TTS, LLM, models)."""
        return Path(self.output_root) / "_cache"

    @property
    def tts_cache(self) -> Path:
        return Path(self.tts.cache_dir) if self.tts.cache_dir else self.cache_root / "tts"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


TRANSCRIPT_TYPES = ("lecture", "conversation", "meeting")
LLM_BACKENDS = ("offline", "openai")
RESPONSE_FORMATS = ("auto", "json_schema", "json_object_schema", "json_object", "prompt")
TTS_BACKENDS = ("espeak", "coqui")
TTS_DEVICES = ("auto", "cpu", "cuda")
EXECUTORS = ("local", "ray")
AUDIO_FORMATS = ("flac", "wav")
RESERVED_FOLDERS = ("", "export", "audio", "plan", "script", "plant", "question", "precheck",
                    "synthesize", "validate", "baseline", "audit", "llm")
BASELINE_ADAPTERS = ("cascade", "qwen2-audio")
JUDGE_BACKENDS = ("offline", "llm")
ANSWER_MATCH = ("exact", "names_fuzzy")
ASR_WINDOWS = ("fitted", "full")
NOISES = ("babble", "pink", "white", "hum")
GATES = ("clean", "degraded")


def _levels(value: Any) -> list:
    """A setting's levels: a list stratifies them over the items (never empty)."""
    return value if isinstance(value, list) else [value]


def _acoustics_checks(a: AcousticsConfig) -> list[tuple[bool, str, str]]:
    snr, rt60, ov = _levels(a.snr_db), _levels(a.rt60_s), _levels(a.overlap)
    return [
        (bool(snr) and all(v is None or -10 <= v <= 60 for v in snr), "acoustics.snr_db",
         "null, or a dB value (or non-empty list) from -10 to 60"),
        (bool(_levels(a.noise)) and all(v in NOISES for v in _levels(a.noise)),
         "acoustics.noise", f"one of {NOISES} (or a list of them)"),
        (bool(rt60) and all(v is None or 0.1 <= v <= 1.5 for v in rt60), "acoustics.rt60_s",
         "null, or seconds (or a non-empty list) from 0.1 to 1.5"),
        (bool(ov) and all(0 <= v <= 1 for v in ov), "acoustics.overlap",
         "a share (or non-empty list) from 0 to 1"),
        (bool(_levels(a.backchannels)) and all(0 <= v <= 1 for v in _levels(a.backchannels)),
         "acoustics.backchannels", "a share (or non-empty list) from 0 to 1"),
        (bool(_levels(a.telephone)), "acoustics.telephone", "true, false or a list of them"),
        (1 <= a.babble_talkers <= 10, "acoustics.babble_talkers", "an int from 1 to 10"),
        (a.gate in GATES, "acoustics.gate", f"one of {GATES}"),
    ]


def _build(cls: type, data: dict[str, Any], source: str, lenient: bool = False) -> Any:
    try:
        return from_dict(cls, data, check=True, lenient=lenient)
    except TypedError as exc:
        raise ConfigError(f"{source}: {exc}") from None


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
    except (yaml.YAMLError, RecursionError):
        value = raw
    return key.strip(), value


def _validate(cfg: Config, source: str) -> None:
    checks = [
        (cfg.llm.backend in LLM_BACKENDS, "llm.backend", f"one of {LLM_BACKENDS}"),
        (cfg.tts.backend in TTS_BACKENDS, "tts.backend", f"one of {TTS_BACKENDS}"),
        (cfg.executor in EXECUTORS, "executor", f"one of {EXECUTORS}"),
        (cfg.ray.tts_actors >= 1, "ray.tts_actors", "an int >= 1"),
        (cfg.n_items >= 1, "n_items", "an int >= 1"),
        (all(10 <= x <= 7200 for x in cfg.lengths) and len(set(cfg.lengths)) == len(cfg.lengths),
         "lengths", "distinct seconds from 10 to 7200, e.g. [30, 120, 600]"),
        (cfg.tts.workers >= 1, "tts.workers", "an int >= 1"),
        (cfg.llm.concurrency >= 1, "llm.concurrency", "an int >= 1"),
        (cfg.llm.response_format in RESPONSE_FORMATS, "llm.response_format",
         f"one of {', '.join(RESPONSE_FORMATS)}"),
        (cfg.llm.distractors in ("model", "rules"), "llm.distractors", "model or rules"),
        (min(cfg.llm.max_repairs, cfg.llm.max_reasks, cfg.llm.max_retries) >= 0,
         "llm.max_repairs", "ints >= 0 (max_repairs, max_reasks, max_retries)"),
        (cfg.llm.competence_replies >= 0, "llm.competence_replies", "an int >= 0"),
        (cfg.llm.timeout_s > 0 and cfg.llm.backoff_s >= 0, "llm.timeout_s",
         "a float > 0 (and llm.backoff_s >= 0)"),
        (all(set(p) <= {"input", "output"} for p in cfg.llm.prices.values()), "llm.prices",
         "a mapping model -> {input: USD per 1M tokens, output: USD per 1M tokens}"),
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
        (cfg.publish.max_shard_mb >= 1, "publish.max_shard_mb", "an int >= 1"),
        (cfg.publish.row_group_mb >= 1, "publish.row_group_mb", "an int >= 1"),
        (cfg.publish.audio_format in AUDIO_FORMATS, "publish.audio_format",
         f"one of {AUDIO_FORMATS}"),
        (cfg.publish.folder not in RESERVED_FOLDERS and "/" not in cfg.publish.folder
         and not cfg.publish.folder.startswith("."), "publish.folder",
         f"a folder name (no '/'), none of {RESERVED_FOLDERS}"),
        (cfg.baseline.adapter in BASELINE_ADAPTERS, "baseline.adapter",
         f"one of {BASELINE_ADAPTERS}"),
        (bool(cfg.baseline.prune_rates) and all(0 <= r < 1 for r in cfg.baseline.prune_rates),
         "baseline.prune_rates", "a non-empty list of floats in [0, 1)"),
        (cfg.baseline.seeds >= 1, "baseline.seeds", "an int >= 1"),
        (cfg.baseline.k1 >= 1 and cfg.baseline.frame_tokens >= 1, "baseline.k1",
         "an int >= 1 (and baseline.frame_tokens too)"),
        (cfg.validate.judge_backend in JUDGE_BACKENDS, "validate.judge_backend",
         f"one of {JUDGE_BACKENDS}"),
        (cfg.validate.answer_match in ANSWER_MATCH, "validate.answer_match",
         f"one of {ANSWER_MATCH}"),
        (cfg.validate.asr_window in ASR_WINDOWS, "validate.asr_window", f"one of {ASR_WINDOWS}"),
        (cfg.validate.judge_orders >= 1, "validate.judge_orders", "an int >= 1"),
        (cfg.validate.max_regenerations >= 0, "validate.max_regenerations", "an int >= 0"),
        (cfg.validate.max_key_draws >= 1, "validate.max_key_draws", "an int >= 1"),
        (0 <= cfg.validate.max_wer, "validate.max_wer", "a float >= 0"),
        (0 <= cfg.question.confusers <= 3, "question.confusers", "an int from 0 to 3"),
        (0 <= cfg.question.descriptive_share <= 1, "question.descriptive_share",
         "a float from 0 to 1"),
        (0 <= cfg.question.multi_hop <= 1, "question.multi_hop", "a float from 0 to 1"),
        (cfg.run != "" and "/" not in cfg.run and not cfg.run.startswith("."), "run",
         "a folder name (no '/')"),
    ] + _acoustics_checks(cfg.acoustics)
    if (wrong := out_of_bounds(cfg)) is not None:  # first: a nan passes every check below
        raise ConfigError(f"{source}: {wrong}")
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
        except RecursionError:
            raise ConfigError(f"{source}: YAML nested too deeply") from None
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
    cfg = _build(Config, data, source)
    _validate(cfg, source)
    return cfg


def config_from_dict(data: dict[str, Any], source: str, lenient: bool = False) -> Config:
    """A config from a dict, checked like a YAML file; `lenient` drops keys this version does
    not know (a run's manifest written by another version of the pipeline)."""
    cfg = _build(Config, data, source, lenient)
    _validate(cfg, source)
    return cfg
