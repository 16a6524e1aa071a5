from __future__ import annotations

import json
import math

import pytest
import torch

from pipeline.baseline import speechprune as sp
from pipeline.orchestration.runner import RunResult


def _tokens(audio: torch.Tensor, text: torch.Tensor, d: int | None = None) -> sp.AudioTokens:
    eye = torch.eye(d or audio.shape[1])
    return sp.AudioTokens(audio=audio, text=text, w_q=eye, w_k=eye)


def test_token_relevance_is_the_row_mean_of_cosines() -> None:
    audio = torch.tensor([[2.0, 0.0], [0.0, 3.0], [1.0, 1.0]])
    text = torch.tensor([[1.0, 0.0], [0.0, 5.0]])
    # cosines: row0 (1, 0), row1 (0, 1), row2 (1/sqrt2, 1/sqrt2)
    rel = sp.token_relevance(audio, text)
    assert rel.tolist() == pytest.approx([0.5, 0.5, 1 / math.sqrt(2)])


def test_frame_budgets_floor_of_softmax() -> None:
    # softmax([0, ln 3]) = (1/4, 3/4): with K1 = 4 the floors are exactly 1 and 3.
    scores = torch.tensor([0.0, math.log(3)], dtype=torch.float64)
    n = sp.frame_budgets(scores, torch.tensor([4, 4]), 4)
    assert n.tolist() == [1, 3]


def test_frame_budgets_cap_and_hand_the_rest_to_the_next_best_frame() -> None:
    # p ~ (0, 1): floors (0, 3), capped at the frame size 2 -> the 2 left go to frame 0.
    n = sp.frame_budgets(torch.tensor([0.0, 10.0]), torch.tensor([2, 2]), 4)
    assert n.tolist() == [2, 2]


def test_frame_budgets_unassigned_floors_go_to_the_best_frames_in_order() -> None:
    # p = (0.2, 0.5, 0.3), K1 = 4: floors (0, 2, 1) leave 1, which goes to frame 1 (best).
    scores = torch.log(torch.tensor([0.2, 0.5, 0.3]))
    assert sp.frame_budgets(scores, torch.tensor([5, 5, 5]), 4).tolist() == [0, 3, 1]
    # equal scores: ties go to the earlier frame
    assert sp.frame_budgets(torch.zeros(3), torch.tensor([5, 5, 5]), 4).tolist() == [2, 1, 1]


def test_frame_budgets_never_exceed_the_tokens_there_are() -> None:
    n = sp.frame_budgets(torch.tensor([1.0, 2.0]), torch.tensor([3, 2]), 750)
    assert n.tolist() == [3, 2]


def test_phase1_keeps_the_most_relevant_tokens_per_frame() -> None:
    # two frames of 2 tokens; frame 1 is relevant to the text, frame 0 is not.
    audio = torch.tensor([[0.0, 1.0], [0.1, 1.0], [1.0, 0.0], [1.0, 0.2]])
    text = torch.tensor([[1.0, 0.0]])
    tok = _tokens(audio, text)
    # frame scores ~ (0.0995, 1.981): softmax ~ (0.132, 0.868), K1 = 2 -> floors (0, 1),
    # the remaining 1 goes to frame 1 -> both tokens of frame 1.
    assert sp.phase1(tok, k1=2, frame=2).tolist() == [2, 3]
    # K1 = 3: floors (0, 2), 1 left -> frame 1 is full, frame 0 gets it: its better token (1).
    assert sp.phase1(tok, k1=3, frame=2).tolist() == [1, 2, 3]


def test_phase2_keeps_the_token_that_receives_the_most_binarized_attention() -> None:
    # sign(S) rows (1,1), (1,-1), (-1,-1); W = I; d_k = 2. Q'K'^T rows: (2,0,-2), (0,2,0),
    # (-2,0,2). Row softmax of /sqrt(2): (.768,.187,.045), (.164,.673,.164), (.045,.187,.768);
    # column means (.326, .349, .326): token 1 receives the most.
    audio = torch.tensor([[3.0, 0.5], [2.0, -7.0], [-1.0, -0.1]])
    tok = _tokens(audio, torch.ones(1, 2))
    score = sp.attention_received(audio, tok.w_q, tok.w_k)
    assert score.tolist() == pytest.approx([0.3257, 0.3486, 0.3257], abs=1e-3)
    assert sp.phase2(tok, torch.tensor([0, 1, 2]), 1).tolist() == [1]


