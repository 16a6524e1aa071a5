"""What each voice is heard to say: a filter over whatever bank entries were measured.

`spiral voices --measure` (pipeline/reports/measure.py) renders every fictional name, place,
organisation word, unit and month of the writer's banks in every voice, transcribes it with
the validation ASR, and writes `<bank>.measured.json` next to the voice bank. This module
only reads that file: an entry is *unheard* in a voice when the ASR missed it there. Entries
the file does not know (a bank edited since) count as heard, so the filter never blocks a
bank it has not seen; re-measure after editing a bank.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

VERSION = 1


def measured_path(voices_yaml: str | Path) -> Path:
    """`voices/voices.yaml` -> `voices/voices.measured.json`."""
    path = Path(voices_yaml)
    return path.with_name(f"{path.stem}.measured.json")


@dataclass(frozen=True)
class HeardTable:
    """Per voice: the measured entries the ASR missed, and the share it heard."""

    asr_model: str = ""
    unheard: dict[str, frozenset[str]] = field(default_factory=dict)
    share: dict[str, float] = field(default_factory=dict)
    words_per_second: dict[str, dict] = field(default_factory=dict)

    def unheard_in(self, voice: str, text: str) -> list[str]:
        """The entries said in `text` that `voice` was measured not to get across."""
        missed = self.unheard.get(voice)
        if not missed:
            return []
        low = text.lower()
        return sorted(e for e in missed
                      if re.search(r"(?<!\w)" + re.escape(e.lower()) + r"(?!\w)", low))


def load(voices_yaml: str | Path) -> HeardTable:
    """The measured table for this bank, or an empty one (nothing measured: all heard)."""
    path = measured_path(voices_yaml)
    try:
        stamp = path.stat().st_mtime_ns
    except FileNotFoundError:
        return HeardTable()
    return _load(str(path), stamp)


@lru_cache(maxsize=4)
def _load(path: str, stamp: int) -> HeardTable:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        voices = data["voices"]
        return HeardTable(
            asr_model=str(data.get("asr_model", "")),
            unheard={v: frozenset(map(str, d.get("unheard", []))) for v, d in voices.items()},
            share={v: float(d.get("heard_share", 1.0)) for v, d in voices.items()},
            words_per_second={v: d["words_per_second"] for v, d in voices.items()
                              if isinstance(d.get("words_per_second"), dict)})
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{path}: not a measured voice table ({exc}); "
                         f"rerun: spiral voices --measure") from None
