"""Where `spiral eval` reads a benchmark from: a run, a published folder, a folder in the public
SPIRAL layout, or a Hub dataset; each item comes out as its SPIRAL record plus one wav file.

Paths resolve as SPIRAL's own records do: `audio_folder / audio_files[0]` relative to the folder
holding `data.jsonl`, or, as in the public release (`audio_folder: spiral/wavs`), relative to
the folder above it. Audio that exists only inside parquet rows (a Hub dataset, a published
folder without `spiral/`) is written out once as 16-bit wav files under the evaluation folder.
"""

from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.core import difficulty
from pipeline.core.paths import OutsidePath, inside
from pipeline.core.record_check import RecordError, check_record
from pipeline.core.store import atomic_write_bytes, read_jsonl

CONFIGS = ("default", "hard")


class SourceError(ValueError):
    """The benchmark cannot be read; the message names the file, field or item."""


@dataclass
class EvalItem:
    id: str
    rec: dict[str, Any]
    wav: Path
    type: str
    depth: int | None  # key-sentence decile 0-9, None when the record cannot say
    kind: str  # the key detail's kind (ours), "n/a" for records without it
    duration: float
    n_speakers: int


@dataclass
class Source:
    kind: str  # run | published | spiral | hub
    label: str  # what the reports call it
    config: str
    eval_root: Path  # <output_root>/<run or source name>/eval[/hard]
    run_dir: Path | None = None  # only a run's tags can be written
    items: list[EvalItem] = field(default_factory=list)
    note: str = ""  # how the hard subset was chosen, for the report


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "source"


def audio_path(data_jsonl: Path, rec: dict[str, Any], where: str = "record") -> Path:
    """The record's wav, never outside the dataset's folders (a Hub dataset is untrusted
    input: a record naming /etc/passwd or ../../x is refused with one line)."""
    combined = rec["audio_data"]["combined"]
    folder, name = combined["audio_folder"], combined["audio_files"][0]
    if not isinstance(folder, str) or not isinstance(name, str):
        raise TypeError("audio_folder and audio_files[0] must be strings")
    rel = f"{folder.rstrip('/')}/{name}" if folder else name
    try:
        for base in (data_jsonl.parent, data_jsonl.parent.parent):
            if inside(base, rel, where).is_file():
                return base / rel
        return inside(data_jsonl.parent, rel, where)
    except OutsidePath as exc:
        raise SourceError(str(exc)) from None


def depth_decile(rec: dict[str, Any]) -> int | None:
    """Our records carry `key_detail.depth`; SPIRAL's give the key sentence's index among the
    flat sentences, from which the same decile follows."""
    depth = (rec.get("key_detail") or {}).get("depth")
    if isinstance(depth, int):
        return depth
    try:
        start = rec["audio_data"]["key_sentences"]["indices"][0]
        total = len(rec["audio_data"]["combined"]["sentences"])
    except (KeyError, IndexError, TypeError):
        return None
    return min(9, max(0, math.floor(10 * start / total))) if total else None


def make_item(rec: dict[str, Any], wav: Path, where: str) -> EvalItem:
    try:  # the records the audit refuses are never scored
        check_record(rec, where)
    except RecordError as exc:
        raise SourceError(str(exc)) from None
    try:
        item_id = rec["metadata"]["id"]
        q = rec["test_question"]
        if len(q["choices"]) != 4 or q["correct_answer"] not in q["choices"]:
            raise SourceError(f"{where} ({item_id}): test_question needs four choices and a "
                              "correct_answer equal to one of them")
        combined = rec["audio_data"]["combined"]
        speakers = combined.get("prompts_used") or {}
        n_spk = len(speakers) or len({t["speaker"] for t in rec.get("transcript", [])})
        kind = (rec.get("key_detail") or {}).get("kind") or "n/a"
        ttype = rec["metadata"].get("transcript_type", "n/a")
    except (KeyError, TypeError) as exc:
        raise SourceError(f"{where}: not a SPIRAL record (missing {exc})") from None
    if not wav.is_file():
        raise SourceError(f"{where} ({item_id}): audio not found: {wav}")
    duration = rec.get("duration")
    if not isinstance(duration, (int, float)):
        import soundfile as sf

        duration = sf.info(str(wav)).duration
    return EvalItem(item_id, rec, wav, ttype, depth_decile(rec), kind, float(duration), n_spk)


def read_spiral_jsonl(data: Path, ids: set[str] | None = None) -> list[EvalItem]:
    if not data.is_file():
        raise SourceError(f"{data}: not found")
    out = []
    for n, rec in read_jsonl(data, SourceError):
        item_id = (rec.get("metadata") or {}).get("id")
        if ids is not None and item_id not in ids:
            continue
        try:
            wav = audio_path(data, rec, f"{data}:{n}")
        except (KeyError, IndexError, TypeError) as exc:
            raise SourceError(f"{data}:{n}: audio_data.combined is incomplete ({exc})") from None
        out.append(make_item(rec, wav, f"{data}:{n}"))
    return out


