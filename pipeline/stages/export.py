"""Write the local export: SPIRAL-format `data.jsonl`, `wavs/`, `key_wavs/`, and a `datasets`
dataset saved to disk whose audio columns decode with no other file; `data_h.jsonl` (the hard
subset, records identical to their `data.jsonl` twins) once a named model has tagged the run.

The export is built in a temporary folder and swapped in, so a reader never sees half of
one; it is skipped when the records it would write are unchanged and every file it holds
still has the checksum it was written with (`.export-files.json`): a deleted or altered
export file is restored. Wavs are linked or copied only from `audio/` files that match the
checksums in their synthesize records.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from pipeline import __version__
from pipeline.core import difficulty
from pipeline.core.errors import InfrastructureError, notice
from pipeline.core.records import Item, to_spiral
from pipeline.core.spiral_rows import RowStream, features, row
from pipeline.core.store import (
    StageCache,
    atomic_write_json,
    atomic_write_text,
    content_hash,
    file_hash,
    link_or_copy,
    read_json,
    replace_dir,
)
from pipeline.engine.stage import Context
from pipeline.tts.licences import audio_licence_section

EXPORT_VERSION = "2"  # 2: hf/ streamed with the published rows' schema
HF_BATCH_BYTES = 16 * 1024 * 1024  # audio bytes per Arrow batch (bounds memory)
FILES = ".export-files.json"  # {path in the export: sha256} of every file but the stamps
AUDIT = "audit"  # the audit's report folder: kept across rebuilds, never checksummed


def provenance(item: Item, ctx: Context) -> dict:
    cfg = ctx.cfg
    return {**item.provenance,
        "pipeline_version": __version__,
        "run": cfg.run,
        "run_seed": cfg.seed,
        "item_index": item.spec.index,
        "item_seed": item.spec.seed,
        "llm_backend": cfg.llm.backend,
        "llm_model": cfg.llm.model if cfg.llm.backend != "offline" else "offline-writer",
        "tts_backend": cfg.tts.backend,
        "detail_kind": item.spec.detail_kind,
        "planned_letter": item.spec.letter,
        "planned_decile": item.spec.key_decile,
        "rate_scale": item.audio.rate_scale if item.audio else None,
        **ctx.writer.provenance(),
    }


def _link(src: Path, dst: Path, sha: str | None) -> None:
    """Link (or copy) `src` to `dst` after checking it against its record's checksum."""
    link_or_copy(src, dst)
    if sha is None or file_hash(dst) != sha:
        raise InfrastructureError(
            f"{src}: does not match the checksum of its synthesize record; rerun to "
            "render it again")


def _checksums(folder: Path) -> dict[str, str]:
    """Every file the export wrote; not `audit/`, which `spiral audit` (`make audit`) adds
    beside the records and which says itself which data.jsonl it measured."""
    return {rel: file_hash(p) for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name not in (FILES, ".export-key")
            and (rel := p.relative_to(folder).as_posix()).split("/")[0] != AUDIT}


def _intact(export: Path) -> bool:
    """Whether every file the export was written with is there, unchanged (and no more)."""
    try:
        want = read_json(export / FILES)
    except (FileNotFoundError, ValueError):
        notice(f"{export / FILES}: missing or unreadable; rebuilding the export")
        return False
    have = _checksums(export)
    if have == want:
        return True
    changed = sorted(k for k in set(want) | set(have) if want.get(k) != have.get(k))
    notice(f"{export}: {len(changed)} file(s) missing or changed since the export was "
           f"written ({', '.join(changed[:3])}{', ...' if len(changed) > 3 else ''}); "
           "rebuilding the export")
    return False


def save_hf(records: list[dict], export: Path, out: Path, sample_rate: int,
            tags: dict[str, Any] | None, fingerprint: str) -> None:
    """A `datasets` folder (`load_from_disk`), audio embedded, streamed to one Arrow file a
    batch of rows at a time: the rows and schema are the published parquet's
    (core/spiral_rows.py), so memory stays flat whatever the number of items."""
    import datasets
    from datasets.arrow_writer import ArrowWriter
    from datasets.utils.py_utils import asdict as hf_asdict

    feats = features(sample_rate, any("acoustics" in r["metadata"] for r in records))
    out.mkdir(parents=True)
    name = "data-00000-of-00001.arrow"
    writer = ArrowWriter(features=feats, path=str(out / name))
    try:
        stream = RowStream(feats.arrow_schema, writer.write_table, HF_BATCH_BYTES)
        for rec in records:
            stream.add(row(rec, export, tags, "wav"))
        stream.flush()
        writer.finalize()
    finally:
        writer.close()
    state = {"_data_files": [{"filename": name}], "_fingerprint": fingerprint[:16],
             "_format_columns": None, "_format_kwargs": {}, "_format_type": None,
             "_output_all_columns": False, "_split": None}
    atomic_write_text(out / "state.json", json.dumps(state, indent=2, sort_keys=True))
    info = hf_asdict(datasets.DatasetInfo(features=feats))
    atomic_write_text(out / "dataset_info.json",
                      json.dumps({k: info[k] for k in sorted(info)}, indent=2))


