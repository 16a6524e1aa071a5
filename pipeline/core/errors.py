"""Errors shared by every layer, so a lower layer can fail an item without knowing the driver.

Two kinds of item failure, and they must never be confused: a *content* failure
(`StageFailure`: what was generated breaks a rule or a gate) may be answered with a new seed;
an *infrastructure* failure (`InfrastructureError`, and any other exception: an LLM endpoint
that keeps failing, a timeout, a full disk, a corrupt cache file, a missing model) says
nothing about the item, so the item keeps its seed and the next run retries it. Otherwise a
transient fault would change the dataset for good.
"""

from __future__ import annotations

import sys
from typing import Any

CONTENT = "content"
INFRASTRUCTURE = "infrastructure"


class StageFailure(Exception):
    """An item cannot pass this stage; the message is the machine-readable reason."""


class InfrastructureError(Exception):
    """The environment failed, not the item's content: retried with the same seed next run.

    Raised at run level (an unreachable endpoint at preflight, too little disk space), it
    stops the run with one line and exit code 1.
    """


class RunStopped(InfrastructureError):
    """Raised while working on an item, but about the whole run (a model that cannot do the
    job): the driver lets it through, and the run stops with its one line and exit code 1,
    keeping what is finished and re-seeding nothing."""


def failure_kind(failed: dict[str, Any] | None) -> str | None:
    """'content' or 'infrastructure' for an item's `failed` record (None: not failed).
    A record without a kind is a validation verdict, i.e. content."""
    if not failed:
        return None
    return str(failed.get("kind", CONTENT))


def is_infrastructure(failed: dict[str, Any] | None) -> bool:
    return failure_kind(failed) == INFRASTRUCTURE


def notice(message: str) -> None:
    """One line on stderr about something the run repaired on its own (a corrupt cache
    file, a changed export wav), so nothing is silently rebuilt."""
    print(f"spiral: {message}", file=sys.stderr, flush=True)
