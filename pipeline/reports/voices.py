"""`spiral voices`: list the voice bank and render a short sample of each voice.

The samples are for a listening check before a long build: every voice is first checked
against the configured backend (espeak variants, Coqui speaker ids, reference wavs), so a bad
bank stops here, with the voice and field named, before anything renders.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.core.config import Config
from pipeline.core.resources import Voice, load_voices
from pipeline.core.store import atomic_write_bytes
from pipeline.text.spoken import to_spoken
from pipeline.tts.assemble import wav_bytes
from pipeline.tts.backends import get_backend
from pipeline.tts.base import SentenceCache
from pipeline.tts.speaking_rate import words_per_second

SAMPLE = ("Hello, this is voice {id}. The committee meets on March 14 at 7:35, "
          "and the budget is $4,500.")


def _backend_fields(v: Voice) -> str:
    parts = [f"espeak {v.espeak_voice}+{v.espeak_variant} pitch {v.pitch} rate {v.rate}"]
    if v.coqui_speaker:
        parts.append(f"coqui speaker {v.coqui_speaker}")
    if v.references:
        licences = sorted({r.licence for r in v.references})
        parts.append(f"{len(v.references)} reference wav(s), {', '.join(licences)}")
    return "; ".join(parts)


def voices_report(cfg: Config, out_dir: str | Path | None, sample: bool = True) -> str:
    """A table of the bank; with `sample`, one wav per voice in `out_dir` and its rate."""
    voices = load_voices(cfg.voices, check_espeak=cfg.tts.backend == "espeak",
                         reference_dirs=cfg.tts.reference_dirs)
    root = cfg.cache_root
    tts = get_backend(cfg.tts, root) if sample else None
    if tts is not None:
        tts.check_voices(voices)
    out = Path(out_dir) if out_dir else cfg.run_dir / "voices"
    cache = SentenceCache(cfg.tts_cache)
    rows = []
    for v in voices:
        row = f"{v.id:<12} {v.gender:<6} {v.accent:<12} {_backend_fields(v)}"
        if tts is not None:
            audio = cache.render(tts, to_spoken(SAMPLE.format(id=v.id.replace("_", " "))), v,
                                 1.0, cfg.audio.sample_rate)
            atomic_write_bytes(out / f"{v.id}.wav", wav_bytes(audio, cfg.audio.sample_rate))
            wps = words_per_second(tts, v, cache)
            row += f"  | {len(audio) / cfg.audio.sample_rate:.1f} s sample, {wps:.2f} words/s"
        rows.append(row)
    n_f = sum(v.gender == "female" for v in voices)
    head = (f"{len(voices)} voices ({n_f} female, {len(voices) - n_f} male) in {cfg.voices}, "
            f"backend {cfg.tts.backend}")
    tail = [f"samples: {out}/<id>.wav"] if tts is not None else []
    return "\n".join([head, *rows, *tail])
