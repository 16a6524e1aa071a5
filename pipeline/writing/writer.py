"""One interface for whatever writes the text of an item, chosen once per run.

The script, plant and question stages ask `Writer` for words and know nothing of how they are
made: `OfflineWriter` fills the embedded banks in `prompts/` (no network), `LLMWriter` asks
any OpenAI-compatible endpoint and checks the reply against `rules.py`. Every method is a
coroutine so both run on the driver's event loop; the offline one simply never waits.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from pipeline.core.config import Config
from pipeline.core.errors import StageFailure
from pipeline.core.records import Item, KeyDetail, Question, Turn
from pipeline.core.resources import (
    check_stems,
    load_key_templates,
    load_stem_templates,
    load_writer_bank,
)
from pipeline.core.seeds import rng_for
from pipeline.core.store import file_hash
from pipeline.writing.budget import KEY_WORDS
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


class OfflineWriter(Writer):
    """Fills the embedded banks: `offline_writer.yaml`, `offline_keys.yaml`,
    `offline_questions.yaml` under the configured prompts folder."""

    name = "offline"

    def __init__(self, cfg: Config) -> None:
        self.writer_cfg = cfg.writer
        folder = Path(cfg.prompts_dir)
        self.paths = {"script": folder / "offline_writer.yaml",
                      "plant": folder / "offline_keys.yaml",
                      "question": folder / "offline_questions.yaml"}
        self._loaded: dict[str, Any] = {}
        self._digests: dict[str, str] = {}

    def _bank(self, stage: str) -> Any:
        if stage not in self._loaded:
            load = {"script": load_writer_bank, "plant": load_key_templates,
                    "question": load_stem_templates}[stage]
            self._loaded[stage] = load(self.paths[stage])
        return self._loaded[stage]

    def inputs(self, stage: str, item: Item) -> dict[str, Any]:
        if stage not in self._digests:
            self._digests[stage] = file_hash(self.paths[stage])
        return {"bank": self._digests[stage]}

    def prepare(self, stage: str, items: list[Item]) -> None:  # noqa: B027 - optional hook
        self._bank(stage)
        if stage == "question":  # every key template needs its stem, with slots it can fill
            check_stems(self._bank("plant"), self._bank("question"), self.paths["question"])

    async def script(self, item: Item, words: int) -> list[Turn]:
        rng = rng_for(item.spec.seed, "script")
        # The key sentence adds about a dozen words; aim the rest of the script below it.
        return write_script(item.spec, self._bank("script"), words - KEY_WORDS,
                            self.writer_cfg.disfluency_rate, rng)

    async def plant(self, item: Item) -> tuple[list[Turn], KeyDetail]:
        rng = rng_for(item.spec.seed, "plant")
        templates = self._bank("plant")[item.spec.detail_kind]
        return plant_key(item.spec, item.transcript or [], templates, rng)

    async def question(self, item: Item) -> Question:
        assert item.key is not None
        template_id = item.key.slots["template"]
        stem_t = self._bank("question").get(template_id)
        if stem_t is None:
            raise StageFailure(
                f"no_stem_template: {template_id} missing from {self.paths['question']}")
        rng = rng_for(item.spec.seed, "question")
        try:
            return write_question(item.spec, item.key, stem_t, " ".join(item.sentences()), rng)
        except ValueError as exc:
            raise StageFailure(f"no_distractors: {exc}") from None
