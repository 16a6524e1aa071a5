"""SPIRAL-style long-context spoken QA benchmark builder."""

__version__ = "0.1.0"
