"""One validator of a SPIRAL-format record, shared by the audit, eval and the review page.

Each used to check what it happened to read: the audit refused `choices: "ABCD"` while eval
scored it, and an integer id or a NaN duration went on into reports. Every reader now
refuses the same records, with one line naming the record and the field.
"""

from __future__ import annotations

import math
from typing import Any


class RecordError(ValueError):
    """Not a SPIRAL record; the message names the record and the field."""


def _int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def field_at(rec: dict[str, Any], where: str, *path: str) -> Any:
    node: Any = rec
    for key in path:
        if not isinstance(node, dict) or key not in node:
            raise RecordError(f"{where}: missing field {'.'.join(path)}")
        node = node[key]
    return node


def check_record(rec: Any, where: str) -> None:
    """Raise RecordError unless `rec` has every field a reader relies on, typed as SPIRAL's
    release has them. `where` names the record (file:line)."""
    if not isinstance(rec, dict):
        raise RecordError(f"{where}: expected a JSON object")
    item_id = field_at(rec, where, "metadata", "id")
    if not isinstance(item_id, str) or not item_id.strip():
        raise RecordError(f"{where}: metadata.id must be a non-empty string, got {item_id!r}")
    where = f"{where} ({item_id})"
    choices = field_at(rec, where, "test_question", "choices")
    correct = field_at(rec, where, "test_question", "correct_answer")
    if not isinstance(choices, list) or len(choices) != 4 or \
            not all(isinstance(c, str) and c.strip() for c in choices):
        raise RecordError(f"{where}: test_question.choices must be a list of 4 strings")
    if not isinstance(correct, str) or correct not in choices:
        raise RecordError(f"{where}: test_question.correct_answer {correct!r} is not one of "
                          "test_question.choices")
    transcript = field_at(rec, where, "transcript")
    if not isinstance(transcript, list) or not transcript or not all(
            isinstance(t, dict) and isinstance(t.get("speaker"), str)
            and isinstance(t.get("text"), list) and all(isinstance(s, str) for s in t["text"])
            for t in transcript):
        raise RecordError(f"{where}: transcript must be turns of {{speaker, text: [...]}}")
    indices = field_at(rec, where, "audio_data", "key_sentences", "indices")
    if not isinstance(indices, list) or not indices or not all(_int(i) and i >= 0
                                                               for i in indices):
        raise RecordError(f"{where}: audio_data.key_sentences.indices must be a list of "
                          "sentence indices (ints >= 0)")
    combined = field_at(rec, where, "audio_data", "combined")
    files = combined.get("audio_files", []) if isinstance(combined, dict) else None
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise RecordError(f"{where}: audio_data.combined.audio_files must be a list of file "
                          "names")
    duration = rec.get("duration")
    if duration is not None and (not isinstance(duration, int | float) or
                                 isinstance(duration, bool) or not math.isfinite(duration)
                                 or duration < 0):
        raise RecordError(f"{where}: duration must be a number of seconds >= 0, "
                          f"got {duration!r}")
