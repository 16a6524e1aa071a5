"""SpeechPrune (arXiv 2412.12009) and the selectors it is compared with, model-agnostic.

Every selector maps one item's audio tokens (`AudioTokens`: S, N x D, 25 per second, plus
the question's text tokens T and the first LLM layer's W_Q, W_K) to the indices of the audio
tokens the language model gets, in their original order:

- `original`: the first K1 tokens (what a 30-second model hears), no pruning.
- `rap`: k = (1 - PR) * K1 tokens drawn at random from the whole audio.
- `rac`: one random contiguous span of k tokens from the whole audio.
- `speechprune`: phase 1 (token-text similarity, per-second budgets) keeps K1 tokens, phase 2
  (binarized first-layer attention) keeps the k that receive the most attention.

The paper leaves two cases open; here (1) a frame whose budget floor(K1 * p_i) exceeds its
size is capped at its size and (2) the tokens the floors and caps leave unassigned go to the
best-scoring frames that still have room, in order of score, so exactly min(K1, N) remain.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

TOKENS_PER_SECOND = 25  # one audio token per 40 ms after the projector
FRAME_TOKENS = 25  # phase-1 frames are one second long
K1 = 750  # the 30-second budget of Qwen2-Audio
PRUNE_RATES = (0.2, 0.4, 0.6, 0.8)


@dataclass
class AudioTokens:
    """What a selector sees of one item: audio tokens, question tokens, first-layer weights.

    `w_q` and `w_k` are (D, n_heads * d_k) and (D, n_kv_heads * d_k), i.e. input by output
    (the transpose of a torch Linear weight), so that Q = S @ w_q.
    """

    audio: torch.Tensor  # S: N x D
    text: torch.Tensor  # T: L x D, the question only
    w_q: torch.Tensor
    w_k: torch.Tensor
    n_heads: int = 1
    n_kv_heads: int = 1

    @property
    def n(self) -> int:
        return int(self.audio.shape[0])


def kept_budget(prune_rate: float, k1: int = K1) -> int:
    """k = (1 - PR) * K1, rounded: the number of audio tokens left after pruning."""
    if not 0.0 <= prune_rate < 1.0:
        raise ValueError(f"prune rate must be in [0, 1), got {prune_rate}")
    return max(1, round((1.0 - prune_rate) * k1))


# ---- phase 1 -------------------------------------------------------------------------------

def token_relevance(audio: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
    """Each audio token's mean cosine similarity over the text tokens (F = cos(S, T), row mean)."""
    s = torch.nn.functional.normalize(audio.double(), dim=-1)
    t = torch.nn.functional.normalize(text.double(), dim=-1)
    return (s @ t.T).mean(dim=1)


def frame_budgets(frame_scores: torch.Tensor, sizes: torch.Tensor, k1: int) -> torch.Tensor:
    """n_i = floor(K1 * softmax(scores)_i), capped at each frame's size; the remainder goes to
    the best frames with room left, so the budgets sum to exactly min(K1, total size)."""
    sizes = sizes.long()
    p = torch.softmax(frame_scores.double(), dim=0)
    # the 1e-6 keeps an exact product (4 * 0.25) from flooring to one less through rounding
    n = torch.minimum(torch.floor(k1 * p + 1e-6).long(), sizes)
    rest = min(k1, int(sizes.sum())) - int(n.sum())
    for i in torch.argsort(frame_scores, descending=True, stable=True).tolist():
        if rest <= 0:
            break
        add = min(rest, int(sizes[i] - n[i]))
        n[i] += add
        rest -= add
    return n


