"""Plan item specs from the run seed: every balanced quantity is stratified, not left to chance.

Item i's spec depends only on (run seed, i): `--n 50` is a prefix of `--n 500`.
"""

from __future__ import annotations

from pipeline.core.config import Config
from pipeline.core.records import KINDS, LETTERS, SPEAKERS, Item, ItemSpec
from pipeline.core.resources import Subtopic, Voice, draw_speakers
from pipeline.core.seeds import derive_seed, rng_for, stratified, weighted_strata

GENDERS = ("female", "male")
LONGEST_SHARE = (True, False, False, False, False)  # 20% may have a strictly longest answer


def plan_item(index: int, cfg: Config, topics: dict[str, list[Subtopic]],
              voices: list[Voice]) -> ItemSpec:
    seed = cfg.seed
    ttype = stratified(seed, "type", index, weighted_strata(cfg.types))
    rng = rng_for(seed, "plan", index)
    sub = rng.choice(topics[ttype])
    lo, hi = SPEAKERS[ttype]
    n_speakers = rng.randint(lo, hi)
    first = stratified(seed, "gender", index, GENDERS)
    genders = [GENDERS[(GENDERS.index(first) + k) % 2] for k in range(n_speakers)]
    speakers = draw_speakers(rng, voices, [(f"spk_{k + 1}", g) for k, g in enumerate(genders)])
    return ItemSpec(
        index=index,
        id=f"{ttype}_{index}",
        seed=derive_seed(seed, "item", index),
        type=ttype,
        main_topic=sub.main_topic,
        subtopic=sub.name,
        terms=list(sub.terms),
        speakers=speakers,
        key_decile=stratified(seed, "depth", index, range(10)),
        key_offset=round(rng.random(), 6),
        letter=stratified(seed, "letter", index, LETTERS),
        detail_kind=stratified(seed, "kind", index, KINDS),
        answer_may_be_longest=stratified(seed, "longest", index, LONGEST_SHARE),
    )


def run(cfg: Config, topics: dict[str, list[Subtopic]], voices: list[Voice]) -> list[Item]:
    return [Item(spec=plan_item(i, cfg, topics, voices)) for i in range(cfg.n_items)]
