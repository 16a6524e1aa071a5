"""Per-run seed history: the one mechanism behind regeneration and re-rolls.

`data/runs/<run>/reseeds.json` maps an item id to the seeds it was rebuilt from, in order.
The planner gives an item the last of them, keeping everything else of its spec (letter,
depth, type, detail kind, speaker genders), so the run's balance holds and a rerun finds its
caches. The voices are drawn again from the new seed (same genders): an item rejected
because one voice is hard to understand is not stuck with it.
"""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from pathlib import Path

from pipeline.core.records import Item, ItemSpec
from pipeline.core.resources import ResourceError, Voice, draw_speakers
from pipeline.core.seeds import derive_seed, rng_for
from pipeline.core.store import atomic_write_json, read_json
from pipeline.writing import two_hop
from pipeline.writing.bank_sheet import redraw_sheet

FILE = "reseeds.json"
_lock = threading.Lock()


def load(run_dir: str | Path) -> dict[str, list[int]]:
    path = Path(run_dir) / FILE
    if not path.exists():
        return {}
    try:  # the seeds items ended on: not a cache, so it cannot be recomputed
        data = read_json(path)
    except ValueError as exc:
        raise ResourceError(f"{path}: not readable JSON ({exc}); restore it from a backup "
                            "or delete it to rebuild every item from its planned seed") \
            from None
    if not isinstance(data, dict):
        raise ResourceError(f"{path}: expected a mapping of item id to seeds")
    for item_id, seeds in data.items():
        if not isinstance(seeds, list) or not seeds or not all(
                isinstance(s, int) and not isinstance(s, bool) for s in seeds):
            raise ResourceError(f"{path}: {item_id}: expected a non-empty list of seeds "
                                f"(integers), got {json.dumps(seeds)[:60]}")
    return data


def apply(items: list[Item], run_dir: str | Path, voices: list[Voice],
          prompts_dir: str | Path = "prompts") -> list[Item]:
    """Give each re-seeded item its latest seed and voices drawn from it; record the seed
    history in its provenance."""
    history = load(run_dir)
    for item in items:
        seeds = history.get(item.id)
        if seeds:
            item.provenance["seed_history"] = [item.spec.seed, *seeds]
            item.spec = reseeded(item.spec, seeds[-1], voices, prompts_dir)
    return items


def reseeded(spec: ItemSpec, seed: int, voices: list[Voice],
             prompts_dir: str | Path = "prompts") -> ItemSpec:
    """`spec` rebuilt from `seed`: the same plan, voices drawn again with the same genders,
    and a new fact sheet of the same shape (key kind, depth, size, confusers)."""
    speakers = draw_speakers(rng_for(seed, "voices"), voices,
                             [(s.id, s.gender) for s in spec.speakers])
    facts, key_id = two_hop.redraw_sheet(spec, seed) if spec.hops == 2 else \
        redraw_sheet(spec, seed, prompts_dir)
    return replace(spec, seed=seed, speakers=speakers, facts=facts, key_fact=key_id)


def derived(item: Item, done: int) -> int:
    """The seed an item gets after `done` earlier re-seeds, when none is given."""
    return derive_seed(item.spec.seed, "reseed", done + 1)


def next_seed(item: Item, run_dir: str | Path, seed: int | None = None) -> int:
    """Append a new seed for `item` (derived from its history unless given) and return it."""
    with _lock:
        history = load(run_dir)
        seeds = history.setdefault(item.id, [])
        new = seed if seed is not None else derived(item, len(seeds))
        seeds.append(new)
        # Sorted: the file must not depend on the order items were regenerated in.
        atomic_write_json(Path(run_dir) / FILE, dict(sorted(history.items())))
    return new
