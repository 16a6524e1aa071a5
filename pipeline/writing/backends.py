"""The run's writer, chosen once from `llm.backend`."""

from __future__ import annotations

from pipeline.core.config import Config
from pipeline.writing.writer import OfflineWriter, Writer


def make_writer(cfg: Config) -> Writer:
    if cfg.llm.backend == "offline":
        return OfflineWriter(cfg)
    from pipeline.writing.llm_writer import LLMWriter  # pulls in the openai SDK

    return LLMWriter(cfg)
