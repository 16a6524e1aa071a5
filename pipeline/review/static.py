"""`spiral review --out DIR`: the review page as a folder that opens without a server.

The folder holds index.html and every file it refers to (audio hard-linked where the file
system allows, copied otherwise; audit plots), under the same relative paths the server uses.
Verdicts there live in the browser's localStorage; the page explains this and offers them
as a reviews.jsonl download.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from pipeline.core.store import atomic_write_text, replace_dir
from pipeline.review.data import ReviewDataError, ReviewRun
from pipeline.review.render import render

MARKER = ".spiral-review"


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def export_static(run: ReviewRun, out: Path) -> list[Path]:
    """Write the static review folder `out` (replaced whole); returns the files written."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or (any(out.iterdir())
                                              and not (out / MARKER).exists())):
        raise ReviewDataError(f"--out {out}: exists and is not a review export; choose a new "
                              "or empty folder")
    if out.resolve().is_relative_to(run.run_dir.resolve() / "export"):
        raise ReviewDataError(f"--out {out}: inside the run's export folder, which the next "
                              "export replaces; choose another folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}-"))
    try:
        tmp.chmod(0o777 & ~_umask())  # mkdtemp makes it private; the folder is for sharing
        for url, src in sorted(run.files.items()):
            _link(src, tmp / url)
        atomic_write_text(tmp / "index.html", render(run, "static"))
        atomic_write_text(tmp / MARKER, f"spiral review of run {run.name}\n")
        for name in ("index.html", MARKER):  # the atomic helper's temp files are private
            (tmp / name).chmod(0o666 & ~_umask())
        written = sorted(p.relative_to(tmp) for p in tmp.rglob("*") if p.is_file())
        replace_dir(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return [out / p for p in written]
