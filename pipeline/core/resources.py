"""Loaders for the files the stages read: topics, the offline writer's bank, the voice bank.

Each loader checks its file's shape and names the file and field of any problem, so a bad
edit fails before anything is generated.
"""

from __future__ import annotations

import random
import re
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from pipeline.core.config import TRANSCRIPT_TYPES
from pipeline.core.records import Speaker


class ResourceError(ValueError):
    pass


def load_yaml(path: str | Path) -> Any:
    path = Path(path)
    if not path.exists():
        raise ResourceError(f"{path}: file not found")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ResourceError(f"{path}: not valid YAML: {exc}") from None


def _require(cond: bool, path: str | Path, field: str, expected: str) -> None:
    if not cond:
        raise ResourceError(f"{path}: field '{field}' must be {expected}")


@dataclass(frozen=True)
class Subtopic:
    main_topic: str
    name: str
    terms: tuple[str, ...]


def load_topics(path: str | Path) -> dict[str, list[Subtopic]]:
    data = load_yaml(path)
    _require(isinstance(data, dict), path, "<top>", "a mapping with lecture/conversation/meeting")
    out: dict[str, list[Subtopic]] = {}
    for ttype in TRANSCRIPT_TYPES:
        groups = data.get(ttype)
        _require(isinstance(groups, list) and groups, path, ttype, "a non-empty list of topics")
        subs: list[Subtopic] = []
        for gi, group in enumerate(groups):
            where = f"{ttype}[{gi}]"
            _require(isinstance(group, dict) and isinstance(group.get("main_topic"), str),
                     path, f"{where}.main_topic", "a string")
            _require(isinstance(group.get("subtopics"), list) and group["subtopics"], path,
                     f"{where}.subtopics", "a non-empty list")
            for si, sub in enumerate(group["subtopics"]):
                sw = f"{where}.subtopics[{si}]"
                _require(isinstance(sub, dict) and isinstance(sub.get("name"), str), path,
                         f"{sw}.name", "a string")
                terms = sub.get("terms")
                _require(isinstance(terms, list) and len(terms) >= 2
                         and all(isinstance(t, str) for t in terms), path, f"{sw}.terms",
                         "a list of at least two strings")
                subs.append(Subtopic(group["main_topic"], sub["name"], tuple(terms)))
        out[ttype] = subs
    return out


SLOTS = {"subtopic", "subtopic_lc", "main_topic_lc", "term", "term2"}
_SLOT_RE = re.compile(r"\{([^{}]*)\}")


def load_writer_bank(path: str | Path) -> dict[str, Any]:
    data = load_yaml(path)
    _require(isinstance(data, dict), path, "<top>", "a mapping")
    for ttype in TRANSCRIPT_TYPES:
        for part in ("opening", "body", "closing"):
            field = f"{ttype}.{part}"
            seq = (data.get(ttype) or {}).get(part)
            _require(isinstance(seq, list) and len(seq) >= 2, path, field,
                     "a list of at least two templates")
            for i, tmpl in enumerate(seq):
                slots = set(_SLOT_RE.findall(str(tmpl)))
                _require(slots <= SLOTS, path, f"{field}[{i}]",
                         f"a template using only the slots {sorted(SLOTS)} (got {sorted(slots)})")
    dis = data.get("disfluency") or {}
    for part in ("prefixes", "fillers", "backchannels"):
        _require(isinstance(dis.get(part), list) and dis[part], path, f"disfluency.{part}",
                 "a non-empty list")
    return data


@dataclass(frozen=True)
class Reference:
    """A reference recording for voice cloning, with where it came from and its licence."""

    wav: str  # absolute path (the bank names it relative to voices.yaml)
    source: str
    licence: str


@dataclass(frozen=True)
class Voice:
    id: str
    gender: str
    accent: str
    espeak_voice: str
    espeak_variant: str
    pitch: int
    rate: int
    coqui_speaker: str | None = None  # speaker id of a multi-speaker Coqui model (VITS)
    references: tuple[Reference, ...] = ()  # reference wavs for cloning (XTTS)


@lru_cache(maxsize=1)
def espeak_inventory() -> tuple[frozenset[str], frozenset[str]]:
    """(languages, variants) that the installed espeak-ng knows."""
    def listing(arg: str) -> list[list[str]]:
        try:
            out = subprocess.run(["espeak-ng", arg], capture_output=True, text=True, check=True)
        except FileNotFoundError:
            raise ResourceError(
                "espeak-ng is not installed: run `make setup` (apt-get install espeak-ng)"
            ) from None
        return [line.split() for line in out.stdout.splitlines()[1:] if line.strip()]

    langs = {row[1] for row in listing("--voices") if len(row) > 1}
    variants = {row[4].split("/")[-1] for row in listing("--voices=variant") if len(row) > 4}
    return frozenset(langs), frozenset(variants)


VOICE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


