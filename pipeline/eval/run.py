"""`spiral eval`: score one model on one benchmark, circularly, and optionally tag difficulty.

Every item is asked four times, its choices rotated; each answer is cached per item under
`<eval root>/<model>/items/` (and the blind pass under `blind/`) as soon as it is known, so a
killed evaluation resumes, and the openai backend's requests also go through the LLM client's
request cache: a rerun sends nothing. Outputs, all written atomically, in
`<eval root>/<model>/`: `predictions.jsonl`, `report.json`, `report.md`, two PNG plots; and
the source's `models.md` / `models.json` table of every model evaluated on it.

With `--tag` (runs only), the run's difficulty tags are rewritten from this model: `hard` when
it fails the item in the original order, `too_easy` when a blind text-only pass is right in at
least 3 of the 4 rotations.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

from pipeline.core import difficulty
from pipeline.core.config import Config
from pipeline.core.records import LETTERS
from pipeline.core.store import StageCache, content_hash, file_hash
from pipeline.eval import grid
from pipeline.eval import report as rp
from pipeline.eval.backends import Answers, ModelSpec, make_backend
from pipeline.eval.protocol import ROTATIONS, parse_letter, rotation, strip_label
from pipeline.eval.sources import EvalItem, Source, SourceError, load_source

EVAL_VERSION = "1"
TOO_EASY_MIN = 3  # blind right in at least this many of the four rotations


class EvalError(ValueError):
    """The evaluation cannot run as asked; the message says why in one line."""


def orders(item: EvalItem) -> list[list[str]]:
    texts = [strip_label(c) for c in item.rec["test_question"]["choices"]]
    return [[texts[i] for i in rotation(k)] for k in range(ROTATIONS)]


def score(item: EvalItem, ans: Answers) -> list[dict[str, Any]]:
    """Each rotation's reply read back to a choice of the original order, and judged."""
    q = item.rec["test_question"]
    right = q["choices"].index(q["correct_answer"])
    out = []
    for k, (shown, reply) in enumerate(zip(orders(item), ans.replies, strict=True)):
        pick = parse_letter(reply, shown)
        choice = None if pick is None else rotation(k)[pick]
        out.append({"k": k, "reply": reply, "letter": None if pick is None else LETTERS[pick],
                    "choice": choice, "correct": choice == right})
    return out


def prediction(item: EvalItem, spec: ModelSpec, rot: list[dict], blind: list[dict] | None,
               usage: dict[str, Any], time_s: float) -> dict[str, Any]:
    out = {"id": item.id, "model": spec.model_id, "type": item.type, "depth": item.depth,
            "kind": item.kind, "duration": round(item.duration, 3),
            "n_speakers": item.n_speakers, **grid.item_fields(item.rec),
            "correct_choice": item.rec["test_question"]["choices"].index(
                item.rec["test_question"]["correct_answer"]),
            "rotations": rot, "plain": rot[0]["correct"],
            "circular": all(r["correct"] for r in rot), "blind": blind,
            "usage": usage, "time_s": round(time_s, 4)}
    acoustics = (item.rec.get("metadata") or {}).get("acoustics")
    if acoustics:  # the asked levels, for the report's accuracy by condition
        out["acoustics"] = {k: acoustics.get(k) for k in rp.CONDITIONS}
    return out


