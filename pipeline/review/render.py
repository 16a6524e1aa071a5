"""Render the review page (one HTML file: CSS, script and every item inline) with jinja2."""

from __future__ import annotations

import os
from typing import Any

import jinja2
from jinja2.utils import htmlsafe_json_dumps
from markupsafe import Markup

from pipeline.review.data import ReviewRun, facets

# Where the page's state (verdicts) goes: the rest of a large run's page takes seconds to render,
# so the server renders it once per change of the run and fills in the verdicts per request.
STATE_MARK = "@@SPIRAL_REVIEW_STATE@@"
VERDICT_OPTIONS = (("unreviewed", "to review"), ("accept", "accepted"), ("reject", "rejected"),
                   ("stale", "stale (earlier version)"))


def _pct(value: Any) -> str:
    """A threshold value as audit.md shows it: shares as percentages."""
    if isinstance(value, dict):
        return " ".join(f"{k} {_pct(v)}" for k, v in value.items())
    if isinstance(value, list):
        return " ".join(_pct(v) for v in value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{100 * value:.1f}%"
    return "-" if value is None else str(value)


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("pipeline.review", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"], default_for_string=True),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["pct"] = _pct
    return env


def filters(run: ReviewRun) -> list[dict[str, Any]]:
    """The list's filters and their options (value, label), in a stable order."""
    f = facets(run.items)
    deciles = sorted((d for d in f["decile"] if d != "-"), key=int)
    checks = sorted(c for c in f["check"] if c != "(none)")
    out = [
        {"name": "type", "label": "type", "options": [(v, v) for v in sorted(f["type"])]},
        {"name": "kind", "label": "detail kind",
         "options": [(v, v) for v in sorted(f["kind"])]},
        {"name": "decile", "label": "key depth",
         "options": [(d, f"{10 * int(d)}-{10 * int(d) + 10}%") for d in deciles]
         + ([("-", "unknown")] if "-" in f["decile"] else [])},
        {"name": "tag", "label": "difficulty",
         "options": [(v, v.replace("_", " ")) for v in ("hard", "too_easy", "other", "untagged")
                     if v in f["tag"]]},
        {"name": "check", "label": "failed check",
         "options": [("__any", "any failed"), ("__none", "none failed")]
         + [(c, c) for c in checks]},
        {"name": "verdict", "label": "verdict", "options": list(VERDICT_OPTIONS)},
    ]
    if f["status"].get("failed"):
        out.append({"name": "status", "label": "status",
                    "options": [("exported", "exported"), ("failed", "left out")]})
    return out


def render_shell(run: ReviewRun, mode: str) -> str:
    """The page for `mode` "server" (verdicts saved by the server) or "static", without its
    state; `with_state` completes it."""
    return environment().get_template("review.html.j2").render(
        run=run, items=run.items, audit=run.audit, filters=filters(run), mode=mode,
        counts=facets(run.items), state_mark=Markup(STATE_MARK), run_path=run_path(run))


def run_path(run: ReviewRun) -> str:
    """The run folder as the reviewer would type it: relative to where `spiral review` ran
    (data/runs/demo), else absolute."""
    rel = os.path.relpath(run.run_dir.resolve())
    return rel if not rel.startswith("..") else str(run.run_dir.resolve())


def with_state(shell: str, run: ReviewRun, mode: str) -> str:
    """The page with the current verdicts (read from reviews.jsonl now) and item seeds."""
    seeds = {i: None if s is None else str(s) for i, s in run.seeds().items()}  # past 2**53
    state = {"mode": mode, "run": run.name, "verdicts": run.verdicts(), "seeds": seeds}
    return shell.replace(STATE_MARK, str(htmlsafe_json_dumps(state)), 1)


def render(run: ReviewRun, mode: str) -> str:
    return with_state(render_shell(run, mode), run, mode)
