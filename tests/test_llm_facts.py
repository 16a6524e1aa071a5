"""The `facts` LLM task: its rules, and the fall back to the fact bank, over real HTTP
(`spiral serve-offline-llm` answers it from the bank)."""

from __future__ import annotations

import asyncio
import copy
import io
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from pipeline.core.records import Item, ItemSpec, Speaker
from pipeline.core.resources import load_stem_templates
from pipeline.testing.offline_server import Faults, OfflineLLMServer
from pipeline.writing.bank_sheet import draw_sheet, proposed_sheet
from pipeline.writing.fact_rules import check_fact_sheet, sheet_from_reply
from pipeline.writing.llm_writer import LLMWriter
from tests.conftest import ROOT, make_config

PROMPTS = ROOT / "prompts"


def _spec(kind: str = "quantity", confusers: int = 1) -> ItemSpec:
    """A lecture item on Glaciology (a subtopic with a bank), its key of `kind`, its sheet
    drawn as the planner draws it."""
    facts, key_id = draw_sheet(11, "lecture", "Glaciology", ["ice cores"], kind, 0.45, 7,
                               confusers, False, PROMPTS)
    return ItemSpec(index=0, id="lecture_0", seed=11, type="lecture",
                    main_topic="Earth Sciences", subtopic="Glaciology", terms=["ice cores"],
                    speakers=[Speaker("spk_1", "v", "female")], key_decile=4, key_offset=0.5,
                    letter="B", detail_kind=kind, answer_may_be_longest=False, facts=facts,
                    key_fact=key_id)


def _reply(spec: ItemSpec) -> dict[str, Any]:
    return {"facts": proposed_sheet(spec, PROMPTS, load_stem_templates(
        PROMPTS / "offline_questions.yaml"))}


def test_the_banks_own_sheet_passes_and_is_kept_whole() -> None:
    spec = _spec()
    reply = _reply(spec)
    assert check_fact_sheet(reply, spec) == ""
    assert sheet_from_reply(reply, spec) == spec.facts


def test_the_rules_reject_a_wrong_kind_a_duplicate_and_an_alternative_said() -> None:
    spec = _spec("quantity", confusers=1)
    key_i = next(i for i, f in enumerate(spec.facts) if f.id == spec.key_fact)

    def broken(edit: Any) -> str:
        reply = copy.deepcopy(_reply(spec))
        edit(reply["facts"])
        return check_fact_sheet(reply, spec)

    # A wrong kind: a date where the plan has a quantity.
    assert "is not in the form" in broken(lambda fs: fs[key_i].update(value="March 14"))
    # Two facts with the same value (the confuser is of the key's kind).
    conf = next(i for i, f in enumerate(spec.facts) if f.role == "confuser")
    assert "the same value" in broken(lambda fs: fs[conf].update(value=fs[key_i]["value"]))
    # An alternative equal to a value of the sheet (it would be said, yet be wrong).
    assert "is a value of the sheet" in broken(
        lambda fs: fs[key_i]["alternatives"].__setitem__(0, fs[conf]["value"]))
    # A question that gives the answer away, or names another subject.
    assert "contains the answer" in broken(lambda fs: fs[key_i].update(
        question=f"Was it {fs[key_i]['value']} that {fs[key_i]['subject']} drilled?"))
    assert "must name" in broken(lambda fs: fs[key_i].update(question="How deep was it?"))
    assert "another subject" in broken(
        lambda fs: fs[conf].update(subject=fs[key_i]["subject"]))
    assert "one per slot" in broken(lambda fs: fs.pop())


def test_a_models_sheet_replaces_the_plans_and_keeps_its_alternatives() -> None:
    spec = _spec("finding", confusers=0)
    reply = _reply(spec)
    key_i = next(i for i, f in enumerate(spec.facts) if f.id == spec.key_fact)
    reply["facts"][key_i]["subject"] = "the Quillfeather Polar Station"
    reply["facts"][key_i]["question"] = "What did the Quillfeather Polar Station find?"
    assert check_fact_sheet(reply, spec) == ""
    facts = sheet_from_reply(reply, spec)
    key = facts[key_i]
    assert key.subject == "the Quillfeather Polar Station" and key.role == "key"
    assert key.slots["ask"] == "What did the Quillfeather Polar Station find?"
    assert key.alternatives == reply["facts"][key_i]["alternatives"]
    assert [f.kind for f in facts] == [f.kind for f in spec.facts]
    assert [f.position for f in facts] == [f.position for f in spec.facts]


@pytest.fixture
def bad_server() -> Iterator[OfflineLLMServer]:
    srv = OfflineLLMServer(PROMPTS, port=0, log=io.StringIO(), faults=Faults(bad_facts=True))
    srv.start()
    yield srv
    srv.stop()


def test_a_sheet_that_keeps_breaking_the_rules_falls_back_to_the_bank(
        tmp_path: Path, bad_server: OfflineLLMServer) -> None:
    cfg = make_config(tmp_path, "llm.backend=openai", f"llm.base_url={bad_server.base_url}",
                      "llm.model=offline", "llm.backoff_s=0.01", "llm.max_reasks=1")
    spec = _spec()
    writer = LLMWriter(cfg)
    writer.reach()  # as the stage does: the negotiated endpoint takes the spec beside

    async def go() -> Item:
        try:
            return await writer.facts(Item(spec=replace(spec)))
        finally:
            await writer.close()

    item = asyncio.run(go())
    asked = [r for r in bad_server.requests if r.get("task") == "facts"]
    assert len(asked) == 2  # the first reply and one re-ask
    assert item.spec.facts == spec.facts  # the plan's sheet, from the bank
    assert item.provenance["facts"]["source"] == "bank"
    assert "no valid reply" in item.provenance["facts"]["fallback"]
