"""What the review page shows, read from a built run: its export records, the items validation
left out (rebuilt from the stage caches when they got far enough), verdicts and the audit.

Every file the page may fetch is listed in `ReviewRun.files` (URL path -> file on disk), so
the server serves that list and nothing else, and the static export copies exactly it.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pipeline.core import difficulty, reviews
from pipeline.core.paths import OutsidePath, inside
from pipeline.core.record_check import RecordError, check_record
from pipeline.core.records import LETTERS, Item, ItemSpec
from pipeline.core.store import StageCache, read_json, read_jsonl

# Stage caches in the order the stages run; a failed item's record is rebuilt from those
# before the stage that failed it (later caches may hold an earlier attempt).
CACHE_STAGES = ("script", "plant", "question", "synthesize", "validate")
AUDIT_PLOTS = ("letters.png", "key_depth.png", "types.png", "durations.png", "rejections.png")


class ReviewDataError(ValueError):
    """The run cannot be reviewed as asked; the message names the run, file or item."""


@dataclass
class ReviewRun:
    name: str
    run_dir: Path
    items: list[dict[str, Any]]
    files: dict[str, Path]
    audit: dict[str, Any]
    manifest: dict[str, Any] = field(default_factory=dict)

    def seeds(self) -> dict[str, int | None]:
        return {it["id"]: it["seed"] for it in self.items}

    def verdicts(self) -> dict[str, dict[str, Any]]:
        """Current reviews.jsonl rows of this run's items, as the page holds them."""
        seeds = self.seeds()
        return {i: for_page(row, seeds[i])
                for i, row in reviews.load(self.run_dir).items() if i in seeds}


def for_page(row: dict[str, Any], seed: int | None) -> dict[str, Any]:
    """A verdict marked stale or not, its seed as a string: item seeds exceed 2**53, past
    what a JavaScript number holds exactly."""
    return {**row, "seed": None if row.get("seed") is None else str(row["seed"]),
            "stale": not reviews.applies(row, seed)}


def _failures(export: Path) -> list[dict[str, Any]]:
    src = export / "failures.jsonl"
    if not src.exists():
        return []
    out = []
    for n, row in read_jsonl(src, ReviewDataError):
        if not isinstance(row.get("id"), str):
            raise ReviewDataError(f"{src}:{n}: expected an object with a string 'id'")
        out.append(row)
    return out


def _plan(run_dir: Path) -> dict[str, ItemSpec]:
    src = run_dir / "plan.jsonl"
    if not src.exists():
        return {}
    return {row["id"]: Item.from_dict({"spec": row}).spec
            for _, row in read_jsonl(src, ReviewDataError)}


def _cached(run_dir: Path, stage: str, item_id: str) -> dict[str, Any]:
    """The stage's record of the item, only when it passes its checksum."""
    return StageCache(run_dir, stage).record(item_id) or {}


def failed_record(run_dir: Path, spec: ItemSpec, failure: dict[str, Any]) -> dict[str, Any]:
    """A SPIRAL-shaped record of an item validation (or an earlier stage) left out, from the
    caches of the stages it passed; missing parts are absent, never guessed."""
    stage = failure.get("stage")
    parts: dict[str, Any] = {}
    for name in CACHE_STAGES:
        if name == stage and name != "validate":
            break  # this stage's cache, if any, is an earlier attempt's
        parts.update(_cached(run_dir, name, spec.id))
        if name == stage:
            break
    item = Item.from_dict({**parts, "spec": asdict(spec)})
    rec: dict[str, Any] = {
        "metadata": {"main_topic": spec.main_topic, "subtopic": spec.subtopic,
                     "transcript_type": spec.type, "id": spec.id},
        "voices": [asdict(s) for s in spec.speakers],
        "provenance": {"item_seed": spec.seed, "item_index": spec.index,
                       "detail_kind": spec.detail_kind, "planned_letter": spec.letter,
                       "planned_decile": spec.key_decile, "failed_stage": stage,
                       "failed_reason": failure.get("reason", "")},
        "key_detail": {"kind": spec.detail_kind, "answer": None, "depth": spec.key_decile},
    }
    if item.transcript:
        rec["transcript"] = [{"speaker": t.speaker, "text": list(t.text)}
                             for t in item.transcript]
    if item.key:
        rec["original_key_sentence"] = item.key.sentence
        rec["key_detail"]["answer"] = item.key.answer
        rec["audio_data"] = {"key_sentences": {"indices": [item.key.index, item.key.index + 1],
                                               "text": item.key.sentence}}
    if item.question:
        rec["test_question"] = {"question": item.question.stem,
                                "choices": item.question.labelled,
                                "correct_answer": item.question.correct}
    if item.audio:
        rec["timestamps"] = {"sentences": item.audio.sentence_times,
                             "key_sentence": item.audio.key_times}
        rec["duration"] = item.audio.duration
        rec.setdefault("audio_data", {})["combined"] = {"audio_files": [item.audio.wav]}
        rec["audio_data"].setdefault("key_sentences", {})["audio_file"] = item.audio.key_wav
    if item.checks:
        rec["checks"] = {c.name: {"ok": c.ok, "reason": c.reason, "value": c.value}
                         for c in item.checks}
    return rec