def test_phase2_grouped_query_heads_match_one_head_each() -> None:
    torch.manual_seed(0)
    audio = torch.randn(6, 4)
    w_q, w_k = torch.randn(4, 4), torch.randn(4, 2)
    two = sp.attention_received(audio, w_q, w_k, n_heads=2, n_kv_heads=1)
    per_head = [sp.attention_received(audio, w_q[:, h * 2:(h + 1) * 2], w_k) for h in range(2)]
    assert torch.allclose(two, (per_head[0] + per_head[1]) / 2)


@pytest.mark.parametrize("pr,k", [(0.2, 600), (0.4, 450), (0.6, 300), (0.8, 150)])
def test_budgets_and_every_selector_keeps_the_count_asked(pr: float, k: int) -> None:
    assert sp.kept_budget(pr) == k
    torch.manual_seed(1)
    n = 2250  # 90 s
    tok = sp.AudioTokens(torch.randn(n, 16), torch.randn(5, 16), torch.randn(16, 8),
                         torch.randn(16, 4), n_heads=2, n_kv_heads=1)
    for method in ("rap", "rac", "speechprune"):
        keep = sp.make_selector(method, pr, seed=3)(tok)
        assert keep.numel() == k, method
        assert torch.equal(keep, torch.sort(keep).values) and keep.unique().numel() == k
        assert int(keep.max()) < n
    assert sp.make_selector("original")(tok).tolist() == list(range(750))
    span = sp.make_selector("rac", pr, seed=3)(tok)
    assert int(span[-1] - span[0]) == k - 1


def test_random_selectors_are_seeded() -> None:
    tok = _tokens(torch.randn(100, 2), torch.randn(1, 2))
    a, b = sp.make_selector("rap", 0.5, 1, k1=20)(tok), sp.make_selector("rap", 0.5, 1, k1=20)(tok)
    c = sp.make_selector("rap", 0.5, 2, k1=20)(tok)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_short_audio_keeps_everything_phase1_can() -> None:
    tok = _tokens(torch.randn(30, 2), torch.randn(1, 2))
    assert sp.phase1(tok).tolist() == list(range(30))
    assert sp.make_selector("speechprune", 0.2)(tok).numel() == 30


def test_bad_prune_rate_and_method() -> None:
    with pytest.raises(ValueError, match="prune rate"):
        sp.kept_budget(1.0)
    with pytest.raises(ValueError, match="unknown selector"):
        sp.make_selector("magic")


def test_phase2_binarizes_the_weights_too() -> None:
    """Q' = sign(S) sign(W_Q): scaling W (or giving its entries any magnitudes) changes nothing.
    Without sign() on the weights, 3 * I would sharpen the softmax and these values move."""
    audio = torch.tensor([[3.0, 0.5], [2.0, -7.0], [-1.0, -0.1]])
    three = 3 * torch.eye(2)
    score = sp.attention_received(audio, three, three)
    assert score.tolist() == pytest.approx([0.3257, 0.3486, 0.3257], abs=1e-3)
    torch.manual_seed(0)
    pattern = torch.sign(torch.randn(8, 8))
    mags_q, mags_k = torch.rand(8, 8) * 10 + 0.1, torch.rand(8, 8) * 10 + 0.1
    x = torch.randn(12, 8)
    assert torch.allclose(sp.attention_received(x, pattern * mags_q, pattern * mags_k),
                          sp.attention_received(x, pattern, pattern), atol=1e-6)


