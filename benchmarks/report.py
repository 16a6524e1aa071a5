"""Where every benchmark leaves its figures: `benchmarks/results/<name>.json`, and a table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def report(name: str, result: dict[str, Any]) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=1) + "\n")
    width = max(map(len, result))
    for k, v in result.items():
        print(f"{k:<{width}}  {v}")
