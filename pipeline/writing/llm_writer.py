"""The LLM side of the script, plant and question stages (llm.backend: openai).

Each stage sends one task per item (the question stage two: stem, then distractors), checks
the reply against the rules in `rules.py`, and records the item's tokens, calls and re-ask
reasons under `<run>/llm/<stage>/<item>.json` (a failed item too, with its reason);
`llm_usage.json` sums them per stage and run, beside what preflight negotiated.

Each task's prompt carries only what it needs (the script: the topic and the facts but the
key; the plant: the key fact; no task the correct letter); the item spec goes beside the
messages only to the stand-in server, which writes as the offline writer would.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from pipeline.core.config import Config
from pipeline.core.errors import InfrastructureError, RunStopped, StageFailure
from pipeline.core.records import LETTERS, Item, KeyDetail, Question, Turn
from pipeline.core.seeds import rng_for
from pipeline.core.store import atomic_write_json, file_hash, read_json
from pipeline.llm import negotiate
from pipeline.llm.openai_client import (
    Check,
    LLMSession,
    LLMTaskError,
    LLMUnavailable,
    ModelUnfit,
    Usage,
)
from pipeline.text.compare import mentions
from pipeline.writing import rules
from pipeline.writing.fact_rules import (
    asked_subject,
    check_fact_sheet,
    sheet_from_reply,
    slot_lines,
)
from pipeline.writing.facts import key_fact
from pipeline.writing.offline import insert_key, key_position, key_slots, wrong_choices
from pipeline.writing.writer import STAGES, Writer

LLM_STAGES = ("facts", "script", "plant", "question")
# The variables each prompt's 'user' template may use (besides $data), checked at preflight.
VARIABLES = {
    "llm_script": {"facts", "fact_lines", "subtopic", "main_topic", "terms", "speakers",
                           "words_lo", "words_hi", "words_min", "words_max", "disfluency_rate",
                           "disfluency_pct"},
    "llm_plant": {"subtopic", "transcript_type", "kind", "subject", "context", "value",
                          "before", "after", "transcript"},
    "llm_question": {"sentence", "answer", "kind", "kind_format", "subject", "context",
                             "slots"},
    "llm_distractors": {"sentence", "answer", "kind", "kind_format", "subject",
                                "context", "slots", "question", "transcript", "count",
                                "confusers"},
    "llm_facts": {"subtopic", "main_topic", "transcript_type", "terms", "slots",
                          "slot_lines"},
}


class LLMWriter(Writer):
    """Any OpenAI-compatible endpoint, through one `LLMSession` for the whole run."""

    name = "openai"

    def __init__(self, cfg: Config) -> None:
        self.llm = cfg.llm
        self.writer_cfg = cfg.writer
        self.prompts_dir = Path(cfg.prompts_dir)
        self.run_dir = cfg.run_dir
        self.session = LLMSession(cfg)
        self._digests: dict[str, str] = {}
        self._reached = False

    @property
    def concurrency(self) -> int:  # read by the stage when it starts, after `reach`
        return self.session.parallel()

    def prompt_names(self, stage: str, item: Item) -> list[str]:
        if stage == "script":
            return ["llm_facts", script_prompt(item)]
        if stage == "plant":
            return ["llm_plant"]
        return ["llm_question"] + (["llm_distractors"] if self.llm.distractors == "model"
                                   and distractors_wanted(item) else [])

    def _digest(self, name: str) -> str:
        if name not in self._digests:
            self._digests[name] = file_hash(self.prompts_dir / f"{name}.yaml")
        return self._digests[name]

    def inputs(self, stage: str, item: Item) -> dict[str, Any]:
        """The endpoint, model and sampling settings, the rules' settings, and the bytes of
        the prompts this stage uses."""
        llm = self.llm
        return {
            "backend": "openai", "base_url": llm.base_url, "model": llm.model,
            "temperature": llm.temperature, "max_tokens": llm.max_tokens, "seed": llm.seed,
            "distractors": llm.distractors, "rules": "2",
            "prompts": {n: self._digest(n) for n in self.prompt_names(stage, item)},
        }

    def prepare(self, stage: str, items: list[Item]) -> None:
        """Load and check the stage's prompts, then (once per run) reach the endpoint, before
        any call: a broken prompt or a server that is down stops the run with one message
        instead of failing every item."""
        self._check_prompts(stage, items)
        if items:
            self.reach()

    def reach(self) -> None:
        """Reach the endpoint and negotiate what it accepts, once per run."""
        if not self._reached:
            self.session.reach()
            self.session.negotiate()
            self._reached = True

    def preflight(self, items: list[Item], stages: tuple[str, ...] = STAGES) -> None:
        for stage in stages:
            self._check_prompts(stage, items)

    def _check_prompts(self, stage: str, items: list[Item]) -> None:
        for name in sorted({n for it in items for n in self.prompt_names(stage, it)}):
            self.session.prompt(name).check_slots(VARIABLES[name.rsplit("_", 1)[0]
                                                            if name.startswith("llm_script_")
                                                            else name])

    async def close(self) -> None:
        await self.session.aclose()

    async def _record(self, stage: str, item: Item, usage: Usage, failed: str = "") -> None:
        record: dict[str, Any] = {"item": item.id, "stage": stage, "model": self.llm.model,
                                  "usage": usage.to_dict()}
        if failed:
            record["failed"] = failed
        await asyncio.to_thread(
            atomic_write_json, self.run_dir / "llm" / stage / f"{item.id}.json", record)

    async def _ask(self, stage: str, item: Item, name: str, variables: dict[str, Any],
                   check: Check, usage: Usage) -> Any:
        """The task's reply; a failure is recorded (tokens, re-ask reasons) before it is
        raised as the item's: content, infrastructure, or the whole run's."""
        try:
            data, got = await self.session.complete(name, variables, stage, check,
                                                    sidecar=asdict(item.spec))
        except LLMTaskError as exc:
            await self._record_failure(stage, item, usage, exc)
            if isinstance(exc, ModelUnfit):  # the model, not the item: stop, re-seed nothing
                raise RunStopped(f"llm: {exc}") from None
            if isinstance(exc, LLMUnavailable):  # the endpoint, not the item: same seed
                raise InfrastructureError(f"llm: {exc}") from None
            raise StageFailure(f"llm: {exc}") from None  # this item's content
        usage.add(got)
        return data

    async def _record_failure(self, stage: str, item: Item, usage: Usage,
                              exc: LLMTaskError) -> None:
        usage.add(exc.usage or Usage())
        record = self.run_dir / "llm" / stage / f"{item.id}.json"
        if usage.calls or usage.cached or usage.reasks or not record.exists():
            # (a rerun stopped before asking anything keeps the record of why)
            await self._record(stage, item, usage, failed=str(exc))

    async def facts(self, item: Item) -> Item:
        """The model's fact sheet for the plan's slots (kinds, positions, roles), checked by
        `fact_rules`; after the re-asks, the plan's own sheet from the fact bank. Either way
        the item's provenance says which (`facts`)."""
        spec = item.spec
        if not spec.facts:
            return item
        variables = {
            "subtopic": spec.subtopic, "main_topic": spec.main_topic,
            "transcript_type": spec.type, "terms": ", ".join(spec.terms),
            "slots": [{"kind": f.kind, "position": f.position, "role": f.role}
                      for f in spec.facts],
            "slot_lines": slot_lines(spec),
        }
        usage = Usage()
        try:
            data, got = await self.session.complete(
                "llm_facts", variables, "facts", lambda d: check_fact_sheet(d, spec),
                sidecar=asdict(spec))
        except LLMUnavailable as exc:  # the endpoint, not the item: same seed next run
            await self._record_failure("facts", item, usage, exc)
            raise InfrastructureError(f"llm: {exc}") from None
        except ModelUnfit as exc:  # the model, not the item: stop, re-seed nothing
            await self._record_failure("facts", item, usage, exc)
            raise RunStopped(f"llm: {exc}") from None
        except LLMTaskError as exc:  # the model could not meet the rules: the bank's sheet
            usage.add(exc.usage or Usage())
            await self._record("facts", item, usage)
            return replace(item, provenance={**item.provenance, "facts": {
                "source": "bank", "fallback": str(exc)}})
        usage.add(got)
        await self._record("facts", item, usage)
        facts = sheet_from_reply(data, spec)
        return replace(item, spec=replace(spec, facts=facts),
                       provenance={**item.provenance, "facts": {"source": "llm"}})

    async def script(self, item: Item, words: int) -> list[Turn]:
        spec, w = item.spec, self.writer_cfg
        lo, hi = rules.script_words(words, words)
        speakers = ", ".join(f"{s.id} ({s.gender})" for s in spec.speakers)
        sheet = [f for f in spec.facts if f.id != spec.key_fact]
        variables = {
            "facts": [{"subject": f.subject, "context": f.context, "value": f.value,
                       "kind": f.kind, "position": f.position} for f in sheet],
            "fact_lines": "\n  ".join(
                f"{i + 1}. about {f.subject}, {f.context}: \"{f.value}\" (about "
                f"{f.position:.0%} of the way in)" for i, f in enumerate(sheet)) or "(none)",
            "subtopic": spec.subtopic, "main_topic": spec.main_topic,
            "terms": ", ".join(spec.terms), "speakers": speakers,
            "words_lo": lo, "words_hi": hi, "words_min": words, "words_max": words,
            "disfluency_rate": w.disfluency_rate,
            "disfluency_pct": round(100 * w.disfluency_rate),
        }
        usage = Usage()
        data = await self._ask("script", item, script_prompt(item), variables,
                               lambda d: rules.check_script(d, spec, words, words), usage)
        turns = [Turn(t["speaker"], [s.strip() for s in t["sentences"]]) for t in data["turns"]]
        await self._record("script", item, usage)
        return turns

    async def plant(self, item: Item) -> tuple[list[Turn], KeyDetail]:
        spec = item.spec
        fact = key_fact(spec.facts, spec.key_fact)
        flat = item.sentences()
        k = key_position(spec.key_decile, spec.key_offset, len(flat) + 1)
        variables = {
            "subtopic": spec.subtopic, "transcript_type": spec.type,
            "kind": fact.kind, "subject": fact.subject, "context": fact.context,
            "value": fact.value,
            "before": flat[k - 1] if k > 0 else "(the start of the transcript)",
            "after": flat[k] if k < len(flat) else "(the end of the transcript)",
            "transcript": flat,
        }
        usage = Usage()
        data = await self._ask("plant", item, "llm_plant", variables,
                               lambda d: rules.check_key(d, fact, flat), usage)
        sentence = data["sentence"].strip()
        turns, index = insert_key(spec, item.transcript or [], sentence)
        key = KeyDetail(sentence=sentence, index=index, kind=fact.kind, answer=fact.value,
                        slots=key_slots(spec))
        await self._record("plant", item, usage)
        return turns, key

    async def question(self, item: Item) -> Question:
        spec, key = item.spec, item.key
        assert key is not None
        fact = key_fact(spec.facts, spec.key_fact)
        text = " ".join(item.sentences())
        common = {"sentence": key.sentence, "answer": key.answer,
                  "kind": key.kind, "kind_format": rules.KIND_FORMATS[key.kind][0],
                  "subject": fact.subject, "context": fact.context, "slots": key.slots}
        usage = Usage()
        data = await self._ask("question", item, "llm_question", common,
                               lambda d: rules.check_stem(d, key.answer,
                                                          asked_subject(fact.subject)), usage)
        stem = data["question"].strip()
        confusers = tuple(f.value for f in spec.facts if f.role == "confuser")
        if self.llm.distractors == "model" and distractors_wanted(item):
            variables = {**common, "question": stem, "transcript": text,
                         "count": 3 - len(confusers), "confusers": list(confusers)}
            data = await self._ask(
                "question", item, "llm_distractors", variables,
                lambda d: rules.check_distractors(d, key.answer, key.kind, text, stem,
                                                  spec.answer_may_be_longest, confusers), usage)
            distractors = [*confusers, *(d.strip() for d in data["distractors"])]
            if confusers:  # else keep the model's order
                rng_for(spec.seed, "question").shuffle(distractors)
        elif self.llm.distractors == "model" and not fact.alternatives:
            distractors = list(confusers)
            rng_for(spec.seed, "question").shuffle(distractors)
        else:
            try:
                distractors = wrong_choices(
                    spec, key.answer, key.kind, key.slots.get("unit", ""),
                    rng_for(spec.seed, "question"),
                    lambda c: mentions(text, c) or mentions(stem, c))
            except ValueError as exc:
                raise StageFailure(f"no_distractors: {exc}") from None
        choices = list(distractors)
        choices.insert(LETTERS.index(spec.letter), key.answer)
        await self._record("question", item, usage)
        return Question(stem=stem, choices=choices, letter=spec.letter)

    def summary_line(self) -> str:
        """This process's LLM traffic, for the run summary ('' when no LLM stage ran)."""
        sess = self.session
        if not sess.stages:
            return ""
        total = Usage()
        for u in sess.stages.values():
            total.add(u)
        return (f"{sess.sent} requests sent ({sess.answered} answered), {total.cached} "
                f"replies from cache, "
                f"{total.prompt_tokens}+{total.completion_tokens} tokens, "
                f"~${sess.spent_usd:.4f} (details: llm_usage.json)")

    def write_report(self, run_dir: Path, items: list[Item]) -> None:
        write_report(run_dir, self.llm.model, items, self.session)

    def provenance(self) -> dict[str, Any]:
        """What the endpoint negotiated, for each exported item's provenance."""
        endpoint = self.session.endpoint or negotiate.load(self.llm, self.session.cache_dir)
        if endpoint is None:
            return {}
        # What the server takes, not how fast it was: the same dataset from the same seed.
        return {"llm_endpoint": {"server": endpoint.server, "format": endpoint.format,
                                 "params": endpoint.params}}