def test_phase1_frame_score_is_the_sum_of_its_tokens_relevance() -> None:
    """Two 4-token frames of relevance 0 and 0.5: summed scores (0, 2) give softmax
    (.119, .881), K1 = 4 -> floors (0, 3), the one left to the best frame: frame 1 whole.
    A mean score (0, .5) would give (.378, .622) -> floors (1, 2): a token of frame 0."""
    half = [0.5, math.sqrt(0.75)]  # cosine 0.5 with the text token
    audio = torch.tensor([[0.0, 1.0]] * 4 + [half] * 4)
    tok = _tokens(audio, torch.tensor([[1.0, 0.0]]))
    assert sp.phase1(tok, k1=4, frame=4).tolist() == [4, 5, 6, 7]
    # a short last frame is not favoured by its size: 1 relevant token (sum 1) against a full
    # frame of 4 at 0.5 (sum 2); a mean would rank the short frame first.
    audio = torch.tensor([[0.0, 1.0]] * 4 + [half] * 4 + [[1.0, 0.0]])
    tok = _tokens(audio, torch.tensor([[1.0, 0.0]]))
    scores = torch.tensor([0.0, 2.0, 1.0], dtype=torch.float64)
    budgets = sp.frame_budgets(scores, torch.tensor([4, 4, 1]), 5).tolist()
    assert budgets == [0, 4, 1]
    assert sp.phase1(tok, k1=5, frame=4).tolist() == [4, 5, 6, 7, 8]
    assert sp.phase1(tok, k1=4, frame=4).tolist() == [4, 5, 6, 7]


def test_speechprune_keeps_an_answer_planted_after_30_s_that_original_drops(
        small_run: RunResult) -> None:
    """Each item's key sentence is planted 35 s into 60 s of another item's words (0.4 s a
    word, the cascade's all-MiniLM tokens): Original, the first 30 s, never hears the answer;
    SpeechPrune at PR 0.2 keeps more of the answers' words than random pruning at the same
    budget (RAP) and than Original, hears a whole answer at least once, and whenever it hears a
    whole answer the reader answers right. (The fact bank's answers are longer than the old
    slot values: a whole answer is often one word short, so the claim is on words kept.)"""
    from pipeline.asr.whisper import Word
    from pipeline.baseline import cascade as cc

    recs = [json.loads(line) for line in
            (small_run.ctx.run_dir / "export" / "data.jsonl").read_text().splitlines()]
    adapter = cc.CascadeAdapter(small_run.ctx.run_dir.parent / "plant-test")
    heard = {"original": 0, "speechprune": 0, "rap": 0}
    kept_words = {"original": 0, "speechprune": 0, "rap": 0}
    for i, rec in enumerate(recs):
        filler = " ".join(s for t in recs[(i + 1) % len(recs)]["transcript"]
                          for s in t["text"]).split()
        said = [*filler[:88], *rec["original_key_sentence"].split(), *filler[88:]][:150]
        words = [Word(w, 0.4 * j, 0.4 * (j + 1)) for j, w in enumerate(said)]
        assert words[88].start == pytest.approx(35.2)  # the key starts after 30 s
        normed = [" ".join(cc.norm_words(w.text)) for w in words]
        tw = cc.token_words(words, 60.0)
        q = rec["test_question"]
        choices = [c[3:] for c in q["choices"]]
        tokens = sp.AudioTokens(adapter.embed([cc.SILENCE, *normed])[torch.tensor(tw) + 1],
                                adapter.embed(cc.norm_words(" ".join([q["question"], *choices]))),
                                adapter.w_q, adapter.w_k, adapter.n_heads, adapter.n_heads)
        item = cc.CascadeItem(normed, tw, q["question"], choices,
                              cc.prior(q["question"], choices))
        answer = " ".join(cc.norm_words(rec["key_detail"]["answer"]))
        for method in heard:
            keep = sp.make_selector(method, 0.2)(tokens)
            got = " ".join(w for _, w in cc.heard_words(item, keep))
            kept_words[method] += sum(w in got.split() for w in answer.split())
            if answer in got:
                heard[method] += 1
                assert adapter.answer(tokens, item, keep) == q["correct_answer"][0]
    assert heard["original"] == 0
    assert heard["speechprune"] >= 1, heard
    assert kept_words["speechprune"] > kept_words["rap"], kept_words  # same budget, at random
    assert kept_words["speechprune"] > kept_words["original"], kept_words
