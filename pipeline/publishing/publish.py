"""`spiral publish`: turn a run's export into a folder ready for the Hugging Face Hub.

`data/runs/<run>/<publish.folder>/` gets parquet shards with the audio bytes embedded (so they
decode with no other file), one config per subset (`default`, and `hard` once a named model
has tagged the run: `spiral eval --tag`), the audit's plots, a dataset card, and under
`spiral/` the SPIRAL-format files for evaluation code written for the original release.

Records are streamed from `export/data.jsonl` and written a row group at a time, so memory
does not grow with the number of items. The folder is built under a temporary name and
swapped in: a failed or killed publish leaves the previous one whole.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pipeline.core import difficulty
from pipeline.core.config import Config, config_from_dict
from pipeline.core.paths import OutsidePath, inside
from pipeline.core.records import LETTERS
from pipeline.core.spiral_rows import RowStream, audio_paths, features, row, spiral_record
from pipeline.core.store import (
    atomic_write_json,
    atomic_write_text,
    link_tree,
    read_json,
    read_jsonl,
    replace_dir,
)
from pipeline.core.urls import redact_url
from pipeline.publishing.card import CardInputs, build_card
from pipeline.publishing.model import (
    SPIRAL_DIR,
    SPLIT,
    STAMP,
    ItemInfo,
    Published,
    PublishError,
    Subset,
    source_state,
)
from pipeline.publishing.verify import HUB_FILES, verify_export, write_hub_manifest
from pipeline.stages.export import write_hard_subset

__all__ = ["ItemInfo", "Published", "PublishError", "Subset", "publish"]


def _records(data_jsonl: Path) -> Iterator[tuple[int, dict]]:
    return read_jsonl(data_jsonl, PublishError)


def scan(export: Path, clean_audio: bool = False) -> list[ItemInfo]:
    """One light pass: each item's id, type, letter, duration, size (with `clean_audio`,
    the clean track's too: it goes in the same row)."""
    data = export / "data.jsonl"
    items: list[ItemInfo] = []
    seen: set[str] = set()
    for n, rec in _records(data):
        try:
            item_id = rec["metadata"]["id"]
            wav, key_wav = audio_paths(export, rec, f"{data}:{n}")
            info = ItemInfo(item_id, rec["metadata"]["transcript_type"],
                            rec["test_question"]["correct_answer"][:1], float(rec["duration"]),
                            0, str((rec.get("key_detail") or {}).get("kind") or ""),
                            rec["test_question"]["correct_answer"][3:])
            if info.letter not in LETTERS or not isinstance(
                    rec["audio_data"]["combined"]["prompts_used"], dict):
                raise KeyError("test_question.correct_answer A-D, prompts_used")
        except (KeyError, IndexError, TypeError) as exc:
            raise PublishError(f"{data}:{n}: not a SPIRAL record (missing {exc})") from None
        except OutsidePath as exc:
            raise PublishError(str(exc)) from None
        if item_id in seen:
            raise PublishError(f"{data}:{n}: item id {item_id} appears twice")
        seen.add(item_id)
        paths = [wav, key_wav]
        if clean_audio:
            name = (rec["metadata"].get("acoustics") or {}).get("clean_audio_file")
            try:
                paths.append(inside(export, name, f"{data}:{n}", "wavs_clean"))
            except OutsidePath as exc:
                raise PublishError(f"{exc} (metadata.acoustics.clean_audio_file; "
                                   f"publish.clean_audio is on)") from None
        for path in paths:
            if not path.is_file():
                raise PublishError(f"{data}:{n}: audio of {item_id} is missing: {path}")
        info.size = sum(p.stat().st_size for p in paths) + len(json.dumps(rec))
        items.append(info)
    if not items:
        raise PublishError(f"{data}: no items to publish")
    return items


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


def write_subset(subset: Subset, shards: list[list[str]], export: Path, folder: Path,
                 feats: Any, tags: dict[str, Any] | None,
                 cfg: Config) -> None:
    """Stream the subset's records into its shards, one row group of items at a time."""
    import pyarrow.parquet as pq

    schema = feats.arrow_schema
    shard_of = {item_id: k for k, ids in enumerate(shards) for item_id in ids}
    total = len(shards)
    subset.shards = [f"data/{subset.name}/{SPLIT}-{k:05d}-of-{total:05d}.parquet"
                     for k in range(total)]
    writer: Any = None
    current = -1

    def sink(table: Any) -> None:
        writer.write_table(table, row_group_size=len(table))

    stream = RowStream(schema, sink, cfg.publish.row_group_mb * 1024 * 1024)
    try:
        for _, rec in _records(export / "data.jsonl"):
            k = shard_of.get(rec["metadata"]["id"])
            if k is None:
                continue
            if k != current:
                stream.flush()
                if writer is not None:
                    writer.close()
                path = folder / subset.shards[k]
                path.parent.mkdir(parents=True, exist_ok=True)
                # Dictionary-encoding megabytes of audio only costs memory; the text
                # columns are a rounding error beside the audio.
                writer = pq.ParquetWriter(path, schema, use_dictionary=False)
                current = k
            stream.add(row(rec, export, tags, cfg.publish.audio_format, published=True,
                           clean_audio="clean_audio" in feats))
            subset.num_examples += 1
            subset.hours += float(rec["duration"]) / 3600
        stream.flush()
    finally:
        if writer is not None:
            writer.close()
    subset.num_bytes += stream.num_bytes
    subset.download_size = sum((folder / p).stat().st_size for p in subset.shards)


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