class _Passes:
    """The audio and blind passes of every item, cached per item, computed when missing."""

    def __init__(self, src: Source, spec: ModelSpec, cfg: Config, out: Path) -> None:
        self.src, self.spec, self.cfg, self.out = src, spec, cfg, out
        self.backend: Any = None
        self.caches = {True: StageCache(out, "items"), False: StageCache(out, "blind")}
        self.computed = 0
        self.requests = 0

    def get_backend(self) -> Any:
        if self.backend is None:
            # a run's ASR words are shared with `spiral baseline` (<run>/baseline/asr-*)
            self.backend = make_backend(self.spec, self.cfg,
                                        self.src.run_dir or self.src.eval_root)
        return self.backend

    def key(self, item: EvalItem, audio: bool) -> str:
        # what shapes the answers: the model and its settings, the question, the audio
        return content_hash(EVAL_VERSION, audio, self.ident, item.rec["test_question"],
                            file_hash(item.wav) if audio else "")

    @property
    def ident(self) -> dict[str, Any]:
        spec = self.spec
        base = {"backend": spec.backend, "name": spec.name, "max_tokens": spec.max_tokens}
        if spec.backend == "openai":
            return {**base, "base_url": self.cfg.llm.base_url}
        return {**base, "selector": spec.selector, "pr": spec.prune_rate, "seed": spec.seed}

    def cached(self, item: EvalItem, audio: bool) -> dict | None:
        return self.caches[audio].get(item.id, self.key(item, audio))

    def store(self, item: EvalItem, audio: bool, ans: Answers, time_s: float) -> dict:
        rec = {"replies": ans.replies, "usage": ans.usage, "time_s": time_s}
        self.caches[audio].put(item.id, self.key(item, audio), rec)
        self.computed += int(audio)
        self.requests += int(ans.usage.get("calls", 0))
        return rec

    def run_sync(self, todo: list[tuple[EvalItem, bool]], bar: Any) -> None:
        for item, audio in todo:
            t0 = time.perf_counter()
            ans = self.get_backend().answer(item, orders(item), audio)
            self.store(item, audio, ans, time.perf_counter() - t0)
            bar.update(1)

    def run_async(self, todo: list[tuple[EvalItem, bool]], bar: Any) -> None:
        backend = self.get_backend()

        async def main() -> None:
            gate = asyncio.Semaphore(max(1, backend.concurrency // ROTATIONS))
            failures: list[str] = []

            async def one(item: EvalItem, audio: bool) -> None:
                async with gate:
                    t0 = time.perf_counter()
                    try:
                        ans = await backend.aanswer(item, orders(item), audio)
                    except Exception as exc:  # noqa: BLE001 - reported per item, others go on
                        failures.append(f"{item.id}: {exc}")
                        return
                    self.store(item, audio, ans, time.perf_counter() - t0)
                    bar.update(1)

            try:
                await asyncio.gather(*(one(i, a) for i, a in todo))
            finally:
                await backend.aclose()
            if failures:
                raise EvalError(f"{len(failures)} item(s) got no answer (the others are "
                                f"saved; rerun to retry): {failures[0]}")

        asyncio.run(main())


def run_eval(cfg: Config, data: str, spec: ModelSpec, subset: str = "default",
             limit: int | None = None, tag: bool = False, quiet: bool = False,
             backend: Any = None) -> dict[str, Any]:
    """Evaluate `spec` on `data`; write predictions, report, plots, the models table, and
    with `tag` the run's difficulty tags. Returns the report. `backend` replaces the one
    `spec` names (tests)."""
    try:
        src = load_source(data, subset, Path(cfg.output_root), limit)
    except SourceError as exc:
        raise EvalError(str(exc)) from None
    if tag and (src.run_dir is None or subset != "default" or limit is not None):
        raise EvalError("--tag rewrites a run's difficulty tags from every item: it needs a run "
                        "name as --data, --subset default and no --limit")
    out = src.eval_root / spec.model_id
    passes = _Passes(src, spec, cfg, out)
    passes.backend = backend
    todo = [(it, audio) for audio in ((True, False) if tag else (True,))
            for it in src.items if passes.cached(it, audio) is None]
    if todo:
        from tqdm import tqdm

        with tqdm(total=len(todo), desc=f"eval {spec.model_id}", file=sys.stderr,
                  disable=quiet) as bar:
            if hasattr(passes.get_backend(), "aanswer"):
                passes.run_async(todo, bar)
            else:
                passes.run_sync(todo, bar)
    preds = []
    for it in src.items:
        got = passes.cached(it, True)
        blind_got = passes.cached(it, False)
        blind = None
        if blind_got is not None:
            blind = score(it, Answers(blind_got["replies"]))
        preds.append(prediction(it, spec, score(it, Answers(got["replies"])), blind,
                                got["usage"], got["time_s"]))
    meta = {"model_id": spec.model_id, "label": spec.label, "proxy": spec.proxy,
            "backend": spec.backend, "source": src.label, "source_kind": src.kind,
            "subset": subset, "note": src.note, "limit": limit, "computed": passes.computed,
            "requests_this_run": passes.requests, "eval_version": EVAL_VERSION}
    rep = rp.summarise(preds, meta)
    rp.write(out, rep, preds)
    rp.side_by_side(src.eval_root)
    if tag:
        assert src.run_dir is not None
        rows = tag_rows(preds, spec, {it.id: difficulty.stamp(it.rec) for it in src.items})
        rep["tags"] = {"file": str(difficulty.write(src.run_dir, rows)),
                       "hard": sum(r["hard"] for r in rows),
                       "too_easy": sum(r["too_easy"] for r in rows)}
    rep["out"] = str(out)
    return rep


def tag_rows(preds: list[dict], spec: ModelSpec,
             stamps: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Difficulty tags from this model: hard = wrong in the original order; too_easy = the
    blind pass right in at least TOO_EASY_MIN of the four rotations. Each row carries the
    item's seed and content hash, so it lapses when the item changes."""
    rows = []
    for p in preds:
        blind_right = sum(r["correct"] for r in p["blind"])
        rows.append({"id": p["id"], **stamps[p["id"]], "hard": not p["plain"],
                     "too_easy": blind_right >= TOO_EASY_MIN,
                     "model": spec.label, "model_id": spec.model_id, "proxy": spec.proxy,
                     "original_correct": p["plain"],
                     "rotations_correct": sum(r["correct"] for r in p["rotations"]),
                     "blind_rotations_correct": blind_right, "type": p["type"],
                     "rule": f"hard: wrong in the original order; too_easy: blind right in "
                             f">= {TOO_EASY_MIN} of {ROTATIONS} rotations"})
    return rows
