"""The models `spiral eval` can score, behind one interface: given an item and the choices in
the order shown (one list per rotation), the model's raw replies, with audio or blind.

- `cascade`: the offline proxy of `pipeline.baseline.cascade` (ASR + word matching), named a
  proxy in every output: it measures where the answer is said, not what a model understands.
- `qwen2-audio`: Qwen2-Audio-7B-Instruct from a local folder through transformers, answering
  by the letters' log-probabilities; `qwen2-audio:tiny-random` is the random test model.
- `openai`: any OpenAI-compatible chat endpoint taking `input_audio` parts (OpenAI's audio
  models, vLLM serving Qwen2-Audio or Qwen2.5-Omni, `spiral serve-offline-llm`), through the
  project's LLM client: its cache, retries, budget and key handling.

The local backends pick the audio tokens the model hears with a selector (Original = the first
30 s, RAP, RAC, SpeechPrune at a prune rate), as in `spiral baseline`.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.baseline import speechprune as sp
from pipeline.core.config import Config
from pipeline.core.records import LETTERS
from pipeline.eval.protocol import render
from pipeline.eval.sources import EvalItem

BACKENDS = ("cascade", "qwen2-audio", "openai")
SELECTORS = ("original", "rap", "rac", "speechprune")
TINY = "tiny-random"
SR = 16000


class BackendError(ValueError):
    """A model cannot be set up as asked (no model path, unknown backend or selector)."""


@dataclass
class ModelSpec:
    backend: str
    name: str | None = None
    selector: str = "original"
    prune_rate: float = 0.0
    seed: int = 0
    device: str = "cpu"
    max_tokens: int = 64

    @property
    def proxy(self) -> bool:
        return self.backend == "cascade"

    @property
    def model_id(self) -> str:
        """The results folder's name: `--model` as written, `:` and `/` as `-` (a local
        model folder by its last part), and the selector when not Original."""
        if self.backend == "qwen2-audio" and self.name and self.name != TINY:
            name = Path(self.name).name or self.name
        else:
            name = self.name or ""
        base = self.backend + (f"-{_slug(name.replace(':', '-').replace('/', '-'))}"
                               if name else "")
        if self.backend != "openai" and self.selector != "original":
            base += f"-{self.selector}{self.prune_rate:g}"
            if self.selector in ("rap", "rac"):
                base += f"-s{self.seed}"
        return base

    @property
    def label(self) -> str:
        if self.backend == "cascade":
            who = "cascade (offline proxy)"
        elif self.backend == "qwen2-audio" and self.name == TINY:
            who = "qwen2-audio:tiny-random (random weights: noise)"
        else:
            who = f"{self.backend}:{self.name}"
        if self.backend == "openai":
            return who
        sel = "Original (first 30 s)" if self.selector == "original" else \
            f"{self.selector} PR {self.prune_rate:g}"
        return f"{who}, {sel}"


def parse_model(text: str, selector: str = "original", prune_rate: float | None = None,
                seed: int = 0, device: str = "cpu", max_tokens: int = 64) -> ModelSpec:
    """`BACKEND[:NAME]` -> ModelSpec, checked: qwen2-audio needs a folder (or `tiny-random`),
    openai a model name."""
    backend, _, name = text.partition(":")
    if backend not in BACKENDS:
        raise BackendError(f"--model {text!r}: backend must be one of {', '.join(BACKENDS)}")
    if selector not in SELECTORS:
        raise BackendError(f"--selector {selector!r}: one of {', '.join(SELECTORS)}")
    if backend == "openai" and selector != "original":
        raise BackendError("--selector: an openai model hears the whole audio; selectors "
                           "apply to the local backends (cascade, qwen2-audio)")
    if selector == "original":
        pr = 0.0
    elif prune_rate is None or not 0 <= prune_rate < 1:
        raise BackendError(f"--prune-rate: {selector} needs a rate in [0, 1), e.g. 0.4")
    else:
        pr = prune_rate
    if backend == "qwen2-audio":
        if not name:
            raise BackendError("--model qwen2-audio needs a local model folder: "
                               "qwen2-audio:/path/to/Qwen2-Audio-7B-Instruct (tests: "
                               f"qwen2-audio:{TINY})")
        if name != TINY and not Path(name).is_dir():
            raise BackendError(f"--model qwen2-audio:{name}: not a local folder")
    if backend == "cascade" and name:
        from pipeline.asr.whisper import PACKAGED, SPLIT

        if name not in PACKAGED and name not in SPLIT and not Path(name).is_dir():
            raise BackendError(f"--model cascade:{name}: the cascade's ASR model must be "
                               f"{' or '.join(sorted({*PACKAGED, *SPLIT}))}, or a local "
                               "faster-whisper (CTranslate2) folder")
    if backend == "openai" and not name:
        raise BackendError("--model openai needs a model name, e.g. openai:gpt-4o-audio-preview")
    return ModelSpec(backend, name or None, selector, pr, seed, device, max_tokens)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")


@dataclass
class Answers:
    """One item's raw replies, one per rotation; `usage` as the LLM client counts it."""

    replies: list[str]
    usage: dict[str, Any] = field(default_factory=dict)


def rotated_rec(item: EvalItem, shown: list[str]) -> dict[str, Any]:
    """The item's record with the choices in the order shown (texts without labels)."""
    q = dict(item.rec["test_question"])
    q["choices"] = [f"{ltr}. {c}" for ltr, c in zip(LETTERS, shown, strict=True)]
    return {**item.rec, "test_question": q}


