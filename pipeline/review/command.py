"""`spiral review`: serve a run's review page on 127.0.0.1, or write it as a static folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "listen to each item beside its transcript, question and checks, and mark it"
DEFAULT_PORT = 8765


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("review", help=HELP, description=HELP)
    p.add_argument("--config", default="spiral.yaml", help="YAML config (default: spiral.yaml)")
    p.add_argument("--run", help="run name (default: the config's run)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set output_root=/data/runs")
    p.add_argument("--port", type=int, default=DEFAULT_PORT,
                   help=f"port on 127.0.0.1 (default {DEFAULT_PORT}; 0: any free port)")
    p.add_argument("--out", help="write a static copy to this folder instead of serving "
                                 "(verdicts then stay in the browser)")
    p.add_argument("--audit", help="audit report folder to show (default: <run>/export/audit "
                                   "or <run>/audit)")


def main(args: argparse.Namespace) -> int:
    from pipeline.core.config import ConfigError, load_config
    from pipeline.core.difficulty import DifficultyError
    from pipeline.core.reviews import ReviewError
    from pipeline.review.data import ReviewDataError, load_run
    from pipeline.review.server import HOST, start
    from pipeline.review.static import export_static

    overrides = list(args.set) + ([f"run={args.run}"] if args.run else [])
    audit = Path(args.audit) if args.audit else None
    try:
        if not 0 <= args.port <= 65535:
            raise ReviewDataError(f"--port {args.port}: expected 0..65535")
        cfg = load_config(args.config, overrides)
        run = load_run(cfg.run_dir, audit, cfg.run)
        if args.out:
            files = export_static(run, Path(args.out))
            print(f"wrote {args.out}: {len(run.items)} items, {len(files)} files; open "
                  f"{Path(args.out) / 'index.html'} in a browser")
            return 0
        server = start(run, args.port, audit)
    except (ConfigError, DifficultyError, ReviewError, ReviewDataError) as exc:
        print(f"spiral review: error: {exc}", file=sys.stderr)
        return 2
    print(f"reviewing run {run.name} ({len(run.items)} items): http://{HOST}:{server.port}/ "
          f"(verdicts to {run.run_dir / 'reviews.jsonl'}; Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
