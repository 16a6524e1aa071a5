"""Acoustic conditions: each measured on synthetic signals, then the run's plan and records."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from pipeline.acoustics import noise as noises
from pipeline.acoustics.condition import condition
from pipeline.acoustics.levels import item_levels
from pipeline.acoustics.room import draw_room, room_responses, schroeder_rt60
from pipeline.acoustics.telephone import telephone
from pipeline.core.config import AcousticsConfig, Config, ConfigError, load_config
from pipeline.orchestration.runner import RunResult
from tests.conftest import ROOT, make_config

SR = 16000


def _speechlike(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Bursts of a tone (off the mains harmonics) with pauses: power that varies."""
    n = int(seconds * SR)
    t = np.arange(n) / SR
    env = (np.sin(2 * np.pi * 0.7 * t) > -0.2).astype(float)
    return env * (0.3 * np.sin(2 * np.pi * 173 * t) + 0.1 * rng.standard_normal(n))


def _residual_snr(mixed: np.ndarray, clean: np.ndarray) -> float:
    """What a user measures: the mix regressed on the clean signal, the rest is noise."""
    a = float(np.dot(mixed, clean) / np.dot(clean, clean))
    rest = mixed - a * clean
    return float(10 * np.log10(np.sum((a * clean) ** 2) / np.sum(rest ** 2)))


@pytest.mark.parametrize("kind", ["white", "pink", "hum"])
@pytest.mark.parametrize("target", [20.0, 5.0, 0.0])
def test_noise_is_mixed_at_the_asked_snr(kind: str, target: float) -> None:
    rng = np.random.default_rng(3)
    clean = _speechlike(20, rng)
    raw = {"white": lambda: noises.white(len(clean), rng),
           "pink": lambda: noises.pink(len(clean), rng),
           "hum": lambda: noises.hum(len(clean), SR, rng)[0]}[kind]()
    added = noises.scaled_to_snr(clean, raw, target)
    assert abs(noises.snr_db(clean, added) - target) < 0.5
    assert abs(_residual_snr(clean + added, clean) - target) < 0.5


def test_pink_noise_falls_3_db_per_octave() -> None:
    x = noises.pink(2 ** 18, np.random.default_rng(0))
    spec = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(len(x), 1 / SR)
    band = [spec[(f >= lo) & (f < 2 * lo)].mean() for lo in (250, 500, 1000, 2000)]
    slopes = np.diff(10 * np.log10(band))
    assert np.all(np.abs(slopes + 3.0) < 1.0), slopes


def test_schroeder_measures_a_known_decay() -> None:
    rng = np.random.default_rng(1)
    for rt60 in (0.3, 0.8):
        t = np.arange(int(2 * rt60 * SR)) / SR
        rir = rng.standard_normal(len(t)) * np.exp(-3 * np.log(10) * t / rt60)
        assert abs(schroeder_rt60(rir, SR) - rt60) < 0.05 * rt60


@pytest.mark.parametrize("rt60", [0.3, 0.6])
def test_simulated_room_has_the_asked_rt60(rt60: float) -> None:
    room = draw_room(3, np.random.default_rng(11))
    rirs, measured = room_responses(room, rt60, SR)
    assert len(rirs) == 3 and len(set(map(tuple, room.sources))) == 3  # one place each
    for r, m in zip(rirs, measured, strict=True):
        assert abs(m - rt60) <= 0.2 * rt60
        assert int(np.argmax(np.abs(r))) == 0  # starts at its direct path: no delay added


def _dialogue(rng: np.random.Generator) -> tuple[np.ndarray, list[list[float]], list[str]]:
    """Sentences of distinct tones, speakers alternating by turns, assembled with pauses."""
    speakers = ["a", "a", "b", "c", "a", "b", "b", "c", "a", "b", "c", "a"]
    pieces, times, pos = [], [], 0
    for i, spk in enumerate(speakers):
        if i:
            gap = int((0.65 if spk != speakers[i - 1] else 0.3) * SR)
            pieces.append(np.zeros(gap))
            pos += gap
        n = int(rng.uniform(1.0, 2.5) * SR)
        t = np.arange(n) / SR
        pieces.append(0.5 * np.sin(2 * np.pi * (200 + 40 * i) * t))
        times.append([round(pos / SR, 4), round((pos + n) / SR, 4)])
        pos += n
    track = (np.concatenate(pieces) * 32767).astype(np.int16)
    return track, times, speakers


