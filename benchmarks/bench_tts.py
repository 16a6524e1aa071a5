"""TTS figures: real-time factor of each backend that runs here, the share of offline items
inside the duration window, and the time to re-render an item after editing one sentence.

    make bench-tts                       # everything (several minutes on 2 cores)
    python benchmarks/bench_tts.py --only rtf --xtts-size small

Real-time factor = compute seconds / audio seconds (below 1 is faster than real time). The
Coqui models are built from their configs with random weights (no pretrained model can be
fetched offline) at the published architecture sizes unless --*-size small; their cost per
second of audio follows the architecture, their sound does not.
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.core.config import load_config  # noqa: E402
from pipeline.core.resources import load_voices  # noqa: E402
from pipeline.engine.stage import Context  # noqa: E402
from pipeline.orchestration.runner import run_pipeline  # noqa: E402
from pipeline.stages import synthesize  # noqa: E402
from pipeline.text.spoken import to_spoken  # noqa: E402
from pipeline.tts.speaking_rate import PASSAGE  # noqa: E402

SR = 24000


def _rtf(backend, voices, sentences: list[str]) -> tuple[float, float]:
    """(real-time factor, audio seconds) over `sentences`, cycling through `voices`."""
    backend.synthesize(to_spoken(sentences[0]), voices[0], 1.0, SR)  # warm-up
    compute = audio = 0.0
    for i, s in enumerate(sentences):
        t0 = time.perf_counter()
        out = backend.synthesize(to_spoken(s), voices[i % len(voices)], 1.0, SR)
        compute += time.perf_counter() - t0
        audio += len(out) / SR
    return compute / audio, audio


def bench_rtf(tmp: Path, vits_size: str, xtts_size: str, n: int
              ) -> Iterator[tuple[str, float, float]]:
    import subprocess

    from pipeline.testing.coqui_random import build_vits, build_xtts
    from pipeline.tts.coqui import CoquiBackend
    from pipeline.tts.espeak import EspeakBackend

    voices = load_voices(ROOT / "voices" / "voices.yaml")
    sentences = list(PASSAGE) * 3
    r, a = _rtf(EspeakBackend(), voices, sentences[: max(n, 12)])
    yield ("espeak-ng", r, a)

    speakers = [v.coqui_speaker for v in voices if v.coqui_speaker]
    vits_dir = build_vits(tmp / "vits", speakers, small=vits_size == "small")
    vits = CoquiBackend(str(vits_dir), "cpu", "en", tmp / "cache")
    r, a = _rtf(vits, voices, sentences[:n])
    yield (f"coqui VITS ({vits_size}, random weights, cpu)", r, a)
    del vits

    xtts_dir = build_xtts(tmp / "xtts", small=xtts_size == "small", max_audio_tokens=200)
    refs = []
    for v in voices[:2]:
        wav = tmp / f"{v.id}.wav"
        subprocess.run(["espeak-ng", "-v", f"{v.espeak_voice}+{v.espeak_variant}", "-w",
                        str(wav), "A short reference recording for cloning this voice."],
                       check=True)
        from pipeline.core.resources import Reference

        refs.append(replace(v, references=(Reference(str(wav), "espeak-ng", "generated"),)))
    xtts = CoquiBackend(str(xtts_dir), "cpu", "en", tmp / "cache")
    r, a = _rtf(xtts, refs, sentences[: max(2, n // 3)])
    yield (f"coqui XTTS v2 ({xtts_size}, random weights, cpu)", r, a)


def bench_window(tmp: Path, n_items: int) -> dict:
    cfg = load_config(ROOT / "spiral.yaml", [
        f"output_root={tmp}", f"prompts_dir={ROOT / 'prompts'}",
        f"voices={ROOT / 'voices' / 'voices.yaml'}", "run=window", f"n_items={n_items}"])
    t0 = time.perf_counter()
    result = run_pipeline(cfg, quiet=True)
    wall = time.perf_counter() - t0
    a = cfg.audio
    rendered = [it for it in result.items if it.audio]
    inside = [it for it in rendered
              if abs(it.audio.duration - a.target_seconds) <= a.tolerance_seconds]
    natural = sum(it.audio.rate_scale == 1.0 for it in rendered)
    durations = sorted(it.audio.duration for it in rendered)

    # Edit one sentence of one item: only that sentence renders, the rest come from the cache.
    item = next(it for it in rendered if not it.failed)
    turns = copy.deepcopy(item.transcript)
    k = 0 if item.key and item.key.index != 0 else 1
    flat = [(ti, si) for ti, t in enumerate(turns) for si in range(len(t.text))]
    ti, si = flat[k]
    turns[ti].text[si] = turns[ti].text[si].rstrip(".") + ", as we said before."
    cache_dir = tmp / "_cache" / "tts"
    before = sum(1 for _ in cache_dir.rglob("*.wav"))
    ctx = Context(cfg, quiet=True)
    t0 = time.perf_counter()
    edited = synthesize.run([replace(item, transcript=turns, audio=None)], ctx)[0]
    rerender = time.perf_counter() - t0
    new_renders = sum(1 for _ in cache_dir.rglob("*.wav")) - before
    return {"items": n_items, "rendered": len(rendered), "inside": len(inside),
            "natural_speed": natural, "min": durations[0], "max": durations[-1],
            "wall": wall, "rerender_s": rerender, "new_renders": new_renders,
            "sentences": len(item.sentences()), "edited_ok": edited.audio is not None,
            "failed": [f"{it.id} at {it.failed['stage']}: {it.failed['reason']}"
                       for it in result.items if it.failed]}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", choices=("rtf", "window"), help="one part only")
    p.add_argument("--n-items", type=int, default=100)
    p.add_argument("--sentences", type=int, default=12, help="sentences per Coqui backend")
    p.add_argument("--vits-size", choices=("full", "small"), default="full")
    p.add_argument("--xtts-size", choices=("full", "small"), default="full")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="spiral-bench-tts-") as d:
        tmp = Path(d)
        if args.only in (None, "rtf"):
            print("| backend | real-time factor | x real time | audio rendered |")
            print("| --- | --- | --- | --- |")
            for name, r, a in bench_rtf(tmp, args.vits_size, args.xtts_size, args.sentences):
                print(f"| {name} | {r:.4f} | {1 / r:.1f}x | {a:.1f} s |", flush=True)
        if args.only in (None, "window"):
            w = bench_window(tmp, args.n_items)
            print(f"\nduration window: {w['inside']}/{w['items']} items inside "
                  f"({100 * w['inside'] / w['items']:.1f}%; {w['rendered']} rendered), "
                  f"{w['natural_speed']} at natural speed, durations {w['min']:.1f}-"
                  f"{w['max']:.1f} s, run {w['wall']:.0f} s")
            for line in w["failed"]:
                print(f"  failed: {line}")
            print(f"re-render after editing one sentence: {w['rerender_s']:.2f} s, "
                  f"{w['new_renders']} of {w['sentences']} sentences rendered")
    return 0


if __name__ == "__main__":
    sys.exit(main())
