"""`spiral push` against a fake Hub: huggingface_hub's HTTP client is swapped for one whose
transport answers in-process, so no byte leaves the machine."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from huggingface_hub import constants
from huggingface_hub.utils import _http

from pipeline.cli import main
from pipeline.orchestration.runner import RunResult, run_pipeline
from pipeline.publishing.model import human_bytes
from pipeline.publishing.publish import publish
from pipeline.publishing.push import PushError, card_bytes, folder_files, push
from tests.conftest import ROOT, make_config

TOKEN = "hf_TESTSECRETq7Zx9Lw2Vb8Nn4Kk1Pp0"
LFS_SUFFIXES = (".parquet", ".wav", ".png")


class FakeHub:
    """The Hub endpoints a push uses, with state: repos, branches, files, commits."""

    def __init__(self) -> None:
        self.requests: list[httpx2.Request] = []
        self.repos: dict[str, dict] = {}
        self.files: dict[str, str] = {}  # path -> sha256 of the content on the main branch
        self.branches: list[str] = []
        self.commits: list[dict] = []
        self.lfs: dict[str, str] = {}  # oid -> sha256 of the bytes PUT for it

    def __call__(self, req: httpx2.Request) -> httpx2.Response:
        body = req.read()
        self.requests.append(req)
        path = req.url.path
        if req.url.host == "lfs.test":
            self.lfs[path.strip("/")] = hashlib.sha256(body).hexdigest()
            return httpx2.Response(200)
        if path == "/api/repos/create":
            data = json.loads(body)
            repo = f"{data['organization']}/{data['name']}"
            self.repos[repo] = data
            return httpx2.Response(200, json={"url": f"https://huggingface.co/datasets/{repo}"})
        if path == "/api/validate-yaml":
            text = json.loads(body)["content"]
            ok = text.startswith("---\n") and "\n---\n" in text[4:]
            return httpx2.Response(200 if ok else 400, json={"errors": [] if ok else [
                {"message": "no front matter"}]})
        if "/branch/" in path:
            self.branches.append(path.rsplit("/", 1)[1])
            return httpx2.Response(200, json={})
        if "/tree/" in path:
            return httpx2.Response(200, json=[{"type": "file", "path": p, "size": 1, "oid": h}
                                              for p, h in sorted(self.files.items())])
        if "/preupload/" in path:
            return httpx2.Response(200, json={"files": [
                {"path": f["path"], "shouldIgnore": False,
                 "uploadMode": "lfs" if f["path"].endswith(LFS_SUFFIXES) else "regular"}
                for f in json.loads(body)["files"]]})
        if path.endswith(".git/info/lfs/objects/batch"):
            return httpx2.Response(200, json={"transfer": "basic", "objects": [
                {"oid": o["oid"], "size": o["size"],
                 "actions": {"upload": {"href": f"https://lfs.test/{o['oid']}"}}}
                for o in json.loads(body)["objects"]]})
        if "/commit/" in path:
            return self.commit(path.rsplit("/", 1)[1], body)
        return httpx2.Response(404, json={"error": f"fake hub: no route for {path}"})

    def commit(self, revision: str, body: bytes) -> httpx2.Response:
        entry: dict = {"revision": revision, "files": {}, "deleted": []}
        for line in body.decode().splitlines():
            op = json.loads(line)
            value = op["value"]
            if op["key"] == "header":
                entry["summary"] = value["summary"]
            elif op["key"] == "file":
                content = base64.b64decode(value["content"])
                entry["files"][value["path"]] = hashlib.sha256(content).hexdigest()
            elif op["key"] == "lfsFile":
                assert self.lfs[value["oid"]] == value["oid"], "LFS bytes not uploaded"
                entry["files"][value["path"]] = value["oid"]
            elif op["key"] == "deletedFile":
                entry["deleted"].append(value["path"])
        self.commits.append(entry)
        return httpx2.Response(200, json={"success": True, "commitOid": "c" * 40,
                                          "commitUrl": "https://huggingface.co/fake/commit"})


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeHub]:
    fake = FakeHub()
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-token-file"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)  # the LFS path, over HTTP
    _http.set_client_factory(lambda: httpx2.Client(transport=httpx2.MockTransport(fake)))
    yield fake
    _http.set_client_factory(_http.default_client_factory)


@pytest.fixture(scope="module")
def run_dir(small_run: RunResult, tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("push") / "pub"
    shutil.copytree(small_run.ctx.run_dir, dest)
    publish(make_config(dest.parent, "run=pub"))
    return dest


def files_size(files: list[tuple[str, int]], name: str) -> int:
    return next(size for path, size in files if path == name)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_push_creates_the_dataset_repo_and_uploads_in_one_commit(
        hub: FakeHub, run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Rebuild (all cached) and publish again with the token in the environment.
    run_pipeline(make_config(run_dir.parent, "run=pub", "n_items=6", "seed=7"), quiet=True)
    publish(make_config(run_dir.parent, "run=pub"))
    folder = run_dir / "hub"
    hub.files = {"data/default/test-00003-of-00004.parquet": "old", "notes.md": "kept"}
    result = push(run_dir, folder, "someorg/spiral-demo", private=True, revision="v1",
                  quiet=True)
    assert hub.repos["someorg/spiral-demo"]["type"] == "dataset"
    assert hub.repos["someorg/spiral-demo"]["visibility"] == "private"
    assert hub.branches == ["v1"]
    (commit,) = hub.commits
    assert commit["revision"] == "v1"
    assert commit["summary"] == result.message
    assert "run pub" in commit["summary"] and "seed 7" in commit["summary"]
    local = {path: sha(folder / path) for path, _ in folder_files(folder)}
    card = card_bytes(folder, "someorg/spiral-demo")
    local["README.md"] = hashlib.sha256(card).hexdigest()
    assert commit["files"] == local
    assert b'load_dataset("someorg/spiral-demo"' in card and b"<org>/<name>" not in card
    assert "6 items" in commit["summary"]
    assert any(p.endswith(".parquet") for p in local) and "README.md" in local
    assert commit["deleted"] == ["data/default/test-00003-of-00004.parquet"]
    api_calls = [r for r in hub.requests
                 if r.url.host == "huggingface.co" and r.url.path.startswith("/api/datasets")]
    assert api_calls and all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in api_calls)
    out = capsys.readouterr()
    assert TOKEN not in out.out + out.err
    for root in (run_dir, run_dir.parent):
        for f in root.rglob("*"):
            if f.is_file():
                assert TOKEN.encode() not in f.read_bytes(), f


def test_dry_run_lists_every_file_and_touches_no_network(
        hub: FakeHub, run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["push", "--config", str(ROOT / "spiral.yaml"), "--run", "pub",
                 "--set", f"output_root={run_dir.parent}", "--repo-id", "someorg/spiral-demo",
                 "--dry-run"])
    assert code == 0
    assert hub.requests == [] and hub.commits == []
    out = capsys.readouterr().out
    files = folder_files(run_dir / "hub")
    assert len(files) > 10
    card = len(card_bytes(run_dir / "hub", "someorg/spiral-demo"))
    for path, size in files:
        line = next(line for line in out.splitlines() if line.endswith(f"  {path}"))
        size = card if path == "README.md" else size
        assert int(line.split()[0].replace(",", "")) == size
        assert " ".join(line.split()[2:4]) == human_bytes(size)  # one unit, as publish says
    total = next(line for line in out.splitlines() if line.endswith("  total"))
    total_bytes = sum(size for _, size in files) - files_size(files, "README.md") + card
    assert int(total.split()[0].replace(",", "")) == total_bytes
    assert "seed 7" in out


def test_push_refuses_what_it_cannot_do(hub: FakeHub, run_dir: Path,
                                        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with pytest.raises(PushError, match="ORG/NAME"):
        push(run_dir, run_dir / "hub", "just-a-name")
    with pytest.raises(PushError, match="spiral publish --run"):
        push(run_dir, tmp_path, "someorg/x")
    monkeypatch.delenv("HF_TOKEN")
    with pytest.raises(PushError, match="HF_TOKEN"):
        push(run_dir, run_dir / "hub", "someorg/x")
    assert hub.requests == []


def test_push_refuses_a_folder_older_than_the_export(small_run: RunResult, tmp_path: Path,
                                                     hub: FakeHub) -> None:
    run_dir = tmp_path / "pub"
    shutil.copytree(small_run.ctx.run_dir, run_dir)
    with pytest.raises(PushError, match="spiral publish --run pub"):  # never published
        push(run_dir, run_dir / "hub", "someorg/x", dry_run=True)
    publish(make_config(tmp_path, "run=pub"))
    assert push(run_dir, run_dir / "hub", "someorg/x", dry_run=True, echo=lambda _: None)
    data = run_dir / "export" / "data.jsonl"
    data.write_text("".join(data.read_text().splitlines(keepends=True)[:-1]))  # the run moved
    sums = json.loads((run_dir / "export" / ".export-files.json").read_text())
    sums["data.jsonl"] = sha(data)  # as a real export would have written it
    (run_dir / "export" / ".export-files.json").write_text(json.dumps(sums))
    with pytest.raises(PushError, match="publish again first"):
        push(run_dir, run_dir / "hub", "someorg/x", dry_run=True)
    publish(make_config(tmp_path, "run=pub"))
    result = push(run_dir, run_dir / "hub", "someorg/x", dry_run=True, echo=lambda _: None)
    assert "5 items" in result.message  # what it uploads, not the manifest's count
    assert hub.requests == []


def test_a_bad_revision_is_refused_before_anything_is_listed(
        hub: FakeHub, run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["push", "--config", str(ROOT / "spiral.yaml"), "--run", "pub",
            "--set", f"output_root={run_dir.parent}", "--repo-id", "someorg/x", "--dry-run"]
    for bad in ("bad branch", "a..b", "x.lock", "/x", "a~1", ""):
        assert main([*args, "--revision", bad]) == 2, bad
        err = capsys.readouterr()
        assert err.out == "" and err.err.count("\n") == 1, err
        assert f"--revision {bad!r}: not a valid branch name" in err.err
    assert main([*args, "--revision", "refs/pr/1"]) == 0
    assert "someorg/x@refs/pr/1" in capsys.readouterr().out
    assert hub.requests == []


def test_a_reader_that_stops_early_is_no_network_error(
        hub: FakeHub, run_dir: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """`spiral push --dry-run | head -1`: once head has its line, our stdout is closed."""
    import io
    import sys

    class HeadOne(io.StringIO):
        def write(self, text: str) -> int:
            if "\n" in self.getvalue():
                raise BrokenPipeError(32, "Broken pipe")
            return super().write(text)

    monkeypatch.setattr(sys, "stdout", HeadOne())
    code = main(["push", "--config", str(ROOT / "spiral.yaml"), "--run", "pub",
                 "--set", f"output_root={run_dir.parent}", "--repo-id", "someorg/x",
                 "--dry-run"])
    err = capsys.readouterr().err
    assert code == 141 and err == "", err