def load_voices(path: str | Path, check_espeak: bool = True,
                reference_dirs: tuple[str | Path, ...] | list[str] = ()) -> list[Voice]:
    """The bank at `path`. Voice ids are simple names (they become file names) and reference
    wavs must lie under the bank's folder or one of `reference_dirs` (tts.reference_dirs)."""
    data = load_yaml(path)
    _require(isinstance(data, dict) and isinstance(data.get("voices"), list), path, "voices",
             "a list of voices")
    voices: list[Voice] = []
    seen: set[str] = set()
    langs, variants = espeak_inventory() if check_espeak else (frozenset(), frozenset())
    for i, v in enumerate(data["voices"]):
        where = f"voices[{i}]"
        _require(isinstance(v, dict) and isinstance(v.get("id"), str), path, f"{where}.id",
                 "a string")
        _require(VOICE_ID.fullmatch(v["id"]) is not None, path, f"{where}.id",
                 f"a simple name (letters, digits, '_' and '-', at most 64), not {v['id']!r}")
        where = f"voices[{i}] ({v['id']})"
        _require(v["id"] not in seen, path, f"{where}.id", "unique")
        seen.add(v["id"])
        _require(v.get("gender") in ("female", "male"), path, f"{where}.gender",
                 "'female' or 'male'")
        es = v.get("espeak") or {}
        _require(isinstance(es.get("voice"), str), path, f"{where}.espeak.voice", "a string")
        _require(isinstance(es.get("variant"), str), path, f"{where}.espeak.variant", "a string")
        _require(isinstance(es.get("pitch", 50), int) and 0 <= es.get("pitch", 50) <= 99, path,
                 f"{where}.espeak.pitch", "an int in 0..99")
        _require(isinstance(es.get("rate", 160), int) and 80 <= es.get("rate", 160) <= 450, path,
                 f"{where}.espeak.rate", "an int (words per minute) in 80..450")
        if check_espeak:
            _require(es["voice"] in langs, path, f"{where}.espeak.voice",
                     f"a language espeak-ng lists (`espeak-ng --voices`), not {es['voice']!r}")
            _require(es["variant"] in variants, path, f"{where}.espeak.variant",
                     f"a variant espeak-ng lists (`espeak-ng --voices=variant`), "
                     f"not {es['variant']!r}")
        speaker, refs = _coqui_fields(v.get("coqui"), path, where, reference_dirs)
        voices.append(Voice(v["id"], v["gender"], str(v.get("accent", es["voice"])), es["voice"],
                            es["variant"], int(es.get("pitch", 50)), int(es.get("rate", 160)),
                            speaker, refs))
    for gender in ("female", "male"):
        _require(sum(v.gender == gender for v in voices) >= 3, path, "voices",
                 f"a bank with at least three {gender} voices (meetings have up to 5 speakers)")
    return voices


def _coqui_fields(data: Any, path: str | Path, where: str,
                  reference_dirs: tuple[str | Path, ...] | list[str] = ()
                  ) -> tuple[str | None, tuple[Reference, ...]]:
    """A voice's optional `coqui:` block: a speaker id and/or reference wavs that exist,
    each under the bank's folder or an allowed one (symlinks resolved first)."""
    allowed = [Path(path).parent.resolve(), *(Path(d).resolve() for d in reference_dirs)]
    if data is None:
        return None, ()
    _require(isinstance(data, dict) and set(data) <= {"speaker", "references"}, path,
             f"{where}.coqui", "a mapping with 'speaker' and/or 'references'")
    speaker = data.get("speaker")
    _require(speaker is None or isinstance(speaker, str | int), path, f"{where}.coqui.speaker",
             "a speaker id (string)")
    refs: list[Reference] = []
    raw = data.get("references") or []
    _require(isinstance(raw, list), path, f"{where}.coqui.references", "a list")
    for j, r in enumerate(raw):
        rw = f"{where}.coqui.references[{j}]"
        _require(isinstance(r, dict) and all(isinstance(r.get(k), str) and r[k].strip()
                                             for k in ("wav", "source", "licence")),
                 path, rw, "a mapping with 'wav', 'source' and 'licence' strings")
        wav = (Path(path).parent / r["wav"]).resolve()
        if not any(wav.is_relative_to(d) for d in allowed):
            raise ResourceError(
                f"{path}: field '{rw}.wav': {r['wav']!r} is outside the voice bank's folder "
                f"{allowed[0]}; put reference wavs there or list their folder in "
                "tts.reference_dirs")
        if wav.suffix.lower() != ".wav":
            raise ResourceError(f"{path}: field '{rw}.wav': {r['wav']!r} is not a .wav file")
        if not wav.is_file():
            raise ResourceError(f"{path}: field '{rw}.wav': file not found: {wav}")
        refs.append(Reference(str(wav), r["source"], r["licence"]))
    return (None if speaker is None else str(speaker)), tuple(refs)



def load_stem_templates(path: str | Path) -> dict[str, str]:
    data = load_yaml(path)
    _require(isinstance(data, dict), path, "<top>", "a mapping of template id to stem")
    stems = {k: v for k, v in data.items() if k != "version"}
    for k, v in stems.items():
        _require(isinstance(v, str) and "{value}" not in v, path, k,
                 "a stem string that does not contain {value}")
    return stems


def draw_speakers(rng: random.Random, voices: list[Voice],
                  roles: list[tuple[str, str]]) -> list[Speaker]:
    """One distinct voice per (speaker id, gender), drawn by `rng`: the planner's draw and a
    re-seeded item's are the same draw, so a new seed changes voices but never genders."""
    pools = {g: sorted(v.id for v in voices if v.gender == g) for g in ("female", "male")}
    for pool in pools.values():
        rng.shuffle(pool)
    return [Speaker(sid, pools[gender].pop(), gender) for sid, gender in roles]