def test_overlap_never_touches_the_key_and_keeps_timestamps_right() -> None:
    rng = np.random.default_rng(5)
    track, times, speakers = _dialogue(rng)
    key = 5
    levels = {"snr_db": None, "noise": None, "rt60_s": None, "overlap": 1.0, "telephone": False}
    out = condition(track, times, speakers, key, levels, seed=9, sample_rate=SR, lufs=-23.0)
    new = out.times
    assert len(out.clean) < len(track)  # turns did overlap
    overlapping = [i for i in range(1, len(new)) if new[i][0] < new[i - 1][1]]
    assert overlapping and key not in overlapping and key + 1 not in overlapping
    ks, ke = new[key]
    for i, (s, e) in enumerate(new):
        if i != key:
            assert e <= ks or s >= ke, f"sentence {i} overlaps the key"
    # The key clip cut by the new timestamps holds the key sentence, whole and alone
    # (timestamps have 0.1 ms steps: a cut may land a sample or two off).
    want = track[round(times[key][0] * SR): round(times[key][1] * SR)].astype(float)
    got = out.degraded[round(ks * SR): round(ke * SR)].astype(float)
    assert abs(len(want) - len(got)) <= 2
    assert _best_corr(want, got) > 0.9999
    # Every sentence not started over another starts where its timestamp says, too.
    for i, (s, _) in enumerate(new):
        if i in overlapping:
            continue
        tone = track[round(times[i][0] * SR): round(times[i][0] * SR) + 400].astype(float)
        here = out.clean[round(s * SR): round(s * SR) + 400].astype(float)
        assert _best_corr(tone, here) > 0.999, i


def test_backchannels_come_from_a_listener_never_over_the_key_and_keep_timestamps() -> None:
    track, times, speakers = _dialogue(np.random.default_rng(5))
    key, first_fact = 5, 2
    said: list[tuple[str, str]] = []

    def say(word: str, speaker: str) -> np.ndarray:
        said.append((word, speaker))
        return 0.3 * np.sin(2 * np.pi * 3000 * np.arange(int(0.4 * SR)) / SR)

    levels = {"snr_db": None, "noise": None, "rt60_s": None, "overlap": 0.0,
              "telephone": False, "backchannels": 1.0}
    out = condition(track, times, speakers, key, levels, seed=9, sample_rate=SR, lufs=-23.0,
                    say=say, protected={first_fact})
    events = out.measured["backchannel_events"]
    assert len(events) >= 3 and len(said) >= len(events)
    assert out.times == times and len(out.degraded) == len(track)  # nothing moved
    assert out.degraded.tobytes() == out.clean.tobytes()  # talk, so on the clean track too
    mask = np.zeros(len(track), dtype=bool)
    for ev in events:
        s0, e0 = times[ev["over"]]
        assert ev["speaker"] != speakers[ev["over"]]  # a listener answers
        assert s0 <= ev["start"] < e0 and ev["text"] in {w for w, _ in said}
        for p in (key, first_fact):  # never over (or running into) a protected sentence
            assert ev["end"] <= times[p][0] - 0.149 or ev["start"] >= times[p][1]
        mask[round(ev["start"] * SR) - 3: round(ev["end"] * SR) + 3] = True  # 0.1-ms stamps
    # The track is the render plus the backchannels, where the record says they are.
    x, t = out.clean.astype(float), track.astype(float)
    gain = float(np.dot(x[~mask], t[~mask]) / np.dot(t[~mask], t[~mask]))
    rest = x - gain * t
    assert np.max(np.abs(rest[~mask])) < 1.0
    for ev in events:
        span = rest[round(ev["start"] * SR): round(ev["end"] * SR)]
        assert np.sqrt(np.mean(span ** 2)) > 100
    # The key clip cut by the timestamps is the key sentence alone.
    ks, ke = times[key]
    assert np.max(np.abs(rest[round(ks * SR): round(ke * SR)])) < 1.0
    again = condition(track, times, speakers, key, levels, seed=9, sample_rate=SR, lufs=-23.0,
                      say=say, protected={first_fact})
    assert again.degraded.tobytes() == out.degraded.tobytes()
    lecture = condition(track, times, ["a"] * len(times), key, levels, seed=9,
                        sample_rate=SR, lufs=-23.0, say=say)
    assert lecture.measured["backchannel_events"] == []  # no one to answer


def _best_corr(a: np.ndarray, b: np.ndarray, lags: int = 2) -> float:
    """Normalised correlation of two clips at the best shift of at most `lags` samples."""
    best = -1.0
    for lag in range(-lags, lags + 1):
        x, y = (a[lag:], b) if lag >= 0 else (a, b[-lag:])
        n = min(len(x), len(y)) - lags
        x, y = x[:n], y[:n]
        best = max(best, float(np.dot(x, y) / np.sqrt(np.dot(x, x) * np.dot(y, y))))
    return best


