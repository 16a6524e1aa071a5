"""Qwen2-Audio adapter: encode the whole ~90 s, prune the projected audio embeddings, answer by
the log-probabilities of the letters A-D.

The encoder takes exactly 30 s of log-mel frames (3,000 -> 750 tokens), so the audio is cut
into 30-s chunks, each encoded (the last one padded and masked as the model's own processor
does) and the projected embeddings concatenated: 25 tokens per second over the whole item.
A selector picks which of them the language model sees; they are placed between the prompt's
text embeddings, and one causal prefill gives the next-token logits.

With `model_path` the weights, feature extractor and tokenizer come from that local folder
(Qwen2-Audio-7B-Instruct, never downloaded). Without it a tiny randomly initialised model is
built from a config and text is tokenised byte by byte (`ByteTokenizer`): it exercises every
shape and mask here on CPU, and its answers are noise.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pipeline.baseline.cascade import read_mono
from pipeline.baseline.speechprune import AudioTokens
from pipeline.core.audio import resample
from pipeline.core.records import LETTERS

SR = 16000
CHUNK_S = 30
SPECIALS = ("<|im_start|>", "<|im_end|>", "<|audio_bos|>", "<|audio_eos|>", "<|AUDIO|>",
            "<|endoftext|>")
PREFIX = ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
          "<|im_start|>user\n")
AUDIO_OPEN, AUDIO_CLOSE = "Audio 1: <|audio_bos|>", "<|audio_eos|>\n"
SUFFIX = "<|im_end|>\n<|im_start|>assistant\n"
INSTRUCTION = "Answer with the letter of the correct choice only."


class ByteTokenizer:
    """UTF-8 bytes as ids 0-255, the chat special tokens after them: a tokenizer that needs no
    file, for the tiny random model."""

    def __init__(self) -> None:
        self.special = {s: 256 + i for i, s in enumerate(SPECIALS)}
        self.vocab_size = 256 + len(SPECIALS)
        self._split = re.compile("(" + "|".join(re.escape(s) for s in SPECIALS) + ")")

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        ids: list[int] = []
        for part in self._split.split(text):
            ids.extend([self.special[part]] if part in self.special else part.encode("utf-8"))
        return ids


def tiny_config(vocab_size: int, audio_token_id: int) -> Any:
    """A Qwen2-Audio config small enough for CPU tests: real architecture, toy widths.
    The encoder keeps 128 mel bins and 1,500 positions so a chunk is still 30 s = 750 tokens."""
    from transformers import Qwen2AudioConfig

    return Qwen2AudioConfig(
        audio_config={"d_model": 32, "encoder_layers": 2, "encoder_attention_heads": 2,
                      "encoder_ffn_dim": 64, "num_mel_bins": 128, "max_source_positions": 1500},
        text_config={"model_type": "qwen2", "vocab_size": vocab_size, "hidden_size": 64,
                     "intermediate_size": 128, "num_hidden_layers": 2,
                     "num_attention_heads": 4, "num_key_value_heads": 2,
                     "max_position_embeddings": 4096},
        audio_token_index=audio_token_id)


def question_text(rec: dict) -> str:
    """The question as posed: stem and the four labelled choices (SpeechPrune's T)."""
    q = rec["test_question"]
    return "\n".join([q["question"], *q["choices"]])


@dataclass
class QwenItem:
    prompt: str  # question + choices + instruction


class Qwen2AudioAdapter:
    name = "qwen2-audio"

    def __init__(self, model_path: str | None = None, device: str = "cpu", seed: int = 0) -> None:
        from transformers import (
            AutoTokenizer,
            Qwen2AudioForConditionalGeneration,
            WhisperFeatureExtractor,
        )

        self.device = torch.device(device)
        if model_path:
            path = Path(model_path)
            if not path.is_dir():
                raise FileNotFoundError(f"--model-path {model_path}: not a local folder")
            dtype = torch.bfloat16 if self.device.type == "cuda" else torch.float32
            self.model = Qwen2AudioForConditionalGeneration.from_pretrained(
                path, dtype=dtype, local_files_only=True)
            self.features = WhisperFeatureExtractor.from_pretrained(path, local_files_only=True)
            self.tokenizer: Any = AutoTokenizer.from_pretrained(path, local_files_only=True)
        else:
            self.tokenizer = ByteTokenizer()
            torch.manual_seed(seed)
            self.model = Qwen2AudioForConditionalGeneration(
                tiny_config(self.tokenizer.vocab_size, self.tokenizer.special["<|AUDIO|>"]))
            self.features = WhisperFeatureExtractor(feature_size=128, sampling_rate=SR)
        self.model.to(self.device).eval()
        inner = self.model.model
        self.audio_tower, self.projector = inner.audio_tower, inner.multi_modal_projector
        self.lm, self.embed_tokens = inner.language_model, inner.get_input_embeddings()
        attn = self.lm.layers[0].self_attn
        text_cfg = self.model.config.text_config
        self.w_q = attn.q_proj.weight.detach().T.float().cpu()
        self.w_k = attn.k_proj.weight.detach().T.float().cpu()
        self.n_heads = int(text_cfg.num_attention_heads)
        self.n_kv_heads = int(text_cfg.num_key_value_heads)
        self.letter_ids = [self.tokenizer.encode(x, add_special_tokens=False)[0] for x in LETTERS]
        self.timings: dict[str, list[float]] = {"encode": [], "prefill": []}

    # ---- audio -----------------------------------------------------------------------------

    @torch.inference_mode()
    def encode_audio(self, audio: np.ndarray) -> torch.Tensor:
        """Projected audio embeddings (N x hidden) of the whole clip, 30-s chunk by chunk."""
        from transformers.masking_utils import create_bidirectional_mask

        step = CHUNK_S * SR
        chunks = [audio[i:i + step] for i in range(0, max(1, len(audio)), step)]
        out = []
        for chunk in chunks:
            feats = self.features([chunk], sampling_rate=SR, return_tensors="pt",
                                  padding="max_length", return_attention_mask=True)
            mel = feats["input_features"].to(self.device, self.audio_tower.conv1.weight.dtype)
            frames = feats["attention_mask"].sum(-1).to(self.device)
            conv_len, out_len = self.audio_tower._get_feat_extract_output_lengths(frames)
            width = (mel.shape[-1] - 2) // 2 + 1
            mask2d = (torch.arange(width, device=self.device)[None] < conv_len[:, None]).long()
            dummy = torch.zeros((1, width, 1), dtype=mel.dtype, device=self.device)
            mask = create_bidirectional_mask(config=self.audio_tower.config,
                                             inputs_embeds=dummy, attention_mask=mask2d)
            hidden = self.audio_tower(mel, attention_mask=mask).last_hidden_state
            out.append(self.projector(hidden)[0, :int(out_len[0])])
        return torch.cat(out)

    def prepare(self, rec: dict, wav: Path) -> tuple[AudioTokens, QwenItem]:
        audio, sr = read_mono(wav)
        audio = resample(audio, sr, SR)
        t0 = time.perf_counter()
        emb = self.encode_audio(audio)
        self.timings["encode"].append(time.perf_counter() - t0)
        q_ids = self.tokenizer.encode(question_text(rec), add_special_tokens=False)
        with torch.inference_mode():
            text = self.embed_tokens(torch.tensor(q_ids, device=self.device))
        # selection runs on CPU in float32; only the kept rows go back to the device
        tokens = AudioTokens(emb.float().cpu(), text.float().cpu(), self.w_q, self.w_k,
                             self.n_heads, self.n_kv_heads)
        return tokens, QwenItem(f"{question_text(rec)}\n{INSTRUCTION}")

    # ---- language model --------------------------------------------------------------------

    def inputs(self, tokens: AudioTokens, item: QwenItem,
               keep: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(inputs_embeds, attention_mask, position_ids) of prompt + kept audio + question;
        `keep=None` is the blind prompt, with no audio at all."""
        embed = self.embed_tokens

        def text(s: str) -> torch.Tensor:
            ids = self.tokenizer.encode(s, add_special_tokens=False)
            return embed(torch.tensor(ids, device=self.device))

        with torch.inference_mode():
            if keep is None:
                parts = [text(PREFIX + item.prompt + SUFFIX)]
            else:
                audio = tokens.audio[keep].to(self.device, embed.weight.dtype)
                parts = [text(PREFIX + AUDIO_OPEN), audio,
                         text(AUDIO_CLOSE + item.prompt + SUFFIX)]
            embeds = torch.cat(parts)[None]
        n = embeds.shape[1]
        mask = torch.ones((1, n), dtype=torch.long, device=self.device)
        positions = torch.arange(n, device=self.device)[None]
        return embeds, mask, positions

    @torch.inference_mode()
    def letter_logprobs(self, tokens: AudioTokens, item: QwenItem,
                        keep: torch.Tensor | None) -> torch.Tensor:
        embeds, mask, positions = self.inputs(tokens, item, keep)
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        hidden = self.lm(inputs_embeds=embeds, attention_mask=mask, position_ids=positions,
                         use_cache=False).last_hidden_state[:, -1]
        logits = self.model.lm_head(hidden).float()[0]
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        self.timings["prefill"].append(time.perf_counter() - t0)
        return torch.log_softmax(logits, dim=-1)[self.letter_ids]

    def answer(self, tokens: AudioTokens, item: QwenItem, keep: torch.Tensor | None) -> str:
        return LETTERS[int(torch.argmax(self.letter_logprobs(tokens, item, keep)))]


def prefill_flops(text_config: Any, seq_len: int) -> float:
    """Matrix-multiply FLOPs of one causal prefill of `seq_len` tokens through the language
    model (projections, MLP, attention scores and values) plus the last token's LM head."""
    h, i, n = text_config.hidden_size, text_config.intermediate_size, text_config.num_hidden_layers
    d_kv = h // text_config.num_attention_heads * text_config.num_key_value_heads
    per_token = 2 * n * (h * (2 * h + 2 * d_kv) + 3 * h * i)
    attention = 2 * 2 * n * seq_len * seq_len * h
    return per_token * seq_len + attention + 2 * h * text_config.vocab_size
