"""A run folder remembers how it was built: its size, seed and `--set` overrides.

`spiral run --run X` (or a stage command) without `--n` would otherwise take spiral.yaml's
`n_items` and silently grow or shrink the run. The first build writes `run_args.json`; a
bare rerun reuses it, and an explicit `--n`, `--seed`, `--lengths` or `--set` changes it and
says so.
A run built before this file existed is read from its manifest's config.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.core.config import Config, load_config, parse_override
from pipeline.core.store import atomic_write_json, read_json

FILE = "run_args.json"
LOCATING = ("run", "output_root")  # they find the run folder; never remembered


def stored(run_dir: Path) -> dict | None:
    """{"n_items", "seed", "lengths", "set"} the run was built with, or None for a new run."""
    path = run_dir / FILE
    if path.exists():
        return {"lengths": [], **read_json(path)}  # runs from before grids: no lengths
    manifest = run_dir / "manifest.json"
    if manifest.exists():
        m = read_json(manifest)
        return {"n_items": m["config"]["n_items"], "seed": m["seed"],
                "lengths": m["config"].get("lengths", []), "set": []}
    return None


def lengths_override(lengths: list[float]) -> str:
    return f"lengths=[{', '.join(f'{x:g}' for x in lengths)}]"


def _key(text: str) -> str:
    return parse_override(text)[0]


def resolve(config: str, run: str | None, n: int | None, seed: int | None,
            sets: list[str], lengths: list[float] | None = None) -> tuple[Config, list[str]]:
    """The config for this command on its run folder, and lines saying what was kept or
    changed. Writes nothing; `save` records it once the command is going ahead."""
    where = [*sets, *([f"run={run}"] if run else [])]
    cfg = load_config(config, where)
    old = stored(cfg.run_dir)
    given = {_key(s) for s in sets}
    if old is None:
        final = [*where, *([f"n_items={n}"] if n is not None else []),
                 *([f"seed={seed}"] if seed is not None else []),
                 *([lengths_override(lengths)] if lengths is not None else [])]
        return load_config(config, final), []
    kept_sets = [s for s in old.get("set", []) if _key(s) not in given]
    final = [*kept_sets, *where]
    notes = []
    for key, value in (("n_items", n), ("seed", seed)):
        if value is None and key not in given:
            final.append(f"{key}={old[key]}")
        else:
            final.append(f"{key}={value}" if value is not None else "")
    if lengths is not None:
        final.append(lengths_override(lengths))
    elif "lengths" not in given:
        final.append(lengths_override(old["lengths"]))
    cfg = load_config(config, [x for x in final if x])
    for key, flag in (("n_items", "--n"), ("seed", "--seed"), ("lengths", "--lengths")):
        new = getattr(cfg, key)
        if new != old[key]:
            notes.append(f"run {cfg.run}: {key} changes from {old[key]} to {new} ({flag} or "
                         f"--set given); the run folder now remembers {new}")
    if not notes and (n is None or seed is None):
        extra = f", --set {' '.join(kept_sets)}" if kept_sets else ""
        grid = f" at each of {cfg.lengths} s" if cfg.lengths else ""
        notes.append(f"run {cfg.run}: as built: {cfg.n_items} items{grid}, seed {cfg.seed}"
                     f"{extra} (--n / --seed / --lengths / --set change it)")
    return cfg, notes


def save(cfg: Config, sets: list[str]) -> None:
    """Record how the run is now being built."""
    old = stored(cfg.run_dir) or {"set": []}
    given = {_key(s) for s in sets}
    keep = [s for s in old.get("set", []) if _key(s) not in given]
    new = [s for s in sets if _key(s) not in (*LOCATING, "n_items", "seed", "lengths")]
    atomic_write_json(cfg.run_dir / FILE, {"n_items": cfg.n_items, "seed": cfg.seed,
                                           "lengths": list(cfg.lengths), "set": [*keep, *new]})
