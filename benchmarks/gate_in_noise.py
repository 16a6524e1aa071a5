"""How the ASR gate hears speech in noise: whisper's WER on sentence clips of a built run,
clean and under babble / pink noise at set SNRs (the item conditioned whole, as a run does),
and the share of clips the gate would pass (WER <= validate.max_wer).

Why acoustics.gate defaults to `clean` (docs/acoustics.md): the gate is a far weaker
listener in noise than a person. Six clips an item (the key and five others of 6+ words).
Usage: python benchmarks/gate_in_noise.py data/runs/<run>/export [--model packaged:base]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.acoustics.condition import condition  # noqa: E402
from pipeline.asr.whisper import transcribe  # noqa: E402
from pipeline.core.config import load_config  # noqa: E402
from pipeline.engine.stage import Context  # noqa: E402
from pipeline.stages import conditioning  # noqa: E402
from pipeline.text.compare import wer  # noqa: E402

CONDITIONS = [("clean", None), ("babble", 20), ("babble", 10), ("babble", 5), ("babble", 0),
              ("pink", 10), ("pink", 5), ("pink", 0)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("export", type=Path)
    ap.add_argument("--model", default="packaged:base")
    ap.add_argument("--max-wer", type=float, default=0.5)
    opts = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="spiral-gate-noise-"))
    cfg = load_config(ROOT / "spiral.yaml", [f"output_root={tmp}", "acoustics.snr_db=10"])
    ctx = Context(cfg, quiet=True)
    rows = []
    for line in (opts.export / "data.jsonl").open():
        r = json.loads(line)
        track, sr = sf.read(opts.export / "wavs" / r["audio_data"]["combined"]["audio_files"][0],
                            dtype="int16")
        times = r["timestamps"]["sentences"]
        sents = [s for t in r["transcript"] for s in t["text"]]
        speakers = [t["speaker"] for t in r["transcript"] for _ in t["text"]]
        voices = {v["id"]: v["voice"] for v in r["voices"]}
        k = r["audio_data"]["key_sentences"]["indices"][0]
        long = [i for i in range(len(sents)) if len(sents[i].split()) >= 6 and i != k]
        rng = np.random.default_rng(0)
        pick = sorted([k] + [int(i) for i in rng.choice(long, min(5, len(long)), replace=False)])
        for n, (kind, snr) in enumerate(CONDITIONS):
            deg = track
            if snr is not None:
                lv = {"snr_db": snr, "noise": kind, "rt60_s": None, "overlap": 0.0,
                      "telephone": False}
                deg = condition(track, times, speakers, k, lv, 1234 + n, sr, -23.0, voices,
                                lambda m, ex, g: conditioning.babbles_mix(ctx, m, ex, g)).degraded
            for i in pick:
                a, b = round(times[i][0] * sr), round(times[i][1] * sr)
                text = transcribe(deg[a:b].astype(np.float32) / 32768, sr, model=opts.model,
                                  window="fitted")[0]
                rows.append((kind, snr, wer(sents[i], text)))
    print(f"| noise | SNR (dB) | clips | WER mean | median | passed (WER <= {opts.max_wer:g}) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for kind, snr in CONDITIONS:
        w = np.array([x[2] for x in rows if x[0] == kind and x[1] == snr])
        print(f"| {kind} | {'-' if snr is None else snr} | {len(w)} | {w.mean():.2f} | "
              f"{np.median(w):.2f} | {np.mean(w <= opts.max_wer):.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