def write_hard_subset(data_jsonl: Path, hard: set[str], out: Path) -> int:
    """Copy the hard items' lines of `data_jsonl` to `out`, byte for byte; return the count."""
    lines = []
    with data_jsonl.open(encoding="utf-8") as fh:
        for line in fh:
            if json.loads(line)["metadata"]["id"] in hard:
                lines.append(line)
    atomic_write_text(out, "".join(lines))
    return len(lines)


def run(items: list[Item], ctx: Context) -> Path:
    run_dir = ctx.run_dir
    export = run_dir / "export"
    audio_dir = run_dir / "audio"
    passed = sorted((it for it in items if not it.failed), key=lambda it: it.spec.index)
    records = []
    for item in passed:
        item.provenance = provenance(item, ctx)
        records.append(to_spiral(item))
    failures = [{"id": it.id, **(it.failed or {})} for it in items if it.failed]
    tags = difficulty.load(run_dir, records)  # only tags of the items as they are now
    hard = difficulty.publishable_hard(tags, ctx.cfg.publish.hard_from_proxy)
    used = {s.voice for it in passed for s in it.spec.speakers}
    licence = audio_licence_section(ctx.cfg, (v for k, v in ctx.voices.items() if k in used))
    # The hard list joins the key only once it exists, so untagged runs keep their exports.
    key = content_hash(EXPORT_VERSION, records, failures, licence,
                       *([sorted(hard)] if hard is not None else []))
    stamp = export / ".export-key"
    if stamp.exists() and stamp.read_text() == key and _intact(export):
        ctx.stats["export"] = {"cached": len(records), "computed": 0, "failed": 0}
        return export
    tmp = Path(tempfile.mkdtemp(dir=run_dir, prefix=".export-"))
    try:
        (tmp / "wavs").mkdir()
        (tmp / "key_wavs").mkdir()
        lines = []
        synthesized = StageCache(run_dir, "synthesize")
        for item, rec in zip(passed, records, strict=True):
            wav = rec["audio_data"]["combined"]["audio_files"][0]
            key_wav = rec["audio_data"]["key_sentences"]["audio_file"]
            sums = synthesized.files(item.id)
            _link(audio_dir / wav, tmp / "wavs" / wav, sums.get(f"audio/{wav}"))
            for name in sorted({key_wav, *(k["audio_file"] for k in rec["key_detail"]["keys"])}):
                _link(audio_dir / "key" / name, tmp / "key_wavs" / name,
                      sums.get(f"audio/key/{name}"))
            clean = rec["metadata"].get("acoustics", {}).get("clean_audio_file")
            if clean:  # the same item before its acoustic conditions
                (tmp / "wavs_clean").mkdir(exist_ok=True)
                _link(audio_dir / "clean" / clean, tmp / "wavs_clean" / clean,
                      sums.get(f"audio/clean/{clean}"))
            lines.append(json.dumps(rec, ensure_ascii=False))
        atomic_write_text(tmp / "data.jsonl", "".join(line + "\n" for line in lines))
        if hard is not None:
            write_hard_subset(tmp / "data.jsonl", hard, tmp / "data_h.jsonl")
        atomic_write_text(tmp / "AUDIO_LICENSE.md", licence)
        atomic_write_text(tmp / "failures.jsonl",
                          "".join(json.dumps(f, ensure_ascii=False) + "\n" for f in failures))
        if records:
            save_hf(records, tmp, tmp / "hf", ctx.cfg.audio.sample_rate, tags, key)
        atomic_write_json(tmp / FILES, _checksums(tmp))
        atomic_write_text(tmp / ".export-key", key)
        if (export / AUDIT).is_dir():  # an audit of other records says so itself (its sha)
            shutil.copytree(export / AUDIT, tmp / AUDIT)
        replace_dir(tmp, export)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    # items left out were counted by the stage that rejected them, not again here
    ctx.stats["export"] = {"cached": 0, "computed": len(records), "failed": 0}
    return export
