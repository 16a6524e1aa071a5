"""`spiral push`: upload a published run folder to a Hugging Face dataset repo in one commit.

The token is whatever `huggingface_hub` finds (`HF_TOKEN`, or the login's token file); this
module never reads, prints or writes it. Files of an earlier push that this publish no longer
has (e.g. a shard of a subset that shrank) are deleted in the same commit, because the card's
`data/<config>/test-*.parquet` globs would otherwise pick them up.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pipeline.core.store import read_json
from pipeline.publishing.card import REPO_PLACEHOLDER
from pipeline.publishing.model import STAMP, human_bytes, source_state
from pipeline.publishing.verify import verify_hub

MANAGED = ("data/", "generation/", "plots/", "spiral/")  # folders a publish owns entirely


class PushError(ValueError):
    """The push cannot start; the message says what to do."""


@dataclass
class PushResult:
    repo_id: str
    revision: str | None
    message: str
    files: list[tuple[str, int]]  # (path in repo, bytes)
    deleted: list[str]
    commit_url: str | None = None


def folder_files(folder: Path) -> list[tuple[str, int]]:
    """Every file to upload, as (path in repo, size), sorted; hidden files are never sent."""
    out = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if path.is_file() and not any(part.startswith(".") for part in rel.parts):
            out.append((rel.as_posix(), path.stat().st_size))
    return out


def items_uploaded(folder: Path) -> int:
    """Rows of the `default` config's shards: what the push sends, not what a manifest says."""
    import pyarrow.parquet as pq

    return sum(pq.read_metadata(p).num_rows
               for p in sorted((folder / "data" / "default").glob("*.parquet")))


def commit_message(run_dir: Path, folder: Path) -> str:
    m = read_json(run_dir / "manifest.json")
    version = m.get("versions", {}).get("pipeline", "?")
    return (f"Publish run {run_dir.name} (seed {m['seed']}, {items_uploaded(folder)} items, "
            f"spiral-pipeline {version})")


def check_current(run_dir: Path, folder: Path) -> None:
    """Refuse a published folder built from another export (or other baseline tags) than
    the run's current ones: the push would send stale items."""
    try:
        published = json.loads((folder / STAMP).read_text(encoding="utf-8"))["source"]
    except (OSError, ValueError, KeyError, TypeError):
        published = None
    if not (run_dir / "export" / "data.jsonl").exists() or published != source_state(run_dir):
        raise PushError(f"{folder}: not published from the run's current export (run "
                        f"{run_dir.name} changed since, or it predates the check); publish "
                        f"again first: spiral publish --run {run_dir.name} (make push does "
                        "both)")


def card_bytes(folder: Path, repo_id: str) -> bytes:
    """The card with the real repo id in its loading snippet and citation."""
    text = (folder / "README.md").read_text(encoding="utf-8")
    return text.replace(REPO_PLACEHOLDER, repo_id).encode("utf-8")


def push(run_dir: Path, folder: Path, repo_id: str, private: bool = False,
         revision: str | None = None, dry_run: bool = False, quiet: bool = False,
         echo: Callable[[str], None] = print) -> PushResult:
    """Create the dataset repo if needed and upload `folder` in one commit (or list it)."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        raise PushError(f"--repo-id {repo_id!r}: {exc}") from None
    if "/" not in repo_id:
        raise PushError(f"--repo-id {repo_id!r}: expected ORG/NAME")
    if not (folder / "README.md").is_file():
        raise PushError(f"{folder}: no published dataset here; run first: "
                        f"spiral publish --run {run_dir.name}")
    check_current(run_dir, folder)
    verify_hub(folder, run_dir.name)  # a missing shard must never become a remote delete
    card = card_bytes(folder, repo_id)
    files = [(p, len(card) if p == "README.md" else size) for p, size in folder_files(folder)]
    message = commit_message(run_dir, folder)
    result = PushResult(repo_id, revision, message, files, [])
    if dry_run:
        where = f"{repo_id}@{revision}" if revision else repo_id
        echo(f"dry run: would upload {len(files)} files to dataset {where} "
             f"({'private' if private else 'public'}) in one commit: {message!r}")
        for path, size in files:
            echo(f"  {size:>13,} B {human_bytes(size):>9}  {path}")
        total = sum(size for _, size in files)
        echo(f"  {total:>13,} B {human_bytes(total):>9}  total")
        return result
    if quiet:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    return _upload(result, folder, card, private, echo)


def _upload(result: PushResult, folder: Path, card: bytes, private: bool,
            echo: Callable[[str], None]) -> PushResult:
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi, get_token

    if get_token() is None:
        raise PushError("no Hugging Face token: set HF_TOKEN or run `hf auth login`")
    api = HfApi()
    repo_id, revision = result.repo_id, result.revision
    url = api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    if revision:
        api.create_branch(repo_id, repo_type="dataset", branch=revision, exist_ok=True)
    local = {path for path, _ in result.files}
    remote = api.list_repo_files(repo_id, repo_type="dataset", revision=revision)
    result.deleted = sorted(p for p in remote if p.startswith(MANAGED) and p not in local)
    ops: list[CommitOperationAdd | CommitOperationDelete] = [
        CommitOperationAdd(path_in_repo=path, path_or_fileobj=card if path == "README.md"
                           else str(folder / path))
        for path, _ in result.files]
    ops += [CommitOperationDelete(path_in_repo=p) for p in result.deleted]
    info = api.create_commit(repo_id, ops, commit_message=result.message, repo_type="dataset",
                             revision=revision)
    result.commit_url = info.commit_url
    echo(f"pushed {len(result.files)} files ({len(result.deleted)} stale removed) to {url}: "
         f"{info.commit_url}")
    return result
