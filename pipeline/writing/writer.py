"""One interface for whatever writes the text of an item, chosen once per run.

The script, plant and question stages ask `Writer` for words and know nothing of how they are
made: `OfflineWriter` fills the embedded banks in `prompts/` (no network), `LLMWriter` asks
any OpenAI-compatible endpoint and checks the reply against `rules.py`. Every method is a
coroutine so both run on the driver's event loop; the offline one simply never waits.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from pipeline.core.config import Config
from pipeline.core.errors import StageFailure
from pipeline.core.records import Item, KeyDetail, Question, Turn
from pipeline.core.resources import ResourceError, load_stem_templates
from pipeline.core.seeds import rng_for
from pipeline.core.store import file_hash
from pipeline.writing.bank_sheet import bank_fact, bank_stems
from pipeline.writing.discourse import load_discourse_bank
from pipeline.writing.facts import FRAMES, key_fact
from pipeline.writing.offline import plant_key, write_question, write_script

STAGES = ("script", "plant", "question")


class Writer(ABC):
    """Writes an item's transcript, key sentence and question."""

    #: what shapes the output besides the upstream record goes into each stage's cache key
    name: str
    #: items in flight at once (LLM calls overlap their waiting; offline work never waits)
    concurrency: int = 1

    @abstractmethod
    def inputs(self, stage: str, item: Item) -> dict[str, Any]:
        """Everything besides the upstream record that shapes `stage`'s output for `item`."""

    def prepare(self, stage: str, items: list[Item]) -> None:  # noqa: B027 - optional hook
        """Load what `stage` needs before any item, so a bad file stops the run at once."""

    def reach(self) -> None:  # noqa: B027 - optional hook
        """Check once that the service behind the writer answers (no-op offline)."""

    def preflight(self, items: list[Item], stages: tuple[str, ...] = STAGES) -> None:
        """Parse and check every file `stages` will read for `items`, before the run does
        any work (no network: an endpoint is reached by `prepare`, when there is work)."""
        for stage in stages:
            self.prepare(stage, items)

    async def facts(self, item: Item) -> Item:
        """The item with the fact sheet its script will state: the plan's (from the fact
        bank) unless the writer proposes one."""
        return item

    @abstractmethod
    async def script(self, item: Item, words: int) -> list[Turn]:
        """The transcript's turns, about `words` words with the key sentence still to come."""

    @abstractmethod
    async def plant(self, item: Item) -> tuple[list[Turn], KeyDetail]:
        """The transcript with the key sentence at the planned depth, and that sentence."""

    @abstractmethod
    async def question(self, item: Item) -> Question:
        """The stem and four choices, the answer at the planned letter."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections; called at the end of each stage's event loop."""

    def summary_line(self) -> str:
        """This process's traffic for the run summary ('' when there is none)."""
        return ""

    def write_report(self, run_dir: Path, items: list[Item]) -> None:  # noqa: B027
        """Per-run usage report, written once after every item and regeneration."""

    def provenance(self) -> dict[str, Any]:
        """What each exported item records about how it was written, besides the config."""
        return {}


class OfflineWriter(Writer):
    """Realises the fact sheet from the embedded banks: `offline_writer.yaml`,
    `offline_discourse.yaml` and `offline_talk.yaml` under the configured prompts folder."""

    name = "offline"

    def __init__(self, cfg: Config) -> None:
        self.writer_cfg = cfg.writer
        folder = self.folder = Path(cfg.prompts_dir)
        self.paths = [folder / "offline_writer.yaml", folder / "offline_discourse.yaml",
                      folder / "offline_talk.yaml"]
        self.stems_path = folder / "offline_questions.yaml"
        self._bank_data: dict[str, Any] | None = None
        self._stems: dict[str, str] | None = None
        self._digests: dict[str, str] = {}

    def _bank(self) -> dict[str, Any]:
        if self._bank_data is None:
            self._bank_data = load_discourse_bank(*self.paths)
        return self._bank_data

    def stems(self) -> dict[str, str]:
        if self._stems is None:
            self._stems = load_stem_templates(self.stems_path)
        return self._stems

    def inputs(self, stage: str, item: Item) -> dict[str, Any]:
        """The bank shapes the script and the key sentence; the stems only the question."""
        if stage not in self._digests:
            paths = [self.stems_path] if stage == "question" else self.paths
            self._digests[stage] = "+".join(file_hash(p) for p in paths)
        out: dict[str, Any] = {"bank": self._digests[stage], "writer": "facts-3"}
        spec = item.spec
        if stage == "question" and spec.facts:  # a bank fact's question is read from there
            out["ask"] = self.item_stems(item).get(key_fact(spec.facts, spec.key_fact).frame)
        if stage != "question":  # the sentences that say the item's facts, from the bank
            says = [entry.say for f in spec.facts
                    if (entry := bank_fact(self.folder, spec.type, spec.subtopic, f.frame))]
            if says:
                out["fact_bank"] = hashlib.sha256(json.dumps(says).encode()).hexdigest()
        return out

    def prepare(self, stage: str, items: list[Item]) -> None:  # noqa: B027 - optional hook
        if stage != "question":
            self._bank()
            return
        stems = self.stems()  # every frame a key can use needs a stem: no item fails on it
        for frame in sorted({f.id for f in FRAMES} - set(stems)):
            raise ResourceError(f"{self.stems_path}: field '{frame}': missing: every fact "
                                "frame needs a question stem")

    async def script(self, item: Item, words: int) -> list[Turn]:
        return write_script(item.spec, self._bank(), words, self.writer_cfg.disfluency_rate)

    async def plant(self, item: Item) -> tuple[list[Turn], KeyDetail]:
        return plant_key(item.spec, item.transcript or [], self._bank())

    def item_stems(self, item: Item) -> dict[str, str]:
        """The offline stems and the item's subtopic bank's questions, by frame."""
        return {**self.stems(), **bank_stems(self.folder, item.spec)}

    async def question(self, item: Item) -> Question:
        assert item.key is not None
        fact = key_fact(item.spec.facts, item.spec.key_fact)
        frame = fact.frame
        stems = self.item_stems(item)
        if frame not in stems and not fact.slots.get("ask"):
            raise StageFailure(f"no_stem_template: {frame} missing from {self.stems_path}")
        rng = rng_for(item.spec.seed, "question")
        try:
            return write_question(item.spec, item.key, " ".join(item.sentences()),
                                  stems, rng)
        except ValueError as exc:
            raise StageFailure(f"no_distractors: {exc}") from None
