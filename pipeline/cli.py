"""The `spiral` command: `spiral run` builds everything; one subcommand per stage."""

from __future__ import annotations

import argparse
import sys

from pipeline import cli_publish
from pipeline.core.config import ConfigError, load_config
from pipeline.core.difficulty import DifficultyError
from pipeline.core.resources import ResourceError
from pipeline.orchestration.runner import STAGES, run_pipeline, summary

STAGE_HELP = {
    "plan": "plan item specs from the seed",
    "script": "write transcripts (runs the stages before it as needed)",
    "plant": "plant the key sentence",
    "question": "write the four-choice questions",
    "precheck": "check each key sentence as the gates will, re-drawing it until it passes",
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
    _serve_offline_llm(sub.add_parser(
        "serve-offline-llm", help="serve the offline writer as an OpenAI-compatible API on "
                                  "127.0.0.1, with injectable faults (tests and demos)"))
    cli_publish.add_parsers(sub)
    base = sub.add_parser("baseline", help="SpeechPrune table and difficulty tags of a built run")
    _common(base)
    base.add_argument("--adapter", choices=("cascade", "qwen2-audio"),
                      help="answering model (default: baseline.adapter)")
    base.add_argument("--model-path", help="local Qwen2-Audio folder (qwen2-audio adapter)")
    base.add_argument("--device", help="torch device for qwen2-audio, e.g. cuda")
    audit = sub.add_parser("audit", help="audit a SPIRAL-format data.jsonl (exit 1: a "
                                         "threshold failed)")
    audit.add_argument("file", help="data.jsonl (ours or the public SPIRAL release)")
    audit.add_argument("--audio", help="folder of the combined wavs (durations, words/min)")
    audit.add_argument("--out", help="report folder (default: <file's folder>/audit)")
    audit.add_argument("--config", default="spiral.yaml", help="thresholds: its audit section")
    audit.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override a config key, e.g. --set audit.longest_correct_max=0.25")
    voices = sub.add_parser("voices", help="list the voice bank and render a sample of each")
    _common(voices)
    voices.add_argument("--out", help="folder for the samples (default: <run>/voices/)")
    voices.add_argument("--no-sample", action="store_true", help="only list the bank")
    voices.add_argument("--measure", action="store_true",
                        help="measure what each voice gets across with the validation ASR; "
                             "writes <bank>.measured.json next to the bank")
    return parser


def _serve_offline_llm(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", type=int, default=8000, help="port on 127.0.0.1 (0: any free)")
    p.add_argument("--prompts-dir", default="prompts", help="offline writer banks")
    p.add_argument("--model", default="offline", help="model id listed by /v1/models")
    p.add_argument("--latency-ms", type=int, default=0, help="delay every chat request")
    p.add_argument("--rate-limit", type=int, default=0, metavar="N",
                   help="answer the first N chat requests 429 with Retry-After")
    p.add_argument("--retry-after", type=float, default=1.0, metavar="S")
    p.add_argument("--server-error", type=int, default=0, metavar="N", help="then N 500s")
    p.add_argument("--hang", type=int, default=0, metavar="N",
                   help="then N requests that answer only after --hang-s (client timeouts)")
    p.add_argument("--hang-s", type=float, default=10.0, metavar="S")
    p.add_argument("--malformed", type=int, default=0, metavar="N",
                   help="then N replies whose content is not JSON")
    p.add_argument("--truncated", type=int, default=0, metavar="N",
                   help="then N replies cut in half (finish_reason length)")
    p.add_argument("--fail-item", action="append", default=[], metavar="ID",
                   help="every request for this item id answers 500 (repeatable)")
    p.add_argument("--no-json-schema", action="store_true",
                   help="reject response_format json_schema, like servers without it")


def _baseline(args: argparse.Namespace, overrides: list[str]) -> int:
    from pipeline.baseline.evaluate import BaselineError, markdown, run_baseline

    for flag, key in (("adapter", "adapter"), ("model_path", "model_path"),
                      ("device", "device")):
        value = getattr(args, flag)
        if value is not None:
            overrides.append(f"baseline.{key}={value}")
    try:
        cfg = load_config(args.config, overrides)
        report = run_baseline(cfg, quiet=args.quiet)
    except (ConfigError, BaselineError, FileNotFoundError) as exc:
        print(f"spiral: error: {exc}", file=sys.stderr)
        return 2
    print(markdown(report))
    print(f"written to {cfg.run_dir / 'baseline'}/: baseline.json baseline.md baseline.png "
          f"difficulty.jsonl")
    return 0


def audit_main(args: argparse.Namespace) -> int:
    from pathlib import Path

    from pipeline.reports.audit import (
        AuditError,
        audit_records,
        load_planned,
        load_records,
        load_rejections,
        resolve_thresholds,
        write_report,
    )

    try:
        th = resolve_thresholds(load_config(args.config, list(args.set)))
        data = Path(args.file)
        audio = Path(args.audio) if args.audio else None
        if audio is not None and not audio.is_dir():
            raise AuditError(f"--audio {audio}: not a folder")
        records = load_records(data)
        result = audit_records(records, audio, th, load_rejections(data),
                               load_planned(data, len(records)))
    except (ConfigError, AuditError) as exc:
        print(f"spiral audit: error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else data.parent / "audit"
    write_report(result, out)
    for t in result["thresholds"]:
        verdict = {True: "pass", False: "FAIL", None: "n/a"}[t["ok"]]
        print(f"{verdict:<4}  {t['name']:<18} {t['limit']}")
    letters = " ".join(f"{k} {100 * v:.1f}%" for k, v in result["letters"].items())
    print(f"items {result['items']}; correct letters: {letters}; strictly longest "
          f"{100 * result['longest_correct']['strict']:.1f}%; report in {out}")
    return 0 if result["passed"] else 1


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve-offline-llm":
        from pipeline.testing.offline_server import Faults, serve

        serve(args.port, args.prompts_dir, Faults(
            latency_ms=args.latency_ms, rate_limit=args.rate_limit, retry_after=args.retry_after,
            server_error=args.server_error, hang=args.hang, hang_s=args.hang_s,
            malformed=args.malformed, truncated=args.truncated,
            fail_items=tuple(args.fail_item), no_json_schema=args.no_json_schema), args.model)
        return 0
    if args.command in cli_publish.HELP:
        return cli_publish.main(args)
    if args.command == "audit":
        return audit_main(args)
    overrides = list(args.set)
    for flag, key in (("run", "run"), ("n", "n_items"), ("seed", "seed")):
        value = getattr(args, flag)
        if value is not None:
            overrides.append(f"{key}={value}")
    if args.command == "baseline":
        return _baseline(args, overrides)
    try:
        cfg = load_config(args.config, overrides)
        if args.command == "voices" and args.measure:
            from pipeline.reports.measure import measure

            print(measure(cfg, progress=not args.quiet))
            return 0
        if args.command == "voices":
            from pipeline.reports.voices import voices_report

            print(voices_report(cfg, args.out, sample=not args.no_sample))
            return 0
        until = "export" if args.command == "run" else args.command
        result = run_pipeline(cfg, until=until, quiet=args.quiet)
    except (ConfigError, ResourceError, DifficultyError) as exc:
        print(f"spiral: error: {exc}", file=sys.stderr)
        return 2
    print(summary(result))
    if until in ("plan", "script", "plant", "question"):
        return 0
    return 1 if result.failed or not result.built else 0  # every requested item, or say so


if __name__ == "__main__":
    sys.exit(main())
