"""Benchmark acoustic conditions: CPU per item of a conditioned run beside a clean one, in one
process, and the conditioning alone per item and per audio minute.

Both measured runs build the same items (same seed) after a warm-up that loaded the models,
rendered the items' sentences and the babble pool, so neither pays a one-time cost; CPU is
this process's and its children's (espeak) user + system time. A conditioned run may reject
more attempts (noise makes keys harder to hear) and rebuild them: CPU is given per attempt
(what conditioning costs) and per built item (what a level costs in all).

Target (issue 28): conditions cost at most 30% more CPU per item than clean. Each condition
of the table (SNR 20/10/5 dB babble, RT60 0.6 s, telephone, overlap 0.2) is built beside the
clean run, in one process; the clean run is built before and after them and averaged.
Usage: python benchmarks/bench_acoustics.py [--n 6] [--gate clean|degraded]
       [--set acoustics.snr_db=20 ...]  (one condition instead of the table)
       [--long-minutes 10]  (also time one long synthetic item: reverb + babble)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from report import report  # noqa: E402

from pipeline.core.config import load_config  # noqa: E402
from pipeline.orchestration.runner import run_pipeline  # noqa: E402

LEVELS = ["acoustics.snr_db=20", "acoustics.noise=babble", "acoustics.rt60_s=0.6",
          "acoustics.overlap=0.2"]


def cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def build(tmp: Path, root: str, run: str, n: int, seed: int, extra: list[str]
          ) -> tuple[float, int, int, float, int]:
    """(CPU s, attempts, built, audio s, key draws rejected) of one run."""
    cfg = load_config(ROOT / "spiral.yaml", [
        f"output_root={tmp / root}", f"run={run}", f"n_items={n}", f"seed={seed}",
        f"tts.cache_dir={tmp / 'tts'}", f"prompts_dir={ROOT / 'prompts'}",
        f"voices={ROOT / 'voices' / 'voices.yaml'}", *extra])
    t0 = cpu()
    res = run_pipeline(cfg, quiet=True)
    spent = cpu() - t0
    rej = cfg.run_dir / "rejections.jsonl"
    rejected = len(rej.read_text().splitlines()) if rej.exists() else 0
    audio = sum(it.audio.duration for it in res.built if it.audio)
    return spent, n + rejected, len(res.built), audio, res.ctx.draws_rejected



def conditioning_alone(tmp: Path, levels: list[str], seed: int) -> tuple[float, float]:
    """CPU s per item and per audio minute of `condition()` on the clean run's tracks."""
    import soundfile as sf

    from pipeline.acoustics.condition import condition
    from pipeline.engine.stage import Context
    from pipeline.stages import conditioning

    cfg = load_config(ROOT / "spiral.yaml", [
        f"output_root={tmp / 'warm'}", f"tts.cache_dir={tmp / 'tts'}", *levels])
    ctx = Context(cfg, quiet=True)
    from pipeline.acoustics.levels import item_levels

    lv = item_levels(seed, 0, cfg.types, cfg.acoustics)
    recs = [json.loads(x) for x in (tmp / "clean" / "b" / "export" / "data.jsonl").open()]
    spent = minutes = 0.0
    for rec in recs:
        track, sr = sf.read(tmp / "clean" / "b" / "export" / "wavs" /
                            rec["audio_data"]["combined"]["audio_files"][0], dtype="int16")
        speakers = [t["speaker"] for t in rec["transcript"] for _ in t["text"]]
        voices = {v["id"]: v["voice"] for v in rec["voices"]}
        t0 = cpu()
        condition(track, rec["timestamps"]["sentences"], speakers,
                  rec["audio_data"]["key_sentences"]["indices"][0], lv, 7, sr,
                  cfg.audio.loudness_lufs, voices,
                  lambda n, ex, rng: conditioning.babbles_mix(ctx, n, ex, rng))
        spent += cpu() - t0
        minutes += len(track) / sr / 60
    return spent / len(recs), spent / minutes


