"""Check what the gates check before an item is built, and re-draw its key until it passes.

Between the question and synthesis, each item's key sentence is checked the way validation
will check it, cheapest first, and on a failure its key sentence and question are drawn
again (a new wording of the same fact) from a seed derived from the item's and the draw's
number, at most `validate.max_key_draws` times; after a blind-judge failure the draw also
draws the key's answer and unsaid wrong choices anew, together (the plan kept), since a new
wording of the same four choices would leak again:

1. heard: each draw is said by a voice measured to get every entry of its answer (name,
   place, unit, month...) across (`spiral voices --measure`; pipeline/validation/heard.py):
   the key speaker's own, or else another of the same gender, chosen at once and for free (a
   draw keeps the item's fact, so a voice that cannot say it would fail every wording). An
   item whose answer no voice of that gender says is rejected untried. After a draw the ASR
   failed, the next goes to a voice not tried yet, too: most ASR failures are one voice
   saying one invented name or number badly;
2. the judge (informed and blind), on text only - a tenth of a second;
3. structure and intelligibility: the item is rendered exactly as synthesis will render it
   and the key excerpt is transcribed; the render of the draw that passes is handed to
   synthesis (pipeline/tts/tracks.py), which writes it instead of rendering it again. The
   transcript is cached per exact samples, so validation's ASR of the written key wav is a
   cache hit, not a second pass.

The gates and their thresholds are validation's own (stages/validate.py runs them all again
on the written files); this stage only spends the cheap work first. An item whose every draw
fails is reported at `precheck` with the last draw's reasons, and regenerated from a new seed
like any rejected item. Same item, same draws: deterministic.
"""

from __future__ import annotations

import asyncio
import io
from dataclasses import asdict, replace

import soundfile as sf

from pipeline.core.records import LETTERS, AudioInfo, Check, Item, Turn
from pipeline.core.seeds import derive_seed, rng_for
from pipeline.engine.driver import run_stage
from pipeline.engine.stage import Context, Stage, StageFailure
from pipeline.stages import conditioning, synthesize, validate
from pipeline.stages import question as question_stage
from pipeline.text.compare import mentions
from pipeline.validation import heard
from pipeline.validation.intelligibility import heard_text, transcript_checks
from pipeline.validation.judge import judge_checks, judge_question, solver_for
from pipeline.validation.structural import structural_checks
from pipeline.writing import two_hop
from pipeline.writing.bank_sheet import bank_fact, redraw_choices

VERSION = "7"


def unplant(item: Item) -> list[Turn]:
    """The transcript as the script stage wrote it: the key sentence taken out again."""
    assert item.key is not None and item.transcript is not None
    turns = [Turn(t.speaker, list(t.text)) for t in item.transcript]
    k = item.key.index
    for turn in turns:
        if k < len(turn.text):
            del turn.text[k]
            break
        k -= len(turn.text)
    return [t for t in turns if t.text]


async def redraw(item: Item, base: list[Turn], draw: int, ctx: Context) -> Item:
    """Draw `draw` of the item's key sentence and question, through the run's writer."""
    draft = Item(spec=replace(item.spec, seed=derive_seed(item.spec.seed, "key-draw", draw)),
                 transcript=base)
    turns, key = await ctx.writer.plant(draft)
    draft = replace(draft, transcript=turns, key=key)
    question = await question_stage.write(draft, ctx)
    return replace(item, transcript=turns, key=key, question=question)


def new_choices(item: Item, base: list[Turn], draw: int, ctx: Context) -> Item | None:
    """The item with its key's answer and unsaid wrong choices drawn anew for `draw`
    (bank_sheet.redraw_choices), its plan kept; None when they cannot be redrawn (a two-hop
    item, a key not from the bank): then the draw is a key draw. A blind-judge leak is a
    property of the four choices, so a new wording of the same ones would fail again."""
    if item.spec.hops == 2:
        return None
    text = " ".join(s for t in base for s in t.text)
    facts = redraw_choices(item.spec, derive_seed(item.spec.seed, "choice-draw", draw),
                           ctx.cfg.prompts_dir, lambda v: mentions(text, v))
    return None if facts is None else replace(item, spec=replace(item.spec, facts=facts))


def with_voices(item: Item, voices: dict[str, str]) -> Item:
    """The item with these speakers (id -> voice) given other voices."""
    if not voices:
        return item
    return replace(item, spec=replace(item.spec, speakers=[
        replace(s, voice=voices.get(s.id, s.voice)) for s in item.spec.speakers]))


