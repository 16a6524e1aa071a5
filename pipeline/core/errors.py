"""Errors shared by every layer, so a lower layer can fail an item without knowing the driver."""

from __future__ import annotations


class StageFailure(Exception):
    """An item cannot pass this stage; the message is the machine-readable reason."""