def _from_run(run_dir: Path, config: str) -> Source:
    data = run_dir / "export" / "data.jsonl"
    if not data.is_file():
        raise SourceError(f"{data}: no export; build the run first: spiral run --run "
                          f"{run_dir.name}")
    src = Source("run", run_dir.name, config, run_dir / "eval", run_dir)
    if config == "hard":
        tags = difficulty.load(run_dir)
        if tags is None:
            raise SourceError(f"{difficulty.path(run_dir)}: no difficulty tags, so no hard "
                              "subset; tag it first: spiral eval --data RUN --model M --tag")
        who = difficulty.definer(tags)
        src.note = f"hard subset: items {who['model']} answered wrongly"
        src.items = read_spiral_jsonl(data, difficulty.hard_ids(tags))
    else:
        src.items = read_spiral_jsonl(data)
    return src


def results_root(output_root: Path, name: str) -> Path:
    """The one place results go: `<output_root>/<name>/eval/`, as for a run of that name.
    A source that is not a run must not write into a run that happens to share its name."""
    home = output_root / _slug(name)
    if (home / "manifest.json").is_file():
        raise SourceError(f"--data: its results would go to {home / 'eval'}, which belongs to "
                          f"the run {home.name}; rename the folder you evaluate")
    return home / "eval"


def _from_folder(folder: Path, config: str, output_root: Path) -> Source:
    if (folder / "manifest.json").is_file() and (folder / "export").is_dir():
        return _from_run(folder, config)
    name = "data_h.jsonl" if config == "hard" else "data.jsonl"
    # a published folder inside a run (<run>/hub) is named after both: demo-hub
    inside = folder.resolve().parent
    label = f"{inside.name}-{folder.resolve().name}" if (inside / "manifest.json").is_file() \
        else folder.resolve().name
    root = results_root(output_root, label)
    for data, kind in ((folder / "spiral" / name, "published"), (folder / name, "spiral")):
        if data.is_file():
            return Source(kind, str(folder), config, root, None, read_spiral_jsonl(data))
    if (folder / "data").is_dir():
        return _from_datasets(str(folder), config, root, f"published folder {folder}")
    raise SourceError(f"--data {folder}: no {name} (SPIRAL layout: data.jsonl and spiral/wavs) "
                      "and no parquet data/ folder")


def _from_datasets(name: str, config: str, root: Path, label: str) -> Source:
    """A Hub dataset id (or a local parquet folder) through `datasets`; audio written out."""
    import datasets

    try:
        ds = datasets.load_dataset(name, config, split="test")
    except Exception as exc:  # offline, unknown id, no such config: one line, not a trace
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SourceError(f"--data {name}: cannot load it with datasets "
                          f"(config {config!r}): {reason}") from None
    if "audio" not in ds.column_names:
        raise SourceError(f"--data {name}: the dataset has no 'audio' column")
    ds = ds.cast_column("audio", datasets.Audio(decode=False))
    audio_dir = root / "_audio" / config
    items = []
    for n, row in enumerate(ds):
        rec = {k: v for k, v in row.items() if k not in ("audio", "key_audio")}
        item_id = (rec.get("metadata") or {}).get("id") or f"row{n}"
        wav = audio_dir / f"{_slug(item_id)}.wav"
        if not wav.is_file():
            atomic_write_bytes(wav, to_wav(row["audio"], f"{label} row {n}"))
        items.append(make_item(rec, wav, f"{label} row {n}"))
    return Source("hub" if label.startswith("Hub") else "published", name, config, root,
                  None, items)


def to_wav(audio: dict[str, Any], where: str) -> bytes:
    """An Audio cell's bytes (wav, flac, ...) as a 16-bit PCM wav."""
    import soundfile as sf

    if not audio or not audio.get("bytes"):
        raise SourceError(f"{where}: the audio cell has no bytes")
    samples, sr = sf.read(io.BytesIO(audio["bytes"]), dtype="int16")
    buf = io.BytesIO()
    sf.write(buf, samples, sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def load_source(data: str, config: str, output_root: Path, limit: int | None = None) -> Source:
    """Resolve `--data`: a run name under the output root, a folder, or a Hub dataset id."""
    if config not in CONFIGS:
        raise SourceError(f"--subset {config!r}: one of {', '.join(CONFIGS)}")
    run_dir = output_root / data
    if "/" not in data and (run_dir / "manifest.json").is_file():
        src = _from_run(run_dir, config)
    elif Path(data).is_dir():
        src = _from_folder(Path(data), config, output_root)
    elif re.fullmatch(r"[\w.-]+/[\w.-]+", data):
        src = _from_datasets(data, config, results_root(output_root, data.replace("/", "--")),
                             f"Hub dataset {data}")
    else:
        raise SourceError(f"--data {data}: not a run under {output_root}, a folder, or a Hub "
                          "dataset id (owner/name)")
    if not src.items:
        raise SourceError(f"--data {data} ({config}): no items")
    if config == "hard":  # its own side-by-side table
        src.eval_root = src.eval_root / "hard"
    if limit is not None:
        src.items = src.items[:limit]
    return src
