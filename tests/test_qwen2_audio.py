from __future__ import annotations

import numpy as np
import pytest
import torch

from pipeline.baseline import speechprune as sp
from pipeline.baseline.qwen2_audio import (
    AUDIO_CLOSE,
    AUDIO_OPEN,
    PREFIX,
    SR,
    SUFFIX,
    Qwen2AudioAdapter,
    QwenItem,
    prefill_flops,
)
from pipeline.core.records import LETTERS


@pytest.fixture(scope="module")
def adapter() -> Qwen2AudioAdapter:
    return Qwen2AudioAdapter()  # tiny random config, byte tokenizer: nothing downloaded


@pytest.fixture(scope="module")
def emb90(adapter: Qwen2AudioAdapter) -> torch.Tensor:
    return adapter.encode_audio(_noise(90.0))


def _noise(seconds: float) -> np.ndarray:
    return (np.random.default_rng(0).standard_normal(int(seconds * SR)) * 0.1).astype(np.float32)


def test_whole_clip_is_encoded_in_30_s_chunks(adapter: Qwen2AudioAdapter) -> None:
    emb = adapter.encode_audio(_noise(70.0))
    assert emb.shape == (1750, adapter.model.config.text_config.hidden_size)  # 25 per second
    assert adapter.encode_audio(_noise(10.0)).shape[0] == 250
    # the first chunk's embeddings do not depend on what follows it
    assert torch.allclose(emb[:750], adapter.encode_audio(_noise(70.0)[:30 * SR]), atol=1e-5)


def test_unpruned_path_matches_the_models_own_forward(adapter: Qwen2AudioAdapter) -> None:
    """Placing the audio embeddings by hand gives the logits of Qwen2-Audio's own merge."""
    audio = _noise(12.0)
    emb = adapter.encode_audio(audio)
    prompt = "What is said?\nA. x\nB. y\nC. z\nD. w"
    tokens = sp.AudioTokens(emb, emb[:2], adapter.w_q, adapter.w_k)
    ours = adapter.letter_logprobs(tokens, QwenItem(prompt), torch.arange(emb.shape[0]))
    tok = adapter.tokenizer
    ids = (tok.encode(PREFIX + AUDIO_OPEN) + [tok.special["<|AUDIO|>"]] * emb.shape[0]
           + tok.encode(AUDIO_CLOSE + prompt + SUFFIX))
    feats = adapter.features([audio], sampling_rate=SR, return_tensors="pt",
                             padding="max_length", return_attention_mask=True)
    with torch.inference_mode():
        out = adapter.model(input_ids=torch.tensor([ids]), input_features=feats["input_features"],
                            feature_attention_mask=feats["attention_mask"],
                            attention_mask=torch.ones(1, len(ids), dtype=torch.long))
    theirs = torch.log_softmax(out.logits[0, -1].float(), -1)[adapter.letter_ids]
    assert torch.allclose(ours, theirs, atol=1e-4)


@pytest.mark.parametrize("pr", sp.PRUNE_RATES)
def test_pruned_inputs_stay_consistent(adapter: Qwen2AudioAdapter, emb90: torch.Tensor,
                                       pr: float) -> None:
    emb = emb90
    text = adapter.embed_tokens(torch.tensor(adapter.tokenizer.encode("Which date?"))).detach()
    tokens = sp.AudioTokens(emb, text, adapter.w_q, adapter.w_k, adapter.n_heads,
                            adapter.n_kv_heads)
    item = QwenItem("Which date?\nA. 1\nB. 2\nC. 3\nD. 4")
    keep = sp.make_selector("speechprune", pr)(tokens)
    assert keep.numel() == sp.kept_budget(pr)
    embeds, mask, pos = adapter.inputs(tokens, item, keep)
    n_text = (len(adapter.tokenizer.encode(PREFIX + AUDIO_OPEN))
              + len(adapter.tokenizer.encode(AUDIO_CLOSE + item.prompt + SUFFIX)))
    assert embeds.shape[1] == n_text + keep.numel() == mask.shape[1] == pos.shape[1]
    assert bool(mask.all()) and pos[0].tolist() == list(range(embeds.shape[1]))
    assert torch.equal(embeds[0, len(adapter.tokenizer.encode(PREFIX + AUDIO_OPEN))], emb[keep[0]])
    assert adapter.answer(tokens, item, keep) in LETTERS
    assert adapter.answer(tokens, item, None) in LETTERS  # blind: no audio at all
    blind = adapter.inputs(tokens, item, None)[0].shape[1]
    assert blind < embeds.shape[1]


def test_prefill_work_falls_with_the_prune_rate(adapter: Qwen2AudioAdapter) -> None:
    cfg = adapter.model.config.text_config
    text = 120
    flops = [prefill_flops(cfg, text + sp.K1)] + [
        prefill_flops(cfg, text + sp.kept_budget(pr)) for pr in sp.PRUNE_RATES]
    assert flops == sorted(flops, reverse=True) and flops[-1] < flops[0] / 2


def test_real_qwen2_audio_7b_prefill_estimate_matches_the_paper() -> None:
    """The paper's 12.2 TFLOPs unpruned: 750 audio + ~180 text tokens through Qwen2-7B."""
    from transformers import Qwen2Config

    cfg = Qwen2Config(vocab_size=156032, hidden_size=4096, intermediate_size=11008,
                      num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=32)
    assert 10e12 < prefill_flops(cfg, 930) < 14e12