def distractors_wanted(item: Item) -> bool:
    """Whether the model writes wrong choices: not when three confusers fill them, nor when
    the key fact came with its alternatives (from the fact bank or the `facts` task)."""
    spec = item.spec
    if spec.facts and key_fact(spec.facts, spec.key_fact).alternatives:
        return False
    return sum(f.role == "confuser" for f in spec.facts) < 3


def script_prompt(item: Item) -> str:
    return f"llm_script_{item.spec.type}"


def judge_variables(item: Item) -> dict[str, Any]:
    """The variables of prompts/judge.yaml for a built item, for `openai_client.ask`:
    `ask("judge", judge_variables(item), cfg)["answer"]` is the judge's letter or 'none'."""
    assert item.question is not None
    lines = [f"{t.speaker}: {' '.join(t.text)}" for t in item.transcript or []]
    return {"transcript": "\n".join(lines), "question": item.question.stem,
            "choices": item.question.labelled}


def write_report(run_dir: Path, model: str, items: list[Item],
                 sess: LLMSession | None) -> dict[str, Any]:
    """`<run>/llm_usage.json`: tokens per item and stage (as recorded when each item was
    built, cached replies included), their sums, the cost estimate, and this process's calls."""
    per_item: dict[str, dict[str, Any]] = {}
    stages = {s: Usage() for s in LLM_STAGES}
    for item in items:
        for stage in LLM_STAGES:
            try:
                rec = read_json(run_dir / "llm" / stage / f"{item.id}.json")
            except (FileNotFoundError, ValueError):
                continue
            u = Usage(**rec["usage"])
            per_item.setdefault(item.id, {})[stage] = {
                "prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens,
                "reasks": u.reasks, **({"failed": rec["failed"]} if "failed" in rec else {})}
            stages[stage].add(u)
    total = Usage()
    for u in stages.values():
        total.add(u)
    n = max(1, len(per_item))
    report = {
        "model": model,
        "endpoint": sess.endpoint.to_dict() if sess and sess.endpoint else None,
        "items": len(per_item),
        "stages": {s: {"prompt_tokens": u.prompt_tokens,
                       "completion_tokens": u.completion_tokens,
                       "per_item": round((u.prompt_tokens + u.completion_tokens) / n, 1),
                       "reasks": len(u.reasks), "cost_usd": round(u.cost_usd, 6)}
                   for s, u in stages.items()},
        "run": {"prompt_tokens": total.prompt_tokens,
                "completion_tokens": total.completion_tokens,
                "tokens_per_item": round((total.prompt_tokens + total.completion_tokens) / n, 1),
                "cost_usd": round(total.cost_usd, 6)},
        "this_process": {s: {"calls": u.calls, "cache_hits": u.cached,
                             "prompt_tokens": u.prompt_tokens,
                             "completion_tokens": u.completion_tokens}
                         for s, u in (sess.stages.items() if sess else [])},
        "per_item": per_item,
    }
    atomic_write_json(run_dir / "llm_usage.json", report)
    return report
