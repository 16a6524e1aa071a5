"""Issue #25.7: eval and publish never read a run while another process (a run, a reroll)
holds it: they stop with one line naming the holder, exit 1, and write nothing."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.orchestration.lock import _start_time
from pipeline.orchestration.runner import RunResult
from tests.conftest import ROOT


@pytest.mark.parametrize("command", ["eval", "publish"])
def test_eval_and_publish_wait_for_nobody_and_write_nothing_beside_a_run(
        small_run: RunResult, tmp_path: Path, command: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = tmp_path / "lk"
    shutil.copytree(small_run.ctx.run_dir, run_dir)
    other = subprocess.Popen(["sleep", "60"])  # a run rewriting the export, as far as we know
    try:
        (run_dir / ".lock").write_text(json.dumps(
            {"pid": other.pid, "host": socket.gethostname(), "start": _start_time(other.pid)}))
        before = sorted(p.relative_to(run_dir) for p in run_dir.rglob("*"))
        if command == "eval":
            argv = ["eval", "--data", "lk", "--model", "cascade", "--limit", "1",
                    "--config", str(ROOT / "spiral.yaml"), "--quiet"]
        else:
            argv = ["publish", "--config", str(ROOT / "spiral.yaml"), "--run", "lk", "--quiet"]
        assert main([*argv, "--set", f"output_root={tmp_path}"]) == 1
        err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        assert len(err) == 1 and f"in use by pid {other.pid}" in err[0], err
        assert sorted(p.relative_to(run_dir) for p in run_dir.rglob("*")) == before
    finally:
        other.kill()
        other.wait()
