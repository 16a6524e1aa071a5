"""A run folder remembers how it was built: its size, seed and `--set` overrides.

`spiral run --run X` (or a stage command) without `--n` would otherwise take spiral.yaml's
`n_items` and silently grow or shrink the run. The first build writes `run_args.json`; a
bare rerun reuses it, and an explicit `--n`, `--seed`, `--lengths` or `--set` changes it and
says so.
A run built before this file existed is read from its manifest's config.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.core.config import Config, ConfigError, load_config, parse_override
from pipeline.core.store import atomic_write_json, read_json

FILE = "run_args.json"
LOCATING = ("run", "output_root")  # they find the run folder; never remembered


def stored(run_dir: Path) -> dict | None:
    """{"n_items", "seed", "lengths", "set"} the run was built with, or None for a new run."""
    path = run_dir / FILE
    if path.exists():
        return {"lengths": [], **_checked(path, _read(path))}  # runs from before grids: none
    manifest = run_dir / "manifest.json"
    if manifest.exists():
        m = _read(manifest)
        try:
            return {**_checked(manifest, {"n_items": m["config"]["n_items"], "seed": m["seed"],
                                          "set": []}),
                    "lengths": m["config"].get("lengths", [])}
        except (KeyError, TypeError):
            raise ConfigError(f"{manifest}: damaged (no config.n_items or seed); restore it "
                              "or rebuild the run under a new name") from None
    return None


def _read(path: Path) -> Any:
    try:
        return read_json(path)
    except (ValueError, RecursionError):  # truncated, not UTF-8, absurdly nested
        raise ConfigError(f"{path}: damaged (not readable JSON); restore it, or delete it "
                          "and give --n, --seed and --set as the run was built") from None


def _checked(path: Path, data: Any) -> dict:
    """The remembered arguments, each of the type it must be; else one line naming it."""
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping {{n_items, seed, set}}; restore it, or "
                          "delete it and give --n, --seed and --set as the run was built")
    if "lengths" in data and not (isinstance(data["lengths"], list) and all(
            isinstance(x, int | float) and not isinstance(x, bool) for x in data["lengths"])):
        raise ConfigError(f"{path}: 'lengths' of the wrong type; restore it, or delete it "
                          "and give --n, --lengths, --seed and --set as the run was built")
    for key, ok in (("n_items", lambda v: isinstance(v, int) and not isinstance(v, bool)),
                    ("seed", lambda v: isinstance(v, int) and not isinstance(v, bool)),
                    ("set", lambda v: isinstance(v, list) and all(isinstance(s, str)
                                                                  for s in v))):
        if key not in data or not ok(data[key]):
            raise ConfigError(f"{path}: '{key}' missing or of the wrong type; restore it, or "
                              "delete it and give --n, --seed and --set as the run was built")
    return data


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
