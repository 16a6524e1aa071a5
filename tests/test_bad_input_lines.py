"""Issue #25.9: bad input that used to crash is one line on stderr and exit 2: a damaged
run_args.json, JSON or YAML nested 200k deep, config numbers out of range, records the audit
refuses (now refused by eval and the review page too, through one validator)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.core.record_check import RecordError, check_record
from pipeline.orchestration.runner import RunResult
from tests.conftest import ROOT

DEEP = "[" * 200_000


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1, err
    return err[0]


def plan(tmp_path: Path, *extra: str, config: Path = ROOT / "spiral.yaml") -> int:
    return main(["plan", "--config", str(config), "--run", "r", "--set",
                 f"output_root={tmp_path}", "--quiet", *extra])


@pytest.mark.parametrize("content", ["", "[]", "{}", '{"n_items": 3, "se', '{"n_items": 3, '
                                     '"seed": 1, "set": [7]}', DEEP])
def test_a_damaged_run_args_file_is_one_line(tmp_path: Path, content: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "run_args.json").write_text(content)
    assert plan(tmp_path) == 2
    assert "run_args.json" in one_line(capsys)


@pytest.mark.parametrize(("setting", "key", "bounds"), [
    ("tts.workers=100000", "tts.workers", "from 1 to 64"),
    ("n_items=1000000000", "n_items", "from 1 to 100000"),
    ("audio.sample_rate=7", "audio.sample_rate", "from 8000 to 192000"),
    ("audio.target_seconds=.nan", "audio.target_seconds", "from 1 to 86400"),
    ("writer.words_max=0", "writer.words_max", "from 1 to 1000000"),
])
def test_config_numbers_out_of_range_name_the_key_and_range(
        tmp_path: Path, setting: str, key: str, bounds: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    assert plan(tmp_path, "--set", setting) == 2
    line = one_line(capsys)
    assert f"'{key}'" in line and bounds in line, line
    assert not (tmp_path / "r" / "run_args.json").exists()  # never remembered


def test_nesting_200k_deep_is_one_line(tmp_path: Path, small_run: RunResult,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "deep.yaml"
    config.write_text(f"n_items: {DEEP}\n")
    assert plan(tmp_path, config=config) == 2
    assert "nested too deeply" in one_line(capsys)
    data = tmp_path / "ds" / "data.jsonl"
    data.parent.mkdir()
    shutil.copytree(small_run.ctx.run_dir / "export" / "wavs", data.parent / "wavs")
    lines = (small_run.ctx.run_dir / "export" / "data.jsonl").read_text().splitlines()
    data.write_text(lines[0] + "\n" + '{"x": ' + DEEP + "\n")
    assert main(["audit", str(data), "--config", str(ROOT / "spiral.yaml")]) == 2
    assert "data.jsonl:2: JSON nested too deeply" in one_line(capsys)
    assert main(["eval", "--data", str(data.parent), "--model", "cascade", "--config",
                 str(ROOT / "spiral.yaml"), "--set", f"output_root={tmp_path}"]) == 2
    assert "data.jsonl:2: JSON nested too deeply" in one_line(capsys)


@pytest.mark.parametrize(("change", "said"), [
    (lambda r: r["test_question"].update(choices="ABCD"), "choices must be a list of 4"),
    (lambda r: r["metadata"].update(id=7), "metadata.id must be a non-empty string"),
    (lambda r: r.update(duration=float("nan")), "duration must be a number"),
])
def test_eval_audit_and_review_refuse_the_same_malformed_records(
        small_run: RunResult, tmp_path: Path, change, said: str,  # noqa: ANN001
        capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = tmp_path / "m"
    shutil.copytree(small_run.ctx.run_dir, run_dir)
    data = run_dir / "export" / "data.jsonl"
    recs = [json.loads(x) for x in data.read_text().splitlines()]
    change(recs[1])
    data.write_text("".join(json.dumps(r) + "\n" for r in recs))
    for argv in (["eval", "--data", str(run_dir), "--model", "cascade", "--config",
                  str(ROOT / "spiral.yaml"), "--set", f"output_root={tmp_path}", "--quiet"],
                 ["audit", str(data), "--config", str(ROOT / "spiral.yaml")],
                 ["review", "--config", str(ROOT / "spiral.yaml"), "--run", "m", "--set",
                  f"output_root={tmp_path}", "--out", str(tmp_path / "page")]):
        assert main(argv) == 2, argv[0]
        line = one_line(capsys)
        assert said in line and "2" in line, (argv[0], line)
    assert not (run_dir / "eval").exists() or not list((run_dir / "eval").rglob("*.jsonl"))


def test_the_validator_accepts_a_public_release_record(small_run: RunResult) -> None:
    rec = json.loads((small_run.ctx.run_dir / "export" / "data.jsonl").read_text()
                     .splitlines()[0])
    for k in ("key_detail", "duration", "checks", "provenance"):
        rec.pop(k, None)
    check_record(rec, "r")
    rec["audio_data"]["key_sentences"]["indices"] = [True]
    with pytest.raises(RecordError, match="r \\(.*\\): audio_data.key_sentences.indices"):
        check_record(rec, "r")
