"""What the TTS model's licence means for the published audio: one policy, read by the
export's `AUDIO_LICENSE.md` and by the dataset card's front matter and licence note.

The audio of a benchmark is a derivative of the TTS model (and, for cloning, of the
reference recordings), so the card must say under which terms it can be used.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pipeline.core.config import Config, TTSConfig
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
CPML = {"license": "other", "license_name": "coqui-public-model-license",
        "license_link": "https://coqui.ai/cpml"}


@dataclass(frozen=True)
class AudioLicence:
    """The policy's verdict for one TTS setting."""

    kind: str  # espeak | xtts | catalogue | local
    card_fields: dict[str, str] | None  # front matter licence fields that override the card's
    text: str  # what the licence means for the audio


def is_xtts(tts: TTSConfig) -> bool:
    """An XTTS model, by name or by a local checkpoint's config.json (whatever its path)."""
    if tts.backend != "coqui":
        return False
    model = tts.model
    if "xtts" in model.lower():
        return True
    path = Path(model)
    config = path / "config.json" if path.is_dir() else path.parent / "config.json"
    try:
        return config.is_file() and '"model": "xtts"' in config.read_text(encoding="utf-8")
    except OSError:
        return False


def audio_licence(tts: TTSConfig) -> AudioLicence:
    if tts.backend == "espeak":
        return AudioLicence("espeak", None, ESPEAK)
    if is_xtts(tts):
        return AudioLicence("xtts", CPML, XTTS)
    if Path(tts.model).exists():
        return AudioLicence("local", None, LOCAL)
    return AudioLicence("catalogue", None, NAMED)


def tts_description(tts: TTSConfig) -> str:
    """What rendered the audio, and only that (an espeak run names no Coqui model)."""
    if tts.backend == "espeak":
        return "espeak-ng"
    model = tts.model
    shown = model if not Path(model).exists() else f"local checkpoint {Path(model).name}"
    return f"Coqui TTS, model `{shown}`"


def audio_licence_section(cfg: Config, voices: Iterable[Voice]) -> str:
    """A Markdown section on the audio's licence: the TTS model, then cloned voices."""
    policy = audio_licence(cfg.tts)
    lines = ["## Audio licence", ""]
    if policy.kind == "espeak":
        return "\n".join([*lines, f"Rendered with espeak-ng. {policy.text}"]) + "\n"
    lines += [f"Rendered with {tts_description(cfg.tts)}.", "", policy.text]
    refs = sorted({(v.id, Path(r.wav).name, r.source, r.licence)
                   for v in voices for r in v.references})
    if refs and policy.kind == "xtts":
        lines += ["", "Voices were cloned from these reference recordings; their licences apply "
                  "to the cloned voices as well, and cloning a real person's voice needs their "
                  "consent:", ""]
        lines += [f"- {vid}: {wav}, source {src}, licence {lic}" for vid, wav, src, lic in refs]
    return "\n".join(lines) + "\n"
