"""The test suite itself: no assertion that holds whatever the code does.

`assert CHANNEL_ID`, `assert True` or `assert x == x` passes on any code, so a test ending with one
checks less than it claims. An assertion counts as constant when it reads nothing the test
computed: no call, no await, and only ALL-CAPS (module constant) names; or compares a value
with itself; or is a non-empty tuple.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent


def _constant(test: ast.expr) -> bool:
    if isinstance(test, ast.Compare) and any(
        ast.dump(test.left) == ast.dump(other) for other in test.comparators
    ):
        return True  # x == x, x is x
    if isinstance(test, ast.Tuple) and test.elts:
        return True  # assert (value, "message"): a non-empty tuple is always true
    for node in ast.walk(test):
        if isinstance(node, ast.Call | ast.Await | ast.Lambda | ast.NamedExpr):
            return False
        if isinstance(node, ast.Name) and not node.id.isupper():
            return False
    return True


def constant_asserts(source: str) -> list[tuple[int, str]]:
    return [
        (node.lineno, ast.unparse(node))
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Assert) and _constant(node.test)
    ]


@pytest.mark.parametrize("path", sorted(TESTS.glob("*.py")), ids=lambda p: p.name)
def test_no_assertion_is_on_a_constant(path: Path) -> None:
    assert constant_asserts(path.read_text(encoding="utf-8")) == []


def test_the_scan_finds_constant_assertions() -> None:
    source = """
assert True
assert 1
assert CHANNEL_ID
assert GUILD_ID and CHANNEL_ID  # the request came from the ordinary channel
assert "x" in "xy"
assert rows == rows
assert f"{GUILD_ID}"
assert (rows, "a tuple is always true")
assert rows
assert rows == [CHANNEL_ID]
assert len(rows) == 1
assert await ready()
assert not CHANNEL_ID or ready()
"""
    assert [line for line, _ in constant_asserts(source)] == [2, 3, 4, 5, 6, 7, 8, 9]
