"""Print the real import graph between polc's top-level packages: ``python tools/layer_graph.py``.

One line per package: the packages it imports, each with the number of importing modules
(grimp on the link tree of ``tools/link_tree.py``, the same graph import-linter checks).
CONTRIBUTING.md "Layers" shows its output.
"""

from __future__ import annotations

import sys

import grimp
import link_tree

PACKAGES = ("app", "bench", "training", "cloud", "edge", "shared", "v1")


def _modules(graph: grimp.ImportGraph, package: str) -> set[str]:
    return graph.find_descendants(f"polc.{package}") | {f"polc.{package}"}


def package_edges() -> dict[str, dict[str, int]]:
    """package -> {imported package: number of its modules that import it}."""
    sys.path.insert(0, str(link_tree.build()))
    graph = grimp.build_graph("polc", cache_dir=None)
    edges: dict[str, dict[str, int]] = {p: {} for p in PACKAGES}
    for importer in PACKAGES:
        for imported in PACKAGES:
            if importer == imported:
                continue
            targets = _modules(graph, imported)
            importers = {
                m
                for m in _modules(graph, importer)
                if graph.find_modules_directly_imported_by(m) & targets
            }
            if importers:
                edges[importer][imported] = len(importers)
    return edges


def main() -> int:
    for importer, imported in package_edges().items():
        targets = ", ".join(f"{name} ({n})" for name, n in imported.items()) or "-"
        print(f"polc.{importer:9s} -> {targets}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
