"""The docs stay true: every link resolves, every `spiral` command and flag a doc names exists
(checked by the real argument parser), and the README's top-to-bottom flow runs as written
(that one in `make test-slow`: it builds the demo run)."""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from pipeline.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted([ROOT / "README.md", ROOT / "CONTRIBUTING.md", ROOT / "CHANGELOG.md",
               *(ROOT / "docs").glob("*.md")])
LINK = re.compile(r"\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
INLINE = re.compile(r"`((?:\.venv/bin/)?spiral [^`]+)`")
SPIRAL = ("spiral", ".venv/bin/spiral")


def broken_links(docs: list[Path]) -> list[str]:
    out = []
    for doc in docs:
        for target in LINK.findall(doc.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            if not (doc.parent / target.split("#")[0]).exists():
                out.append(f"{doc.name}: {target}")
    return out


def shell_commands(block: str) -> list[list[str]]:
    """Each simple command of a shell block, as tokens (continuations joined, comments off)."""
    out = []
    for line in block.replace("\\\n", " ").splitlines():
        try:
            tokens = shlex.split(line, comments=True)
        except ValueError:
            continue
        cmd: list[str] = []
        for tok in [*tokens, ";"]:
            if tok in ("&&", "||", ";", "|", "&"):
                if cmd:
                    out.append(cmd)
                cmd = []
            else:
                cmd.append(tok.rstrip(";&"))
    return out


def spiral_invocations(text: str) -> list[list[str]]:
    """The arguments of every `spiral` command in a document's shell blocks."""
    out = []
    for lang, block in FENCE.findall(text):
        if lang not in ("", "bash", "sh", "shell"):
            continue
        for cmd in shell_commands(block):
            while cmd and re.match(r"^[A-Z_]+=", cmd[0]):  # VAR=value spiral ...
                cmd = cmd[1:]
            if cmd and cmd[0] in SPIRAL:
                out.append(cmd[1:])
    return out


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    return next(a.choices for a in parser._actions
                if isinstance(a, argparse._SubParsersAction))


def parse_problem(args: list[str]) -> str | None:
    """Why the real parser refuses these arguments (None: they parse)."""
    if args in (["--version"], ["--help"]) or args[-1:] == ["--help"]:
        return None if not args[:-1] or args[0] in _subparsers(build_parser()) else args[0]
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            build_parser().parse_args(args)
    except SystemExit:
        return err.getvalue().strip().splitlines()[-1] if err.getvalue().strip() else "exit"
    return None


def unknown_flags(text: str) -> list[str]:
    """Flags named in inline `spiral COMMAND ... --flag` spans that COMMAND does not take."""
    subs = _subparsers(build_parser())
    out = []
    for span in INLINE.findall(text):
        words = span.split()[1:]
        if not words or words[0] not in subs:
            if words and re.fullmatch(r"[a-z][a-z-]*", words[0]):
                out.append(f"`{span}`: no command {words[0]!r}")
            continue
        known = subs[words[0]]._option_string_actions
        out += [f"`{span}`: {w.split('=')[0]}" for w in words[1:]
                if w.startswith("--") and w.split("=")[0] not in known]
    return out


def test_every_link_in_the_docs_resolves() -> None:
    assert len(DOCS) >= 10, DOCS
    assert broken_links(DOCS) == []


def test_every_spiral_command_in_a_code_block_parses() -> None:
    problems = []
    for doc in DOCS:
        for args in spiral_invocations(doc.read_text(encoding="utf-8")):
            if (why := parse_problem(args)) is not None:
                problems.append(f"{doc.relative_to(ROOT)}: spiral {shlex.join(args)}: {why}")
    assert problems == []


def test_every_flag_named_inline_exists() -> None:
    problems = [f"{doc.relative_to(ROOT)}: {p}" for doc in DOCS
                for p in unknown_flags(doc.read_text(encoding="utf-8"))]
    assert problems == []


def test_the_checks_catch_a_broken_link_and_a_renamed_flag(tmp_path: Path) -> None:
    doc = tmp_path / "page.md"
    doc.write_text("See [gone](nothing-here.md) and [ok](page.md).\n"
                   "```bash\nspiral eval --data demo --model cascade --no-such-flag\n```\n"
                   "Use `spiral run --runn demo`.\n", encoding="utf-8")
    text = doc.read_text(encoding="utf-8")
    assert broken_links([doc]) == ["page.md: nothing-here.md"]
    assert [parse_problem(a) is not None for a in spiral_invocations(text)] == [True]
    assert unknown_flags(text) == ["`spiral run --runn demo`: --runn"]


def _readme_flow() -> list[str]:
    """The shell lines of the README's 'From a fresh clone' block, as written."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## From a fresh clone", 1)[1]
    block = FENCE.search(section).group(2)
    return [shlex.join(cmd) for cmd in shell_commands(block)]


def test_the_readme_flow_names_only_commands_it_can_run() -> None:
    flow = _readme_flow()
    assert flow[0] == "make data" and any("publish" in c for c in flow)
    for line in flow:
        assert line.split()[0] in ("make", ".venv/bin/spiral"), line


@pytest.mark.slow
def test_the_readme_flow_runs_as_written(tmp_path: Path) -> None:
    """make data, audit, eval, publish and push --dry-run, in a copy of the checkout."""
    work = tmp_path / "clone"
    work.mkdir()
    for name in ("Makefile", "pyproject.toml", "spiral.yaml", "pipeline", "prompts", "voices",
                 "benchmarks", ".venv"):
        (work / name).symlink_to(ROOT / name)
    (work / "data").mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for line in _readme_flow():
        proc = subprocess.run(line, shell=True, cwd=work, env=env, capture_output=True,
                              text=True, timeout=1800)
        assert proc.returncode == 0, f"{line}: exit {proc.returncode}\n{proc.stderr[-2000:]}"
    assert (work / "data/runs/demo/export/data.jsonl").exists()
    assert (work / "data/runs/demo/hub/README.md").exists()
    shutil.rmtree(work / "data", ignore_errors=True)
