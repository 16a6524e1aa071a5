"""The `spiral` command: `spiral run` builds everything; one subcommand per stage."""

from __future__ import annotations

import argparse
import sys

from .config import ConfigError, load_config
from .resources import ResourceError
from .runner import STAGES, run_pipeline, summary

STAGE_HELP = {
    "plan": "plan item specs from the seed",
    "script": "write transcripts (runs the stages before it as needed)",
    "plant": "plant the key sentence",
    "question": "write the four-choice questions",
    "synthesize": "render audio",
    "validate": "check every item",
    "export": "write data.jsonl, wavs/, key_wavs/ and the datasets folder",
}


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default="spiral.yaml", help="YAML config (default: spiral.yaml)")
    p.add_argument("--run", help="run name: output goes to <output_root>/<run>/")
    p.add_argument("--n", type=int, help="number of items")
    p.add_argument("--seed", type=int, help="run seed")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set tts.workers=2 (repeatable)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spiral", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _common(sub.add_parser("run", help="run every stage, plan to export"))
    for name in STAGES:
        _common(sub.add_parser(name, help=STAGE_HELP[name]))
    voices = sub.add_parser("voices", help="list the voice bank and render a sample of each")
    _common(voices)
    voices.add_argument("--out", help="folder for the samples (default: <run>/voices/)")
    voices.add_argument("--no-sample", action="store_true", help="only list the bank")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    overrides = list(args.set)
    for flag, key in (("run", "run"), ("n", "n_items"), ("seed", "seed")):
        value = getattr(args, flag)
        if value is not None:
            overrides.append(f"{key}={value}")
    try:
        cfg = load_config(args.config, overrides)
        if args.command == "voices":
            from .voices_cmd import voices_report

            print(voices_report(cfg, args.out, sample=not args.no_sample))
            return 0
        until = "export" if args.command == "run" else args.command
        result = run_pipeline(cfg, until=until, quiet=args.quiet)
    except (ConfigError, ResourceError) as exc:
        print(f"spiral: error: {exc}", file=sys.stderr)
        return 2
    print(summary(result))
    return 0 if result.built or until in ("plan", "script", "plant", "question") else 1


if __name__ == "__main__":
    sys.exit(main())