def other_voice(item: Item, draw: int, ctx: Context, tried: set[str] = frozenset(),
                answer: str = "") -> str | None:
    """A voice for the key speaker, of its gender, that no one else in the item has and that
    was not `tried`: any of those measured to get every entry of `answer` across (`spiral
    voices --measure`), so the voices a run uses stay as varied as its plan; when none is,
    one of the half heard best. None when there is no voice left."""
    speaker = key_speaker(item)
    gender = next(s.gender for s in item.spec.speakers if s.id == speaker)
    taken = {s.voice for s in item.spec.speakers} | set(tried)
    table = heard.load(ctx.cfg.voices)
    pool = sorted((v for v in ctx.voices.values() if v.gender == gender and v.id not in taken),
                  key=lambda v: (-table.share.get(v.id, 1.0), v.id))
    sayers = [v for v in pool if not table.unheard_in(v.id, answer)] if answer else []
    best = sayers or pool[:max(1, (len(pool) + 1) // 2)]
    if not best:
        return None
    return rng_for(item.spec.seed, "key-voice", draw).choice(best).id


def other_sayer(item: Item, draw: int, ctx: Context, tried: set[str]) -> str | None:
    """A voice not tried yet, measured to say the key's answer (other_voice); None if none."""
    assert item.key is not None
    pick = other_voice(item, draw, ctx, tried, item.key.answer)
    unheard = heard.load(ctx.cfg.voices).unheard_in
    return pick if pick is not None and not unheard(pick, item.key.answer) else None


def voice_that_says(item: Item, draw: int, ctx: Context, tried: set[str]) -> str | None:
    """The key speaker's voice if it was measured to say the answer, else another voice
    measured to say it (not tried yet); None when no voice of the key gender is."""
    assert item.key is not None
    if not heard.load(ctx.cfg.voices).unheard_in(key_voice(item), item.key.answer):
        return key_voice(item)
    return other_sayer(item, draw, ctx, tried)


def key_speaker(item: Item) -> str:
    assert item.key is not None
    return item.sentence_speakers()[item.key.index]


def key_voice(item: Item) -> str:
    speaker = key_speaker(item)
    return next(s.voice for s in item.spec.speakers if s.id == speaker)


def draw_checks(item: Item, ctx: Context) -> list[Check]:
    """Validation's gates on one draw, cheapest first, stopping at the first failing group."""
    assert item.key is not None and item.question is not None
    v = ctx.cfg.validate
    voice = key_voice(item)
    missed = heard.load(ctx.cfg.voices).unheard_in(voice, item.key.answer)
    if missed:
        return [Check("heard", False, f"voice {voice} was measured not to get {missed} "
                                      f"across (spiral voices --measure)")]
    q = item.question
    correct = LETTERS.index(q.letter)
    solver = solver_for(v.judge_backend, v.judge_margin, validate.llm_ask(ctx))
    result = judge_question(solver, q.stem, q.choices, correct, item.key.sentence,
                            v.judge_orders)
    checks = validate.hop_checks(item, judge_checks(result, correct, v.judge_alpha))
    if not all(c.ok for c in checks):
        return checks
    from pipeline.tts.assemble import wav_bytes

    sr = ctx.cfg.audio.sample_rate
    samples, times, scale = synthesize.render_item(item, ctx)
    raw, raw_times = samples, times
    # A gate that hears the clean key needs no noise, room or line to judge a draw, only
    # the talk (overlap, backchannels move or add some): the draw that passes is
    # conditioned in full (below), a failing one costs little more than clean.
    later = conditioning.gate_hears_clean(item, ctx)
    cond = None if later else conditioning.apply(item, ctx, samples, times)
    heard_track = samples
    if later and conditioning.moves_talk(item):  # the clean track's timeline and samples
        samples, times = conditioning.clean_talk(item, ctx, samples, times)
        heard_track = samples
    if cond is not None:  # the gate hears the degraded key clip
        samples, times = cond.degraded, cond.times
        heard_track = cond.degraded
    k = item.key.index
    audio = AudioInfo(wav=f"{item.id}.wav", key_wav=f"{item.id}_key.wav", sample_rate=sr,
                      duration=round(len(samples) / sr, 4), sentence_times=times,
                      key_times=times[k], rate_scale=scale, tts_backend=ctx.cfg.tts.backend)
    checks = structural_checks(replace(item, audio=audio), ctx.cfg.audio, ctx.cfg.validate) + checks
    # The gate reads the key wav back from disk: hear exactly those samples.
    clip, clip_sr = sf.read(io.BytesIO(wav_bytes(
        synthesize.key_samples(heard_track, times, k, sr), sr)), dtype="float32")
    text = heard_text(clip, clip_sr, v, ctx.cache_root / "asr", validate.asr_parallel(ctx))
    checks += transcript_checks(item.key.sentence, two_hop.heard_answer(item), text, v)
    if all(c.ok for c in checks):  # synthesis writes this render, not a second one
        if later:
            cond = conditioning.apply(item, ctx, raw, raw_times)
        synthesize.keep_track(item, ctx, raw, raw_times, scale, cond)
    return checks


def _table_digest(ctx: Context) -> str:
    path = heard.measured_path(ctx.cfg.voices)
    return ctx.file_digest(path) if path.exists() else ""


def _key_entry(item: Item, ctx: Context) -> dict | None:
    """The bank entry a choice draw draws from: an edited range or option list redraws."""
    key = next((f for f in item.spec.facts if f.id == item.spec.key_fact), None)
    entry = key and bank_fact(ctx.cfg.prompts_dir, item.spec.type, item.spec.subtopic,
                              key.frame)
    return asdict(entry) if entry else None


def _inputs(item: Item, ctx: Context) -> dict:
    v = ctx.cfg.validate
    gates = asdict(v)
    gates.pop("max_regenerations")
    return {"item": {"spec": asdict(item.spec),
                     "transcript": [asdict(t) for t in item.transcript or []],
                     "key": asdict(item.key) if item.key else None,
                     "question": asdict(item.question) if item.question else None,
                     "provenance": item.provenance},
            "synthesize": synthesize.STAGE.inputs(item, ctx),
            "validate": gates,
            "heard": _table_digest(ctx),
            "choices": _key_entry(item, ctx),
            "writer": {s: ctx.writer.inputs(s, item) for s in ("plant", "question")}}


async def _apply(item: Item, ctx: Context) -> Item:
    """At most `max_key_draws` draws. Each is said by a voice measured to say its answer
    (the heard filter): a draw keeps the item's fact, so a voice that cannot say a name
    fails every wording of it, and another voice is given the key speaker at once, for
    free; an item whose answer no voice of the key gender says is rejected untried. After
    a draw the ASR failed, the next one is said by a voice not tried yet too: most ASR
    failures are one voice saying one invented name or number badly. After a draw the blind
    judge failed, the next one draws the key's choices anew (new_choices), the answer with
    them: a leak is in the four choices, which a new wording keeps."""
    limit = ctx.cfg.validate.max_key_draws
    base = unplant(item)
    reason = ""
    checks: list[Check] = []
    voices: dict[str, str] = {}  # key speakers given another voice
    tried = {key_voice(item)}
    misheard = False
    leaked = False  # the last draw failed the blind judge: the next one draws new choices
    current = item  # the item with the choices drawn last
    rechosen: list[int] = []
    for draw in range(limit):
        fresh = new_choices(current, base, draw, ctx) if leaked else None
        try:
            if fresh is not None:
                current = fresh
                rechosen.append(draw)
            cand = item if draw == 0 else await redraw(current, base, draw, ctx)
        except StageFailure as exc:  # this draw could not be written; try the next
            reason = f"draw {draw}: {exc}"
            continue
        assert cand.key is not None
        cand = with_voices(cand, voices)
        if misheard:  # another voice, if one not tried yet says the answer; else new words
            pick = other_sayer(cand, draw, ctx, tried)
            if pick is not None:
                cand = with_voices(cand, {key_speaker(cand): pick})
        voice = voice_that_says(cand, draw, ctx, tried)
        if voice is None:
            missed = heard.load(ctx.cfg.voices).unheard_in(key_voice(cand), cand.key.answer)
            why = (f"no voice for {key_speaker(cand)} left that was measured to get {missed} "
                   f"across (spiral voices --measure; tried {', '.join(sorted(tried))})")
            return replace(item, checks=[Check("heard", False, why)], failed={
                "stage": "precheck", "reason": f"heard: {why}"})
        cand = with_voices(cand, {key_speaker(cand): voice})
        tried.add(voice)
        if cand.spec.speakers != item.spec.speakers:
            voices = {s.id: s.voice for s in cand.spec.speakers}
        checks = await asyncio.to_thread(draw_checks, cand, ctx)
        bad = {c.name for c in checks if not c.ok}
        if not bad:  # the plan's voice for the key speaker: the audit counts the swaps
            speaker = key_speaker(cand)
            planned = next(s.voice for s in item.spec.speakers if s.id == speaker)
            chosen = {"choice_draws": rechosen} if rechosen else {}
            return replace(cand, provenance={**cand.provenance, "key_draw": draw,
                                             "key_voice_planned": planned, **chosen})
        misheard = bool(bad & {"heard", "asr_wer", "asr_answer"})
        leaked = "judge_blind" in bad
        reason = "; ".join(f"{c.name}: {c.reason}" for c in checks if not c.ok)
        what = "choice draw" if rechosen and rechosen[-1] == draw else "key draw"
        ctx.note_rejection(f"{item.id} {what} {draw + 1}/{limit}", reason, draw=True)
    return replace(item, checks=checks, failed={
        "stage": "precheck", "reason": f"no key draw passed in {limit}: {reason}"})


def _setup(items: list[Item], ctx: Context) -> None:
    synthesize.check_voices(items, ctx)
    validate.preflight(ctx)
    for stage in ("plant", "question"):
        ctx.writer.prepare(stage, items)


STAGE = Stage("precheck", VERSION,
              ("spec", "transcript", "key", "question", "provenance", "checks", "failed"),
              _inputs,
              apply_async=_apply, workers=lambda ctx: max(1, ctx.cfg.tts.workers),
              setup=_setup, close_async=lambda ctx: ctx.writer.close())


def run(items: list[Item], ctx: Context) -> list[Item]:
    return run_stage(STAGE, items, ctx)
