"""Audit any SPIRAL-format `data.jsonl` (ours or the public release): balance, leaks, audio.

Reports counts by type, topic, speakers and gender; correct-letter shares; how often the
correct choice is strictly the longest; the key-depth histogram; distractors said in the
transcript; durations and words per minute when audio is there; WER, gate results and
rejection reasons when our fields are. Thresholds come from the `audit:` config section; a
failed one makes `spiral audit` exit non-zero, so it can gate CI.
"""

from __future__ import annotations

import io
import json
import math
import statistics
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from pipeline.core.config import AuditConfig, Config
from pipeline.core.record_check import RecordError, check_record, field_at
from pipeline.core.records import LETTERS
from pipeline.core.store import (
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    file_hash,
    read_jsonl,
)
from pipeline.reports import audit_grid
from pipeline.reports.blind_audit import (
    blind_markdown,
    blind_table,
    blind_verdict,
    fit_markdown,
    minilm_embed,
    topic_fit,
)
from pipeline.reports.text_audit import text_figures
from pipeline.text.compare import mentions

DEFAULT_WINDOW = (90.0, 10.0)
AUDIT_VERSION = 3  # bump when audit.json gains or changes figures: older reports are redone
PLOTS = {"letters.png", "key_depth.png", "types.png", "durations.png", "rejections.png"}


class AuditError(ValueError):
    """A record that is not SPIRAL-format; the message names the item and the field."""


def load_records(path: Path) -> list[dict[str, Any]]:
    try:
        records = [rec for _, rec in read_jsonl(path, AuditError)]
    except OSError as exc:
        raise AuditError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if not records:
        raise AuditError(f"{path}: no records")
    return records


def load_planned(data_file: Path, n_records: int) -> int | None:
    """Items planned for our run: the records plus export/failures.jsonl beside them."""
    path = Path(data_file).parent / "failures.jsonl"
    if not path.exists():
        return None
    return n_records + sum(1 for _ in read_jsonl(path, AuditError))


def load_rejections(data_file: Path) -> list[dict[str, Any]] | None:
    """Our run's rejections.jsonl, next to data.jsonl or in the run folder above export/."""
    for folder in (Path(data_file).parent, Path(data_file).parent.parent):
        path = folder / "rejections.jsonl"
        if path.exists():
            rejections = [rec for _, rec in read_jsonl(path, AuditError)]
            plan = folder / "plan.jsonl"
            if plan.exists():  # each attempt's acoustic condition, built in the end or not
                levels = {spec["id"]: spec.get("conditions")
                          for _, spec in read_jsonl(plan, AuditError)}
                for rec in rejections if any(levels.values()) else []:
                    rec["condition"] = condition_label(levels.get(rec["id"]))
            return rejections
    return None


def resolve_thresholds(cfg: Config) -> AuditConfig:
    """The audit section, its duration window defaulting to the audio section's."""
    a = cfg.audit
    return replace(
        a,
        duration_target_seconds=(a.duration_target_seconds if a.duration_target_seconds
                                 is not None else cfg.audio.target_seconds),
        duration_tolerance_seconds=(a.duration_tolerance_seconds if
                                    a.duration_tolerance_seconds is not None
                                    else cfg.audio.tolerance_seconds))


def _get(rec: dict[str, Any], where: str, *path: str) -> Any:
    try:
        return field_at(rec, where, *path)
    except RecordError as exc:
        raise AuditError(str(exc)) from None


