"""`spiral eval`: the command line of `pipeline.eval` (arguments in, one-line errors out)."""

from __future__ import annotations

import argparse
import sys
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

from pipeline.core.config import ConfigError, load_config
from pipeline.core.difficulty import DifficultyError
from pipeline.core.errors import InfrastructureError
from pipeline.orchestration.lock import RunLock, RunLocked

HELP = "score a model on a SPIRAL-format benchmark (run, published folder, SPIRAL folder, Hub id)"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help=HELP, description=HELP)
    p.add_argument("--data", required=True,
                   help="a run name, a published folder, a SPIRAL folder (data.jsonl + "
                        "spiral/wavs) or a Hub dataset id")
    p.add_argument("--model", required=True, metavar="BACKEND[:NAME]",
                   help="cascade (offline proxy) | qwen2-audio:/local/folder (tests: "
                        "qwen2-audio:tiny-random) | openai:MODEL (llm.base_url, OPENAI_API_KEY)")
    p.add_argument("--subset", default="default", choices=("default", "hard"),
                   help="the benchmark's subset: every item, or the hard ones")
    p.add_argument("--limit", type=int, help="only the first N items")
    p.add_argument("--tag", action="store_true",
                   help="write the run's difficulty tags from this model (hard, too_easy)")
    p.add_argument("--selector", default="original",
                   help="local backends: original | rap | rac | speechprune")
    p.add_argument("--prune-rate", type=float, help="for rap, rac, speechprune")
    p.add_argument("--seed", type=int, default=0, help="seed of the random selectors")
    p.add_argument("--device", default="cpu", help="torch device for qwen2-audio")
    p.add_argument("--base-url", help="openai: the endpoint (default: llm.base_url)")
    p.add_argument("--max-tokens", type=int, default=64, help="openai: reply length limit")
    p.add_argument("--config", default="spiral.yaml", help="YAML config (default: spiral.yaml)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set output_root=/tmp/runs")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run_lock(cfg: Any, data: str) -> AbstractContextManager[Any]:
    """The run folder's lock when `--data` is a run (its name or folder) or a folder
    published inside one; else nothing to guard."""
    from pathlib import Path

    given = Path(data)
    for run_dir in ([Path(cfg.output_root) / data] if "/" not in data else []) + [
            given, given.parent]:
        if (run_dir / "manifest.json").is_file():
            return RunLock(run_dir)
    return nullcontext()


def main(args: argparse.Namespace) -> int:
    from pipeline.asr.whisper import ASRModelError
    from pipeline.eval.backends import BackendError, parse_model
    from pipeline.eval.report import markdown
    from pipeline.eval.run import EvalError, run_eval

    overrides = list(args.set) + ([f"llm.base_url={args.base_url}"] if args.base_url else [])
    try:
        if args.config in ("default", "hard") and not Path(args.config).exists():
            raise EvalError(f"--config {args.config}: --config is the YAML file, as in every "
                            f"spiral command; the subset is --subset {args.config}")
        cfg = load_config(args.config, overrides)
        spec = parse_model(args.model, args.selector, args.prune_rate, args.seed, args.device,
                           args.max_tokens)
        if args.limit is not None and args.limit < 1:
            raise EvalError("--limit must be >= 1")
        with run_lock(cfg, args.data):  # never beside a run or reroll of the same run
            rep = run_eval(cfg, args.data, spec, args.subset, args.limit, args.tag, args.quiet)
    except (ConfigError, BackendError, EvalError, DifficultyError, FileNotFoundError,
            ASRModelError) as exc:
        print(f"spiral eval: error: {exc}", file=sys.stderr)
        return 2
    except (RunLocked, InfrastructureError) as exc:
        print(f"spiral eval: error: {exc}", file=sys.stderr)
        return 1
    print(markdown(rep))
    print(f"written to {rep['out']}/: predictions.jsonl report.json report.md "
          "accuracy_by_depth.png accuracy_by_duration.png"
          + (" accuracy_length_depth.png" if "grid" in rep else ""))
    if "tags" in rep:
        t = rep["tags"]
        print(f"difficulty tags from {spec.label}: {t['hard']} hard, {t['too_easy']} too easy "
              f"-> {t['file']}")
    return 0
