"""What the TTS model's licence means for the published audio, for the export and its card.

The audio of a benchmark is a derivative of the TTS model (and, for cloning, of the
reference recordings), so the card must say under which terms it can be used.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from pipeline.core.config import Config
from pipeline.core.resources import Voice

ESPEAK = ("espeak-ng is GPL-3.0-or-later software. The GPL covers the program, not the speech "
          "it produces: the audio carries no licence terms from the TTS.")
XTTS = ("XTTS v2 weights are released under the Coqui Public Model License 1.0.0 (CPML): "
        "non-commercial use only, and the licence binds the output of the model too. Audio "
        "rendered with XTTS v2 may be used and shared for non-commercial purposes only, and the "
        "dataset must carry that restriction.")
NAMED = ("The licence of a Coqui catalogue model is listed by `tts --list_models` (Coqui's "
         ".models.json) and on its model card; check it, and the licence of its training data "
         "(e.g. VCTK, CC-BY-4.0: attribute it), before publishing audio rendered with it.")
LOCAL = ("The licence of a local checkpoint is its author's: state it here before publishing "
         "audio rendered with it.")


def _is_xtts(cfg: Config) -> bool:
    model = cfg.tts.model
    config = Path(model) / "config.json" if Path(model).is_dir() else Path(model).parent / \
        "config.json"
    if "xtts" in model.lower():
        return True
    return config.is_file() and '"model": "xtts"' in config.read_text(encoding="utf-8")


def audio_licence_section(cfg: Config, voices: Iterable[Voice]) -> str:
    """A Markdown section on the audio's licence: the TTS model, then cloned voices."""
    lines = ["## Audio licence", ""]
    if cfg.tts.backend == "espeak":
        lines.append(f"Rendered with espeak-ng. {ESPEAK}")
        return "\n".join(lines) + "\n"
    model = cfg.tts.model
    shown = model if not Path(model).exists() else f"local checkpoint {Path(model).name}"
    lines.append(f"Rendered with Coqui TTS, model `{shown}`.")
    lines.append("")
    lines.append(XTTS if _is_xtts(cfg) else (LOCAL if Path(model).exists() else NAMED))
    refs = sorted({(v.id, Path(r.wav).name, r.source, r.licence)
                   for v in voices for r in v.references})
    if refs and _is_xtts(cfg):
        lines += ["", "Voices were cloned from these reference recordings; their licences apply "
                  "to the cloned voices as well, and cloning a real person's voice needs their "
                  "consent:", ""]
        lines += [f"- {vid}: {wav}, source {src}, licence {lic}" for vid, wav, src, lic in refs]
    return "\n".join(lines) + "\n"