def _item(rec: dict[str, Any], n: int, audio_dir: Path | None) -> dict[str, Any]:
    """The facts the audit needs from one record."""
    try:  # the same records refused as eval and the review page refuse
        check_record(rec, f"record {n}")
    except RecordError as exc:
        raise AuditError(str(exc)) from None
    meta = rec.get("metadata") if isinstance(rec.get("metadata"), dict) else {}
    where = f"record {n} (id {meta.get('id', '?')})"
    transcript = _get(rec, where, "transcript")
    choices = _get(rec, where, "test_question", "choices")
    correct = _get(rec, where, "test_question", "correct_answer")
    if not isinstance(choices, list) or len(choices) != 4:
        raise AuditError(f"{where}: test_question.choices must be a list of 4")
    if correct not in choices:
        raise AuditError(f"{where}: test_question.correct_answer {correct!r} is not one of "
                         f"test_question.choices")
    texts = [c[3:] if len(c) > 2 and c[1:3] == ". " else c for c in choices]
    ci = choices.index(correct)
    letter = correct[0] if correct[:1] in LETTERS and correct[1:3] == ". " else LETTERS[ci]
    try:
        flat = [s for turn in transcript for s in turn["text"]]
        speakers = {turn["speaker"] for turn in transcript}
    except (TypeError, KeyError):
        raise AuditError(f"{where}: transcript must be turns of {{speaker, text: [...]}}"
                         ) from None
    combined = rec.get("audio_data", {}).get("combined", {})
    sentences = combined.get("sentences") or flat
    start = _get(rec, where, "audio_data", "key_sentences", "indices")[0]
    text = " ".join(flat)
    others = [t for i, t in enumerate(texts) if i != ci]
    detail = rec.get("key_detail") if isinstance(rec.get("key_detail"), dict) else {}
    planned = [c for c in detail.get("confusers") or [] if c in others]
    duration = None
    if audio_dir is not None:
        files = combined.get("audio_files") or []
        if not files:
            raise AuditError(f"{where}: audio_data.combined.audio_files is empty")
        wav = Path(audio_dir) / files[0]
        try:
            import soundfile as sf

            duration = float(sf.info(str(wav)).duration)
        except (OSError, RuntimeError) as exc:
            raise AuditError(f"{where}: audio {wav} unreadable: {exc}") from None
    elif isinstance(rec.get("duration"), int | float):
        duration = float(rec["duration"])
    checks = rec.get("checks") if isinstance(rec.get("checks"), dict) else None
    voices = [v for v in rec.get("voices") or [] if isinstance(v, dict)]
    genders = [v.get("gender", "unknown") for v in voices] or ["unknown"] * len(speakers)
    key_speaker = rec.get("audio_data", {}).get("key_sentences", {}).get("speaker")
    return {
        "id": meta.get("id", f"record_{n}"),
        "type": meta.get("transcript_type", "unknown"),
        "topic": meta.get("main_topic", "unknown"),
        "subtopic": meta.get("subtopic", "unknown"),
        "speakers": len(speakers),
        "genders": genders,
        "letter": letter,
        "longest_strict": len(texts[ci]) > max(len(t) for t in others),
        "longest_ties": len(texts[ci]) >= max(len(t) for t in others),
        "decile": min(9, int(10 * start / max(1, len(sentences)))),
        "verbatim": rec.get("original_key_sentence") in flat,
        "said": [t for t in others if t not in planned and mentions(text, t)],
        "planned": planned,
        "sentences": flat,
        "key_index": start,
        "answer": texts[ci],
        "words": len(text.split()),
        "duration": duration,
        "wer": (checks.get("asr_wer") or {}).get("value") if checks else None,
        # acoustics.gate: clean - the degraded key clip's WER, measured beside the gate's.
        "wer_degraded": (checks.get("asr_wer_degraded") or {}).get("value") if checks else None,
        "checks": checks,
        "voices": [str(v["voice"]) for v in voices if v.get("voice")],
        "key_voice": next((str(v["voice"]) for v in voices
                           if v.get("id") == key_speaker and v.get("voice")), None),
        "key_voice_planned": (rec.get("provenance") or {}).get("key_voice_planned"),
        "question": str(_get(rec, where, "test_question", "question")),
        "choices": texts,
        "correct": ci,
        **audit_grid.record_fields(rec),
        "condition": condition_label(meta.get("acoustics")),
        "gate": (meta.get("acoustics") or {}).get("gate"),
    }


def condition_label(levels: dict[str, Any] | None) -> str | None:
    """An item's acoustic condition in a few words ("snr 5 dB babble, rt60 0.6 s"), or None
    for a record built without one."""
    if not levels:
        return None
    parts = []
    if levels.get("snr_db") is not None:
        parts.append(f"snr {levels['snr_db']:g} dB {levels.get('noise') or ''}".strip())
    if levels.get("rt60_s"):
        parts.append(f"rt60 {levels['rt60_s']:g} s")
    if levels.get("overlap"):
        parts.append(f"overlap {levels['overlap']:g}")
    if levels.get("backchannels"):
        parts.append(f"backchannels {levels['backchannels']:g}")
    if levels.get("telephone"):
        parts.append("telephone")
    return ", ".join(parts) or "clean"


