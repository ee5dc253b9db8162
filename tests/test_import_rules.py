"""Who may import whom, read from the sources (every import counts: at module level, inside a
function, or under `if TYPE_CHECKING:`, since a type-only import is still a module its reader
must know):

- the imports of bot/ and cogs/ form no cycle, apart from the type-only edges listed below;
- nothing in bot/ imports cogs/, and no cog imports another cog (cogs/shared.py is what they
  share);
- the rule modules reach neither discord nor the Discord side (bot/ui/, the catalogue's reader
  included), through any chain of imports: they return data and message keys, and bot/ui/ and
  cogs/ turn those into words;
- outside bot/ui/ and cogs/, only the process around the bot imports discord."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

RULES = (
    "bot.credits", "bot.moderation", "bot.blocklist", "bot.generations", "bot.tracker",
    "bot.validation", "bot.store", "bot.evolink", "bot.settings", "bot.request", "bot.charges",
    "bot.addresses", "bot.refusal",
)  # fmt: skip
# Outside bot/ui/, and not rules: the process around the bot, which uses discord.py directly.
PROCESS_USING_DISCORD = {
    "bot.__main__": "starts the client: its gateway address, login errors",
    "bot.logs": "colours a terminal's log lines as discord.py's own handler does",
    "bot.preflight": "--check logs in to Discord where discord.py would (its API base)",
}
# Imports under `if TYPE_CHECKING:` that close a cycle: they never run, and they are how a part
# names the type of the object that owns it (the simulator's routes and control endpoints take
# the Simulator that serves them). Any other cycle, type-only or not, fails.
TYPE_ONLY_CYCLE_EDGES = {
    ("bot.simulator.routes", "bot.simulator.server"),
    ("bot.simulator.control", "bot.simulator.server"),
}


@dataclass(frozen=True)
class Import:
    source: str
    target: str  # a module of bot/ or cogs/, or the top-level name of any other package
    type_only: bool
    line: int


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for folder in ("bot", "cogs") for p in (ROOT / folder).rglob("*.py")}


def is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def named_modules(module: str, node: ast.Import | ast.ImportFrom) -> Iterator[str]:
    """The dotted names an import statement loads (`from a import b` loads a.b if it is a
    module, else a)."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    base = node.module or ""
    if node.level:
        package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{base}" if base else package
    for alias in node.names:
        yield f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base


def resolved(name: str) -> str:
    """The module of bot/ or cogs/ that `name` is or lies in; else its top-level package."""
    candidate = name
    while candidate and candidate not in MODULES:
        candidate = candidate.rpartition(".")[0]
    return candidate or name.partition(".")[0]


def imports_of(module: str) -> Iterator[Import]:
    def visit(node: ast.AST, type_only: bool) -> Iterator[Import]:
        if isinstance(node, ast.Import | ast.ImportFrom):
            for name in named_modules(module, node):
                if (target := resolved(name)) != module:
                    yield Import(module, target, type_only, node.lineno)
        elif isinstance(node, ast.If) and is_type_checking(node):
            for statement in node.body:
                yield from visit(statement, True)
            for statement in node.orelse:
                yield from visit(statement, type_only)
        else:
            for child in ast.iter_child_nodes(node):
                yield from visit(child, type_only)

    yield from visit(ast.parse(MODULES[module].read_text(encoding="utf-8")), False)


IMPORTS = [i for module in sorted(MODULES) for i in imports_of(module)]


def within(module: str, *packages: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def where(i: Import) -> str:
    return f"{MODULES[i.source].relative_to(ROOT)}:{i.line} imports {i.target}"


def graph(*leaving_out: tuple[str, str]) -> dict[str, set[str]]:
    """Module -> the modules of bot/ and cogs/ it imports."""
    edges: dict[str, set[str]] = {}
    for i in IMPORTS:
        if i.target in MODULES and (i.source, i.target) not in leaving_out:
            edges.setdefault(i.source, set()).add(i.target)
    return edges


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph, as the modules along it, or None."""
    done: set[str] = set()
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        path.append(module)
        for target in sorted(edges.get(module, ())):
            if target in path:
                return [*path[path.index(target) :], target]
            if target not in done and (cycle := visit(target)) is not None:
                return cycle
        done.add(path.pop())
        return None

    for module in sorted(edges):
        if module not in done and (cycle := visit(module)) is not None:
            return cycle
    return None


def reaches(edges: dict[str, set[str]], start: str, goal: str) -> bool:
    seen, chain = {start}, [start]
    while chain:
        for target in edges.get(chain.pop(), ()):
            if target == goal:
                return True
            if target not in seen:
                seen.add(target)
                chain.append(target)
    return False


def test_the_imports_of_bot_and_cogs_form_no_cycle() -> None:
    cycle = find_cycle(graph(*TYPE_ONLY_CYCLE_EDGES))
    assert cycle is None, " -> ".join(cycle or [])


def test_the_edges_allowed_to_close_a_cycle_are_type_only_and_still_close_one() -> None:
    edges = graph()
    for source, target in TYPE_ONLY_CYCLE_EDGES:
        found = [i for i in IMPORTS if (i.source, i.target) == (source, target)]
        assert found and all(i.type_only for i in found), f"{source} -> {target} runs"
        assert reaches(edges, target, source), f"{source} -> {target} closes no cycle now"


def test_nothing_in_bot_imports_a_cog() -> None:
    assert [where(i) for i in IMPORTS if within(i.source, "bot") and within(i.target, "cogs")] == []


def test_no_cog_imports_another_cog() -> None:
    """cogs/shared.py aside, which any cog may import (and which imports no cog)."""
    crossing = [
        where(i)
        for i in IMPORTS
        if within(i.source, "cogs") and within(i.target, "cogs") and i.target != "cogs.shared"
    ]
    assert crossing == []


def discord_side(target: str) -> bool:
    return target == "discord" or within(target, "bot.ui")


def test_the_rules_reach_neither_discord_nor_the_discord_side() -> None:
    """Followed through every module a rule imports."""
    by_source: dict[str, list[Import]] = {}
    for i in IMPORTS:
        by_source.setdefault(i.source, []).append(i)
    assert {r for r in RULES if r not in MODULES} == set(), "a rule module was renamed"
    for rule in [m for m in MODULES if within(m, *RULES)]:
        seen, chain = {rule}, [rule]
        while chain:
            for i in by_source.get(chain.pop(), []):
                assert not discord_side(i.target), f"{rule} reaches it: {where(i)}"
                if i.target in MODULES and i.target not in seen:
                    seen.add(i.target)
                    chain.append(i.target)


def test_outside_the_discord_side_only_the_process_imports_discord() -> None:
    users = {
        i.source
        for i in IMPORTS
        if i.target == "discord" and not within(i.source, "bot.ui", "cogs")
    }
    assert users == set(PROCESS_USING_DISCORD)
