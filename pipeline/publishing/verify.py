"""Content checks around a publish: nothing is published or pushed that is not, byte for byte,
what the run wrote.

- Before a publish reads the export, every file it will use is checked against the export's
  own checksums (`export/.export-files.json`): a wav damaged in place is refused, not
  published (and `spiral run` repairs the export).
- A publish ends by writing `.spiral-files.json` in the hub folder: every file it holds, with
  its sha256 and size, as a checksummed record. A push checks the folder against it and
  refuses a missing, changed or unexpected file, naming it. A push deletes remote files that
  the folder lacks, so a shard deleted locally must stop it, never reach the Hub as a delete.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.core.checked import unwrap, write_checked
from pipeline.core.errors import InfrastructureError
from pipeline.core.store import file_hash, read_json

EXPORT_FILES = ".export-files.json"  # written by stages/export.py
HUB_FILES = ".spiral-files.json"  # hidden: never uploaded
SKIP = ("hf/",)  # the export's datasets folder: a publish never reads it


def _listed(path: Path, what: str, fix: str) -> dict[str, Any]:
    try:
        data = read_json(path)
    except FileNotFoundError:
        raise InfrastructureError(f"{path}: missing, so the {what} cannot be checked; {fix}"
                                  ) from None
    except (ValueError, RecursionError):
        data = None
    return data if isinstance(data, dict) else {}


def verify_export(run_dir: Path) -> None:
    """Every file of the export a publish reads has the checksum the export wrote it with."""
    export = Path(run_dir) / "export"
    fix = f"rebuild the export with: spiral run --run {Path(run_dir).name}, then publish again"
    want = _listed(export / EXPORT_FILES, "export", fix)
    if not want or not all(isinstance(v, str) for v in want.values()):
        raise InfrastructureError(f"{export / EXPORT_FILES}: unreadable checksums; {fix}")
    for rel, sha in sorted(want.items()):
        if rel.startswith(SKIP):
            continue
        path = export / rel
        if not path.is_file():
            raise InfrastructureError(f"{path}: missing since the export was written; {fix}")
        if file_hash(path) != sha:
            raise InfrastructureError(f"{path}: changed since the export was written "
                                      f"(checksum mismatch); {fix}")
    for sub in ("wavs", "key_wavs"):  # a file nobody checksummed is not published either
        for path in sorted((export / sub).glob("*")):
            if f"{sub}/{path.name}" not in want:
                raise InfrastructureError(f"{path}: not among the files the export wrote; "
                                          f"{fix}")


def hub_files(folder: Path) -> dict[str, dict[str, Any]]:
    """{path in the folder: {sha256, size}} of every file a push would send."""
    out = {}
    for path in sorted(Path(folder).rglob("*")):
        rel = path.relative_to(folder)
        if path.is_file() and not any(part.startswith(".") for part in rel.parts):
            out[rel.as_posix()] = {"sha256": file_hash(path), "size": path.stat().st_size}
    return out


def write_hub_manifest(folder: Path) -> None:
    write_checked(Path(folder) / HUB_FILES, {"files": hub_files(folder)})


def verify_hub(folder: Path, run: str) -> None:
    """The folder holds exactly the files its publish wrote, unchanged; else one line naming
    the first file at fault."""
    path = Path(folder) / HUB_FILES
    fix = f"publish again: spiral publish --run {run}"
    payload = unwrap(_listed(path, "published folder", fix))
    want = (payload or {}).get("files")
    if not isinstance(want, dict):
        raise InfrastructureError(f"{path}: damaged (fails its checksum); {fix}")
    have = {}
    for p in sorted(Path(folder).rglob("*")):
        rel = p.relative_to(folder)
        if p.is_file() and not any(part.startswith(".") for part in rel.parts):
            have[rel.as_posix()] = p
    for rel in sorted(want):
        if rel not in have:
            raise InfrastructureError(f"{Path(folder) / rel}: missing from the published "
                                      f"folder (a push would delete it from the Hub); {fix}")
    for rel, p in sorted(have.items()):
        entry = want.get(rel)
        if entry is None:
            raise InfrastructureError(f"{p}: not written by the publish; remove it or {fix}")
        if p.stat().st_size != entry.get("size") or file_hash(p) != entry.get("sha256"):
            raise InfrastructureError(f"{p}: changed since it was published (checksum "
                                      f"mismatch); {fix}")
