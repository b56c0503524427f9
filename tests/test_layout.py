"""The house rules of the code's layout (issue 12), checked on every run: small modules, a
short top level, no import cycles; the layer contracts themselves are import-linter's
(pyproject.toml), run by `./dev test` before the suite."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
MAX_MODULE_LINES = 400
MAX_TOP_LEVEL_ENTRIES = 13  # about a dozen rooms in controller/, __init__.py included
PACKAGES = ("controller", "drivers", "fleet_console")  # the shipped packages


def test_no_module_is_longer_than_four_hundred_lines() -> None:
    long = {
        str(path.relative_to(ROOT)): lines
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def test_controller_has_about_a_dozen_entries_at_its_top_level() -> None:
    entries = sorted(
        path.name
        for path in (ROOT / "controller").iterdir()
        if path.name != "__pycache__" and (path.suffix == ".py" or path.is_dir())
    )
    assert len(entries) <= MAX_TOP_LEVEL_ENTRIES, entries


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Groups of modules that import each other round in a circle (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    groups: list[list[str]] = []
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            module, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[module] = min(low[module], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[module])
            if low[module] == index[module]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == module:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return groups


def test_no_import_cycle_between_modules() -> None:
    graph = grimp.build_graph(*PACKAGES)
    assert _cycles(graph) == []


def test_the_cycle_check_finds_a_cycle() -> None:
    """The check above can fail: a graph with a -> b -> c -> a has one group of three."""
    graph = grimp.ImportGraph()
    for module in ("x.a", "x.b", "x.c", "x.d"):
        graph.add_module(module)
    for importer, imported in (("x.a", "x.b"), ("x.b", "x.c"), ("x.c", "x.a"), ("x.d", "x.a")):
        graph.add_import(importer=importer, imported=imported)
    assert _cycles(graph) == [["x.a", "x.b", "x.c"]]


@pytest.mark.parametrize("bench", sorted(p.stem for p in (ROOT / "bench").glob("*.py")))
def test_every_bench_still_imports(bench: str) -> None:
    """A bench is run by hand, not by the suite: a moved function must not break it unseen
    (two did, when user_admin and create_user moved to services/use_cases.py)."""
    importlib.import_module(f"bench.{bench}")


SUPPRESSION = re.compile(r"#\s*(noqa(?::\s*[A-Z0-9, ]+)?|type:\s*ignore(?:\[[a-z, -]+\])?)(.*)$")


def unexplained_suppressions(text: str) -> list[int]:
    """Lines whose `noqa` / `type: ignore` is not followed by a reason ("- why" or "# why")."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        match = SUPPRESSION.search(line)
        if match and not re.search(r"[A-Za-z]{3}", match.group(2)):
            found.append(number)
    return found


def test_every_noqa_and_type_ignore_says_why() -> None:
    bare = {
        f"{path.relative_to(ROOT)}:{number}"
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        for number in unexplained_suppressions(path.read_text(encoding="utf-8"))
    }
    assert bare == set()


def test_the_suppression_check_tells_a_reason_from_none() -> None:
    assert unexplained_suppressions("x = 1  # noqa: B006\ny = 2  # type: ignore[misc]") == [1, 2]
    assert (
        unexplained_suppressions(
            "x = 1  # noqa: B006 - FastAPI default\ny = 2  # type: ignore[misc]  # no stubs"
        )
        == []
    )