def phase1(tokens: AudioTokens, k1: int = K1, frame: int = FRAME_TOKENS) -> torch.Tensor:
    """Indices (sorted) of the K1 tokens kept by the similarity-guided per-second budgets."""
    rel = token_relevance(tokens.audio, tokens.text)
    n = rel.shape[0]
    starts = list(range(0, n, frame))
    sizes = torch.tensor([min(frame, n - s) for s in starts])
    scores = torch.stack([rel[s:s + frame].sum() for s in starts])
    budgets = frame_budgets(scores, sizes, k1)
    keep = []
    for s, b in zip(starts, budgets.tolist(), strict=True):
        if b:
            local = torch.argsort(rel[s:s + frame], descending=True, stable=True)[:b]
            keep.append(local + s)
    return torch.sort(torch.cat(keep)).values if keep else torch.empty(0, dtype=torch.long)


# ---- phase 2 -------------------------------------------------------------------------------

def attention_received(audio: torch.Tensor, w_q: torch.Tensor, w_k: torch.Tensor,
                       n_heads: int = 1, n_kv_heads: int = 1) -> torch.Tensor:
    """Column mean of A = softmax(Q'K'^T / sqrt(d_k)) with Q' = sign(S) sign(W_Q), K' likewise.

    With several heads (grouped-query attention repeats each K head over its group), the
    column means are averaged over heads.
    """
    s_b = torch.sign(audio.float())
    q = s_b @ torch.sign(w_q.float())
    k = s_b @ torch.sign(w_k.float())
    m = s_b.shape[0]
    d_k = q.shape[1] // n_heads
    if k.shape[1] != n_kv_heads * d_k:
        raise ValueError(f"W_K has {k.shape[1]} outputs, expected n_kv_heads * d_k = "
                         f"{n_kv_heads} * {d_k}")
    q = q.view(m, n_heads, d_k).transpose(0, 1)  # H x M x d_k
    k = k.view(m, n_kv_heads, d_k).transpose(0, 1).repeat_interleave(n_heads // n_kv_heads, 0)
    a = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(d_k), dim=-1)  # H x M x M
    return a.mean(dim=1).mean(dim=0)


def phase2(tokens: AudioTokens, keep1: torch.Tensor, k: int) -> torch.Tensor:
    """Of the phase-1 tokens `keep1`, the k receiving the most binarized attention (sorted)."""
    if k >= keep1.numel():
        return keep1
    score = attention_received(tokens.audio[keep1], tokens.w_q, tokens.w_k,
                               tokens.n_heads, tokens.n_kv_heads)
    top = torch.argsort(score, descending=True, stable=True)[:k]
    return torch.sort(keep1[top]).values


# ---- selectors -----------------------------------------------------------------------------

Selector = Callable[[AudioTokens], torch.Tensor]


def original(k1: int = K1) -> Selector:
    def select(tokens: AudioTokens) -> torch.Tensor:
        return torch.arange(min(k1, tokens.n))
    return select


def rap(k: int, seed: int) -> Selector:
    def select(tokens: AudioTokens) -> torch.Tensor:
        gen = torch.Generator().manual_seed(seed)
        return torch.sort(torch.randperm(tokens.n, generator=gen)[:k]).values
    return select


def rac(k: int, seed: int) -> Selector:
    def select(tokens: AudioTokens) -> torch.Tensor:
        gen = torch.Generator().manual_seed(seed)
        start = int(torch.randint(0, max(1, tokens.n - k + 1), (1,), generator=gen))
        return torch.arange(start, min(tokens.n, start + k))
    return select


def speechprune(k: int, k1: int = K1, frame: int = FRAME_TOKENS) -> Selector:
    def select(tokens: AudioTokens) -> torch.Tensor:
        return phase2(tokens, phase1(tokens, k1, frame), k)
    return select


def make_selector(method: str, prune_rate: float = 0.0, seed: int = 0, k1: int = K1,
                  frame: int = FRAME_TOKENS) -> Selector:
    """One interface for all four: `method` is original | rap | rac | speechprune."""
    if method == "original":
        return original(k1)
    k = kept_budget(prune_rate, k1)
    if method == "rap":
        return rap(k, seed)
    if method == "rac":
        return rac(k, seed)
    if method == "speechprune":
        return speechprune(k, k1, frame)
    raise ValueError(f"unknown selector {method!r}: original, rap, rac or speechprune")
