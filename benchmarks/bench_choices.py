"""Rejections and blind choice of built runs: how many attempts a gate rejected (and which
check), how many pre-check draws drew new choices, and the blind-rule table of the exported
items, with two rules that read the question through the judge's own encoder (the choice
most like the question, the one least like it): a blind-judge gate that keeps redrawing
until its judge is fooled could leave the answer systematically *less* like its question.

    python benchmarks/bench_choices.py data/runs/RUN [data/runs/RUN2 ...] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from pipeline.core.records import LETTERS
from pipeline.reports.blind_audit import blind_table, minilm_embed, wilson

CHECK = re.compile(r"(?:^|; |: )([a-z_]+): ")
GATES = {"heard", "judge_blind", "judge_informed", "asr_wer", "asr_answer", "duration_window",
         "key_depth", "answer_only_in_key", "distractors_unsaid", "no_distractors"}


def rejections(run: Path, built: int) -> dict[str, Any]:
    """Attempts (built items plus rejected attempts) and the checks named in each rejection
    (a pre-check rejection names the last draw's failing checks)."""
    path = run / "rejections.jsonl"
    log = [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []
    by: Counter = Counter()
    for r in log:
        names = {m for x in r["reasons"] for m in CHECK.findall(x["reason"]) if m in GATES}
        names |= {x["check"] for x in r["reasons"] if x["check"] in GATES}
        for name in names or {r["reasons"][0]["check"]}:
            by[name] += 1
    attempts = built + len(log)
    return {"attempts": attempts, "rejected": len(log),
            "rate": round(len(log) / attempts, 4) if attempts else None,
            "by_check": dict(by.most_common())}


def stem_rules(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Hit rates of 'the choice most like the question' and 'least like it' (MiniLM)."""
    embed = minilm_embed()
    hits = {"most_like_question": 0, "least_like_question": 0}
    for it in items:
        vecs = embed([it["question"], *it["choices"]])
        sims = [float(v @ vecs[0]) for v in vecs[1:]]
        hits["most_like_question"] += sims.index(max(sims)) == it["correct"]
        hits["least_like_question"] += sims.index(min(sims)) == it["correct"]
    n = len(items)
    return {k: {"rate": round(h / n, 4) if n else None, "n": n, "interval": wilson(h, n)}
            for k, h in hits.items()}


def measure(run: Path) -> dict[str, Any]:
    rows = [json.loads(x) for x in (run / "export" / "data.jsonl").read_text().splitlines()]
    items = []
    for r in rows:
        q = r["test_question"]
        choices = [c[3:] if re.match(r"^[A-D]\. ", c) else c for c in q["choices"]]
        items.append({"question": q["question"], "choices": choices,
                      "correct": q["choices"].index(q["correct_answer"]),
                      "rechosen": bool(r.get("provenance", {}).get("choice_draws"))})
    rechosen = [it for it in items if it["rechosen"]]
    draws = [r["provenance"].get("key_draw", 0) for r in rows]
    return {"run": run.name, **rejections(run, len(rows)),
            "precheck_draws": sum(draws) + len(draws),
            "items_rechosen": len(rechosen),
            "blind": blind_table(items), "stem_rules": stem_rules(items),
            "blind_rechosen": blind_table(rechosen) if rechosen else None,
            "letters": dict(Counter(LETTERS[it["correct"]] for it in items))}


def _rate(x: dict[str, Any]) -> str:
    if x["rate"] is None:
        return "-"
    lo, hi = x["interval"]
    return f"{100 * x['rate']:.1f}% ({100 * lo:.0f}-{100 * hi:.0f}, n {x['n']})"


def render(m: dict[str, Any]) -> str:
    lines = [f"## {m['run']}",
             f"attempts {m['attempts']}, rejected {m['rejected']} ({m['rate']:.1%}); by check: "
             + (", ".join(f"{k} {v}" for k, v in m["by_check"].items()) or "none"),
             f"pre-check draws {m['precheck_draws']}; items whose choices were redrawn "
             f"{m['items_rechosen']}", "",
             "| rule | all | number | phrase | other |", "| --- | --- | --- | --- | --- |"]
    for rule, by in m["blind"]["rules"].items():
        lines.append(f"| {rule} | " + " | ".join(_rate(by[k]) for k in
                                                 ("all", "number", "phrase", "other")) + " |")
    for rule, x in m["stem_rules"].items():
        lines.append(f"| {rule} (MiniLM) | {_rate(x)} | | | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    out = [measure(r) for r in args.runs]
    for m in out:
        print(render(m) + "\n")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
