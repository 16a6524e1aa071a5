"""Issue #25.4-5: nothing is published or pushed unverified. A wav damaged in the export is
refused (exit 1, naming it); a published folder with a garbled, deleted or extra file is
refused by push, dry run included, so a local deletion never becomes a remote one; an
interrupted audit is redone whole."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.orchestration.runner import RunResult
from tests.conftest import ROOT


@pytest.fixture
def run_dir(small_run: RunResult, tmp_path: Path) -> Path:
    dest = tmp_path / "pub"
    shutil.copytree(small_run.ctx.run_dir, dest)
    return dest


def spiral(run_dir: Path, *args: str) -> int:
    return main([args[0], "--config", str(ROOT / "spiral.yaml"), "--run", run_dir.name,
                 "--set", f"output_root={run_dir.parent}", *args[1:]])


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1, err
    return err[0]


def test_a_wav_damaged_in_the_export_is_not_published(
        run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wav = sorted((run_dir / "export" / "wavs").iterdir())[1]
    data = bytearray(wav.read_bytes())
    data[5000:5016] = b"\x7f" * 16  # damaged in place (hard-linked: audio/ breaks too)
    wav.write_bytes(bytes(data))
    assert spiral(run_dir, "publish", "--quiet") == 1
    line = one_line(capsys)
    assert wav.name in line and "changed since the export was written" in line
    assert not (run_dir / "hub").exists()


@pytest.mark.parametrize("fault", ["garbled", "deleted", "extra"])
def test_push_refuses_a_published_folder_that_changed(
        run_dir: Path, fault: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert spiral(run_dir, "publish", "--quiet") == 0
    hub = run_dir / "hub"
    shard = sorted((hub / "data" / "default").glob("*.parquet"))[0]
    if fault == "garbled":
        data = bytearray(shard.read_bytes())
        data[len(data) // 2: len(data) // 2 + 4096] = bytes(4096)
        shard.write_bytes(bytes(data))
    elif fault == "deleted":
        shard.unlink()
    else:
        (hub / "data" / "default" / "stray.parquet").write_bytes(b"PAR1")
    capsys.readouterr()
    assert spiral(run_dir, "push", "--repo-id", "someorg/x", "--dry-run") == 1
    line = one_line(capsys)
    named = "stray.parquet" if fault == "extra" else shard.name
    assert named in line and "spiral publish --run pub" in line, line
    assert spiral(run_dir, "publish", "--quiet") == 0  # publishing again repairs it
    assert spiral(run_dir, "push", "--repo-id", "someorg/x", "--dry-run") == 0


def test_an_interrupted_audit_is_redone_whole(run_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """Killed while writing its plots, the audit leaves no marker that says it is current:
    the next publish writes it again and the card keeps every plot."""
    from pipeline.reports import audit

    clean = run_dir.parent / "clean" / "pub"  # the same run name: the same card
    shutil.copytree(run_dir, clean)
    assert spiral(clean, "publish", "--quiet") == 0
    real = audit.atomic_write_bytes
    calls = []

    def full_disk(path, data):  # noqa: ANN001, ANN202
        calls.append(path)
        if len(calls) == 2:
            raise OSError(28, "No space left on device", str(path))
        return real(path, data)

    monkeypatch.setattr(audit, "atomic_write_bytes", full_disk)
    assert spiral(run_dir, "publish", "--quiet") == 1
    monkeypatch.setattr(audit, "atomic_write_bytes", real)
    assert spiral(run_dir, "publish", "--quiet") == 0
    got = sorted(p.relative_to(run_dir / "hub").as_posix()
                 for p in (run_dir / "hub").rglob("*") if p.is_file())
    want = sorted(p.relative_to(clean / "hub").as_posix()
                  for p in (clean / "hub").rglob("*") if p.is_file())
    assert got == want and any(p.startswith("plots/") for p in got)
    for rel in want:
        if rel.endswith((".md", ".png")):
            assert (run_dir / "hub" / rel).read_bytes() == (clean / "hub" / rel).read_bytes(), rel
    assert json.loads((run_dir / "export" / "audit" / "audit.json").read_text())["items"]
