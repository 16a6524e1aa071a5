"""Each per-item gate rejects the flaw it names, with a machine-readable reason."""

from __future__ import annotations

import copy
import json

from pipeline.core.records import LETTERS, Item
from pipeline.orchestration.runner import RunResult
from pipeline.validation.structural import structural_checks

GATES = {"schema", "key_once_verbatim", "key_depth", "answer_in_choices", "answer_in_key",
         "answer_only_in_key", "distractors_unsaid", "choices_distinct",
         "choices_similar_length", "stem_without_answer", "duration_window", "asr_wer",
         "asr_answer", "judge_informed", "judge_blind"}


def failed(item: Item, small_run: RunResult) -> dict[str, str]:
    cfg = small_run.ctx.cfg
    return {c.name: c.reason for c in structural_checks(item, cfg.audio, cfg.validate)
            if not c.ok}


def test_exported_items_passed_every_gate(small_run: RunResult) -> None:
    export = small_run.ctx.run_dir / "export" / "data.jsonl"
    for line in export.read_text().splitlines():
        checks = json.loads(line)["checks"]
        assert set(checks) == GATES
        assert all(c["ok"] and c["reason"] == "" for c in checks.values())
        assert isinstance(checks["asr_wer"]["value"], float)


def test_each_flaw_is_named(small_run: RunResult) -> None:
    base = small_run.built[0]
    assert failed(base, small_run) == {}
    assert base.key and base.question and base.transcript
    answer = base.question.choices[LETTERS.index(base.question.letter)]
    other = next(i for i, t in enumerate(base.question.choices) if t != answer)

    it = copy.deepcopy(base)
    turn = next(t for t in it.transcript if base.key.sentence not in t.text)
    turn.text[0] = f"{turn.text[0][:-1]}, and {answer} too."
    assert set(failed(it, small_run)) == {"answer_only_in_key"}

    it = copy.deepcopy(base)
    turn.text[0] = base.transcript[0].text[0]
    it.transcript[-1].text[-1] += f" Not {it.question.choices[other]} though."
    assert set(failed(it, small_run)) == {"distractors_unsaid"}

    it = copy.deepcopy(base)
    it.question.stem = f"Was it {answer}?"
    assert set(failed(it, small_run)) == {"stem_without_answer"}

    it = copy.deepcopy(base)
    it.question.choices[other] = "a choice far longer than any of the others, given away " * 4
    assert "choices_similar_length" in failed(it, small_run)

    it = copy.deepcopy(base)
    it.question.choices[other] = answer
    reasons = failed(it, small_run)
    assert {"choices_distinct", "answer_in_choices"} <= set(reasons)

    it = copy.deepcopy(base)
    it.transcript[-1].text.append(base.key.sentence)
    it.audio.sentence_times.append([0.0, 0.0])
    assert "key_once_verbatim" in failed(it, small_run)

    it = copy.deepcopy(base)
    it.spec.key_decile = (base.spec.key_decile + 5) % 10
    assert failed(it, small_run)["key_depth"].startswith("key at decile")

    it = copy.deepcopy(base)
    it.audio.duration = 200.0
    assert "outside" in failed(it, small_run)["duration_window"]

    it = copy.deepcopy(base)
    it.question.choices = it.question.choices[:3]
    assert failed(it, small_run)["schema"].startswith("choices:")
