"""Fail on any import cycle between the modules of our packages.

import-linter's contracts say which layer may import which; they do not see a cycle inside one layer (two service
modules importing each other, a package's __init__ and one of its modules). This check builds the same import
graph with grimp (which import-linter installs), imports inside functions included, finds every set of modules
that import each other in a ring, and prints one ring per set with the lines that make it.

    .venv/bin/python .ci/import_cycles.py            # the root packages of [tool.importlinter] in pyproject.toml
    .venv/bin/python .ci/import_cycles.py billing    # only these packages
"""

from __future__ import annotations

import itertools
import sys
import tomllib
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent


def root_packages() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return list(config["tool"]["importlinter"]["root_packages"])


def strongly_connected(graph: grimp.ImportGraph) -> list[list[str]]:
    """Tarjan's algorithm, iterative (a deep package would overflow the recursion limit): the sets of two or more
    modules in which each can reach every other through imports."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph.modules):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.find_modules_directly_imported_by(start))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            module, targets = work[-1]
            for target in targets:
                if target not in index:
                    index[target] = low[target] = counter
                    counter += 1
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph.find_modules_directly_imported_by(target)))))
                    break
                if target in on_stack:
                    low[module] = min(low[module], index[target])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[module])
                if low[module] == index[module]:
                    members = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        members.append(member)
                        if member == module:
                            break
                    if len(members) > 1:
                        found.append(sorted(members))
    return found


def ring(graph: grimp.ImportGraph, members: list[str]) -> list[str]:
    """One cycle through the first member, as lines `a imports b (a.py:12: from b import x)`."""
    first = members[0]
    inside = set(members)
    # The shortest way back to `first` from one of the modules it imports, staying inside the set.
    best: tuple[str, ...] | None = None
    for target in sorted(graph.find_modules_directly_imported_by(first) & inside):
        chain = graph.find_shortest_chain(importer=target, imported=first)
        if chain and set(chain) <= inside and (best is None or len(chain) < len(best)):
            best = chain
    path = [first, *(best or ())]
    lines = []
    for importer, imported in itertools.pairwise(path):
        details = graph.get_import_details(importer=importer, imported=imported)
        where = f" (line {details[0]['line_number']}: {details[0]['line_contents']})" if details else ""
        lines.append(f"  {importer} imports {imported}{where}")
    return lines


def cycles(packages: list[str]) -> list[list[str]]:
    sys.path.insert(0, str(ROOT))
    graph = grimp.build_graph(*packages, include_external_packages=False, cache_dir=None)
    return [ring(graph, members) for members in strongly_connected(graph)]


def main(argv: list[str]) -> int:
    packages = argv or root_packages()
    found = cycles(packages)
    for lines in found:
        print("import cycle:")
        print("\n".join(lines))
    if found:
        print(f"{len(found)} import cycle(s) in {', '.join(packages)}")
        return 1
    print(f"no import cycle in {', '.join(packages)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
