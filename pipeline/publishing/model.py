"""What a published folder is made of, shared by the publisher and the card."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ItemInfo:
    """What the planning pass keeps of one record: never its audio."""

    id: str
    type: str
    letter: str
    duration: float
    size: int  # estimated bytes in a shard (audio files + JSON line)


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
