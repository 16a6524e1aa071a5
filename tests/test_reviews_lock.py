"""Issue #25.6: verdicts from several review servers on one run (several processes) are all
kept: each read-modify-write of reviews.jsonl holds a file lock."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

from pipeline.core import reviews

WRITERS, EACH = 8, 6


def _write(args: tuple[str, int]) -> None:
    run_dir, k = args
    for j in range(EACH):
        reviews.record(run_dir, f"item_{k}_{j}", "reject" if j % 2 else "accept", f"w{k}", k)


def test_parallel_verdicts_from_several_processes_are_all_kept(tmp_path: Path) -> None:
    ctx = mp.get_context("fork")
    with ctx.Pool(WRITERS) as pool:
        pool.map(_write, [(str(tmp_path), k) for k in range(WRITERS)])
    rows = reviews.load(tmp_path)
    assert len(rows) == WRITERS * EACH
    assert rows["item_3_1"]["verdict"] == "reject" and rows["item_3_1"]["seed"] == 3
