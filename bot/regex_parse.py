"""A moderator's regex as Python's own parser reads it, in the form bot/regex_re2.py writes out.

Python's parser is the reference for what an entry means, but it fails in more ways than
re.error: a count over 4294967294 raises OverflowError, `(?a)(?u)` ValueError. Every failure
becomes re.error here, which the blocklist turns into the moderator's "invalid regex".
"""

from __future__ import annotations

import re
from re import _parser  # type: ignore[attr-defined]  # Python's own regex parser

from bot.normal_form import Item, normal_items


def parse(pattern: str) -> tuple[list[Item], int]:
    """The pattern as Python reads it, its literal characters in normal form
    (bot/normal_form.py); and its global flags. Raises re.error for anything Python
    refuses, whatever Python raises (a count over 4294967294, incompatible flags...)."""
    try:
        parsed = _parser.parse(pattern, re.IGNORECASE)
    except (ValueError, OverflowError, RecursionError) as exc:
        raise re.error(str(exc)) from None
    return normal_items(list(parsed)), int(parsed.state.flags)