def publish(cfg: Config, audit: dict | None = None, audit_md: str | None = None,
            plots: list[Path] | None = None, baseline_md: str | None = None,
            quiet: bool = True, baseline_adapter: dict | None = None) -> Published:
    """Write the Hub-ready folder for the run `cfg.run`; return what was written.

    `audit` and `audit_md`: the audit's result and report of this export (`spiral publish`
    runs it when none is current); `plots` its PNGs; `baseline_md` the baseline's table."""
    run_dir = cfg.run_dir
    export = run_dir / "export"
    if not (export / "data.jsonl").exists():
        raise PublishError(f"{export / 'data.jsonl'}: no export to publish; build it first: "
                           f"spiral run --run {cfg.run}")
    manifest, built_with = run_config(run_dir)
    verify_export(run_dir)  # nothing published that the run did not write
    state = source_state(run_dir)
    # The clean tracks exist only in runs built with acoustic conditions.
    clean_audio = cfg.publish.clean_audio and built_with.acoustics.enabled
    items = scan(export, clean_audio)
    tags = difficulty.load(run_dir)
    hard = difficulty.publishable_hard(tags, cfg.publish.hard_from_proxy)
    known = {it.id for it in items}
    subsets = [Subset("default", [it.id for it in items],
                      "every item that passed validation")]
    by = difficulty.definer(tags) if tags is not None else None
    if hard is not None and by is not None:
        subsets.append(Subset("hard", [it.id for it in items if it.id in hard],
                              f"items {by['model'] or 'an unnamed model'} answers wrongly"
                              + (" (an offline proxy)" if by["proxy"] else "")))
    feats = features(built_with.audio.sample_rate, built_with.acoustics.enabled, clean_audio)
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
            write_subset(subset, plan_shards(chosen, max_bytes), export, tmp, feats, tags, cfg)
            if not quiet:
                print(f"publish: {subset.name}: {subset.num_examples} items in "
                      f"{len(subset.shards)} shard(s)")
        if cfg.publish.spiral_files:
            spiral = tmp / SPIRAL_DIR
            link_tree(export / "wavs", spiral / "wavs")
            link_tree(export / "key_wavs", spiral / "key_wavs")
            if cfg.publish.clean_audio and (export / "wavs_clean").is_dir():
                link_tree(export / "wavs_clean", spiral / "wavs_clean")
            atomic_write_text(spiral / "data.jsonl", "".join(
                json.dumps(spiral_record(rec), ensure_ascii=False) + "\n"
                for _, rec in _records(export / "data.jsonl")))
            if hard is not None:
                write_hard_subset(spiral / "data.jsonl", hard, spiral / "data_h.jsonl")
        write_generation(tmp / "generation", built_with, run_dir)
        plot_names = []
        for plot in plots or []:
            if not Path(plot).is_file():
                raise PublishError(f"{plot}: audit plot not found")
            (tmp / "plots").mkdir(exist_ok=True)
            shutil.copyfile(plot, tmp / "plots" / Path(plot).name)
            plot_names.append(Path(plot).name)
        _, first = next(_records(export / "data.jsonl"))
        card = build_card(CardInputs(
            manifest=manifest, built_with=built_with, publish=cfg.publish,
            subsets=[s for s in subsets if s.num_examples], features=feats, items=items,
            tagged=tags is not None, hard_by=by,
            unknown_tags=sorted(set(tags or {}) - known),
            audit=audit, audit_md=audit_md, plots=plot_names,
            spiral_files=cfg.publish.spiral_files, reseeds=_reseeds(run_dir),
            example=spiral_record(first), baseline_md=baseline_md,
            baseline_adapter=baseline_adapter))
        atomic_write_text(tmp / "README.md", card)
        atomic_write_json(tmp / STAMP, {"source": state, "run": cfg.run,
                                        "seed": built_with.seed, "items": len(items)})
        write_hub_manifest(tmp)  # last: what a push checks the folder against
        replace_dir(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    files = sorted(p for p in out.rglob("*") if p.is_file() and p.name not in (STAMP, HUB_FILES))
    return Published(out, subsets, items, files)


def write_generation(out: Path, built_with: Config, run_dir: Path) -> None:
    """`spiral.yaml` (the config the run was built with) and `reseeds.json`: with the
    pipeline, all it takes to rebuild the run. Local paths and endpoint credentials are
    left out."""
    import yaml

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
