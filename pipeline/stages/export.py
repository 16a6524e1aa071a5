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
from collections.abc import Iterator
from pathlib import Path

from pipeline import __version__
from pipeline.core import difficulty
from pipeline.core.errors import InfrastructureError, notice
from pipeline.core.records import Item, to_spiral
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

EXPORT_VERSION = "1"
FILES = ".export-files.json"  # {path in the export: sha256} of every file but the stamps


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
    }


def _link(src: Path, dst: Path, sha: str | None) -> None:
    """Link (or copy) `src` to `dst` after checking it against its record's checksum."""
    link_or_copy(src, dst)
    if sha is None or file_hash(dst) != sha:
        raise InfrastructureError(
            f"{src}: does not match the checksum of its synthesize record; rerun to "
            "render it again")


def _checksums(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): file_hash(p)
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != FILES
            and p.name != ".export-key"}


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


def _hf_rows(records: list[dict], audio_dir: Path) -> Iterator[dict]:
    for rec in records:
        combined = rec["audio_data"]["combined"]["audio_files"][0]
        key = rec["audio_data"]["key_sentences"]["audio_file"]
        yield {
            **{k: v for k, v in rec.items() if k not in ("checks", "provenance")},
            "checks": [{"name": n, **c} for n, c in rec["checks"].items()],
            "provenance": json.dumps(rec["provenance"], sort_keys=True),
            "audio": {"path": combined, "bytes": (audio_dir / combined).read_bytes()},
            "key_audio": {"path": key, "bytes": (audio_dir / "key" / key).read_bytes()},
        }


def save_hf(records: list[dict], audio_dir: Path, out: Path, sample_rate: int) -> None:
    """A `datasets` dataset on disk, audio embedded as bytes, written batch by batch."""
    import datasets

    datasets.disable_progress_bars()
    # Declare the features up front: casting the audio columns afterwards would copy the
    # whole table into memory.
    first = next(_hf_rows(records[:1], audio_dir))
    sample = {k: [v] for k, v in first.items() if k not in ("audio", "key_audio")}
    features = datasets.Dataset.from_dict(sample).features
    features["audio"] = datasets.Audio(sampling_rate=sample_rate)
    features["key_audio"] = datasets.Audio(sampling_rate=sample_rate)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".hf-cache-") as cache:
        ds = datasets.Dataset.from_generator(
            _hf_rows, gen_kwargs={"records": records, "audio_dir": audio_dir},
            features=features, cache_dir=cache, keep_in_memory=False, writer_batch_size=8)
        ds.save_to_disk(str(out))


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
    tags = difficulty.load(run_dir)
    hard = difficulty.publishable_hard(tags, ctx.cfg.publish.hard_from_proxy)
    used = {s.voice for it in passed for s in it.spec.speakers}
    licence = audio_licence_section(ctx.cfg, (v for k, v in ctx.voices.items() if k in used))
    # The hard list joins the key only once it exists, so untagged runs keep their exports.
    key = content_hash(EXPORT_VERSION, records, failures, licence,
                       *([sorted(hard)] if hard is not None else []))
    stamp = export / ".export-key"
    if stamp.exists() and stamp.read_text() == key and _intact(export):
        ctx.stats["export"] = {"cached": len(records), "computed": 0, "failed": len(failures)}
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
            _link(audio_dir / "key" / key_wav, tmp / "key_wavs" / key_wav,
                  sums.get(f"audio/key/{key_wav}"))
            lines.append(json.dumps(rec, ensure_ascii=False))
        atomic_write_text(tmp / "data.jsonl", "".join(line + "\n" for line in lines))
        if hard is not None:
            write_hard_subset(tmp / "data.jsonl", hard, tmp / "data_h.jsonl")
        atomic_write_text(tmp / "AUDIO_LICENSE.md", licence)
        atomic_write_text(tmp / "failures.jsonl",
                          "".join(json.dumps(f, ensure_ascii=False) + "\n" for f in failures))
        if records:
            save_hf(records, audio_dir, tmp / "hf", ctx.cfg.audio.sample_rate)
        atomic_write_json(tmp / FILES, _checksums(tmp))
        atomic_write_text(tmp / ".export-key", key)
        replace_dir(tmp, export)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ctx.stats["export"] = {"cached": 0, "computed": len(records), "failed": len(failures)}
    return export
