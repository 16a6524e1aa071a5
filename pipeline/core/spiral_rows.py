"""SPIRAL records as typed rows with their audio embedded, streamed to disk a batch at a time.

One schema and one writer for both files that carry audio: the export's `datasets` folder
(stages/export.py, Arrow) and the published parquet shards (publishing/publish.py). Rows are
built one record at a time and written whenever the batch holds `batch_bytes` of audio, so
memory stays flat however many items a run has.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipeline.core.paths import inside
from pipeline.core.records import LETTERS

SKIP_FIELDS = ("checks", "provenance", "audio", "key_audio", "difficulty")
SPIRAL_DIR = "spiral"  # a published folder's files in SPIRAL's own layout


def features(sample_rate: int, acoustics: bool = False, clean_audio: bool = False) -> Any:
    """Every SPIRAL field with its nesting, plus ours. `prompts_used` (a mapping whose keys
    vary by item) becomes a list of {speaker, prompt}; `answer_label` is the correct choice's
    index 0-3 (A-D), beside SPIRAL's `correct_answer` text. `metadata.acoustics` (asked and
    measured levels) only in runs built with acoustic conditions: a clean run's schema is
    the one it always had. `clean_audio` (publish.clean_audio, a run with acoustic
    conditions): a `clean_audio` column holds each item's clean track beside the degraded
    one, so a user scores the same item both ways from the dataset alone."""
    from datasets import Audio, ClassLabel, Features, List, Value

    s, i, f, b = Value("string"), Value("int32"), Value("float64"), Value("bool")
    metadata = {"main_topic": s, "subtopic": s, "transcript_type": s, "id": s,
                "target_seconds": f, "hops": i}
    if acoustics:
        metadata["acoustics"] = {
            "snr_db": f, "noise": s, "measured_snr_db": f, "rt60_s": f, "measured_rt60_s": f,
            "room_dims": List(f), "overlap": f, "measured_overlap": f, "telephone": b,
            "backchannels": f, "backchannel_events": List({"over": i, "speaker": s,
                                                           "text": s, "start": f, "end": f}),
            "gate": s, "clean_audio_file": s, "clean_audio_folder": s}
    extra = {"clean_audio": Audio(sampling_rate=sample_rate)} if acoustics and clean_audio else {}
    return Features({
        "transcript": List({"speaker": s, "text": List(s)}),
        "original_key_sentence": s,
        "test_question": {"question": s, "choices": List(s), "correct_answer": s},
        "metadata": metadata,
        "audio_data": {
            "key_sentences": {"speaker": s, "text": s, "audio_file": s, "indices": List(i),
                              "audio_dir": s},
            "combined": {"audio_files": List(s), "audio_folder": s,
                         "prompts_used": List({"speaker": s, "prompt": s}),
                         "sentences": List(s)},
        },
        "answer_label": ClassLabel(names=list(LETTERS)),
        "timestamps": {"sentences": List(List(f)), "key_sentence": List(f)},
        "voices": List({"id": s, "voice": s, "gender": s}),
        "duration": f,
        "sample_rate": i,
        "key_detail": {"kind": s, "answer": s, "depth": i, "confusers": List(s),
                       "keys": List({"text": s, "value": s, "index": i, "depth": i,
                                     "timestamps": List(f), "audio_file": s}),
                       "facts": List({"id": s, "kind": s, "subject": s, "context": s,
                                      "value": s, "position": f, "frame": s, "role": s,
                                      "slots": {"term": s, "count": s, "unit": s, "who": s,
                                                "ref": s, "its": s, "ask": s},
                                      "alternatives": List(s)})},
        "checks": List({"name": s, "ok": b, "reason": s, "value": f}),
        "difficulty": {"hard": b, "too_easy": b, "details": s},
        "provenance": s,
        "audio": Audio(sampling_rate=sample_rate),
        "key_audio": Audio(sampling_rate=sample_rate),
        **extra,
    })


def spiral_record(rec: dict) -> dict:
    """The record as a published folder holds it: audio paths as SPIRAL's records say them,
    `spiral/wavs` and `spiral/key_wavs`, relative to the folder that holds `spiral/`."""
    out = {**rec, "audio_data": json.loads(json.dumps(rec["audio_data"]))}
    out["audio_data"]["combined"]["audio_folder"] = f"{SPIRAL_DIR}/wavs"
    out["audio_data"]["key_sentences"]["audio_dir"] = f"{SPIRAL_DIR}/key_wavs"
    if "acoustics" in rec["metadata"]:  # shipped only with publish.clean_audio
        out["metadata"] = {**rec["metadata"], "acoustics": {
            **rec["metadata"]["acoustics"], "clean_audio_folder": f"{SPIRAL_DIR}/wavs_clean"}}
    return out


def audio_paths(export: Path, rec: dict, where: str = "record") -> tuple[Path, Path]:
    """The item's two wavs; a name leading outside the export raises OutsidePath."""
    audio = rec["audio_data"]
    return (inside(export, audio["combined"]["audio_files"][0], where, "wavs"),
            inside(export, audio["key_sentences"]["audio_file"], where, "key_wavs"))


