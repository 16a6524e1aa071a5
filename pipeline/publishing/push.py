"""`spiral push`: upload a published run folder to a Hugging Face dataset repo in one commit.

The token is whatever `huggingface_hub` finds (`HF_TOKEN`, or the login's token file); this
module never reads, prints or writes it. Files of an earlier push that this publish no longer
has (e.g. a shard of a subset that shrank) are deleted in the same commit, because the card's
`data/<config>/test-*.parquet` globs would otherwise pick them up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pipeline.core.store import read_json

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


def commit_message(run_dir: Path) -> str:
    m = read_json(run_dir / "manifest.json")
    built = m.get("counts", {}).get("built", "?")
    version = m.get("versions", {}).get("pipeline", "?")
    return (f"Publish run {run_dir.name} (seed {m['seed']}, {built} items, "
            f"spiral-pipeline {version})")


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


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
    files = folder_files(folder)
    message = commit_message(run_dir)
    result = PushResult(repo_id, revision, message, files, [])
    if dry_run:
        where = f"{repo_id}@{revision}" if revision else repo_id
        echo(f"dry run: would upload {len(files)} files to dataset {where} "
             f"({'private' if private else 'public'}) in one commit: {message!r}")
        for path, size in files:
            echo(f"  {size:>13,} B {_human(size):>9}  {path}")
        total = sum(size for _, size in files)
        echo(f"  {total:>13,} B {_human(total):>9}  total")
        return result
    if quiet:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    return _upload(result, folder, private, echo)


def _upload(result: PushResult, folder: Path, private: bool,
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
        CommitOperationAdd(path_in_repo=path, path_or_fileobj=str(folder / path))
        for path, _ in result.files]
    ops += [CommitOperationDelete(path_in_repo=p) for p in result.deleted]
    info = api.create_commit(repo_id, ops, commit_message=result.message, repo_type="dataset",
                             revision=revision)
    result.commit_url = info.commit_url
    echo(f"pushed {len(result.files)} files ({len(result.deleted)} stale removed) to {url}: "
         f"{info.commit_url}")
    return result
