"""Memory and time of one item by length: does an hour cost sixty times a minute, and fit?

    make bench-long                                  # 90 s and 60 min side by side
    python benchmarks/bench_long.py --lengths 90,600,3600

Each length runs in a process of its own, through the code a run uses on an item's audio:
rendering every sentence with espeak-ng (a fresh sentence cache), assembly and loudness
(stages/synthesize.render_item), the pre-check's hand-over to synthesis (tracks put/take),
the item's wav and key wav, the export's `datasets` row (wav embedded) and the published
parquet row (FLAC). The transcript is synthetic (distinct numbered sentences, a lecture's
voice) because the point is the audio path; the writer is measured by `spiral run`.
Reported: peak RSS of the process (imports included, and their share alone), CPU seconds
of the steps and CPU seconds per audio-minute. Targets (issue 24): peak RSS <= 1.5 GB at 60
minutes; CPU per audio-minute at 60 minutes <= 1.5x that at 90 s.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SECONDS_PER_SENTENCE = 8.1  # espeak at rate 1.0 with the lecture pauses, measured here
SUBJECTS = ("the survey crew", "the northern station", "the night shift", "the field team",
            "the pilot group", "the harbour office", "the archive staff", "the lab")
VERBS = ("counted", "logged", "checked", "recorded", "sorted", "labelled", "weighed",
         "measured")
THINGS = ("samples", "readings", "crates", "records", "sensors", "batches", "forms", "maps")


def sentences(seconds: float) -> list[str]:
    """Distinct sentences (every one rendered, none cached) that fill about `seconds`."""
    out, k = [], 0
    while len(out) < seconds / SECONDS_PER_SENTENCE:
        s = (f"On day {k + 1}, {SUBJECTS[k % 8]} {VERBS[(k // 8) % 8]} {k * 7 + 3} "
             f"{THINGS[(k // 64) % 8]} before the {k % 5 + 2} o'clock break.")
        out.append(s)
        k += 1
    return out


def cpu_now() -> float:
    """CPU seconds of this process and its finished children (espeak-ng runs as one)."""
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + kids.ru_utime + kids.ru_stime


def one(seconds: float, warm: bool = True) -> dict:
    """The steps for one item of `seconds`, in this process; `warm` first builds a 10-s item
    so that first-call costs (imports, datasets' set-up) are not charged to the length."""
    if warm:
        one(10.0, warm=False)
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipeline.core.config import load_config
    from pipeline.core.grid import tolerance_for
    from pipeline.core.records import KeyDetail, Question, Turn, to_spiral
    from pipeline.core.spiral_rows import features, row
    from pipeline.core.store import link_or_copy
    from pipeline.engine.stage import Context
    from pipeline.stages import plan, synthesize
    from pipeline.stages.export import save_hf

    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    tmp = Path(tempfile.mkdtemp(prefix="bench-long-"))
    cfg = load_config(ROOT / "spiral.yaml", [
        f"output_root={tmp}", f"prompts_dir={ROOT / 'prompts'}",
        f"voices={ROOT / 'voices' / 'voices.yaml'}", f"tts.cache_dir={tmp / 'tts'}",
        "n_items=1", "types={lecture: 1}", "tts.max_duration_fixes=0"])
    ctx = Context(cfg, quiet=True)
    item = plan.run(cfg, ctx.topics, list(ctx.voices.values()))[0]
    item.spec = replace(item.spec, target_seconds=seconds,
                        tolerance_seconds=tolerance_for(cfg.audio, seconds))
    text = sentences(seconds)
    key_index = len(text) // 2
    item.transcript = [Turn("spk_1", text)]
    item.key = KeyDetail(text[key_index], key_index, "number", str(key_index * 7 + 3), {})
    item.question = Question("How many were counted?", ["1", "2", "3", str(key_index * 7 + 3)],
                             "D")
    steps: dict[str, float] = {}
    peaks: dict[str, int] = {}  # peak RSS (MB) so far, after each step
    cpu0, wall0 = cpu_now(), time.perf_counter()

    def lap(name: str, t: float) -> float:
        now = cpu_now()
        steps[name] = round(now - t, 2)
        peaks[name] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        return now

    t = cpu_now()
    samples, times, scale = synthesize.render_item(item, ctx)  # TTS, assembly, loudness
    t = lap("render+assemble+loudness", t)
    synthesize.keep_track(item, ctx, samples, times, scale)  # the pre-check's hand-over
    del samples
    t = lap("track put", t)
    item = synthesize._apply(item, ctx)  # takes the track, writes the wav and key wav
    t = lap("take+write wavs", t)
    assert item.audio is not None
    export = tmp / "export"
    (export / "wavs").mkdir(parents=True)
    (export / "key_wavs").mkdir()
    link_or_copy(cfg.run_dir / "audio" / item.audio.wav, export / "wavs" / item.audio.wav)
    link_or_copy(cfg.run_dir / "audio" / "key" / item.audio.key_wav,
                 export / "key_wavs" / item.audio.key_wav)
    item.checks = []
    rec = to_spiral(item)
    save_hf([rec], export, export / "hf", cfg.audio.sample_rate, None, "bench")
    t = lap("export datasets row", t)
    feats = features(cfg.audio.sample_rate)
    table = pa.Table.from_pylist([row(rec, export, None, "flac", published=True)],
                                 schema=feats.arrow_schema)
    pq.write_table(table, str(tmp / "shard.parquet"))
    del table
    lap("publish parquet row", t)
    cpu = cpu_now() - cpu0
    duration = item.audio.duration
    return {"seconds": seconds, "audio_s": duration, "sentences": len(text),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "before_rss_mb": round(base_rss), "cpu_s": round(cpu, 1),
            "wall_s": round(time.perf_counter() - wall0, 1),
            "cpu_per_audio_min": round(cpu / (duration / 60), 3), "steps": steps,
            "peak_after_mb": peaks}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--lengths", default="90,3600", help="seconds, comma-separated")
    p.add_argument("--one", type=float, help=argparse.SUPPRESS)  # a child process
    p.add_argument("--json", action="store_true", help="print the rows as one JSON line")
    args = p.parse_args()
    if args.one is not None:
        print(json.dumps(one(args.one)))
        return 0
    rows = []
    for s in (float(x) for x in args.lengths.split(",")):
        out = subprocess.run([sys.executable, __file__, "--one", f"{s:g}"],
                             capture_output=True, text=True)
        if out.returncode:
            sys.stderr.write(out.stderr)
            return out.returncode
        rows.append(json.loads(out.stdout.splitlines()[-1]))
    if args.json:
        print(json.dumps(rows))
        return 0
    first = rows[0]["cpu_per_audio_min"]
    print("| target | audio | sentences | peak RSS | before the item | CPU | CPU / audio-min "
          "| vs first |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['seconds']:g} s | {r['audio_s']:.0f} s | {r['sentences']} | "
              f"{r['peak_rss_mb']} MB | {r['before_rss_mb']} MB | {r['cpu_s']} s | "
              f"{r['cpu_per_audio_min']} s | {r['cpu_per_audio_min'] / first:.2f}x |")
    for r in rows:
        print(f"{r['seconds']:g} s steps (CPU s): {r['steps']}")
        print(f"{r['seconds']:g} s peak RSS after each step (MB): {r['peak_after_mb']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
