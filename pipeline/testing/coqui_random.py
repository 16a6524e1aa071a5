"""Coqui checkpoints built from their configs with random weights, laid out like real ones.

No pretrained Coqui model can be fetched offline (tests, CI, benchmarks), so these folders
stand in for a downloaded XTTS v2 or multi-speaker VITS: `tts.model: <folder>` loads them
through exactly the code that loads a real checkpoint. The audio is noise-like, but its
length, timing and cost follow the architecture. `small=True` shrinks the networks for tests;
`small=False` keeps the published sizes, for real-time-factor measurements.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

XTTS_SPECIALS = ("[STOP]", "[UNK]", "[SPACE]", "[START]", "[en]")
XTTS_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789,.!?'-\":;"


def _xtts_vocab(path: Path) -> None:
    """A character-level tokenizer with the special tokens XTTS's tokenizer expects."""
    from tokenizers import Tokenizer, models

    vocab = {t: i for i, t in enumerate((*XTTS_SPECIALS, *XTTS_CHARS))}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="[UNK]"))
    tok.add_special_tokens(list(XTTS_SPECIALS))
    tok.save(str(path))


def build_xtts(folder: str | Path, small: bool = True, seed: int = 0,
               max_audio_tokens: int = 120) -> Path:
    """config.json, model.pth and vocab.json of a random-weight XTTS v2 in `folder`."""
    import torch
    from TTS.tts.configs.xtts_config import XttsConfig
    from TTS.tts.layers.xtts.tokenizer import VoiceBpeTokenizer
    from TTS.tts.models.xtts import Xtts

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    _xtts_vocab(folder / "vocab.json")
    cfg = XttsConfig()
    a = cfg.model_args
    a.tokenizer_file = str(folder / "vocab.json")
    a.gpt_max_audio_tokens = max_audio_tokens
    if small:
        a.gpt_layers, a.gpt_n_model_channels, a.gpt_n_heads = 1, 64, 4
        a.decoder_input_dim = 64
        a.gpt_num_audio_tokens, a.gpt_start_audio_token, a.gpt_stop_audio_token = 258, 256, 257
    torch.manual_seed(seed)
    with warnings.catch_warnings():  # init_from_config is what loading uses; it warns
        warnings.simplefilter("ignore", UserWarning)
        model = Xtts.init_from_config(cfg)
    model.tokenizer = VoiceBpeTokenizer(str(folder / "vocab.json"))
    model.init_models()
    torch.save({"model": model.state_dict()}, folder / "model.pth")
    cfg.save_json(str(folder / "config.json"))
    return folder


def build_vits(folder: str | Path, speakers: list[str], small: bool = True, seed: int = 0
               ) -> Path:
    """config.json, model.pth and speaker_ids.json of a random multi-speaker VITS."""
    import torch
    from TTS.tts.configs.vits_config import VitsArgs, VitsConfig
    from TTS.tts.models.vits import Vits

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    ids = folder / "speaker_ids.json"
    ids.write_text(json.dumps({s: i for i, s in enumerate(speakers)}), encoding="utf-8")
    sizes = dict(hidden_channels=32, hidden_channels_ffn_text_encoder=64,
                 num_layers_text_encoder=2, num_layers_posterior_encoder=2, num_layers_flow=2,
                 upsample_initial_channel_decoder=32, resblock_type_decoder="2",
                 resblock_kernel_sizes_decoder=[3],
                 resblock_dilation_sizes_decoder=[[1, 3]], speaker_embedding_channels=32,
                 ) if small else {}
    args = VitsArgs(use_speaker_embedding=True, speakers_file=str(ids),
                    init_discriminator=False, **sizes)
    cfg = VitsConfig(model_args=args, use_phonemes=False, text_cleaner="english_cleaners")
    cfg.audio.sample_rate = 22050
    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = Vits.init_from_config(cfg)
    torch.save({"model": model.state_dict()}, folder / "model.pth")
    cfg.save_json(str(folder / "config.json"))
    return folder