def long_item(tmp: Path, minutes: float, levels: list[str]) -> dict:
    """One synthetic item `minutes` long (a clean track tiled), conditioned: CPU and wall."""
    import soundfile as sf

    from pipeline.acoustics.condition import condition
    from pipeline.acoustics.levels import item_levels
    from pipeline.engine.stage import Context
    from pipeline.stages import conditioning

    cfg = load_config(ROOT / "spiral.yaml", [
        f"output_root={tmp / 'warm'}", f"tts.cache_dir={tmp / 'tts'}", *levels])
    ctx = Context(cfg, quiet=True)
    rec = json.loads((tmp / "clean" / "b" / "export" / "data.jsonl").open().readline())
    track, sr = sf.read(tmp / "clean" / "b" / "export" / "wavs" /
                        rec["audio_data"]["combined"]["audio_files"][0], dtype="int16")
    reps = int(np.ceil(minutes * 60 * sr / len(track)))
    times = rec["timestamps"]["sentences"]
    speakers = [t["speaker"] for t in rec["transcript"] for _ in t["text"]]
    dur = len(track) / sr
    long_times = [[round(s + r * dur, 4), round(e + r * dur, 4)]
                  for r in range(reps) for s, e in times]
    lv = item_levels(1, 0, cfg.types, cfg.acoustics)
    t0, w0 = cpu(), time.perf_counter()
    out = condition(np.tile(track, reps), long_times, speakers * reps,
                    rec["audio_data"]["key_sentences"]["indices"][0], lv, 7, sr,
                    cfg.audio.loudness_lufs, {v["id"]: v["voice"] for v in rec["voices"]},
                    lambda n, ex, rng: conditioning.babbles_mix(ctx, n, ex, rng))
    return {"long_item_minutes": round(len(out.degraded) / sr / 60, 1),
            "long_item_cpu_s": round(cpu() - t0, 1),
            "long_item_wall_s": round(time.perf_counter() - w0, 1)}


CONDITIONS = {
    "snr 20 dB": ["acoustics.snr_db=20"],
    "snr 10 dB": ["acoustics.snr_db=10"],
    "snr 5 dB": ["acoustics.snr_db=5"],
    "rt60 0.6 s": ["acoustics.rt60_s=0.6"],
    "telephone": ["acoustics.telephone=true"],
    "overlap 0.2": ["acoustics.overlap=0.2"],
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=6)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="one condition instead of the table's: acoustic levels, e.g. "
                         + " ".join(LEVELS))
    ap.add_argument("--gate", choices=("clean", "degraded"), default=None,
                    help="acoustics.gate of the conditioned runs (default: spiral.yaml's)")
    ap.add_argument("--also", action="append", default=[], metavar="KEY=VALUE",
                    help="a setting added to every conditioned run, e.g. "
                         "acoustics.measure_degraded=false")
    ap.add_argument("--long-minutes", type=float, default=0.0)
    opts = ap.parse_args()
    conditions = {" ".join(opts.set): opts.set} if opts.set else CONDITIONS
    gate = ([f"acoustics.gate={opts.gate}"] if opts.gate else []) + opts.also
    rows = {}
    with tempfile.TemporaryDirectory(prefix="spiral-bench-acoustics-") as name:
        tmp = Path(name)
        build(tmp, "warm", "w", opts.n, opts.seed, [])  # models, sentences
        build(tmp, "warm", "w2", 1, opts.seed + 1, LEVELS)  # babble pool, room code
        # Clean before and after the conditioned runs (the machine's load drifts): the mean.
        first = build(tmp, "clean", "b", opts.n, opts.seed, [])
        for k, (label, levels) in enumerate(conditions.items()):
            rows[label] = build(tmp, f"cond{k}", "b", opts.n, opts.seed, levels + gate)
        last = build(tmp, "clean2", "b", opts.n, opts.seed, [])
        clean = tuple((a + b) / 2 for a, b in zip(first, last, strict=True))
        alone_item, alone_min = conditioning_alone(tmp, LEVELS, opts.seed)
        extra = long_item(tmp, opts.long_minutes, LEVELS) if opts.long_minutes else {}
    per_built = clean[0] / max(1, clean[2])
    table = {}
    for label, (cpu_s, attempts, built, _, draws) in rows.items():
        table[label] = {"cpu_s": round(cpu_s, 1), "attempts": attempts, "built": built,
                        "key_draws_rejected": draws,
                        "cpu_s_per_built_item": round(cpu_s / max(1, built), 2),
                        "ratio_per_built_item": round(cpu_s / max(1, built) / per_built, 2)}
    result = {
        "items": opts.n, "gate": opts.gate or "default", "also": " ".join(opts.also),
        "clean_cpu_s": [round(first[0], 1), round(last[0], 1)],
        "clean_built": [first[2], last[2]],
        "clean_key_draws_rejected": [first[4], last[4]],
        "clean_cpu_s_per_built_item": round(per_built, 2),
        "conditions": table,
        "conditioning_alone_cpu_s_per_item": round(alone_item, 3),
        "conditioning_alone_cpu_s_per_audio_min": round(alone_min, 3),
        "conditioning_alone_share_of_clean_item": round(alone_item / per_built, 3),
        **extra,
        "target_ok": all(r["ratio_per_built_item"] <= 1.3 for r in table.values()),
    }
    report("bench_acoustics", result)
    return 0 if result["target_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
