"""A moderator's regex as Python's own parser reads it, in the form bot/regex_re2.py writes out.

Python's parser is the reference for what an entry means, but it fails in more ways than
re.error: a count over 4294967294 raises OverflowError, `(?a)(?u)` ValueError. Every failure
becomes re.error here, which the blocklist turns into the moderator's "invalid regex".
"""

from __future__ import annotations

import re
from re import _parser  # type: ignore[attr-defined]  # Python's own regex parser
from typing import Any

from bot.normal_form import Item, normal_items


def parse(pattern: str) -> tuple[list[Item], int]:
    """The pattern as Python reads it, each capturing group nothing refers back to written as a
    plain sequence (RE2 is only asked whether a pattern matches), then its literal characters
    in normal form (bot/normal_form.py); and its global flags. Raises re.error for anything Python
    refuses, whatever Python raises (a count over 4294967294, incompatible flags...)."""
    try:
        parsed = _parser.parse(pattern, re.IGNORECASE)
    except (ValueError, OverflowError, RecursionError) as exc:
        raise re.error(str(exc)) from None
    items = list(parsed)
    if parsed.state.groups > 1:  # group 0 is the whole match
        items = _ungrouped(items, _referenced(items))
    return normal_items(items), int(parsed.state.flags)


def _referenced(items: list[Item]) -> set[int]:
    """The numbers of the groups a back-reference or conditional names."""
    found: set[int] = set()
    for op, av in items:
        name = str(op)
        if name == "GROUPREF":
            found.add(av)
        elif name == "GROUPREF_EXISTS":
            found.add(av[0])
        for inner in _nested(name, av):
            found |= _referenced(inner)
    return found


def _ungrouped(items: list[Item], referenced: set[int]) -> list[Item]:
    out: list[Item] = []
    for op, av in items:
        name = str(op)
        if name == "SUBPATTERN":
            number, add, remove, inner = av
            inner = _ungrouped(list(inner), referenced)
            if not add and not remove and number not in referenced:
                out += inner
                continue
            out.append((op, (number, add, remove, inner)))
        elif name == "BRANCH":
            out.append((op, (av[0], [_ungrouped(list(alt), referenced) for alt in av[1]])))
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            out.append((op, (av[0], av[1], _ungrouped(list(av[2]), referenced))))
        else:  # inside look-around and the like: refused or widened whatever is in them
            out.append((op, av))
    return out


def _nested(name: str, av: Any) -> list[list[Item]]:
    """The item sequences inside one item."""
    if name == "SUBPATTERN":
        return [list(av[3])]
    if name == "BRANCH":
        return [list(alt) for alt in av[1]]
    if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
        return [list(av[2])]
    if name == "ATOMIC_GROUP":
        return [list(av)]
    if name in ("ASSERT", "ASSERT_NOT"):
        return [list(av[1])]
    if name == "GROUPREF_EXISTS":
        return [list(branch) for branch in av[1:] if branch is not None]
    return []
