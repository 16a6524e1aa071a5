"""`spiral publish | push | reroll`: the subcommands that act on a run already built."""

from __future__ import annotations

import argparse
import re
import sys

from pipeline.core.config import ConfigError, load_config
from pipeline.core.difficulty import DifficultyError
from pipeline.core.errors import InfrastructureError
from pipeline.core.resources import ResourceError
from pipeline.core.reviews import ReviewError
from pipeline.orchestration.lock import RunLock, RunLocked

HELP = {
    "publish": "write the Hub-ready dataset folder (parquet + card) of a built run",
    "push": "upload a published run to a Hugging Face dataset repo in one commit",
    "reroll": "rebuild chosen items of a run from new seeds, keeping their specs",
}


def add_parsers(sub: argparse._SubParsersAction) -> None:
    for name, text in HELP.items():
        p = sub.add_parser(name, help=text, description=text)
        p.add_argument("--config", default="spiral.yaml", help="YAML config (default: spiral.yaml)")
        p.add_argument("--run", help="run name (default: the config's run)")
        p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override a config key, e.g. --set publish.max_shard_mb=200")
        p.add_argument("--quiet", action="store_true", help="no progress output")
        if name == "push":
            p.add_argument("--repo-id", required=True, help="ORG/NAME of the dataset repo")
            p.add_argument("--private", action="store_true", help="create the repo private")
            p.add_argument("--revision", help="branch to commit to (created if needed)")
            p.add_argument("--dry-run", action="store_true",
                           help="list every file and its size; no network")
        if name == "reroll":
            p.add_argument("--ids", help="comma-separated item ids, e.g. lecture_3,meeting_7")
            p.add_argument("--type", choices=("lecture", "conversation", "meeting"),
                           help="only items of this transcript type")
            p.add_argument("--failed", action="store_true",
                           help="only items validation left out (export/failures.jsonl)")
            p.add_argument("--hard", action="store_true",
                           help="only items tagged hard (spiral eval --tag)")
            p.add_argument("--rejected", action="store_true",
                           help="only items a reviewer rejected (`spiral review`)")
            p.add_argument("--seed", type=int, help="new seed: S itself for one item, "
                           "derived from (S, id) for several; default: derived from history")


def main(args: argparse.Namespace) -> int:
    from pipeline.orchestration.reroll import RerollError
    from pipeline.publishing.publish import PublishError
    from pipeline.publishing.push import PushError
    from pipeline.reports.audit import AuditError

    overrides = list(args.set) + ([f"run={args.run}"] if args.run else [])
    try:
        cfg = load_config(args.config, overrides)
        act = {"publish": _publish, "push": _push, "reroll": _reroll}[args.command]
        if args.command == "reroll" or not cfg.run_dir.is_dir():
            return act(cfg, args)  # reroll takes the lock itself; no folder: nothing to guard
        with RunLock(cfg.run_dir):  # never beside a run or reroll rewriting the export
            return act(cfg, args)
    except (ConfigError, ResourceError, DifficultyError, ReviewError, PublishError, PushError,
            RerollError, AuditError) as exc:
        print(f"spiral {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except (InfrastructureError, RunLocked) as exc:
        print(f"spiral {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        if not _network_error(exc):
            raise  # an OSError gets its one line from pipeline.cli.main
        print(f"spiral {args.command}: error: cannot reach the Hugging Face Hub "
              f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
              "check the network and rerun", file=sys.stderr)
        return 1


def _network_error(exc: BaseException) -> bool:
    """Whether `exc` (or what caused it) comes from the HTTP stack: no network, DNS, TLS."""
    while exc is not None:
        module = type(exc).__module__.split(".")[0]
        if isinstance(exc, BrokenPipeError):  # our stdout closed (`| head`), not the network
            return False
        if module in ("httpx", "httpx2", "httpcore", "requests", "urllib3") or \
                isinstance(exc, ConnectionError):
            return True
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return False


def _publish(cfg, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from pipeline.core.store import read_json
    from pipeline.publishing.model import human_bytes
    from pipeline.publishing.publish import publish, run_config
    from pipeline.publishing.verify import verify_export
    from pipeline.reports.audit import resolve_thresholds, run_report

    audit = audit_md = baseline_md = None
    plots = []
    if (cfg.run_dir / "export" / "data.jsonl").exists():
        _, built_with = run_config(cfg.run_dir)
        verify_export(cfg.run_dir)  # before the audit reads it (publish checks it again)
        # The audit of this export, whoever ran it; else run now, so the card carries it.
        folder = run_report(cfg.run_dir, resolve_thresholds(replace(built_with,
                                                                    audit=cfg.audit)))
        audit = read_json(folder / "audit.json")
        audit_md = (folder / "audit.md").read_text(encoding="utf-8")
        plots = sorted(folder.glob("*.png"))
        print(f"audit: {'PASS' if audit['passed'] else 'FAIL'} ({folder / 'audit.md'})")
    table = cfg.run_dir / "baseline" / "baseline.md"
    adapter = None
    if table.exists():
        baseline_md = table.read_text(encoding="utf-8")
        if (table.parent / "baseline.json").exists():
            adapter = read_json(table.parent / "baseline.json").get("adapter_settings")
    done = publish(cfg, audit, audit_md, plots, baseline_md, quiet=args.quiet,
                   baseline_adapter=adapter)
    size = sum(p.stat().st_size for p in done.files)
    for s in done.subsets:
        print(f"{s.name:<8} {s.num_examples:>5} items  {s.hours:6.2f} h  "
              f"{len(s.shards)} shard(s)  {human_bytes(s.download_size):>9} parquet")
    print(f"wrote {done.folder} ({len(done.files)} files, {human_bytes(size)})")
    return 0


_REF_BAD = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//|/\.|^[./]|[./]$|\.lock$|^@$")


def check_revision(revision: str | None) -> None:
    """A branch name the Hub (git) accepts, checked before anything is uploaded or listed:
    git's ref-name rules (no spaces, control characters, `~^:?*[\\`, `..`, `@{`, `//`; no
    leading or trailing `/` or `.`, no `.lock` ending)."""
    from pipeline.publishing.push import PushError

    if revision is not None and (not revision or len(revision) > 255
                                 or _REF_BAD.search(revision)):
        raise PushError(f"--revision {revision!r}: not a valid branch name (no spaces, "
                        "'..', '~^:?*[\\', '@{', and no leading or trailing '/' or '.')")


def _push(cfg, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    from pipeline.publishing.push import push

    check_revision(args.revision)
    push(cfg.run_dir, cfg.run_dir / cfg.publish.folder, args.repo_id, private=args.private,
         revision=args.revision, dry_run=args.dry_run, quiet=args.quiet)
    return 0


def _reroll(cfg, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    from pipeline.orchestration.reroll import Selection, reroll
    from pipeline.orchestration.runner import summary
    from pipeline.publishing.publish import run_config

    _, built_with = run_config(cfg.run_dir)
    ids = [i.strip() for i in args.ids.split(",") if i.strip()] if args.ids else None
    sel = Selection(ids=ids, type=args.type, failed=args.failed, hard=args.hard,
                    rejected=args.rejected)
    chosen, result = reroll(built_with, sel, seed=args.seed, quiet=args.quiet)
    if result is None:
        print("reroll: no item matches; nothing changed")
        return 1
    print(f"rerolled {len(chosen)} item(s): {', '.join(it.id for it in chosen)}")
    print(summary(result))
    return 0