def encode_audio(path: Path, fmt: str) -> dict[str, Any]:
    """The file's bytes as the Audio feature stores them: the wav itself, or lossless FLAC."""
    if fmt == "wav":
        return {"bytes": path.read_bytes(), "path": path.name}
    import soundfile as sf

    buf = io.BytesIO()
    with sf.SoundFile(path) as src, sf.SoundFile(buf, "w", src.samplerate, src.channels,
                                                 "PCM_16", format="FLAC") as dst:
        # a block at a time: an hour's samples are never held beside their FLAC bytes
        for block in src.blocks(blocksize=1 << 20, dtype="int16"):
            dst.write(block)
    return {"bytes": buf.getvalue(), "path": path.with_suffix(".flac").name}


def row(rec: dict, export: Path, tags: dict[str, Any] | None, audio_format: str,
        published: bool = False, clean_audio: bool = False) -> dict[str, Any]:
    """One row: the record's fields typed as `features` says, audio embedded; `published`
    gives the audio paths as a published folder's `spiral/` files say them; `clean_audio`
    embeds the clean track too (features(..., clean_audio=True))."""
    wav, key_wav = audio_paths(export, rec)
    clean_name = (rec["metadata"].get("acoustics") or {}).get("clean_audio_file")
    rec = spiral_record(rec) if published else rec
    out = {k: v for k, v in rec.items() if k not in SKIP_FIELDS}
    out["audio_data"] = json.loads(json.dumps(rec["audio_data"]))
    used = rec["audio_data"]["combined"]["prompts_used"]
    out["audio_data"]["combined"]["prompts_used"] = [
        {"speaker": k, "prompt": v} for k, v in used.items()]
    out["answer_label"] = LETTERS.index(rec["test_question"]["correct_answer"][:1])
    out["checks"] = [{"name": n, "ok": c["ok"], "reason": c.get("reason", ""),
                      "value": c.get("value")}
                     for n, c in rec.get("checks", {}).items()]
    out["provenance"] = json.dumps(rec.get("provenance", {}), sort_keys=True,
                                   ensure_ascii=False)
    tag = (tags or {}).get(rec["metadata"]["id"])
    out["difficulty"] = None if tag is None else {
        "hard": tag.get("hard"), "too_easy": tag.get("too_easy"),
        "details": json.dumps({k: v for k, v in tag.items()
                               if k not in ("id", "hard", "too_easy")}, sort_keys=True)}
    out["audio"] = encode_audio(wav, audio_format)
    out["key_audio"] = encode_audio(key_wav, audio_format)
    if clean_audio:
        if not clean_name:
            raise ValueError(f"item {rec['metadata']['id']}: no clean track to publish "
                             f"(metadata.acoustics.clean_audio_file)")
        out["clean_audio"] = encode_audio(inside(export, clean_name, "record", "wavs_clean"),
                                          audio_format)
    return out


class RowStream:
    """Rows in, tables out: `sink(table)` gets a pyarrow table of `schema` whenever the rows
    held carry `batch_bytes` of audio, and once more at `flush()`."""

    def __init__(self, schema: Any, sink: Callable[[Any], None], batch_bytes: int) -> None:
        self.schema = schema
        self.sink = sink
        self.batch_bytes = batch_bytes
        self.rows: list[dict[str, Any]] = []
        self.held = 0
        self.num_bytes = 0  # uncompressed arrow bytes written

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        self.held += sum(len(row[k]["bytes"]) for k in ("audio", "key_audio") if row.get(k))
        if self.held >= self.batch_bytes:
            self.flush()

    def flush(self) -> None:
        import pyarrow as pa

        if self.rows:
            table = pa.Table.from_pylist(self.rows, schema=self.schema)
            self.sink(table)
            self.num_bytes += table.nbytes
        self.rows = []
        self.held = 0
