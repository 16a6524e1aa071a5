"""Issue 17: the pre-check and its heard filter, the ASR transcript cache, the streamed export
rows, and a run that says so (exit 1) when a requested item is not built."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest

from pipeline.core.config import load_config
from pipeline.core.records import LETTERS, Item, KeyDetail, Turn
from pipeline.core.spiral_rows import RowStream
from pipeline.engine.stage import Context
from pipeline.orchestration import precheck
from pipeline.orchestration.runner import run_pipeline
from pipeline.validation import heard, intelligibility
from tests.conftest import ROOT, make_config


def _item() -> Item:
    from pipeline.core.records import ItemSpec, Speaker

    spec = ItemSpec(0, "meeting_0", 1, "meeting", "m", "s", ["a", "b"],
                    [Speaker("spk_1", "us_f1", "female"), Speaker("spk_2", "us_m1", "male")],
                    3, 0.5, "B", "name", False)
    turns = [Turn("spk_1", ["One.", "Two."]), Turn("spk_2", ["Key.", "Three."])]
    return Item(spec=spec, transcript=turns,
                key=KeyDetail("Key.", 2, "name", "x", {}))


def test_unplant_takes_the_key_sentence_out_again() -> None:
    item = _item()
    assert precheck.unplant(item) == [Turn("spk_1", ["One.", "Two."]), Turn("spk_2", ["Three."])]
    assert precheck.key_voice(item) == "us_m1"


def _bank(tmp: Path, unheard: dict[str, list[str]]) -> Path:
    bank = tmp / "voices.yaml"
    bank.write_text((ROOT / "voices" / "voices.yaml").read_text())
    heard.measured_path(bank).write_text(json.dumps({"version": 1, "voices": {
        v: {"heard_share": 0.5, "unheard": words} for v, words in unheard.items()}}))
    return bank


def test_heard_table_names_only_what_the_voice_missed(tmp_path: Path) -> None:
    assert heard.load(tmp_path / "none.yaml").unheard_in("us_f1", "Vera Quarrie") == []
    table = heard.load(_bank(tmp_path, {"us_f1": ["Quarrie", "Port"]}))
    assert table.unheard_in("us_f1", "We met Vera Quarrie at Port Alder.") == ["Port", "Quarrie"]
    assert table.unheard_in("us_f1", "Quarries and ports") == []  # whole words only
    assert table.unheard_in("us_m1", "Vera Quarrie") == []


def test_precheck_redraws_a_key_its_voice_does_not_get_across(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, "run=pc", "n_items=1", "seed=3")
    item = run_pipeline(cfg, until="question", quiet=True).items[0]
    assert item.key is not None
    words = item.key.answer.split()
    bank = _bank(tmp_path, {v.voice: words for v in item.spec.speakers})
    ctx = Context(make_config(tmp_path, "run=pc", "n_items=1", "seed=3", f"voices={bank}"))
    checks = precheck.draw_checks(item, ctx)  # stops at the free check: nothing rendered
    assert [c.name for c in checks] == ["heard"] and not checks[0].ok
    assert not (tmp_path / "_cache" / "asr").exists()
    again = asyncio.run(precheck.redraw(item, precheck.unplant(item), 1, ctx))
    # A new wording of the same fact; the bank asks its fact one way, so the question and
    # its choices may stay as they were, but never the key sentence.
    assert again.key.sentence != item.key.sentence and again.key.answer == item.key.answer
    assert again.question.choices[LETTERS.index(again.question.letter)] == item.key.answer
    assert precheck.unplant(again) == precheck.unplant(item)
    assert again.spec == item.spec  # the draw's seed is not the item's


def test_precheck_draws_another_voice_when_the_heard_filter_turns_a_draw_away(
        tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    from pipeline.core.records import Check

    cfg = make_config(tmp_path, "run=pv", "n_items=1", "seed=3")
    item = run_pipeline(cfg, until="question", quiet=True).items[0]
    deaf = precheck.key_voice(item)  # gets no answer of any draw across

    def checks(cand: Item, ctx: Context) -> list[Check]:
        return [Check("heard", precheck.key_voice(cand) != deaf, "missed")]

    monkeypatch.setattr(precheck, "draw_checks", checks)
    got = asyncio.run(precheck._apply(item, Context(cfg)))
    assert not got.failed, got.failed
    assert precheck.key_voice(got) != deaf
    assert got.provenance["key_draw"] == 1  # the next draw, in another voice


def test_precheck_draws_a_voice_not_tried_after_each_draw_the_asr_failed(
        tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    from pipeline.core.records import Check

    cfg = make_config(tmp_path, "run=pa", "n_items=1", "seed=3")
    item = run_pipeline(cfg, until="question", quiet=True).items[0]
    voices: list[str] = []

    def checks(cand: Item, ctx: Context) -> list[Check]:  # the ASR hears the third voice
        voices.append(precheck.key_voice(cand))
        return [Check("asr_wer", len(set(voices)) >= 3, "misheard")]

    monkeypatch.setattr(precheck, "draw_checks", checks)
    got = asyncio.run(precheck._apply(item, Context(cfg)))
    assert not got.failed, got.failed
    assert got.provenance["key_draw"] == 2  # not after half the draws: after each failure
    assert len(set(voices)) == 3 and voices[0] == precheck.key_voice(item)
    assert got.provenance["key_voice_planned"] == voices[0] != precheck.key_voice(got)
    others = {s.voice for s in item.spec.speakers if s.voice != voices[0]}
    assert not others & set(voices)  # never a voice someone else in the item has


def test_precheck_gives_the_key_to_a_voice_measured_to_say_its_answer(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, "run=ph", "n_items=1", "seed=3")
    item = run_pipeline(cfg, until="question", quiet=True).items[0]
    assert item.key is not None
    speaker = precheck.key_speaker(item)
    gender = next(s.gender for s in item.spec.speakers if s.id == speaker)
    taken = {s.voice for s in item.spec.speakers}
    pool = sorted(v.id for v in Context(cfg).voices.values()
                  if v.gender == gender and v.id not in taken)
    clear = pool[-1]  # the only one that says the answer, and heard worse than most
    bank = _bank(tmp_path, {v: [] if v == clear else item.key.answer.split() for v in pool}
                 | {clear: []})
    ctx = Context(make_config(tmp_path, "run=ph", "n_items=1", "seed=3", f"voices={bank}"))
    tried = {precheck.key_voice(item)}
    assert {precheck.other_voice(item, d, ctx, tried, item.key.answer) for d in range(6)} \
        == {clear}
    assert precheck.other_voice(item, 1, ctx, tried | {clear}, item.key.answer) != clear


def test_precheck_rejects_untried_a_key_no_voice_is_measured_to_say(
        tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    cfg = make_config(tmp_path, "run=pn", "n_items=1", "seed=3")
    item = run_pipeline(cfg, until="question", quiet=True).items[0]
    assert item.key is not None
    bank = _bank(tmp_path, {v: item.key.answer.split() for v in Context(cfg).voices})
    ctx = Context(make_config(tmp_path, "run=pn", "n_items=1", "seed=3", f"voices={bank}"))
    monkeypatch.setattr(precheck, "draw_checks", lambda *_: pytest.fail("nothing to check"))
    got = asyncio.run(precheck._apply(item, ctx))
    assert got.failed and got.failed["reason"].startswith("heard: no voice for")
    assert item.key.answer.split()[0] in got.failed["reason"]


def test_precheck_keeps_the_voice_after_a_draw_the_judge_failed(
        tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    from pipeline.core.records import Check

    cfg = make_config(tmp_path, "run=pj", "n_items=1", "seed=3")
    item = run_pipeline(cfg, until="question", quiet=True).items[0]
    voices: list[str] = []

    def checks(cand: Item, ctx: Context) -> list[Check]:
        voices.append(precheck.key_voice(cand))
        return [Check("judge_informed", len(voices) >= 3, "ambiguous")]

    monkeypatch.setattr(precheck, "draw_checks", checks)
    got = asyncio.run(precheck._apply(item, Context(cfg)))
    assert not got.failed and voices == [precheck.key_voice(item)] * 3
    assert got.provenance["key_voice_planned"] == precheck.key_voice(got)


def test_synthesis_writes_the_render_the_precheck_approved(tmp_path: Path) -> None:
    from pipeline.stages import synthesize
    from pipeline.tts.assemble import wav_bytes

    cfg = make_config(tmp_path, "run=tk", "n_items=1", "seed=3",
                      f"tts.cache_dir={tmp_path / 'tts'}")  # not the session's shared one
    item = run_pipeline(cfg, until="precheck", quiet=True).items[0]
    store = cfg.tts_cache / "tracks"
    assert len(list(store.rglob("*.npy"))) == 1  # the passing draw's render, kept
    ctx = Context(cfg)
    samples, times, scale = synthesize.render_item(item, ctx)
    got = synthesize._apply(item, ctx)
    assert not list(store.rglob("*.npy"))  # taken: no second copy of the item's audio
    written = (ctx.run_dir / "audio" / got.audio.wav).read_bytes()
    assert written == wav_bytes(samples, cfg.audio.sample_rate)
    assert got.audio.sentence_times == times and got.audio.rate_scale == scale


def test_a_damaged_kept_track_is_rendered_again(tmp_path: Path) -> None:
    from pipeline.tts.tracks import TrackStore

    store = TrackStore(tmp_path)
    store.put("ab12", np.arange(-5, 5, dtype=np.int16), [[0.0, 0.5]], 1.02)
    samples, times, scale = store.take("ab12")
    assert samples.tolist() == list(range(-5, 5)) and times == [[0.0, 0.5]] and scale == 1.02
    assert store.take("ab12") is None  # taken once
    store.put("ab12", np.zeros(8, dtype=np.int16), [[0.0, 0.5]], 1.0)
    npy = next(tmp_path.rglob("*.npy"))
    npy.write_bytes(npy.read_bytes()[:-2] + b"\x01\x00")
    assert store.take("ab12") is None and not list(tmp_path.rglob("*.*"))


def test_voices_measure_covers_every_entry_the_fact_sheet_writer_draws() -> None:
    from pipeline.reports.measure import bank_entries
    from pipeline.writing import details, facts

    entries = bank_entries()
    said = {e for values in entries.values() for e in values}
    for table in (facts.COUNTS, facts.UNITS_BY_FRAME, facts.ORG_TAILS_BY_TYPE):
        assert {e for values in table.values() for e in values} <= said
    assert entries["org_tails"] == details.ORG_TAILS  # the lists measured before stay as said


def test_asr_text_is_cached_per_exact_samples(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    calls = []

    def fake(audio: np.ndarray, sr: int, **_: object) -> tuple[str, list]:
        calls.append(len(audio))
        return f"heard {len(audio)}", []

    monkeypatch.setattr(intelligibility, "transcribe", fake)
    v = load_config(ROOT / "spiral.yaml").validate
    clip = np.linspace(-0.5, 0.5, 800, dtype=np.float32)
    assert intelligibility.heard_text(clip, 16000, v, tmp_path) == "heard 800"
    assert intelligibility.heard_text(clip.copy(), 16000, v, tmp_path) == "heard 800"
    clip[0] += 1e-3
    intelligibility.heard_text(clip, 16000, v, tmp_path)
    assert calls == [800, 800]  # the second call was a hit; a changed sample is not
    from dataclasses import replace

    intelligibility.heard_text(clip, 16000, replace(v, asr_window="full"), tmp_path)
    assert calls == [800, 800, 800]  # another window is another instrument


def test_file_hash_reads_a_large_file_in_pieces(tmp_path: Path) -> None:
    """The export checksums its Arrow file (every item's audio): read whole, the run's peak
    memory grew with the number of items."""
    import hashlib
    import tracemalloc

    from pipeline.core.store import file_hash

    big = tmp_path / "big.arrow"
    data = np.random.default_rng(0).bytes(24 << 20)
    big.write_bytes(data)
    want = hashlib.sha256(data).hexdigest()
    del data
    tracemalloc.start()
    try:
        got = file_hash(big)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert got == want
    assert peak < 4 << 20, f"file_hash held {peak >> 20} MB at once"


def test_row_stream_writes_a_batch_whenever_it_holds_enough_audio() -> None:
    import pyarrow as pa

    schema = pa.schema([("id", pa.string()),
                        ("audio", pa.struct([("bytes", pa.binary()), ("path", pa.string())]))])
    tables: list[pa.Table] = []
    stream = RowStream(schema, tables.append, batch_bytes=10)
    for k in range(5):
        stream.add({"id": str(k), "audio": {"bytes": b"123456", "path": "a.wav"}})
    assert [len(t) for t in tables] == [2, 2]  # never more than ~10 bytes of audio held
    stream.flush()
    assert [len(t) for t in tables] == [2, 2, 1] and stream.rows == []


def test_a_run_that_did_not_build_every_item_says_so_and_exits_1(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    from dataclasses import replace

    from pipeline import cli
    from pipeline.orchestration.runner import RunResult

    built = _item()
    lost = replace(_item(), failed={"stage": "precheck", "reason": "no key draw passed"})
    lost.spec = replace(lost.spec, id="meeting_1", index=1)

    def fake_run(cfg, until: str = "export", quiet: bool = False) -> RunResult:  # noqa: ANN001
        return RunResult([built, lost], Context(cfg), 1.0, ["plan"])

    monkeypatch.setattr(cli, "run_pipeline", fake_run)
    args = ["run", "--quiet", "--config", str(ROOT / "spiral.yaml"),
            "--set", f"output_root={tmp_path}"]
    assert cli.main(args) == 1  # one of two built is not a finished run
    out = capsys.readouterr().out
    assert "FAILED meeting_1 at precheck" in out and "NOT BUILT: 1 of 2 requested" in out
    lost.failed = None
    assert cli.main(args) == 0


def test_a_freed_track_buffer_goes_back_to_the_system() -> None:
    """glibc raises its mmap threshold to the largest block freed so far: a second track-sized
    buffer then lands in the heap, and a small block allocated after it keeps it resident."""
    import subprocess
    import sys

    code = """
import numpy as np
from pipeline.core import memory
def rss():
    return int(open('/proc/self/statm').read().split()[1]) * 4096
memory.limit_arenas()
track = 12 << 20
np.ones(track, np.uint8)  # allocated and freed: glibc's threshold would now be 12 MB
buf = np.ones(track, np.uint8)
pin = bytearray(200_000)  # allocated after it, above it in the heap
before = rss()
del buf
print(before - rss())
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True)
    assert int(out.stdout) > 10 << 20, "the freed buffer stayed resident"