def _by_level(label: str) -> list:
    """"snr 5 dB" before "snr 10 dB": numbers in a label compare as numbers."""
    import re

    return [float(p) if i % 2 else p for i, p in enumerate(re.split(r"(\d+(?:\.\d+)?)", label))]


def _wer_by_condition(items: list[dict[str, Any]], rejections: list[dict[str, Any]] | None
                      ) -> dict[str, Any] | None:
    """The gate's key-segment WER of the exported items by acoustic condition, and how many
    attempts of those items a gate rejected: what each level costs."""
    labels = {it["id"]: it["condition"] for it in items if it["condition"]}
    if not labels:
        return None
    out: dict[str, Any] = {}
    for label in sorted(set(labels.values()), key=_by_level):
        wers = [float(it["wer"]) for it in items
                if it["condition"] == label and it["wer"] is not None]
        # The degraded clip's WER: measured beside a clean gate, else the gate's own (a gate
        # that heard the degraded clip; records from before acoustics.gate say none).
        heard = [float(it["wer_degraded"]) if it.get("wer_degraded") is not None
                 else float(it["wer"]) for it in items if it["condition"] == label
                 and (it.get("wer_degraded") is not None
                      or (it["wer"] is not None and it.get("gate") != "clean"))]
        out[label] = {"items": sum(1 for v in labels.values() if v == label),
                      "wer": _stats(wers) if wers else None,
                      "wer_degraded": _stats(heard) if heard else None,
                      "rejected_attempts": None if rejections is None else sum(
                          1 for r in rejections
                          if r.get("condition", labels.get(r["id"])) == label)}
    return out


def _share(count: int, n: int) -> float:
    return round(count / n, 4) if n else 0.0


def _stats(values: list[float]) -> dict[str, float]:
    return {"mean": round(statistics.fmean(values), 3), "median": round(
        statistics.median(values), 3), "min": round(min(values), 3),
        "max": round(max(values), 3), "n": len(values)}


def _rejections(rejections: list[dict[str, Any]], n_exported: int) -> dict[str, Any]:
    by_reason: Counter[str] = Counter()
    for r in rejections:
        for reason in {x["check"] for x in r.get("reasons", [])}:
            by_reason[reason] += 1
    attempts = n_exported + len(rejections)
    return {
        "attempts": attempts,
        "rejected": len(rejections),
        "rejected_share": _share(len(rejections), attempts),
        "items_ever_rejected": len({r["id"] for r in rejections}),
        # attempts any ASR check rejected (an attempt can fail several checks)
        "asr_rejected": sum(any(x["check"].startswith("asr_") for x in r.get("reasons", []))
                            for r in rejections),
        "by_reason": dict(sorted(by_reason.items(), key=lambda kv: (-kv[1], kv[0]))),
        "share_by_reason": {k: _share(v, attempts) for k, v in
                            sorted(by_reason.items(), key=lambda kv: (-kv[1], kv[0]))},
    }