def _selector(spec: ModelSpec, item_id: str) -> sp.Selector:
    from pipeline.baseline.evaluate import item_seed

    return sp.make_selector(spec.selector, spec.prune_rate, item_seed(item_id, spec.seed))


class CascadeBackend:
    """The offline proxy; the ASR words are cached under `cache_root` (a run shares them with
    `spiral baseline`)."""

    def __init__(self, spec: ModelSpec, cache_root: Path) -> None:
        from pipeline.baseline.cascade import CascadeAdapter

        self.spec = spec
        self.adapter = CascadeAdapter(cache_root, spec.name or "packaged:tiny.en")

    def answer(self, item: EvalItem, orders: list[list[str]], audio: bool) -> Answers:
        # The question's tokens are a bag of word embeddings, so what a selector keeps does
        # not depend on the choices' order: prepare and select once, read four times.
        if len(set(orders[0])) < len(orders[0]):  # twin choices: each order on its own
            return Answers([r for shown in orders
                            for r in self.answer(item, [shown], audio).replies])
        tokens, state = self.adapter.prepare(rotated_rec(item, orders[0]), item.wav)
        keep = _selector(self.spec, item.id)(tokens) if audio else None
        sims = state.sims or []
        out = []
        for shown in orders:
            idx = [orders[0].index(c) for c in shown]
            view = dataclasses.replace(state, choices=[state.choices[i] for i in idx],
                                       sims=[sims[i] for i in idx] if sims else None)
            out.append(self.adapter.answer(tokens, view, keep))
        return Answers(out)


class QwenBackend:
    """Qwen2-Audio by transformers: the whole clip encoded once per item, then per rotation
    the question's tokens, the selector and one prefill scoring the letters."""

    def __init__(self, spec: ModelSpec) -> None:
        from pipeline.baseline.qwen2_audio import Qwen2AudioAdapter

        self.spec = spec
        path = None if spec.name == TINY else spec.name
        self.adapter = Qwen2AudioAdapter(path, spec.device)

    def answer(self, item: EvalItem, orders: list[list[str]], audio: bool) -> Answers:
        import torch

        from pipeline.baseline.cascade import read_mono
        from pipeline.baseline.qwen2_audio import QwenItem, question_text

        a = self.adapter
        emb = None
        if audio:
            samples, sr = read_mono(item.wav)
            emb = a.encode_audio(_resample(samples, sr)).float().cpu()
        out = []
        for shown in orders:
            rec = rotated_rec(item, shown)
            ids = a.tokenizer.encode(question_text(rec), add_special_tokens=False)
            with torch.inference_mode():
                text = a.embed_tokens(torch.tensor(ids, device=a.device)).float().cpu()
            tokens = sp.AudioTokens(emb if emb is not None else text[:0], text, a.w_q, a.w_k,
                                    a.n_heads, a.n_kv_heads)
            keep = _selector(self.spec, item.id)(tokens) if audio else None
            prompt = render(rec["test_question"]["question"], shown)
            out.append(a.answer(tokens, QwenItem(prompt), keep))
        return Answers(out)


def _resample(samples: Any, sr: int) -> Any:

    from pipeline.core.audio import resample

    return resample(samples, sr, SR)


def wav16k(path: Path) -> bytes:
    """The item's audio as 16 kHz mono 16-bit wav, the same bytes every time (cache keys)."""
    import soundfile as sf

    from pipeline.baseline.cascade import read_mono

    samples, sr = read_mono(path)
    buf = io.BytesIO()
    sf.write(buf, _resample(samples, sr), SR, format="WAV", subtype="PCM_16")
    return buf.getvalue()


class OpenAIBackend:
    """Chat completions with the audio as an `input_audio` part (base64 wav) and SPIRAL's
    prompt as text; a blind pass sends the text alone."""

    def __init__(self, spec: ModelSpec, cfg: Config) -> None:
        from pipeline.llm.openai_client import LLMSession

        self.spec = spec
        self.cfg = dataclasses.replace(cfg, llm=dataclasses.replace(cfg.llm, model=spec.name))
        self.session = LLMSession(self.cfg)
        self.concurrency = max(1, self.cfg.llm.concurrency)

    async def aanswer(self, item: EvalItem, orders: list[list[str]], audio: bool) -> Answers:
        from pipeline.llm.openai_client import Usage

        part = None
        if audio:
            data = await asyncio.to_thread(wav16k, item.wav)
            part = {"type": "input_audio",
                    "input_audio": {"data": base64.b64encode(data).decode("ascii"),
                                    "format": "wav"}}
        question = item.rec["test_question"]["question"]

        async def one(shown: list[str]) -> tuple[str, Usage]:
            text = {"type": "text", "text": render(question, shown)}
            content = [part, text] if part is not None else [text]
            return await self.session.chat([{"role": "user", "content": content}],
                                           stage="eval", max_tokens=self.spec.max_tokens)

        got = await asyncio.gather(*(one(shown) for shown in orders))
        usage = Usage()
        for _, u in got:
            usage.add(u)
        return Answers([r for r, _ in got], usage.to_dict())

    async def aclose(self) -> None:
        await self.session.aclose()


def make_backend(spec: ModelSpec, cfg: Config, cache_root: Path) -> Any:
    if spec.backend == "cascade":
        return CascadeBackend(spec, cache_root)
    if spec.backend == "qwen2-audio":
        return QwenBackend(spec)
    return OpenAIBackend(spec, cfg)

