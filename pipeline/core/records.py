"""Typed records that flow between stages, and their SPIRAL-format export.

One `Item` grows as it passes the stages: the planner fills `spec`, the writer `transcript`,
the planter `key`, the question stage `question`, synthesis `audio`, validation `checks`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from pipeline.core.typed import from_dict

LETTERS = ("A", "B", "C", "D")


# Kinds of critical detail a key sentence can carry.
KINDS = ("number", "quantity", "date", "time", "name", "place", "percentage", "money")
# Speakers per transcript type (fewest, most): the planner draws within it, the gates check it.
SPEAKERS = {"lecture": (1, 1), "conversation": (3, 5), "meeting": (3, 5)}


@dataclass
class Speaker:
    id: str  # spk_1, spk_2, ...
    voice: str  # id in voices/voices.yaml
    gender: str  # female | male


@dataclass
class Fact:
    """One line of the item's fact sheet (pipeline/writing/facts.py): `value` is said word for
    word exactly once, at about `position` (0..1) of the transcript."""

    id: str  # f1, f2, ... in order of position
    kind: str  # a value kind (number, date, name, ...) or a phrase kind (finding, decision, ...)
    subject: str  # who or what the fact is about: an organisation, a person, a project
    context: str  # what about the subject, e.g. "survey responses collected on the ice cores"
    value: str
    position: float
    frame: str = ""  # the frame (facts.FRAMES) the context and the question come from
    slots: dict[str, str] = field(default_factory=dict)  # term, count, unit of the frame
    role: str = "fact"  # key | confuser | fact
    # The key's wrong choices besides the confusers' values, drawn with the sheet from the
    # same range or sibling options as the value (writing/bank_sheet.py, or the LLM's
    # alternatives); empty for the old frames, whose wrong choices the question stage draws.
    alternatives: list[str] = field(default_factory=list)


@dataclass
class ItemSpec:
    index: int
    id: str  # <type>_<index>
    seed: int
    type: str  # lecture | conversation | meeting
    main_topic: str
    subtopic: str
    terms: list[str]
    speakers: list[Speaker]
    key_decile: int  # 0..9: where the key sentence starts, as a share of the sentences
    key_offset: float  # 0..1: where inside the decile
    letter: str  # planned correct letter
    detail_kind: str  # the key fact's kind: a value kind or a phrase kind (writing/facts.py)
    answer_may_be_longest: bool  # only some items may have a strictly longest answer
    facts: list[Fact] = field(default_factory=list)  # the fact sheet, in order of position
    key_fact: str = ""  # id of the fact the question asks for
    # The item's duration window (core/grid.py): a length grid gives items of one run
    # different lengths; 0 in records planned before it (the config's window then).
    target_seconds: float = 0.0
    tolerance_seconds: float = 0.0
    hops: int = 1  # facts the question needs: 1, or 2 for a two-hop question
    # Acoustic levels (pipeline/acoustics/levels.py): {} when the run has none.
    conditions: dict[str, Any] = field(default_factory=dict)


@dataclass
class Turn:
    speaker: str
    text: list[str]


@dataclass
class KeyDetail:
    sentence: str
    index: int  # position in the flat sentence list
    kind: str
    answer: str  # the detail exactly as said in the key sentence
    slots: dict[str, str]  # the fictional context the question can refer to


@dataclass
class Question:
    stem: str
    choices: list[str]  # four texts without the "A. " prefix
    letter: str

    @property
    def labelled(self) -> list[str]:
        return [f"{ltr}. {c}" for ltr, c in zip(LETTERS, self.choices, strict=True)]

    @property
    def correct(self) -> str:
        return self.labelled[LETTERS.index(self.letter)]


@dataclass
class AudioInfo:
    wav: str  # file name under the run's audio/ folder
    key_wav: str
    sample_rate: int
    duration: float
    sentence_times: list[list[float]]  # [start, end] seconds, one per flat sentence
    key_times: list[float]
    rate_scale: float  # speaking-rate factor the duration control settled on
    tts_backend: str
    # Every key fact's sentence in transcript order (two for a two-hop item, the later one
    # being `key_wav`): {"index", "times": [start, end], "wav", "value"}.
    keys: list[dict[str, Any]] = field(default_factory=list)
    # Asked and measured acoustic levels and the clean track's name: {} when none were set.
    acoustics: dict[str, Any] = field(default_factory=dict)


@dataclass
class Check:
    name: str
    ok: bool
    reason: str = ""
    value: float | None = None  # the measurement behind the verdict (a WER, a share), if any


@dataclass
class Item:
    spec: ItemSpec
    transcript: list[Turn] | None = None
    key: KeyDetail | None = None
    question: Question | None = None
    audio: AudioInfo | None = None
    checks: list[Check] = field(default_factory=list)
    failed: dict[str, str] | None = None  # {"stage": ..., "reason": ...}
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.spec.id

    def sentences(self) -> list[str]:
        return [s for turn in self.transcript or [] for s in turn.text]

    def sentence_speakers(self) -> list[str]:
        return [turn.speaker for turn in self.transcript or [] for _ in turn.text]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Item:
        return from_dict(cls, data)


def to_spiral(item: Item, audio_folder: str = "wavs", key_folder: str = "key_wavs") -> dict:
    """The published SPIRAL record (same names, same meaning) plus our extra fields."""
    assert item.transcript and item.key and item.question and item.audio, item.id
    spec, key, q, audio = item.spec, item.key, item.question, item.audio
    speakers = item.sentence_speakers()
    rec = {
        "transcript": [{"speaker": t.speaker, "text": list(t.text)} for t in item.transcript],
        "original_key_sentence": key.sentence,
        "test_question": {
            "question": q.stem,
            "choices": q.labelled,
            "correct_answer": q.correct,
        },
        "metadata": {
            "main_topic": spec.main_topic,
            "subtopic": spec.subtopic,
            "transcript_type": spec.type,
            "id": spec.id,
            "target_seconds": spec.target_seconds,
            "hops": spec.hops,
        },
        "audio_data": {
            "key_sentences": {
                "speaker": speakers[key.index],
                "text": key.sentence,
                "audio_file": audio.key_wav,
                "indices": [key.index, key.index + 1],
                "audio_dir": key_folder,
            },
            "combined": {
                "audio_files": [audio.wav],
                "audio_folder": audio_folder,
                "prompts_used": {s.id: s.voice for s in spec.speakers},
                "sentences": item.sentences(),
            },
        },
        # Fields SPIRAL lacks.
        "timestamps": {
            "sentences": audio.sentence_times,
            "key_sentence": audio.key_times,
        },
        "voices": [dataclasses.asdict(s) for s in spec.speakers],
        "duration": audio.duration,
        "sample_rate": audio.sample_rate,
        "key_detail": {"kind": key.kind, "answer": key.answer, "depth": spec.key_decile,
                       "keys": [{"text": item.sentences()[k["index"]], "value": k["value"],
                                 "index": k["index"],
                                 "depth": min(9, 10 * k["index"] // len(item.sentences())),
                                 "timestamps": k["times"], "audio_file": k["wav"]}
                                for k in audio.keys or [  # rendered before `keys`
                                    {"index": key.index, "times": audio.key_times,
                                     "wav": audio.key_wav, "value": key.answer}]],
                       "confusers": [f.value for f in spec.facts if f.role == "confuser"],
                       "facts": [dataclasses.asdict(f) for f in spec.facts]},
        "checks": {c.name: {"ok": c.ok, "reason": c.reason, "value": c.value}
                   for c in item.checks},
        "provenance": item.provenance,
    }
    if audio.acoustics:  # asked and measured levels; the room's geometry is provenance
        rec["metadata"]["acoustics"] = {k: v for k, v in audio.acoustics.items()
                                        if k != "details"}
        rec["provenance"] = {**item.provenance, "acoustics": audio.acoustics.get("details")}
    return rec