def test_telephone_keeps_300_to_3400_hz() -> None:
    sr = 24000
    x = 0.1 * np.random.default_rng(2).standard_normal(sr * 4)
    y = telephone(x, sr)
    assert len(y) == len(x)
    spec = np.abs(np.fft.rfft(y)) ** 2
    f = np.fft.rfftfreq(len(y), 1 / sr)

    def level(lo: float, hi: float) -> float:
        return float(10 * np.log10(spec[(f >= lo) & (f < hi)].mean()))

    inside = level(500, 3000)
    assert level(20, 150) < inside - 20
    assert level(4200, 11000) < inside - 30


def test_same_seed_same_bytes_and_clean_track_untouched_without_overlap() -> None:
    track, times, speakers = _dialogue(np.random.default_rng(6))
    levels = {"snr_db": 10.0, "noise": "pink", "rt60_s": 0.3, "overlap": 0.0,
              "telephone": True}
    a = condition(track, times, speakers, 4, levels, seed=1, sample_rate=SR, lufs=-23.0)
    b = condition(track, times, speakers, 4, levels, seed=1, sample_rate=SR, lufs=-23.0)
    c = condition(track, times, speakers, 4, levels, seed=2, sample_rate=SR, lufs=-23.0)
    assert a.degraded.tobytes() == b.degraded.tobytes()
    assert a.degraded.tobytes() != c.degraded.tobytes()
    assert a.clean.tobytes() == track.tobytes() and a.times == times
    assert a.measured["measured_snr_db"] == pytest.approx(10.0, abs=0.01)
    assert a.measured["measured_rt60_s"] == pytest.approx(0.3, rel=0.2)


