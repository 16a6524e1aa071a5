"""The gate's ASR in whisper's 30-s window against a window fitted to the clip, on the same
key clips: how many pass the gate, mean WER against the key sentence, CPU seconds per clip,
and how often the two disagree, beside how often the 30-s window disagrees with itself when
the clip is 1 dB quieter or starts 20 ms later (the gate's own noise at its threshold).

Clips: the key sentences of `--items` planned items (offline writer, seed `--seed`), each
said by its key speaker's voice and by two other voices of the gender drawn at random, good
voices and bad ones alike (no heard filter), so failing clips are in the sample too.
Usage: python benchmarks/bench_asr_window.py [--items 70] [--seed 4242]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from report import report

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.asr import whisper  # noqa: E402
from pipeline.core.config import load_config  # noqa: E402
from pipeline.core.records import LETTERS  # noqa: E402
from pipeline.engine.stage import Context  # noqa: E402
from pipeline.orchestration import precheck  # noqa: E402
from pipeline.orchestration.runner import run_pipeline  # noqa: E402
from pipeline.text.compare import wer  # noqa: E402
from pipeline.text.spoken import to_spoken  # noqa: E402
from pipeline.tts.backends import get_backend  # noqa: E402
from pipeline.validation.intelligibility import transcript_checks  # noqa: E402

SR = 16000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--items", type=int, default=70)
    ap.add_argument("--seed", type=int, default=4242)
    opts = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="spiral-asr-window-") as tmp:
        cfg = load_config(ROOT / "spiral.yaml", [f"output_root={tmp}", "run=w",
                                                 f"n_items={opts.items}", f"seed={opts.seed}"])
        items = run_pipeline(cfg, until="question", quiet=True).items
    ctx = Context(cfg)
    tts = get_backend(cfg.tts, cfg.cache_root)
    v = cfg.validate
    listeners: dict[str, Callable[[np.ndarray], str]] = {
        w: lambda a, w=w: whisper.transcribe(a, SR, v.asr_model, v.asr_offline, window=w)[0]
        for w in ("full", "fitted")}
    rng = random.Random(7)
    verdicts: dict[str, list[bool]] = {k: [] for k in
                                       ("full", "fitted", "full_1db", "full_20ms")}
    wers: dict[str, list[float]] = {"full": [], "fitted": []}
    cpu = {"full": 0.0, "fitted": 0.0}
    for item in items:
        if item.failed or item.key is None or item.question is None:
            continue
        q = item.question
        answer = q.choices[LETTERS.index(q.letter)]
        speaker = precheck.key_speaker(item)
        gender = next(s.gender for s in item.spec.speakers if s.id == speaker)
        own = precheck.key_voice(item)
        others = sorted(x.id for x in ctx.voices.values() if x.gender == gender and x.id != own)
        for voice in [own, *rng.sample(others, 2)]:
            clip = tts.synthesize(to_spoken(item.key.sentence), ctx.voices[voice], 1.0, SR)
            clip = clip.astype(np.float32)
            variants = {"full": ("full", clip), "fitted": ("fitted", clip),
                        "full_1db": ("full", (clip * 10 ** (-1 / 20)).astype(np.float32)),
                        "full_20ms": ("full", np.concatenate([np.zeros(SR // 50, np.float32),
                                                              clip]))}
            for name, (listener, audio) in variants.items():
                t0 = time.process_time()
                text = listeners[listener](audio)
                if name in cpu:
                    cpu[name] += time.process_time() - t0
                    wers[name].append(wer(item.key.sentence, text))
                verdicts[name].append(all(c.ok for c in transcript_checks(
                    item.key.sentence, answer, text, v)))
    n = len(verdicts["full"])

    def differ(a: str, b: str) -> int:
        return sum(x != y for x, y in zip(verdicts[a], verdicts[b], strict=True))

    full_only = sum(a and not b for a, b in zip(verdicts["full"], verdicts["fitted"],
                                                strict=True))
    result = {
        "clips": n, "items": opts.items, "seed": opts.seed, "asr_model": v.asr_model,
        "pass_full": sum(verdicts["full"]), "pass_fitted": sum(verdicts["fitted"]),
        "mean_wer_full": round(float(np.mean(wers["full"])), 4),
        "mean_wer_fitted": round(float(np.mean(wers["fitted"])), 4),
        "cpu_s_per_clip_full": round(cpu["full"] / n, 3),
        "cpu_s_per_clip_fitted": round(cpu["fitted"] / n, 3),
        "disagree_full_fitted": differ("full", "fitted"),
        "of_which_full_passes": full_only,
        "disagree_full_with_itself_1db": differ("full", "full_1db"),
        "disagree_full_with_itself_20ms": differ("full", "full_20ms"),
    }
    report("bench_asr_window", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