def _confusers(rec: dict[str, Any], sentences: list[str], key_index: int | None
               ) -> tuple[set[int], set[str]]:
    """Sentence indices and values of the record's planned confusers, if it names any
    (`confusers`, top level or under `key_detail`: indices, sentences or {index|sentence|value})."""
    raw = rec.get("confusers")
    if raw is None and isinstance(rec.get("key_detail"), dict):
        raw = rec["key_detail"].get("confusers")
    idx: set[int] = set()
    values: set[str] = set()
    for c in raw if isinstance(raw, list) else []:
        if isinstance(c, int) and not isinstance(c, bool):
            idx.add(c)
        elif isinstance(c, str):
            idx.update(i for i, s in enumerate(sentences) if s == c)
        elif isinstance(c, dict):
            for k in ("index", "sentence_index", "position"):
                if isinstance(c.get(k), int):
                    idx.add(c[k])
                    break
            else:
                if isinstance(c.get("sentence"), str):
                    idx.update(i for i, s in enumerate(sentences) if s == c["sentence"])
                elif isinstance(c.get("value"), str):
                    v = c["value"].lower()
                    idx.update(i for i, s in enumerate(sentences)
                               if v in s.lower() and i != key_index)
            if isinstance(c.get("value"), str):
                values.add(c["value"])
    return {i for i in idx if 0 <= i < len(sentences) and i != key_index}, values


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if value is None:
        return "-"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def clock(seconds: Any) -> str | None:
    """92.7 -> "1:32", as the audio player counts (whole seconds, rounded down): shown beside
    a player that has loaded nothing yet (and so reads 0:00 / 0:00)."""
    if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
        return None
    whole = int(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


_TAG_LABELS = {"model": "model", "proxy": "offline proxy",
               "original_correct": "right in the original order",
               "rotations_correct": "rotations right (audio)",
               "blind_rotations_correct": "rotations right with no audio",
               "rule": "rule", "seed": "item seed tagged", "content": "content tagged",
               "type": "type"}


def tag_fields(tag: dict[str, Any] | None) -> list[tuple[str, str]]:
    """A difficulty tag as label/value rows a reviewer reads, not raw JSON."""
    if not tag:
        return []
    first = ("hard", "too_easy", "model", "proxy", "original_correct", "rotations_correct",
             "blind_rotations_correct", "rule")
    out = []
    for key, value in sorted(tag.items(), key=lambda kv: first.index(kv[0])
                             if kv[0] in first else len(first)):
        if key in ("id", "model_id"):
            continue
        if isinstance(value, bool):
            text = "yes" if value else "no"
        elif key.endswith("rotations_correct") and isinstance(value, int):
            text = f"{value} of 4"
        else:
            text = _show(value)
        out.append((_TAG_LABELS.get(key, key.replace("_", " ")), text))
    return out


def view(rec: dict[str, Any], status: str, audio: tuple[str | None, str | None],
         tag: dict[str, Any] | None, failure: dict[str, Any] | None = None) -> dict[str, Any]:
    """One item as the template shows it (every field optional but the id)."""
    meta = rec.get("metadata") or {}
    voices = [v for v in rec.get("voices") or [] if isinstance(v, dict)]
    by_speaker = {v.get("id"): v for v in voices}
    transcript = rec.get("transcript") or []
    sentences = [s for t in transcript for s in t.get("text", [])]
    times = (rec.get("timestamps") or {}).get("sentences") or []
    ks = (rec.get("audio_data") or {}).get("key_sentences") or {}
    key_index = (ks.get("indices") or [None])[0]
    key_times = (rec.get("timestamps") or {}).get("key_sentence")
    confuser_idx, confuser_values = _confusers(rec, sentences, key_index)
    turns, n = [], 0
    for t in transcript:
        v = by_speaker.get(t.get("speaker"), {})
        sents = []
        for text in t.get("text", []):
            start, end = (times[n] if n < len(times) else (None, None))
            sents.append({"i": n, "text": text, "start": start, "end": end,
                          "key": n == key_index, "confuser": n in confuser_idx})
            n += 1
        turns.append({"speaker": t.get("speaker", "?"), "voice": v.get("voice"),
                      "gender": v.get("gender"), "sentences": sents})
    kd = rec.get("key_detail") or {}
    decile = kd.get("depth") if isinstance(kd.get("depth"), int) else (
        min(9, int(10 * key_index / len(sentences))) if key_index is not None and sentences
        else None)
    q = rec.get("test_question")
    question = None
    if isinstance(q, dict):
        choices = []
        for i, c in enumerate(q.get("choices") or []):
            labelled = len(c) > 2 and c[1:3] == ". "
            text = c[3:] if labelled else c
            choices.append({"letter": c[0] if labelled else LETTERS[i % 4], "text": text,
                            "correct": c == q.get("correct_answer"),
                            "confuser": text in confuser_values})
        question = {"stem": q.get("question", ""), "choices": choices}
    checks = [{"name": name, "ok": bool(c.get("ok")), "value": _show(c.get("value")),
               "reason": c.get("reason") or ""}
              for name, c in (rec.get("checks") or {}).items() if isinstance(c, dict)]
    prov = rec.get("provenance") or {}
    if tag is None:
        tag_label = "untagged"
    else:
        tag_label = "hard" if tag.get("hard") else "too_easy" if tag.get("too_easy") else "other"
    key_len = key_times[1] - key_times[0] if key_times and None not in key_times[:2] else None
    return {
        "id": meta.get("id"),
        "status": status,
        "failure": failure,
        "type": meta.get("transcript_type", "unknown"),
        "topic": meta.get("main_topic", ""),
        "subtopic": meta.get("subtopic", ""),
        "kind": kd.get("kind") or prov.get("detail_kind") or "unknown",
        "answer": kd.get("answer"),
        "decile": decile,
        "tag": tag_label,
        "tag_row": tag,
        "tag_fields": tag_fields(tag),
        "failed_checks": [c["name"] for c in checks if not c["ok"]],
        "seed": prov.get("item_seed"),
        "audio": audio[0],
        "key_audio": audio[1],
        "duration": rec.get("duration"),
        "clock": clock(rec.get("duration")),
        "key_clock": clock(key_len),
        "turns": turns,
        "has_confusers": bool(confuser_idx),
        "key": {"index": key_index, "start": key_times[0] if key_times else None,
                "end": key_times[1] if key_times else None,
                "sentence": rec.get("original_key_sentence")},
        "question": question,
        "checks": checks,
        "voices": voices,
        "provenance": [(k, _show(v)) for k, v in sorted(prov.items())],
    }


def find_audit(run_dir: Path, audit_dir: Path | None) -> dict[str, Any]:
    """The audit report to show: `audit_dir` if given, else `<run>/export/audit` (where
    `spiral audit` writes by default) or `<run>/audit` (where publishing reads it)."""
    candidates = [audit_dir] if audit_dir is not None else [run_dir / "export" / "audit",
                                                            run_dir / "audit"]
    for folder in candidates:
        plots = [p for p in (folder / n for n in AUDIT_PLOTS) if p.is_file()]
        report = folder / "audit.json"
        md = folder / "audit.md"
        if not (plots or report.is_file() or md.is_file()):
            continue
        try:
            result = read_json(report) if report.is_file() else None
        except (OSError, json.JSONDecodeError) as exc:
            raise ReviewDataError(f"{report}: not readable JSON: {exc}") from None
        return {"folder": str(folder), "result": result, "plots": plots,
                "markdown": md.read_text(encoding="utf-8") if md.is_file() else None,
                "searched": [str(c) for c in candidates]}
    return {"folder": None, "result": None, "plots": [], "markdown": None,
            "searched": [str(c) for c in candidates]}


def fingerprint(run_dir: Path, audit_dir: Path | None = None) -> tuple[Any, ...]:
    """Sizes and times of the files the page is made from (the verdicts aside): unchanged,
    the page need not be rendered again."""
    folders = [audit_dir] if audit_dir is not None else [run_dir / "export" / "audit",
                                                         run_dir / "audit"]
    paths = [run_dir / "export" / "data.jsonl", run_dir / "export" / "failures.jsonl",
             run_dir / "plan.jsonl", run_dir / "manifest.json", difficulty.path(run_dir),
             *(f / n for f in folders for n in ("audit.json", "audit.md", *AUDIT_PLOTS))]
    out: list[Any] = []
    for p in paths:
        try:
            st = p.stat()
            out.append((str(p), st.st_mtime_ns, st.st_size, st.st_ino))
        except OSError:
            out.append((str(p), None))
    return tuple(out)


def load_run(run_dir: str | Path, audit_dir: str | Path | None = None,
             name: str | None = None) -> ReviewRun:
    """Everything the page shows of the run in `run_dir`; a missing export or audio file
    raises ReviewDataError naming it."""
    run_dir = Path(run_dir)
    name = name or run_dir.name
    export = run_dir / "export"
    data = export / "data.jsonl"
    if not run_dir.is_dir():
        raise ReviewDataError(f"run {name!r}: no folder {run_dir}")
    if not data.is_file():
        raise ReviewDataError(f"run {name!r}: {data} not found; build the run first "
                              f"(spiral run --run {name})")
    if audit_dir is not None and not Path(audit_dir).is_dir():
        raise ReviewDataError(f"--audit {audit_dir}: not a folder")
    tags = difficulty.load(run_dir)
    files: dict[str, Path] = {}
    items = []
    for n, rec in read_jsonl(data, ReviewDataError):
        try:  # the records the audit and eval refuse are not shown either
            check_record(rec, f"{data}:{n}")
        except RecordError as exc:
            raise ReviewDataError(str(exc)) from None
        meta = rec.get("metadata")
        if not isinstance(meta, dict) or not isinstance(meta.get("id"), str):
            raise ReviewDataError(f"{data}:{n}: missing field metadata.id")
        item_id = meta["id"]
        try:
            wav = rec["audio_data"]["combined"]["audio_files"][0]
            key_wav = rec["audio_data"]["key_sentences"]["audio_file"]
        except (KeyError, IndexError, TypeError):
            raise ReviewDataError(f"{data}:{n} ({item_id}): missing field "
                                  "audio_data.combined.audio_files or "
                                  "audio_data.key_sentences.audio_file") from None
        try:
            src = inside(export / "wavs", wav, f"{data}:{n} ({item_id})")
            key_src = inside(export / "key_wavs", key_wav, f"{data}:{n} ({item_id})")
        except OutsidePath as exc:
            raise ReviewDataError(str(exc)) from None
        if not src.is_file():
            raise ReviewDataError(f"run {name!r}: audio of {item_id} missing: {src}; "
                                  f"re-export the run (spiral export --run {name})")
        files[f"audio/wavs/{wav}"] = src
        key_url = None
        if key_src.is_file():
            key_url = f"audio/key_wavs/{key_wav}"
            files[key_url] = key_src
        items.append(view(rec, "exported", (f"audio/wavs/{wav}", key_url),
                          (tags or {}).get(item_id)))
    plan = _plan(run_dir)
    exported = {it["id"] for it in items}
    for failure in _failures(export):
        spec = plan.get(failure["id"])
        if spec is None or failure["id"] in exported:
            continue
        rec = failed_record(run_dir, spec, failure)
        urls: list[str | None] = [None, None]
        combined = (rec.get("audio_data") or {}).get("combined", {}).get("audio_files")
        key_wav = (rec.get("audio_data") or {}).get("key_sentences", {}).get("audio_file")
        for i, (fname, folder, prefix) in enumerate((
                (combined[0] if combined else None, run_dir / "audio", "audio/failed"),
                (key_wav, run_dir / "audio" / "key", "audio/failed_key"))):
            try:
                src = inside(folder, fname, f"{spec.id}'s cached record") if fname else None
            except OutsidePath as exc:
                raise ReviewDataError(str(exc)) from None
            if src is not None and src.is_file():
                urls[i] = f"{prefix}/{fname}"
                files[f"{prefix}/{fname}"] = src
        items.append(view(rec, "failed", (urls[0], urls[1]), (tags or {}).get(spec.id),
                          {"stage": failure.get("stage"), "reason": failure.get("reason")}))
    if not items:
        raise ReviewDataError(f"run {name!r}: {data} has no records and no failed items")
    order = {i: spec.index for i, spec in plan.items()}
    items.sort(key=lambda it: (order.get(it["id"], len(order)), it["id"]))
    audit = find_audit(run_dir, Path(audit_dir) if audit_dir is not None else None)
    for plot in audit["plots"]:
        files[f"audit/{plot.name}"] = plot
    manifest_path = run_dir / "manifest.json"
    try:
        manifest = read_json(manifest_path) if manifest_path.is_file() else {}
    except (OSError, json.JSONDecodeError):
        manifest = {}
    return ReviewRun(name, run_dir, items, files, audit, manifest)


def facets(items: list[dict[str, Any]]) -> dict[str, Counter[str]]:
    """Counts of each filter value over the run (the page recounts under other filters)."""
    out: dict[str, Counter[str]] = {k: Counter() for k in ("type", "kind", "decile", "tag",
                                                           "check", "status")}
    for it in items:
        out["type"][it["type"]] += 1
        out["kind"][it["kind"]] += 1
        out["decile"]["-" if it["decile"] is None else str(it["decile"])] += 1
        out["tag"][it["tag"]] += 1
        out["status"][it["status"]] += 1
        for c in it["failed_checks"] or ["(none)"]:
            out["check"][c] += 1
    return out
