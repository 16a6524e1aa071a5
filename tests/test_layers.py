"""The package's shape: layers import only downwards, and no module imports itself back."""

from __future__ import annotations

import grimp
from importlinter import cli as importlinter_cli

from tests.conftest import ROOT


def test_layers_contract_is_kept(monkeypatch) -> None:
    monkeypatch.chdir(ROOT)  # the contract lives in pyproject.toml
    assert importlinter_cli.lint_imports(no_cache=True) == 0


def _cycle(graph: grimp.ImportGraph) -> list[str] | None:
    """One import cycle among the package's modules (lazy imports included), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(mod: str) -> list[str] | None:
        state[mod] = 1
        path.append(mod)
        for dep in sorted(graph.find_modules_directly_imported_by(mod)):
            if state.get(dep) == 1:
                return path[path.index(dep):] + [dep]
            if dep not in state and (found := visit(dep)):
                return found
        path.pop()
        state[mod] = 2
        return None

    for mod in sorted(graph.modules):
        if mod not in state and (found := visit(mod)):
            return found
    return None


def test_no_import_cycle() -> None:
    graph = grimp.build_graph("pipeline", cache_dir=None)
    cycle = _cycle(graph)
    assert cycle is None, " -> ".join(cycle or [])
