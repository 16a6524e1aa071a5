"""`spiral publish`: turn a run's export into a folder ready for the Hugging Face Hub.

`data/runs/<run>/<publish.folder>/` gets parquet shards with the audio bytes embedded (so they
decode with no other file), one config per subset (`default`, and `hard` once the baseline has
tagged the run), the audit's plots, a dataset card, and under `spiral/` the SPIRAL-format files
for evaluation code written for the original release.

Records are streamed from `export/data.jsonl` and written a row group at a time, so memory
does not grow with the number of items. The folder is built under a temporary name and
swapped in: a failed or killed publish leaves the previous one whole.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.core import difficulty
from pipeline.core.config import Config, config_from_dict
from pipeline.core.store import atomic_write_text, read_json, replace_dir
from pipeline.stages.export import write_hard_subset

SPLIT = "test"  # a benchmark: every item is for evaluation
SKIP_FIELDS = ("checks", "provenance", "audio", "key_audio", "difficulty")


class PublishError(ValueError):
    """The run cannot be published; the message names the file or item at fault."""


@dataclass
class ItemInfo:
    """What the planning pass keeps of one record: never its audio."""

    id: str
    type: str
    letter: str
    duration: float
    size: int  # estimated bytes in a shard (audio files + JSON line)


@dataclass
class Subset:
    """One config of the published dataset and the shards written for it."""

    name: str
    ids: list[str]
    description: str
    shards: list[str] = field(default_factory=list)  # paths relative to the folder
    num_bytes: int = 0  # uncompressed arrow bytes
    download_size: int = 0  # parquet bytes on disk
    num_examples: int = 0
    hours: float = 0.0


@dataclass
class Published:
    folder: Path
    subsets: list[Subset]
    items: list[ItemInfo]
    files: list[Path]


def features(speaker_ids: list[str], sample_rate: int) -> Any:
    """Every SPIRAL field with its nesting, plus ours; `prompts_used` as a struct of speakers."""
    from datasets import Audio, Features, List, Value

    s, i, f, b = Value("string"), Value("int32"), Value("float64"), Value("bool")
    return Features({
        "transcript": List({"speaker": s, "text": List(s)}),
        "original_key_sentence": s,
        "test_question": {"question": s, "choices": List(s), "correct_answer": s},
        "metadata": {"main_topic": s, "subtopic": s, "transcript_type": s, "id": s},
        "audio_data": {
            "key_sentences": {"speaker": s, "text": s, "audio_file": s, "indices": List(i),
                              "audio_dir": s},
            "combined": {"audio_files": List(s), "audio_folder": s,
                         "prompts_used": {spk: s for spk in speaker_ids},
                         "sentences": List(s)},
        },
        "timestamps": {"sentences": List(List(f)), "key_sentence": List(f)},
        "voices": List({"id": s, "voice": s, "gender": s}),
        "duration": f,
        "sample_rate": i,
        "key_detail": {"kind": s, "answer": s, "depth": i, "confusers": List(s),
                       "facts": List({"id": s, "kind": s, "subject": s, "context": s,
                                      "value": s, "position": f, "frame": s, "role": s,
                                      "slots": {"term": s, "count": s, "unit": s}})},
        "checks": List({"name": s, "ok": b, "reason": s, "value": f}),
        "difficulty": {"hard": b, "too_easy": b, "details": s},
        "provenance": s,
        "audio": Audio(sampling_rate=sample_rate),
        "key_audio": Audio(sampling_rate=sample_rate),
    })


def _records(data_jsonl: Path) -> Iterator[tuple[int, dict]]:
    with data_jsonl.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            try:
                yield n, json.loads(line)
            except json.JSONDecodeError as exc:
                raise PublishError(f"{data_jsonl}:{n}: not JSON: {exc}") from None


def _audio_paths(export: Path, rec: dict) -> tuple[Path, Path]:
    audio = rec["audio_data"]
    return (export / "wavs" / audio["combined"]["audio_files"][0],
            export / "key_wavs" / audio["key_sentences"]["audio_file"])


def scan(export: Path) -> tuple[list[ItemInfo], list[str]]:
    """One light pass: each item's id, type, letter, duration, size; every speaker id."""
    data = export / "data.jsonl"
    items: list[ItemInfo] = []
    speakers: set[str] = set()
    seen: set[str] = set()
    for n, rec in _records(data):
        try:
            item_id = rec["metadata"]["id"]
            wav, key_wav = _audio_paths(export, rec)
            info = ItemInfo(item_id, rec["metadata"]["transcript_type"],
                            rec["test_question"]["correct_answer"][:1], float(rec["duration"]),
                            0)
            speakers.update(rec["audio_data"]["combined"]["prompts_used"])
        except (KeyError, IndexError, TypeError) as exc:
            raise PublishError(f"{data}:{n}: not a SPIRAL record (missing {exc})") from None
        if item_id in seen:
            raise PublishError(f"{data}:{n}: item id {item_id} appears twice")
        seen.add(item_id)
        for path in (wav, key_wav):
            if not path.is_file():
                raise PublishError(f"{data}:{n}: audio of {item_id} is missing: {path}")
        info.size = wav.stat().st_size + key_wav.stat().st_size + len(json.dumps(rec))
        items.append(info)
    if not items:
        raise PublishError(f"{data}: no items to publish")
    return items, sorted(speakers, key=lambda s: (len(s), s))


