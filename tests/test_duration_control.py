"""Duration control: scripts aimed from measured speaking rates, bounded rate fixes, and a
per-sentence cache that re-renders only an edited sentence."""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path

import yaml

from pipeline.engine.stage import Context
from pipeline.orchestration import precheck
from pipeline.orchestration.runner import RunResult, run_pipeline, summary
from pipeline.stages import synthesize
from pipeline.tts.espeak import EspeakBackend
from pipeline.writing.budget import aimed_words
from tests.conftest import ROOT, make_config


def test_aimed_word_count_follows_rate_and_target(tmp_path: Path) -> None:
    audio = make_config(tmp_path).audio
    base = aimed_words("lecture", audio, [3.0])
    assert 220 < base < 300
    assert aimed_words("lecture", audio, [3.6]) > base * 1.15
    longer = make_config(tmp_path, "audio.target_seconds=120").audio
    assert aimed_words("lecture", longer, [3.0]) > base * 1.25


def test_slow_voices_get_shorter_scripts(tmp_path: Path) -> None:
    words = {}
    for rate in (130, 200):
        data = yaml.safe_load((ROOT / "voices" / "voices.yaml").read_text())
        for v in data["voices"]:
            v["espeak"]["rate"] = rate
        bank = tmp_path / f"voices{rate}.yaml"
        bank.write_text(yaml.safe_dump(data))
        cfg = make_config(tmp_path, f"run=r{rate}", "n_items=3", f"voices={bank}")
        items = run_pipeline(cfg, until="script", quiet=True).items
        words[rate] = sum(len(s.split()) for it in items for s in it.sentences())
    assert words[200] > words[130] * 1.25, words


def test_items_land_in_window_mostly_at_natural_speed(small_run: RunResult) -> None:
    cfg = small_run.ctx.cfg
    rendered = [it for it in small_run.items if it.audio]
    assert len(rendered) == len(small_run.items)
    for it in rendered:
        assert abs(it.audio.duration - cfg.audio.target_seconds) <= cfg.audio.tolerance_seconds
        assert 0.7 <= it.audio.rate_scale <= 1.5
    assert sum(it.audio.rate_scale == 1.0 for it in rendered) >= len(rendered) / 2
    assert f"in duration window  {len(rendered)}/{len(rendered)}" in summary(small_run)


class CountingEspeak(EspeakBackend):
    def __init__(self) -> None:
        self.texts: list[str] = []

    def synthesize(self, text, voice, rate_scale, sample_rate):  # type: ignore[override]
        self.texts.append(text)
        return super().synthesize(text, voice, rate_scale, sample_rate)


def test_editing_one_sentence_renders_only_that_sentence(tmp_path: Path, monkeypatch) -> None:
    # A wide window, so that the duration control does not re-render at a new speed; the
    # pre-check's gates stand aside (this is about the sentence cache, not intelligibility).
    monkeypatch.setattr(precheck, "draw_checks", lambda item, ctx: [])
    cfg = make_config(tmp_path, "run=edit", "n_items=1", "audio.tolerance_seconds=60")
    item = run_pipeline(cfg, until="synthesize", quiet=True).items[0]
    counting = CountingEspeak()
    monkeypatch.setattr(synthesize, "backend", lambda ctx: counting)
    turns = copy.deepcopy(item.transcript)
    k = 1 if item.key and item.key.index != 1 else 2
    flat = [(ti, si) for ti, t in enumerate(turns) for si in range(len(t.text))]
    ti, si = flat[k]
    turns[ti].text[si] = "This sentence was edited by hand to check the cache."
    edited = replace(item, transcript=turns, audio=None)
    out = synthesize.run([edited], Context(cfg, quiet=True))[0]
    assert out.audio is not None and not out.failed
    assert counting.texts == ["This sentence was edited by hand to check the cache."]
    # The timestamps of the other sentences keep their lengths.
    old, new = item.audio.sentence_times, out.audio.sentence_times
    assert [round(e - s, 3) for s, e in old[:k]] == [round(e - s, 3) for s, e in new[:k]]
