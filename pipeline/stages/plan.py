"""Plan item specs from the run seed: every balanced quantity is stratified, not left to chance.

Item i's spec depends only on (run seed, i): `--n 50` is a prefix of `--n 500`.
"""

from __future__ import annotations

from pipeline.acoustics.levels import item_levels
from pipeline.core.config import Config
from pipeline.core.grid import Cell, cells
from pipeline.core.records import LETTERS, SPEAKERS, Item, ItemSpec
from pipeline.core.resources import Subtopic, Voice, draw_speakers
from pipeline.core.seeds import (
    derive_seed,
    rng_for,
    stratified,
    stratified_ordinal,
    weighted_strata,
)
from pipeline.writing import two_hop
from pipeline.writing.bank_sheet import draw_sheet
from pipeline.writing.facts import PHRASE_KINDS, VALUE_KINDS, n_facts

GENDERS = ("female", "male")
SHORT_SECONDS = 60
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


def plan_item(cell: Cell, cfg: Config, topics: dict[str, list[Subtopic]],
              voices: list[Voice]) -> ItemSpec:
    """The spec of the item in `cell`: its length, and the seed and index its strata are
    drawn with (item j of a length is item j of a plain run with that length's seed)."""
    index, seed, local = cell.index, cell.seed, cell.local
    ttype = stratified(seed, "type", local, weighted_strata(cfg.types))
    rng = rng_for(seed, "plan", local)
    sub = subtopic(seed, local, cfg.types, topics)
    lo, hi = SPEAKERS[ttype]
    n_speakers = rng.randint(lo, hi)
    if cell.target_seconds < SHORT_SECONDS:  # a few turns cannot give five people a say
        n_speakers = lo
    first = stratified(seed, "gender", local, GENDERS)
    genders = [GENDERS[(GENDERS.index(first) + k) % 2] for k in range(n_speakers)]
    speakers = draw_speakers(rng, voices, [(f"spk_{k + 1}", g) for k, g in enumerate(genders)])
    item_seed = derive_seed(seed, "item", local)
    decile = stratified(seed, "depth", local, range(10))
    offset = round(rng.random(), 6)
    hops = two_hop.hops_for(seed, local, cfg.question.multi_hop)
    kind = key_kind(seed, local, cfg.question.descriptive_share) if hops == 1 else \
        two_hop.kind_for(seed, local)
    longest = stratified(seed, "longest", local, LONGEST_SHARE)
    if hops == 2:
        facts, key_id = two_hop.draw_sheet(item_seed, ttype, list(sub.terms), kind,
                                           (decile + offset) / 10, n_facts(cell.target_seconds),
                                           cfg.question.confusers, longest)
        hops = 2 if two_hop.first_hop(facts, key_id) else 1  # a sheet of one fact: 1 hop
    else:
        facts, key_id = draw_sheet(item_seed, ttype, sub.name, list(sub.terms), kind,
                                   (decile + offset) / 10, n_facts(cell.target_seconds),
                                   cfg.question.confusers, longest, cfg.prompts_dir)
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
        letter=stratified(seed, "letter", local, LETTERS),
        detail_kind=kind,
        answer_may_be_longest=longest,
        facts=facts,
        key_fact=key_id,
        target_seconds=cell.target_seconds,
        tolerance_seconds=cell.tolerance_seconds,
        hops=hops,
        conditions=item_levels(seed, local, cfg.types, cfg.acoustics),
    )


def run(cfg: Config, topics: dict[str, list[Subtopic]], voices: list[Voice]) -> list[Item]:
    return [Item(spec=plan_item(c, cfg, topics, voices)) for c in cells(cfg)]