def plan_shards(items: list[ItemInfo], max_bytes: int) -> list[list[str]]:
    """Greedy shards in item order, each under `max_bytes` unless one item alone exceeds it."""
    shards: list[list[str]] = [[]]
    size = 0
    for it in items:
        if shards[-1] and size + it.size > max_bytes:
            shards.append([])
            size = 0
        shards[-1].append(it.id)
        size += it.size
    return shards


def encode_audio(path: Path, fmt: str) -> dict[str, Any]:
    """The file's bytes as the Audio feature stores them: the wav itself, or lossless FLAC."""
    if fmt == "wav":
        return {"bytes": path.read_bytes(), "path": path.name}
    import soundfile as sf

    samples, sr = sf.read(path, dtype="int16")
    buf = io.BytesIO()
    sf.write(buf, samples, sr, format="FLAC", subtype="PCM_16")
    return {"bytes": buf.getvalue(), "path": path.with_suffix(".flac").name}


def row(rec: dict, export: Path, speaker_ids: list[str], tags: dict[str, Any] | None,
        audio_format: str) -> dict[str, Any]:
    """One parquet row: the record's fields typed as `features` says, audio embedded."""
    out = {k: v for k, v in rec.items() if k not in SKIP_FIELDS}
    out["audio_data"] = json.loads(json.dumps(rec["audio_data"]))
    used = rec["audio_data"]["combined"]["prompts_used"]
    out["audio_data"]["combined"]["prompts_used"] = {s: used.get(s) for s in speaker_ids}
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
    wav, key_wav = _audio_paths(export, rec)
    out["audio"] = encode_audio(wav, audio_format)
    out["key_audio"] = encode_audio(key_wav, audio_format)
    return out


