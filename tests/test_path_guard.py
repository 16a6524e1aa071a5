"""Issue #25.8: a path read from a record stays inside its dataset folder, or the record is
refused with one line (exit 2): the review server, eval and publish never read or serve
`/etc/passwd` because a data.jsonl names it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.core.paths import OutsidePath, inside
from pipeline.core.store import file_hash
from pipeline.orchestration.runner import RunResult
from tests.conftest import ROOT

ESCAPES = [("combined", "/etc/passwd"), ("key", "../../../../etc/hostname"),
           ("combined", "sub/../../../etc/passwd")]


def _damage(data: Path, where: str, name: str, fix_sums: bool = False) -> None:
    lines = data.read_text(encoding="utf-8").splitlines()
    rec = json.loads(lines[1])
    if where == "combined":
        rec["audio_data"]["combined"]["audio_files"] = [name]
    else:
        rec["audio_data"]["key_sentences"]["audio_file"] = name
    lines[1] = json.dumps(rec)
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    if fix_sums:  # the guard alone must catch it, not the export's checksums
        sums_path = data.parent / ".export-files.json"
        sums = json.loads(sums_path.read_text())
        sums["data.jsonl"] = file_hash(data)
        sums_path.write_text(json.dumps(sums))


@pytest.fixture
def run_dir(small_run: RunResult, tmp_path: Path) -> Path:
    dest = tmp_path / "g"
    shutil.copytree(small_run.ctx.run_dir, dest)
    return dest


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1, err
    return err[0]


@pytest.mark.parametrize(("where", "name"), ESCAPES)
def test_review_refuses_a_record_naming_a_file_outside_the_run(
        run_dir: Path, tmp_path: Path, where: str, name: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    _damage(run_dir / "export" / "data.jsonl", where, name)
    out = tmp_path / "page"
    assert main(["review", "--config", str(ROOT / "spiral.yaml"), "--run", "g", "--set",
                 f"output_root={tmp_path}", "--out", str(out)]) == 2
    line = one_line(capsys)
    assert name in line and "data.jsonl:2" in line, line
    assert not out.exists() or not any("passwd" in p.name or "hostname" in p.name
                                       for p in out.rglob("*"))


@pytest.mark.parametrize(("where", "name"), ESCAPES)
def test_publish_refuses_a_record_naming_a_file_outside_the_export(
        run_dir: Path, tmp_path: Path, where: str, name: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    _damage(run_dir / "export" / "data.jsonl", where, name, fix_sums=True)
    assert main(["publish", "--config", str(ROOT / "spiral.yaml"), "--run", "g", "--set",
                 f"output_root={tmp_path}", "--quiet"]) == 2
    assert name in one_line(capsys)
    assert not (run_dir / "hub").exists()


@pytest.mark.parametrize("folder,name", [("", "/etc/passwd"), ("/etc", "passwd"),
                                         ("wavs", "../../outside.wav"), ("..", "outside.wav")])
def test_eval_refuses_audio_outside_the_data_folder(
        run_dir: Path, tmp_path: Path, folder: str, name: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "outside.wav").write_bytes((run_dir / "export" / "wavs").iterdir().__next__()
                                           .read_bytes())
    data = tmp_path / "ds" / "data.jsonl"
    data.parent.mkdir()
    shutil.copytree(run_dir / "export" / "wavs", data.parent / "wavs")
    recs = [json.loads(x) for x in (run_dir / "export" / "data.jsonl").read_text().splitlines()]
    recs[0]["audio_data"]["combined"].update(audio_folder=folder, audio_files=[name])
    data.write_text("".join(json.dumps(r) + "\n" for r in recs))
    assert main(["eval", "--data", str(data.parent), "--model", "cascade", "--set",
                 f"output_root={tmp_path}", "--config", str(ROOT / "spiral.yaml"),
                 "--quiet"]) == 2
    line = one_line(capsys)
    assert "data.jsonl:1" in line and "outside the dataset folder" in line, line


def test_the_guard_keeps_names_below_the_root(tmp_path: Path) -> None:
    assert inside(tmp_path, "a/b.wav", "r", "wavs") == tmp_path / "wavs" / "a" / "b.wav"
    for bad in ("/etc/passwd", "../x", "a/../../x", "C:/x", "", None, 3, "a\x00b"):
        with pytest.raises(OutsidePath, match="r: audio path"):
            inside(tmp_path, bad, "r")
