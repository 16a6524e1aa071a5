"""The data a publish passes between its parts (folder, card, push): plain types, no logic
beyond formatting, so publish.py and card.py both import this and never each other."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pipeline.core import difficulty
from pipeline.core.spiral_rows import SPIRAL_DIR  # noqa: F401 - the published layout
from pipeline.core.store import content_hash, file_hash

SPLIT = "test"  # a benchmark: every item is for evaluation

STAMP = ".published.json"  # what a publish was built from; hidden, so never uploaded


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
    kind: str = ""  # the key detail's kind (number, date, finding...): the card's sentences
    answer: str = ""  # the correct choice's text, without its letter


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


def human_bytes(n: float) -> str:
    """Sizes in one unit system everywhere (publish, card, push): decimal, as the Hub shows."""
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def source_state(run_dir: Path) -> str:
    """A digest of what a publish is built from (the export's records and the baseline's tags):
    a published folder whose stamp differs is stale."""
    tags = difficulty.path(run_dir)
    return content_hash(file_hash(Path(run_dir) / "export" / "data.jsonl"),
                        file_hash(tags) if tags.exists() else None)