def _voice_mix(items: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Who says the key sentences, beside who would if each item's key speaker were any of
    its speakers alike. The pre-check gives a key speaker another voice when its own was
    measured not to say the answer or after a draw the ASR failed, so voices heard clearly
    can end up saying more than their share of keys; this shows how much."""
    keyed = [it for it in items if it["key_voice"]]
    if not keyed:
        return None
    slots: Counter[str] = Counter()
    expected: Counter[str] = Counter()
    for it in keyed:
        for v in it["voices"]:
            slots[v] += 1
            expected[v] += 1 / len(it["voices"])
    keys = Counter(it["key_voice"] for it in keyed)
    planned = [it for it in keyed if it["key_voice_planned"]]
    return {
        "items": len(keyed),
        "voices_used": len(slots),
        "key_voices": len(keys),
        "key_voice_swapped": _share(sum(it["key_voice"] != it["key_voice_planned"]
                                        for it in planned), len(planned)) if planned else None,
        "by_voice": {v: {"slots": slots[v], "keys": keys[v],
                         "expected_keys": round(expected[v], 2)}
                     for v in sorted(slots, key=lambda v: (-keys[v], -slots[v], v))},
    }


def audit_records(records: list[dict], audio_dir: Path | None = None,
                  thresholds: AuditConfig | None = None,
                  rejections: list[dict] | None = None, planned: int | None = None,
                  embed: Callable[[list[str]], Any] | None = None) -> dict:
    """Every figure of the audit and each threshold's verdict (`passed` is their AND).

    `planned`: the run's planned size, when known; the depth threshold applies to runs of
    `depth_min_items` planned items even when a few were left out. `embed`: the sentence
    encoder of the topic fit (default: the packaged MiniLM)."""
    th = thresholds or AuditConfig()
    target = th.duration_target_seconds if th.duration_target_seconds is not None \
        else DEFAULT_WINDOW[0]
    tol = th.duration_tolerance_seconds if th.duration_tolerance_seconds is not None \
        else DEFAULT_WINDOW[1]
    items = [_item(rec, i + 1, audio_dir) for i, rec in enumerate(records)]
    n = len(items)
    letters = Counter(it["letter"] for it in items)
    deciles = Counter(it["decile"] for it in items)
    durations = [it["duration"] for it in items if it["duration"] is not None]
    wers = [float(it["wer"]) for it in items if it["wer"] is not None]
    with_checks = [it for it in items if it["checks"]]
    said = [it for it in items if it["said"]]
    result: dict[str, Any] = {
        "items": n,
        "planned": planned,
        "counts": {
            "type": dict(sorted(Counter(it["type"] for it in items).items())),
            "main_topic": dict(sorted(Counter(it["topic"] for it in items).items())),
            "main_topics": len({it["topic"] for it in items}),
            "subtopics": len({(it["topic"], it["subtopic"]) for it in items}),
            "speakers": {str(k): v for k, v in
                         sorted(Counter(it["speakers"] for it in items).items())},
            "speaker_gender": dict(sorted(Counter(g for it in items
                                                  for g in it["genders"]).items())),
        },
        "letters": {ltr: _share(letters[ltr], n) for ltr in LETTERS},
        "letter_counts": {ltr: letters[ltr] for ltr in LETTERS},
        "longest_correct": {"strict": _share(sum(it["longest_strict"] for it in items), n),
                            "with_ties": _share(sum(it["longest_ties"] for it in items), n)},
        "key_depth": {"deciles": [_share(deciles[d], n) for d in range(10)],
                      "counts": [deciles[d] for d in range(10)]},
        "key_not_verbatim": _share(sum(not it["verbatim"] for it in items), n),
        "distractor_said": {"share": _share(len(said), n),
                            "items": [{"id": it["id"], "said": it["said"]} for it in said]},
        "words": _stats([it["words"] for it in items]),
        "duration": None,
        "words_per_minute": None,
        "wer": _stats(wers) if wers else None,
        "gates": None,
        "rejections": _rejections(rejections, n) if rejections is not None else None,
        "text": text_figures(items, th.distinct2_words),
        "voices": _voice_mix(items),
        "blind": blind_table(items),
        "topic_fit": topic_fit(items, embed or minilm_embed())
        if th.topic_fit_gap_max is not None and n >= th.corpus_min_items else None,
        "grid": audit_grid.summary(items, target, tol),
    }
    by_condition = _wer_by_condition(items, rejections)
    if by_condition:  # runs with acoustic conditions only: a clean audit is unchanged
        result["wer_by_condition"] = by_condition
    if durations:
        inside = sum(abs(it["duration"] - w[0]) <= w[1] for it in items
                     if it["duration"] is not None
                     for w in [audit_grid.window(it, target, tol)])
        lo = 5 * int(min(durations) // 5)
        edges = list(range(lo, 5 * int(max(durations) // 5) + 10, 5))
        counts = [sum(a <= d < b for d in durations)
                  for a, b in zip(edges[:-1], edges[1:], strict=True)]
        result["duration"] = {**_stats(durations), "window": [target, tol],
                              "inside_window": _share(inside, len(durations)),
                              "histogram": {"edges_s": edges, "counts": counts}}
        result["words_per_minute"] = _stats([60 * it["words"] / it["duration"] for it in items
                                             if it["duration"]])
    if with_checks:
        failed: Counter[str] = Counter(name for it in with_checks
                                       for name, c in it["checks"].items() if not c.get("ok"))
        result["gates"] = {
            "all_passed": _share(sum(all(c.get("ok") for c in it["checks"].values())
                                     for it in with_checks), len(with_checks)),
            "failed_by_check": dict(sorted(failed.items())),
        }
    result["tolerances"] = {"letter": th.letter_tolerance, "depth": th.depth_tolerance}
    result["thresholds"] = _verdicts(result, th, max(n, planned or 0))
    result["passed"] = all(t["ok"] is not False for t in result["thresholds"])
    return result


def count_bounds(n: int, share: float, tolerance: float) -> tuple[int, int]:
    """The counts out of `n` items within `share` +- `tolerance`, widened to whole items: a
    run whose size is not a multiple of 4 (or 10) cannot hit 25% (10%) exactly, and
    stratification's unavoidable rounding must not fail it."""
    return (max(0, math.floor(n * (share - tolerance) + 1e-9)),
            math.ceil(n * (share + tolerance) - 1e-9))


def _verdicts(r: dict[str, Any], th: AuditConfig, n: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def add(name: str, ok: bool | None, value: Any, limit: str) -> None:
        out.append({"name": name, "ok": ok, "value": value, "limit": limit})

    items = r["items"]
    lo, hi = count_bounds(items, 0.25, th.letter_tolerance)
    add("letter_balance", all(lo <= k <= hi for k in r["letter_counts"].values()), r["letters"],
        f"each letter 25% +- {th.letter_tolerance:.0%} ({lo}-{hi} of {items} items)")
    add("longest_correct", r["longest_correct"]["strict"] <= th.longest_correct_max + 1e-9,
        r["longest_correct"]["strict"], f"<= {th.longest_correct_max:.0%}")
    dlo, dhi = count_bounds(items, 0.1, th.depth_tolerance)
    add("key_depth_balance", all(dlo <= k <= dhi for k in r["key_depth"]["counts"])
        if n >= th.depth_min_items else None, r["key_depth"]["deciles"],
        f"each decile 10% +- {th.depth_tolerance:.0%} ({dlo}-{dhi} of {items} items; on >= "
        f"{th.depth_min_items} planned)")
    add("distractor_said", r["distractor_said"]["share"] <= th.distractor_said_max + 1e-9,
        r["distractor_said"]["share"], f"<= {th.distractor_said_max:.0%}")
    d = r["duration"]
    add("duration_window", None if d is None else d["inside_window"] >= th.duration_inside_min
        - 1e-9, None if d is None else d["inside_window"],
        f">= {th.duration_inside_min:.0%} inside the window")
    t = r["text"]
    add("key_only_fact", t["key_only_fact"] <= th.key_only_fact_max + 1e-9, t["key_only_fact"],
        f"<= {th.key_only_fact_max:.0%} of items with no other fact-bearing sentence")
    add("fact_density", th.fact_density_min - 1e-9 <= t["fact_density"]
        <= th.fact_density_max + 1e-9, t["fact_density"],
        f"{th.fact_density_min:.0%}-{th.fact_density_max:.0%} of non-key sentences")
    big = n >= th.corpus_min_items  # figures over a whole corpus mean little on a handful
    add("distinct2", t["distinct2"] >= th.distinct2_min - 1e-9 if big else None, t["distinct2"],
        f">= {th.distinct2_min:.2f} over the first {th.distinct2_words} words (on >= "
        f"{th.corpus_min_items} items)")
    add("repeated_sentences", t["repeated_sentences"] <= th.repeated_sentences_max + 1e-9
        if big else None, t["repeated_sentences"],
        f"<= {th.repeated_sentences_max:.0%} of non-key sentences (4+ words) said in another "
        f"item (on >= {th.corpus_min_items} items)")
    add("phrase_answers", t["answers"]["phrase_share"] >= th.phrase_answers_min - 1e-9
        if big else None, t["answers"]["phrase_share"],
        f">= {th.phrase_answers_min:.0%} answers of 3+ words (on >= {th.corpus_min_items} items)")
    ok, why = blind_verdict(r["blind"], th.blind_rule_max, th.blind_rule_form_max,
                            th.corpus_min_items)
    add("blind_choice", ok if big else None, why,
        f"no rule reading only the choices right > {th.blind_rule_max:.0%} overall, > "
        f"{th.blind_rule_form_max:.0%} in an answer form of {th.corpus_min_items}+ items")
    fit = r["topic_fit"]
    add("topic_fit", None if fit is None or fit["gap"] is None or th.topic_fit_gap_max is None
        else fit["gap"] <= th.topic_fit_gap_max + 1e-9, None if fit is None else fit["gap"],
        "fact sentences' similarity to the subtopic within "
        f"{th.topic_fit_gap_max} of the others' (on >= {th.corpus_min_items} items)")
    g = r["gates"]
    add("gates_passed", None if g is None else g["all_passed"] >= th.gates_pass_min - 1e-9,
        None if g is None else g["all_passed"], f">= {th.gates_pass_min:.0%} pass every gate")
    return out


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def figures(r: dict[str, Any]) -> dict[str, str]:
    """The headline figures of an audit result, formatted: ours and a reference file's are
    computed by the same code, so the columns compare like with like."""
    dur, wpm = r["duration"], r["words_per_minute"]
    out = {f"correct letter {ltr}": _pct(r["letters"][ltr]) for ltr in LETTERS}
    out.update({
        "correct strictly longest": _pct(r["longest_correct"]["strict"]),
        "correct longest, ties counted": _pct(r["longest_correct"]["with_ties"]),
        "a distractor said in the transcript": _pct(r["distractor_said"]["share"]),
        "key sentence not verbatim": _pct(r["key_not_verbatim"]),
        "words per transcript (mean)": f"{r['words']['mean']:.0f}",
        "duration, s (mean)": "-" if not dur else format(dur["mean"], ".1f"),
        "words per minute (mean)": "-" if not wpm else format(wpm["mean"], ".0f"),
    })
    return out


def reference(records: list[dict], name: str) -> dict[str, Any]:
    """A reference file's figures (e.g. the public SPIRAL release), for audit.md's second
    column: `result["reference"] = reference(load_records(path), path.name)`."""
    r = audit_records(records)
    return {"file": name, "items": r["items"], "figures": figures(r)}


def _markdown(r: dict[str, Any]) -> str:
    planned = f" (of {r['planned']} planned)" if r.get("planned") else ""
    lines = ["# Audit", "", f"{r['items']} items{planned}. Verdict: "
             f"**{'PASS' if r['passed'] else 'FAIL'}**.", "", "## Thresholds", "",
             "| check | value | limit | result |", "| --- | --- | --- | --- |"]
    for t in r["thresholds"]:
        v = t["value"]
        shown = (" ".join(f"{k} {_pct(x)}" for k, x in v.items()) if isinstance(v, dict) else
                 " ".join(_pct(x) for x in v) if isinstance(v, list) else
                 v if isinstance(v, str) else
                 f"{v:+.3f}" if t["name"] == "topic_fit" and v is not None else _pct(v))
        res = {True: "pass", False: "**FAIL**", None: "n/a"}[t["ok"]]
        lines.append(f"| {t['name']} | {shown} | {t['limit']} | {res} |")
    ref = r.get("reference")
    if ref:
        lines += ["", "## Beside the reference file", "",
                  f"Both columns measured by this audit, with the same definitions; the "
                  f"reference is `{ref['file']}` ({ref['items']} items).", "",
                  "| figure | this file | reference |", "| --- | --- | --- |"]
        lines += [f"| {k} | {v} | {ref['figures'].get(k, '-')} |" for k, v in figures(r).items()]
    else:
        lines += ["", "## Figures", "", "| figure | this file |", "| --- | --- |"]
        lines += [f"| {k} | {v} |" for k, v in figures(r).items()]
    lines += [
        "", "## The text", "",
        "| figure | this file |", "| --- | --- |",
        f"| items whose key is the only fact-bearing sentence | "
        f"{_pct(r['text']['key_only_fact'])} |",
        f"| non-key sentences carrying a detail | {_pct(r['text']['fact_density'])} |",
        f"| distinct word bigrams, first {r['text']['distinct2_words']} words | "
        f"{r['text']['distinct2']:.3f} |",
        f"| non-key sentences (4+ words) said in another item | "
        f"{_pct(r['text']['repeated_sentences'])} |",
        f"| answers of 3+ words (phrase) / values | {r['text']['answers']['phrase']} / "
        f"{r['text']['answers']['value']} |",
        f"| planned confusers (wrong choices said about another subject) | "
        f"{r['text']['confusers']['planned']} in {r['text']['confusers']['items_with_planned']}"
        f" items |",
        *blind_markdown(r["blind"]), *fit_markdown(r["topic_fit"]),
        "", "## Counts", ""]
    c = r["counts"]
    for key in ("type", "speakers", "speaker_gender"):
        lines.append(f"- {key}: " + ", ".join(f"{k} {v}" for k, v in c[key].items()))
    lines.append(f"- main topics: {c['main_topics']}, subtopics: {c['subtopics']}")
    lines.append("- key depth deciles: " + " ".join(
        f"{d}:{k}" for d, k in enumerate(r["key_depth"]["counts"])))
    if r["wer"]:
        w = r["wer"]
        lines.append(f"- key-segment WER: mean {w['mean']:.3f}, median {w['median']:.3f}, "
                     f"max {w['max']:.3f}")
    if r.get("wer_by_condition"):
        lines += ["", "## Gate WER by acoustic condition", "",
                  "| condition | items | gate WER mean | max | degraded key WER mean | max "
                  "| rejected attempts |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for label, c in r["wer_by_condition"].items():
            w, d = c["wer"] or {}, c.get("wer_degraded") or {}
            lines.append(f"| {label} | {c['items']} | {w.get('mean', '-')} | "
                         f"{w.get('max', '-')} | {d.get('mean', '-')} | {d.get('max', '-')} | "
                         f"{c['rejected_attempts']} |")
        lines.append("")
    if r["gates"]:
        lines.append(f"- every gate passed: {_pct(r['gates']['all_passed'])}; failed checks: "
                     + (", ".join(f"{k} {v}" for k, v in r["gates"]["failed_by_check"].items())
                        or "none"))
    lines += audit_grid.markdown(r.get("grid"))
    if r["rejections"]:
        rj = r["rejections"]
        lines += ["", "## Rejections", "",
                  f"{rj['rejected']} of {rj['attempts']} generated attempts rejected "
                  f"({_pct(rj['rejected_share'])}); {rj['items_ever_rejected']} items rebuilt "
                  "at least once. An attempt can fail several checks.", "",
                  "| check | attempts | share of attempts |", "| --- | --- | --- |"]
        lines += [f"| {k} | {v} | {_pct(rj['share_by_reason'][k])} |"
                  for k, v in rj["by_reason"].items()]
    if r.get("voices"):
        v = r["voices"]
        lines += ["", "## Voices", "",
                  f"{v['voices_used']} voices speak in the {v['items']} items; "
                  f"{v['key_voices']} of them say key sentences. Key speakers given another "
                  f"voice than planned (one measured to say the answer): "
                  f"{_pct(v['key_voice_swapped'])}. Expected: the keys a voice would say if "
                  f"each item's key speaker were any of its speakers alike.", "",
                  "| voice | speaker slots | key sentences | expected |",
                  "| --- | --- | --- | --- |"]
        lines += [f"| {name} | {x['slots']} | {x['keys']} | {x['expected_keys']:.1f} |"
                  for name, x in v["by_voice"].items()]
    if r["distractor_said"]["items"]:
        lines += ["", "## Distractors said", ""] + [
            f"- {x['id']}: {', '.join(x['said'])}" for x in r["distractor_said"]["items"][:50]]
    return "\n".join(lines) + "\n"


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    return buf.getvalue()


def _plots(r: dict[str, Any]) -> dict[str, bytes]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = {}
    n = r["items"]
    tol = r.get("tolerances", {})
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.bar(list(LETTERS), [100 * r["letters"][x] for x in LETTERS], color="#4878a8")
    ax.axhline(25, color="k", ls="--", lw=1)
    if tol.get("letter") is not None:
        band = 100 * tol["letter"]
        ax.axhspan(25 - band, 25 + band, color="k", alpha=0.1, zorder=0,
                   label=f"25% +- {band:g} points")
        ax.legend(loc="upper right", fontsize=7)
    ax.set(ylabel="% of items", title=f"Correct letter ({n} items)")
    fig.tight_layout()
    out["letters.png"] = _png(fig)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.bar([f"{10 * d}-{10 * d + 10}" for d in range(10)],
           [100 * x for x in r["key_depth"]["deciles"]], color="#6a9f58")
    ax.axhline(10, color="k", ls="--", lw=1)
    ax.set(xlabel="key sentence start, % of sentences", ylabel="% of items",
           title=f"Key-sentence depth ({n} items)")
    ax.tick_params(axis="x", labelsize=7)
    fig.tight_layout()
    out["key_depth.png"] = _png(fig)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    types = r["counts"]["type"]
    ax.bar(list(types), list(types.values()), color="#c47f3e")
    ax.set(ylabel="items", title=f"Transcript type ({n} items)")
    fig.tight_layout()
    out["types.png"] = _png(fig)
    plt.close(fig)
    if r["duration"]:
        h = r["duration"]["histogram"]
        target, window = r["duration"]["window"]
        fig, ax = plt.subplots(figsize=(5, 3.2))
        ax.axvspan(target - window, target + window, color="#f0c000", alpha=0.3, zorder=0,
                   label=f"window {target - window:g}-{target + window:g} s")
        ax.bar(h["edges_s"][:-1], h["counts"], width=5, align="edge", color="#8172b2",
               alpha=0.85, zorder=2)
        lo = min(h["edges_s"][0], target - window) - 5
        hi = max(h["edges_s"][-1], target + window) + 5
        ax.set_xlim(lo, hi)  # the whole window in view, even when every item sits in part of it
        ax.legend(loc="upper right", fontsize=7)
        ax.set(xlabel="duration, s", ylabel="items",
               title=f"Durations ({r['duration']['n']} items, "
                     f"{_pct(r['duration']['inside_window'])} in the window)")
        fig.tight_layout()
        out["durations.png"] = _png(fig)
        plt.close(fig)
    if r["rejections"] and r["rejections"]["by_reason"]:
        rj = r["rejections"]
        reasons = rj["by_reason"]
        names = list(reasons)[::-1]
        fig, ax = plt.subplots(figsize=(6, 3.2))
        ax.barh(names, [100 * rj["share_by_reason"][k] for k in names], color="#b55d60")
        for y, k in enumerate(names):
            ax.annotate(f"{reasons[k]}/{rj['attempts']}", (100 * rj["share_by_reason"][k], y),
                        xytext=(3, 0), textcoords="offset points", va="center", fontsize=7)
        ax.set(xlabel=f"% of {rj['attempts']} generated attempts",
               title=f"Rejections by check ({rj['rejected']} of {rj['attempts']} attempts)")
        ax.margins(x=0.2)
        fig.tight_layout()
        out["rejections.png"] = _png(fig)
        plt.close(fig)
    return out


def write_report(result: dict, out_dir: Path) -> list[Path]:
    """audit.json, audit.md and PNG plots in `out_dir`, each written atomically.

    `audit.json` is the marker that the report is current (`run_report`): it is removed
    first and written last, so a report cut short by a kill or a full disk is redone whole
    instead of published without its plots."""
    out_dir = Path(out_dir)
    paths = [out_dir / "audit.json", out_dir / "audit.md"]
    paths[0].unlink(missing_ok=True)
    atomic_write_text(paths[1], _markdown(result))
    plots = _plots(result)
    for name in PLOTS - set(plots):  # a plot this result has none of: not last run's
        (out_dir / name).unlink(missing_ok=True)
    for name, data in plots.items():
        atomic_write_bytes(out_dir / name, data)
        paths.append(out_dir / name)
    atomic_write_json(paths[0], result)
    return paths


def source_digest(data_file: Path) -> str:
    """What `audit.json` records of the file it audited, so a stale report is recognised."""
    return file_hash(data_file)


def audit_file(data: Path, audio: Path | None, th: AuditConfig,
               reference_file: Path | None = None) -> dict[str, Any]:
    """The audit of one data.jsonl (ours or any SPIRAL-format file), with our run's
    rejections and planned size when they lie beside it."""
    records = load_records(data)
    result = audit_records(records, audio, th, load_rejections(data),
                           load_planned(data, len(records)))
    result["source_sha256"] = source_digest(data)
    result["audit_version"] = AUDIT_VERSION
    if reference_file is not None:
        result["reference"] = reference(load_records(reference_file), reference_file.name)
    return result


def run_report(run_dir: Path, th: AuditConfig) -> Path:
    """The folder of a current audit report of the run's export: the one `spiral audit`
    wrote (`export/audit/`, or `<run>/audit/`) when it audited this very file with this
    version of the audit, else a fresh one written to `export/audit/`."""
    data = Path(run_dir) / "export" / "data.jsonl"
    digest = source_digest(data)
    for folder in (data.parent / "audit", Path(run_dir) / "audit"):
        try:
            found = json.loads((folder / "audit.json").read_text(encoding="utf-8"))
            if (found.get("source_sha256"), found.get("audit_version")) == (digest,
                                                                           AUDIT_VERSION):
                return folder
        except (OSError, json.JSONDecodeError, AttributeError):
            continue
    wavs = data.parent / "wavs"
    write_report(audit_file(data, wavs if wavs.is_dir() else None, th), data.parent / "audit")
    return data.parent / "audit"
