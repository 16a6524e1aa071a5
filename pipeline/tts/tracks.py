"""Finished item tracks, rendered and approved by the pre-check, handed to synthesis once.

The pre-check renders each draw exactly as synthesis will (stages/synthesize.render_item is
deterministic). The track of the draw that passes is kept here under a hash of everything
the render depends on, so synthesis writes it instead of reading every sentence back,
assembling and measuring its loudness again. Synthesis takes an entry (reads it, then
removes it): the store holds only the items between the two stages, not a second copy of
every wav. A missing or damaged entry is rendered again, to the same samples.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.core.checked import read_checked, write_checked
from pipeline.core.errors import notice
from pipeline.core.store import atomic_write_with, file_hash

VERSION = "2"


class TrackStore:
    """`<key>.npy` (int16 samples), then `<key>.json`: a checksummed record of the times,
    the scale and the npy's sha256."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _paths(self, key: str) -> tuple[Path, Path]:
        base = self.root / key[:2] / key
        return base.with_suffix(".npy"), base.with_suffix(".json")

    def put(self, key: str, samples: np.ndarray, times: list[list[float]], scale: float
            ) -> None:
        npy, meta = self._paths(key)
        data = np.ascontiguousarray(samples, dtype=np.int16)
        # Straight from the buffer to the file: an hour's track is never held twice.
        atomic_write_with(npy, lambda fh: np.save(fh, data, allow_pickle=False))
        # The checksum covers the timestamps and the scale too: they go into data.jsonl.
        write_checked(meta, {"version": VERSION, "times": times, "scale": scale,
                             "npy_sha256": file_hash(npy)})

    def _take(self, key: str, what: str, redo: str, load: Callable[[Path], Any]
              ) -> tuple[Any, dict] | None:
        """`load(npy)` and the checked record of the entry, which is removed from the store
        either way; None when absent or damaged (a damaged one with a notice)."""
        npy, meta = self._paths(key)
        try:
            if not meta.exists():
                return None
            info = read_checked(meta, what, redo)
            if info is None or info.get("version") != VERSION:
                return None
            try:
                if file_hash(npy) != info.get("npy_sha256"):
                    notice(f"{npy}: {what} fails its checksum; {redo}")
                    return None
                return load(npy), info
            except (OSError, EOFError, ValueError):
                return None
        finally:
            meta.unlink(missing_ok=True)
            npy.unlink(missing_ok=True)

    def take(self, key: str) -> tuple[np.ndarray, list[list[float]], float] | None:
        """The entry, removed from the store; None when absent or damaged."""
        got = self._take(key, "kept track", "rendering the item again",
                         lambda npy: np.load(npy, allow_pickle=False))
        if got is None:
            return None
        samples, info = got
        return samples, [list(t) for t in info["times"]], float(info["scale"])


class ArrayStore(TrackStore):
    """Named arrays and a JSON-able dict under one key (the pre-check's conditioned tracks:
    degraded, clean, and what was measured), taken once like a track."""

    def put_arrays(self, key: str, arrays: dict[str, np.ndarray], meta: dict) -> None:
        npy, info = self._paths(key)
        atomic_write_with(npy, lambda fh: np.savez(
            fh, **{k: np.ascontiguousarray(v) for k, v in arrays.items()}))
        # A checksummed record: the times and measured levels go into data.jsonl too.
        write_checked(info, {"version": VERSION, "meta": meta, "npy_sha256": file_hash(npy)})

    def take_arrays(self, key: str) -> tuple[dict[str, np.ndarray], dict] | None:
        """The entry, removed from the store; None when absent or damaged."""
        def load(npy: Path) -> dict[str, np.ndarray]:
            with np.load(npy, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}

        got = self._take(key, "kept conditioned track", "conditioning the item again", load)
        return None if got is None else (got[0], got[1]["meta"])
