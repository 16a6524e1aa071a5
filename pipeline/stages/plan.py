"""Plan item specs from the run seed: every balanced quantity is stratified, not left to chance.

Item i's spec depends only on (run seed, i): `--n 50` is a prefix of `--n 500`.
"""

from __future__ import annotations

from pipeline.acoustics.levels import item_levels
from pipeline.core.config import Config
from pipeline.core.records import LETTERS, SPEAKERS, Item, ItemSpec
from pipeline.core.resources import Subtopic, Voice, draw_speakers
from pipeline.core.seeds import (
    derive_seed,
    rng_for,
    stratified,
    stratified_ordinal,
    weighted_strata,
)
from pipeline.writing.facts import PHRASE_KINDS, VALUE_KINDS, draw_facts, n_facts

GENDERS = ("female", "male")
LONGEST_SHARE = (True, False, False, False, False)  # 20% may have a strictly longest answer


def key_kind(seed: int, index: int, descriptive_share: float) -> str:
    """The key fact's kind: every block of 10 items has the configured share of phrase
    answers, and each form's kinds take turns in shuffled blocks of their own."""
    strata = weighted_strata({"phrase": descriptive_share, "value": 1 - descriptive_share}, 10)
    form, ordinal = stratified_ordinal(seed, "form", index, strata)
    kinds = PHRASE_KINDS if form == "phrase" else VALUE_KINDS
    return stratified(seed, f"kind_{form}", ordinal, kinds)


def subtopic(seed: int, index: int, types: dict[str, float],
             topics: dict[str, list[Subtopic]]) -> Subtopic:
    """Item `index`'s subtopic: the items of a type take its subtopics in shuffled rounds, so
    no two items share one (and its talk) until every subtopic of the type has been used."""
    ttype, ordinal = stratified_ordinal(seed, "type", index, weighted_strata(types))
    return stratified(seed, f"subtopic_{ttype}", ordinal, topics[ttype])


def plan_item(index: int, cfg: Config, topics: dict[str, list[Subtopic]],
              voices: list[Voice]) -> ItemSpec:
    seed = cfg.seed
    ttype = stratified(seed, "type", index, weighted_strata(cfg.types))
    rng = rng_for(seed, "plan", index)
    sub = subtopic(seed, index, cfg.types, topics)
    lo, hi = SPEAKERS[ttype]
    n_speakers = rng.randint(lo, hi)
    first = stratified(seed, "gender", index, GENDERS)
    genders = [GENDERS[(GENDERS.index(first) + k) % 2] for k in range(n_speakers)]
    speakers = draw_speakers(rng, voices, [(f"spk_{k + 1}", g) for k, g in enumerate(genders)])
    item_seed = derive_seed(seed, "item", index)
    decile = stratified(seed, "depth", index, range(10))
    offset = round(rng.random(), 6)
    kind = key_kind(seed, index, cfg.question.descriptive_share)
    longest = stratified(seed, "longest", index, LONGEST_SHARE)
    facts, key_id = draw_facts(item_seed, ttype, list(sub.terms), kind, (decile + offset) / 10,
                               n_facts(cfg.audio.target_seconds), cfg.question.confusers,
                               longest)
    return ItemSpec(
        index=index,
        id=f"{ttype}_{index}",
        seed=item_seed,
        type=ttype,
        main_topic=sub.main_topic,
        subtopic=sub.name,
        terms=list(sub.terms),
        speakers=speakers,
        key_decile=decile,
        key_offset=offset,
        letter=stratified(seed, "letter", index, LETTERS),
        detail_kind=kind,
        answer_may_be_longest=longest,
        facts=facts,
        key_fact=key_id,
        conditions=item_levels(seed, index, cfg.types, cfg.acoustics),
    )


def run(cfg: Config, topics: dict[str, list[Subtopic]], voices: list[Voice]) -> list[Item]:
    return [Item(spec=plan_item(i, cfg, topics, voices)) for i in range(cfg.n_items)]