def test_vectorised_meter_gives_pyloudnorm_figure() -> None:
    import pyloudnorm

    from pipeline.acoustics.loudness import integrated_loudness

    rng = np.random.default_rng(4)
    for seconds in (0.45, 3.3, 20.0):
        x = _speechlike(seconds, rng)
        x[: len(x) // 4] *= 1e-4  # a quiet stretch for the gates to drop
        want = pyloudnorm.Meter(SR).integrated_loudness(x)
        assert integrated_loudness(x, SR) == pytest.approx(want, abs=1e-6)


def test_loudness_target_holds_after_mixing() -> None:
    import pyloudnorm

    track, times, speakers = _dialogue(np.random.default_rng(8))
    for levels in ({"snr_db": 0.0, "noise": "white", "rt60_s": None, "overlap": 0.0,
                    "telephone": False},
                   {"snr_db": 10.0, "noise": "hum", "rt60_s": 0.4, "overlap": 0.5,
                    "telephone": True}):
        out = condition(track, times, speakers, 4, levels, seed=3, sample_rate=SR, lufs=-23.0)
        # The clean track is the render itself without overlap (loudness set by assembly).
        for x in (out.degraded, out.clean) if levels["overlap"] else (out.degraded,):
            lufs = pyloudnorm.Meter(SR).integrated_loudness(x.astype(np.float64) / 32768.0)
            assert abs(lufs - (-23.0)) < 0.2, (levels, lufs)


def test_levels_are_stratified_within_each_type() -> None:
    a = AcousticsConfig(snr_db=[20.0, 10.0, 5.0, 0.0])
    types = {"lecture": 1.0, "conversation": 1.0, "meeting": 1.0}
    from pipeline.core.seeds import stratified, weighted_strata

    got = [(stratified(4, "type", i, weighted_strata(types)), item_levels(4, i, types, a))
           for i in range(24)]
    assert Counter(lv["snr_db"] for _, lv in got) == {20.0: 6, 10.0: 6, 5.0: 6, 0.0: 6}
    for ttype in types:
        assert Counter(lv["snr_db"] for t, lv in got if t == ttype) == \
            {20.0: 2, 10.0: 2, 5.0: 2, 0.0: 2}
    assert all(lv["noise"] == "babble" for _, lv in got)
    assert item_levels(4, 0, types, AcousticsConfig()) == {}


def test_bad_acoustics_settings_name_the_key(tmp_path: Path) -> None:
    for bad, key in (("acoustics.noise=brown", "acoustics.noise"),
                     ("acoustics.rt60_s=[0.5, 4]", "acoustics.rt60_s"),
                     ("acoustics.overlap=1.5", "acoustics.overlap"),
                     ("acoustics.backchannels=-0.1", "acoustics.backchannels"),
                     ("acoustics.gate=loud", "acoustics.gate")):
        with pytest.raises(ConfigError, match=key):
            load_config(ROOT / "spiral.yaml", [bad])
    cfg = load_config(ROOT / "spiral.yaml", ["acoustics.snr_db=[20, 10, 5, 0]"])
    assert cfg.acoustics.enabled and not make_config(tmp_path).acoustics.enabled
    assert load_config(ROOT / "spiral.yaml", ["acoustics.backchannels=0.1"]).acoustics.enabled


def test_a_clean_run_writes_the_render_itself(small_run: RunResult) -> None:
    """Acoustics off: no metadata.acoustics, no wavs_clean, and each wav is the render,
    byte for byte (the fixture run against a fresh render of its first item)."""
    import json

    from pipeline.stages.synthesize import render_item
    from pipeline.tts.assemble import wav_bytes

    export = small_run.ctx.run_dir / "export"
    recs = [json.loads(line) for line in (export / "data.jsonl").open()]
    assert all("acoustics" not in r["metadata"] for r in recs)
    assert not (export / "wavs_clean").exists()
    item = small_run.built[0]
    assert item.spec.conditions == {} and item.audio and item.audio.acoustics == {}
    samples, _, _ = render_item(item, small_run.ctx)
    sr = small_run.ctx.cfg.audio.sample_rate
    assert (export / "wavs" / item.audio.wav).read_bytes() == wav_bytes(samples, sr)


def test_eval_report_gives_accuracy_by_condition() -> None:
    from pipeline.eval.report import markdown, summarise

    def pred(i: int, snr: float | None, right: bool) -> dict:
        rot = [{"letter": "A", "correct": right}] * 4
        p = {"id": str(i), "type": "lecture", "depth": 1, "kind": "name", "duration": 90.0,
             "n_speakers": 1, "rotations": rot, "plain": right, "circular": right,
             "time_s": 0.1}
        if snr is not None or i >= 0:
            p["acoustics"] = {"snr_db": snr, "noise": "babble", "rt60_s": None,
                              "overlap": 0.0, "telephone": False}
        return p

    preds = [pred(i, snr, ok) for i, (snr, ok) in enumerate(
        [(20.0, True)] * 4 + [(0.0, True)] + [(0.0, False)] * 3)]
    rep = summarise(preds, {"label": "m", "proxy": False, "source": "s", "source_kind": "run",
                            "subset": "c", "requests_this_run": 0})
    rows = {r["value"]: r["plain"] for r in rep["by"]["snr_db"]}
    assert list(rows) == ["0", "20"]
    assert (rows["20"]["k"], rows["20"]["n"], rows["0"]["k"], rows["0"]["n"]) == (4, 4, 1, 4)
    assert rows["0"]["lo"] < 0.25 < rows["0"]["hi"]  # with its Wilson interval
    assert set(rep["by"]) == {"depth", "type", "kind", "duration", "speakers", "snr_db"}
    assert "## By SNR (dB)" in markdown(rep)
    clean = [{k: v for k, v in p.items() if k != "acoustics"} for p in preds]
    assert "snr_db" not in summarise(clean, {"label": "m"})["by"]


def test_audit_shows_gate_wer_by_condition(small_run: RunResult) -> None:
    import copy
    import json

    from pipeline.reports.audit import _markdown, audit_records

    export = small_run.ctx.run_dir / "export"
    recs = [json.loads(line) for line in (export / "data.jsonl").open()]
    assert "wer_by_condition" not in audit_records(recs)  # a clean run's audit is unchanged
    noisy = copy.deepcopy(recs)
    for i, r in enumerate(noisy):
        r["metadata"]["acoustics"] = {"snr_db": [20.0, 0.0][i % 2], "noise": "babble",
                                      "rt60_s": None, "overlap": 0.0, "telephone": False}
        r["checks"]["asr_wer"]["value"] = [0.1, 0.4][i % 2]
        if i % 2:  # a clean gate: the degraded key's WER measured beside it
            r["checks"]["asr_wer_degraded"] = {"ok": True, "reason": "", "value": 0.9}
    rejections = [{"id": noisy[1]["metadata"]["id"], "stage": "precheck", "reasons": []}]
    rep = audit_records(noisy, rejections=rejections)
    by = rep["wer_by_condition"]
    assert set(by) == {"snr 20 dB babble", "snr 0 dB babble"}
    assert by["snr 0 dB babble"]["wer"]["mean"] == 0.4
    assert by["snr 0 dB babble"]["rejected_attempts"] == 1
    assert by["snr 20 dB babble"]["rejected_attempts"] == 0
    assert by["snr 0 dB babble"]["wer_degraded"]["mean"] == 0.9
    assert by["snr 20 dB babble"]["wer_degraded"]["mean"] == 0.1  # the gate heard it
    assert "## Gate WER by acoustic condition" in _markdown(rep)
    assert "| snr 0 dB babble | 3 | 0.4 | 0.4 | 0.9 | 0.9 | 1 |" in _markdown(rep)
    for r in noisy[::2]:  # a clean gate that did not measure the degraded key: no figure
        r["metadata"]["acoustics"]["gate"] = "clean"
    assert audit_records(noisy)["wer_by_condition"]["snr 20 dB babble"]["wer_degraded"] is None


@pytest.mark.slow
def test_a_conditioned_run_exports_degraded_and_clean_tracks(tmp_path: Path) -> None:
    """Two items end to end: records, key clips, the clean track and the datasets folder."""
    import json

    import soundfile as sf

    from pipeline.orchestration.runner import run_pipeline

    cfg = make_config(tmp_path, "run=ac", "n_items=2", "seed=5", "acoustics.snr_db=30",
                      "acoustics.noise=white", "acoustics.rt60_s=0.3", "acoustics.overlap=0.5",
                      "acoustics.backchannels=0.2")
    res = run_pipeline(cfg, quiet=True)
    assert res.built
    export = cfg.run_dir / "export"
    for line in (export / "data.jsonl").open():
        rec = json.loads(line)
        ac = rec["metadata"]["acoustics"]
        assert ac["snr_db"] == 30 and ac["measured_snr_db"] == pytest.approx(30, abs=0.01)
        assert ac["measured_rt60_s"] == pytest.approx(0.3, rel=0.2)
        wav, sr = sf.read(export / "wavs" / rec["audio_data"]["combined"]["audio_files"][0])
        clean, _ = sf.read(export / "wavs_clean" / ac["clean_audio_file"])
        assert len(wav) == len(clean) and rec["duration"] == round(len(wav) / sr, 4)
        key, _ = sf.read(export / "key_wavs" / rec["audio_data"]["key_sentences"]["audio_file"])
        ks, ke = rec["timestamps"]["key_sentence"]
        assert np.array_equal(key, wav[round(ks * sr): round(ke * sr)])
        assert rec["provenance"]["acoustics"]["room"]["sources"]
        assert ac["backchannels"] == 0.2 and all(  # never over the key sentence
            b["end"] <= ks or b["start"] >= ke for b in ac["backchannel_events"])
        checks = rec["checks"]  # the gate heard the clean key; the degraded one is measured
        assert checks["asr_wer"]["ok"] and checks["asr_wer_degraded"]["value"] is not None
    import datasets

    ds = datasets.load_from_disk(str(export / "hf"))
    assert ds[0]["metadata"]["acoustics"]["snr_db"] == 30
    _published_clean_audio(cfg, tmp_path)


def _published_clean_audio(cfg: Config, tmp_path: Path) -> None:
    """publish.clean_audio: the parquet gains a `clean_audio` column that the datasets
    loader decodes to the clean track; off by default (no column, no wavs_clean)."""
    import json

    import datasets
    import soundfile as sf

    from pipeline.publishing.publish import publish

    export = cfg.run_dir / "export"
    clean = {json.loads(x)["metadata"]["id"]: json.loads(x)["metadata"]["acoustics"]
             ["clean_audio_file"] for x in (export / "data.jsonl").open()}
    for on in (False, True):
        folder = f"hub_{on}"
        pub = load_config(ROOT / "spiral.yaml", [f"output_root={cfg.output_root}",
                                                 f"run={cfg.run}", f"publish.folder={folder}",
                                                 f"publish.clean_audio={str(on).lower()}"])
        publish(pub)
        ds = datasets.load_dataset(str(cfg.run_dir / folder), split="test",
                                   cache_dir=str(tmp_path / f"cache_{on}"))
        assert ("clean_audio" in ds.column_names) is on
        assert (cfg.run_dir / folder / "spiral" / "wavs_clean").is_dir() is on
        if on:
            card = (cfg.run_dir / folder / "README.md").read_text()
            assert "| `clean_audio` |" in card
            for r in ds:
                want, _ = sf.read(export / "wavs_clean" / clean[r["metadata"]["id"]],
                                  dtype="int16")
                got = np.round(r["clean_audio"].get_all_samples().data.numpy()[0] * 32768)
                assert np.array_equal(got.astype(np.int64), want.astype(np.int64))  # lossless
                heard = np.round(r["audio"].get_all_samples().data.numpy()[0] * 32768)
                assert not np.array_equal(heard, got)  # the degraded track beside it