def write_subset(subset: Subset, shards: list[list[str]], export: Path, folder: Path,
                 feats: Any, speaker_ids: list[str], tags: dict[str, Any] | None,
                 cfg: Config) -> None:
    """Stream the subset's records into its shards, one row group of items at a time."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = feats.arrow_schema
    shard_of = {item_id: k for k, ids in enumerate(shards) for item_id in ids}
    total = len(shards)
    subset.shards = [f"data/{subset.name}/{SPLIT}-{k:05d}-of-{total:05d}.parquet"
                     for k in range(total)]
    writer: Any = None
    current = -1
    batch: list[dict] = []
    batch_bytes = 0
    limit = cfg.publish.row_group_mb * 1024 * 1024

    def flush() -> None:
        nonlocal batch_bytes
        batch_bytes = 0
        if batch:
            table = pa.Table.from_pylist(batch, schema=schema)
            writer.write_table(table, row_group_size=len(batch))
            subset.num_bytes += table.nbytes
            batch.clear()

    try:
        for _, rec in _records(export / "data.jsonl"):
            k = shard_of.get(rec["metadata"]["id"])
            if k is None:
                continue
            if k != current:
                flush()
                if writer is not None:
                    writer.close()
                path = folder / subset.shards[k]
                path.parent.mkdir(parents=True, exist_ok=True)
                # Dictionary-encoding megabytes of audio only costs memory; the text
                # columns are a rounding error beside the audio.
                writer = pq.ParquetWriter(path, schema, use_dictionary=False)
                current = k
            batch.append(row(rec, export, speaker_ids, tags, cfg.publish.audio_format))
            batch_bytes += len(batch[-1]["audio"]["bytes"]) + len(batch[-1]["key_audio"]["bytes"])
            subset.num_examples += 1
            subset.hours += float(rec["duration"]) / 3600
            if batch_bytes >= limit:
                flush()
        flush()
    finally:
        if writer is not None:
            writer.close()
    subset.download_size = sum((folder / p).stat().st_size for p in subset.shards)


def _link_tree(src: Path, dst: Path) -> None:
    """Hard links (copies across file systems): the SPIRAL files cost no disk twice."""
    dst.mkdir(parents=True, exist_ok=True)
    for f in sorted(src.iterdir()):
        if f.is_file():
            try:
                os.link(f, dst / f.name)
            except OSError:
                shutil.copyfile(f, dst / f.name)


def run_config(run_dir: Path) -> tuple[dict, Config]:
    """The run's manifest and the config it was built with (not today's spiral.yaml)."""
    path = run_dir / "manifest.json"
    if not path.exists():
        raise PublishError(f"{path}: no manifest; build the run first: "
                           f"spiral run --run {run_dir.name}")
    manifest = read_json(path)
    # The folder is where it was found, whatever the working directory was at build time.
    data = {**manifest["config"], "output_root": str(run_dir.parent), "run": run_dir.name}
    return manifest, config_from_dict(data, str(path), lenient=True)


def publish(cfg: Config, audit_md: str | None = None, plots: list[Path] | None = None,
            quiet: bool = True) -> Published:
    """Write the Hub-ready folder for the run `cfg.run`; return what was written."""
    from pipeline.publishing.card import CardInputs, build_card

    run_dir = cfg.run_dir
    export = run_dir / "export"
    if not (export / "data.jsonl").exists():
        raise PublishError(f"{export / 'data.jsonl'}: no export to publish; build it first: "
                           f"spiral run --run {cfg.run}")
    manifest, built_with = run_config(run_dir)
    items, speaker_ids = scan(export)
    tags = difficulty.load(run_dir)
    hard = difficulty.hard_ids(tags)
    known = {it.id for it in items}
    subsets = [Subset("default", [it.id for it in items],
                      "every item that passed validation")]
    if tags is not None:
        subsets.append(Subset("hard", [it.id for it in items if it.id in hard],
                              "items the baseline answers wrongly (tagged hard)"))
    feats = features(speaker_ids, built_with.audio.sample_rate)
    max_bytes = cfg.publish.max_shard_mb * 1024 * 1024
    out = run_dir / cfg.publish.folder
    for stale in run_dir.glob(f".{cfg.publish.folder}-*"):  # a killed publish's leftovers
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(dir=run_dir, prefix=f".{cfg.publish.folder}-"))
    try:
        for subset in subsets:
            if not subset.ids:
                continue
            wanted = set(subset.ids)
            chosen = [it for it in items if it.id in wanted]
            write_subset(subset, plan_shards(chosen, max_bytes), export, tmp, feats,
                         speaker_ids, tags, cfg)
            if not quiet:
                print(f"publish: {subset.name}: {subset.num_examples} items in "
                      f"{len(subset.shards)} shard(s)")
        if cfg.publish.spiral_files:
            spiral = tmp / "spiral"
            spiral.mkdir()
            _link_tree(export / "wavs", spiral / "wavs")
            _link_tree(export / "key_wavs", spiral / "key_wavs")
            shutil.copyfile(export / "data.jsonl", spiral / "data.jsonl")
            if tags is not None:
                write_hard_subset(export / "data.jsonl", hard, spiral / "data_h.jsonl")
        write_generation(tmp / "generation", built_with, run_dir)
        plot_names = []
        for plot in plots or []:
            if not Path(plot).is_file():
                raise PublishError(f"{plot}: audit plot not found")
            (tmp / "plots").mkdir(exist_ok=True)
            shutil.copyfile(plot, tmp / "plots" / Path(plot).name)
            plot_names.append(Path(plot).name)
        card = build_card(CardInputs(
            manifest=manifest, built_with=built_with, publish=cfg.publish,
            subsets=[s for s in subsets if s.num_examples], features=feats, items=items,
            tagged=tags is not None, unknown_tags=sorted(set(tags or {}) - known),
            audit_md=audit_md, plots=plot_names, spiral_files=cfg.publish.spiral_files,
            reseeds=_reseeds(run_dir)))
        atomic_write_text(tmp / "README.md", card)
        replace_dir(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    files = sorted(p for p in out.rglob("*") if p.is_file())
    return Published(out, subsets, items, files)


def write_generation(out: Path, built_with: Config, run_dir: Path) -> None:
    """`spiral.yaml` (the config the run was built with) and `reseeds.json`: with the
    pipeline, all it takes to rebuild the run. Local paths and endpoint credentials are
    left out."""
    import yaml

    from pipeline.publishing.card import redact_url

    data = built_with.to_dict()
    data["output_root"] = "data/runs"
    data["prompts_dir"], data["voices"] = "prompts", "voices/voices.yaml"
    data["llm"]["base_url"] = redact_url(data["llm"]["base_url"])
    atomic_write_text(out / "spiral.yaml", yaml.safe_dump(data, sort_keys=False))
    reseeds = _reseeds(run_dir)
    if reseeds:
        atomic_write_text(out / "reseeds.json", json.dumps(reseeds, indent=1) + "\n")


def _reseeds(run_dir: Path) -> dict[str, list[int]]:
    from pipeline.orchestration import reseed

    return reseed.load(run_dir)


def audit_inputs(run_dir: Path) -> tuple[str | None, list[Path]]:
    """The audit report for the card: `<run>/audit/audit.md` and its PNG plots, if written."""
    audit = run_dir / "audit"
    md = audit / "audit.md"
    if not md.exists():
        return None, []
    return md.read_text(encoding="utf-8"), sorted(audit.glob("*.png"))
