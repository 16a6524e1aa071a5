"""The documented flows end to end, and output that says what it is (issue 14): a bare rerun
keeps the run's size, the audit reaches the card, files follow the umask, the published SPIRAL
files resolve as SPIRAL's do, the CLI describes itself."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import sys
from pathlib import Path

import pytest
import yaml

from pipeline.cli import build_parser, main
from pipeline.core import store
from pipeline.orchestration.runner import RunResult
from tests.conftest import ROOT

CONFIG = ["--config", str(ROOT / "spiral.yaml")]


def copy_run(small_run: RunResult, dest: Path, name: str = "pub") -> Path:
    run_dir = dest / name
    shutil.copytree(small_run.ctx.run_dir, run_dir)
    return run_dir


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_readme_flow_audit_then_publish_puts_the_audit_in_the_card(
        small_run: RunResult, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = copy_run(small_run, tmp_path)
    where = [*CONFIG, "--set", f"output_root={tmp_path}"]
    data = run_dir / "export" / "data.jsonl"
    # 6 items cannot be 25% per letter; the audit allows the rounding (it exited 1 before).
    assert main(["audit", str(data), "--audio", str(run_dir / "export" / "wavs"),
                 *CONFIG]) == 0
    (run_dir / "baseline").mkdir()
    (run_dir / "baseline" / "baseline.md").write_text("# Baseline\n\n| method | acc |\n"
                                                      "| --- | --- |\n| Original | 41.7% |\n")
    assert main(["publish", "--run", "pub", *where]) == 0
    out = capsys.readouterr().out
    hub = run_dir / "hub"
    card = (hub / "README.md").read_text()
    assert "No audit report" not in card and "Verdict: **PASS**" in card
    assert "(plots/letters.png)" in card and (hub / "plots" / "letters.png").is_file()
    assert "| Original | 41.7% |" in card  # the baseline table
    for section in ("## Limitations", "## Evaluation protocol", "## Example",
                    "Selection by the ASR gate", "English only", "answer_label", "ICME", "@misc{"):
        assert section in card, section
    durations = [r["duration"] for r in lines(data)]
    assert f"{sum(durations) / len(durations):.0f} seconds on average" in card
    tts_line = next(x for x in card.splitlines() if x.startswith("| speech (TTS)"))
    assert "espeak-ng" in tts_line and "xtts" not in tts_line.lower()
    example = lines(data)[0]
    assert example["test_question"]["question"] in card
    # Sizes in one unit: the total is what push's listing would say.
    from pipeline.publishing.model import human_bytes

    total = sum(p.stat().st_size for p in hub.rglob("*")
                if p.is_file() and not p.name.startswith("."))
    assert f"{human_bytes(total)})" in out
    # Publish runs the audit itself when no current report exists.
    shutil.rmtree(run_dir / "export" / "audit")
    shutil.rmtree(hub)
    assert main(["publish", "--run", "pub", *where]) == 0
    assert "Verdict: **PASS**" in (hub / "README.md").read_text()
    from pipeline.reports.audit import AUDIT_VERSION

    report = json.loads((run_dir / "export" / "audit" / "audit.json").read_text())
    assert report["audit_version"] == AUDIT_VERSION and report["source_sha256"]


def test_published_spiral_files_resolve_as_spirals_records_do(
        small_run: RunResult, tmp_path: Path) -> None:
    from pipeline.publishing.publish import publish
    from tests.conftest import make_config

    run_dir = copy_run(small_run, tmp_path)
    publish(make_config(tmp_path, "run=pub"))
    root = run_dir / "hub"  # the folder that holds spiral/, as in SPIRAL's release
    recs = lines(root / "spiral" / "data.jsonl")
    assert len(recs) == 6
    for rec in recs:
        audio = rec["audio_data"]
        assert audio["combined"]["audio_folder"] == "spiral/wavs"
        assert audio["key_sentences"]["audio_dir"] == "spiral/key_wavs"
        assert (root / audio["combined"]["audio_folder"]
                / audio["combined"]["audio_files"][0]).is_file()
        assert (root / audio["key_sentences"]["audio_dir"]
                / audio["key_sentences"]["audio_file"]).is_file()
    # The rest of each record is the export's, unchanged.
    exported = lines(run_dir / "export" / "data.jsonl")
    for a, b in zip(recs, exported, strict=True):
        assert {k: v for k, v in a.items() if k != "audio_data"} == \
            {k: v for k, v in b.items() if k != "audio_data"}
    # Files and folders follow the umask (mkstemp and mkdtemp made them 0600 / 0700).
    mask = os.umask(0)
    os.umask(mask)
    for path in (root / "README.md", root / "spiral" / "data.jsonl",
                 run_dir / "export" / "data.jsonl", run_dir / "manifest.json",
                 next((run_dir / "audio").glob("*.wav"))):
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask, path
    for folder in (root, run_dir / "export"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o777 & ~mask, folder


def test_atomic_writes_respect_the_umask(tmp_path: Path) -> None:
    mask = os.umask(0)
    os.umask(mask)
    store.atomic_write_text(tmp_path / "a.txt", "x")
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o666 & ~mask
    assert store.FILE_MODE == 0o666 & ~mask


def test_link_or_copy_links_and_falls_back_to_a_copy(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "a.wav"
    src.write_bytes(b"RIFF")
    store.link_or_copy(src, tmp_path / "b.wav")
    assert (tmp_path / "b.wav").stat().st_ino == src.stat().st_ino

    def cross_device(a: object, b: object) -> None:
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", cross_device)
    store.link_tree(tmp_path, tmp_path / "copy")
    copied = tmp_path / "copy" / "a.wav"
    assert copied.read_bytes() == b"RIFF" and copied.stat().st_ino != src.stat().st_ino


def test_a_bare_rerun_keeps_the_runs_size_and_an_explicit_n_says_so(
        small_run: RunResult, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = copy_run(small_run, tmp_path, "small")
    where = [*CONFIG, "--run", "small", "--set", f"output_root={tmp_path}", "--quiet"]
    # spiral.yaml says 12 items; the run was built with 6 (seed 7) and stays so.
    assert main(["export", *where]) == 0
    assert len(lines(run_dir / "plan.jsonl")) == 6
    assert len(lines(run_dir / "export" / "data.jsonl")) == 6
    err = capsys.readouterr().err
    assert "as built: 6 items, seed 7" in err
    assert main(["plan", *where, "--n", "3"]) == 0
    assert "n_items changes from 6 to 3" in capsys.readouterr().err
    assert main(["plan", *where]) == 0  # remembered
    assert len(lines(run_dir / "plan.jsonl")) == 3
    assert json.loads((run_dir / "run_args.json").read_text())["seed"] == 7


def test_cli_describes_itself_and_names_bad_values(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and re.match(r"spiral-pipeline \S+", capsys.readouterr().out)
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, p in sub.choices.items():
        assert p.description, name
    for name in ("baseline", "voices"):
        flags = {o for a in sub.choices[name]._actions for o in a.option_strings}
        assert not flags & {"--n", "--seed"}, name
    for argv, said in ((["run", "--n", "0"], "--n: '0' is not a number of items"),
                       (["eval", "--data", "x", "--model", "cascade", "--limit", "abc"],
                        "argument --limit: invalid int value: 'abc'"),
                       (["frobnicate"], "invalid choice: 'frobnicate'")):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        err = capsys.readouterr().err
        # one line naming the argument, exit 2: no usage block (7 lines for eval --limit)
        assert exc.value.code == 2 and said in err, err
        assert err.count("\n") == 1 and "usage:" not in err and err.startswith("spiral"), err


def test_progress_without_a_terminal_has_no_carriage_returns(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pipeline.engine.stage import Context
    from tests.conftest import make_config

    ctx = Context(make_config(tmp_path), quiet=False)
    ctx.phase = "regen 1 "
    assert not sys.stderr.isatty()
    assert list(ctx.progress(iter(range(50)), "validate", 50)) == list(range(50))
    err = capsys.readouterr().err
    assert "\r" not in err and "regen 1 validate" in err and "50/50" in err
    from pipeline.orchestration.runner import run_pipeline

    run_pipeline(make_config(tmp_path, "run=bars", "n_items=2"), until="plant", quiet=False)
    err = capsys.readouterr().err
    assert "[2/3] script: 2/2" in err and "[3/3] plant: 2/2" in err  # overall position


def test_one_licence_policy_for_a_local_xtts_checkpoint(tmp_path: Path) -> None:
    """A local XTTS checkpoint whose path lacks "xtts": AUDIO_LICENSE.md said CPML, the card's
    front matter cc-by-4.0."""
    from pipeline.publishing import card
    from pipeline.tts.licences import audio_licence_section
    from tests.conftest import make_config

    model = tmp_path / "my_voice_model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"model": "xtts", "audio": {}}))
    cfg = make_config(tmp_path, "tts.backend=coqui", f"tts.model={model}")
    assert "CPML" in audio_licence_section(cfg, [])
    inp = card.CardInputs(manifest={"config": cfg.to_dict()}, built_with=cfg,
                          publish=cfg.publish, subsets=[], features=None, items=[],
                          tagged=False)
    meta = yaml.safe_load(card.front_matter(inp))
    assert meta["license"] == "other"
    assert meta["license_name"] == "coqui-public-model-license"
    assert "coqui-public-model-license" in card._licence_text(inp)


def test_card_and_publish_do_not_import_each_other() -> None:
    import ast

    folder = ROOT / "pipeline" / "publishing"
    for name, other in (("card.py", "pipeline.publishing.publish"),
                        ("model.py", "pipeline.publishing.publish"),
                        ("model.py", "pipeline.publishing.card")):
        tree = ast.parse((folder / name).read_text())
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert other not in imported, (name, other)


def test_a_rerun_after_make_audit_does_no_work_and_keeps_the_audit(
        small_run: RunResult, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`make audit` writes export/audit/; a rerun with nothing changed recomputed the export
    (`export 6 computed`) and deleted the audit. A changed export keeps it too: the audit
    names the data.jsonl it measured, so publish audits again when they differ."""
    run_dir = copy_run(small_run, tmp_path, "small")
    export = run_dir / "export"
    assert main(["audit", str(export / "data.jsonl"), "--audio", str(export / "wavs"),
                 *CONFIG]) == 0
    before = {p.name: p.read_bytes() for p in (export / "audit").iterdir()}
    capsys.readouterr()
    where = [*CONFIG, "--run", "small", "--set", f"output_root={tmp_path}", "--quiet"]
    assert main(["run", *where]) == 0
    out = capsys.readouterr().out
    row = next(x for x in out.splitlines() if x.strip().startswith("export "))
    assert row.split()[1:4] == ["0", "computed,", "6"], row
    assert {p.name: p.read_bytes() for p in (export / "audit").iterdir()} == before
    (export / "failures.jsonl").unlink()  # a damaged export is rebuilt; its audit stays
    assert main(["export", *where]) == 0
    assert (export / "failures.jsonl").exists()
    assert {p.name: p.read_bytes() for p in (export / "audit").iterdir()} == before
