"""The one form in which the blocklist compares text: prompts, words and a regex's characters.

Chinese, Japanese and Korean input methods type full-width forms (`１８禁`, `ｇｕｎ`, `，`), text
pasted from documents holds ligatures (`ﬁ`), decomposed accents and invisible zero-width
characters. NFKC folds all of these into one form, and the format characters (Unicode category
Cf) are dropped, so that none of them can hide a word from an entry or an entry from a word.

A regex is normalised in its parsed form, literal character by literal character (`normal_items`),
never as text: NFKC would turn a full-width `＊` or `（` into regex syntax, while Python reads
them, as typed, as the characters themselves, and so does the blocklist. Only characters change;
what the regex means around them does not.
"""

from __future__ import annotations

import unicodedata
from re import _parser  # type: ignore[attr-defined]  # Python's own regex parser
from typing import Any

Item = tuple[Any, Any]  # (opcode, argument) as Python's parser gives them

# A range of a class whose ends are not in normal form (`[ａ-ｚ]`) is normalised member by member
# when it has at most this many; a wider one is a range of code points, kept as written.
MAX_RANGE_NORMALISED = 256


def normal_form(text: str) -> str:
    """NFKC, without invisible format characters (zero-width spaces and joiners); a lone
    surrogate, which no text can be encoded with, becomes U+FFFD."""
    kept = []
    for c in unicodedata.normalize("NFKC", text):
        category = unicodedata.category(c)
        if category != "Cf":
            kept.append("\ufffd" if category == "Cs" else c)
    return "".join(kept)


def normal_items(items: list[Item]) -> list[Item]:
    """A parsed pattern whose literal characters match the normal form of what they matched.

    Each run of literal characters is normalised as one text (a letter and its combining accent
    compose), so a run may grow (`ﬁ` is `fi`) or vanish (a zero-width space). A class or a
    `[^x]` takes each character's normal form; in a class that is several characters (`[ﬁx]`),
    they become an alternative. What no normal text holds may stay: it never matches anyway."""
    out: list[Item] = []
    run: list[str] = []
    for op, av in items:
        if str(op) == "LITERAL":
            run.append(chr(av))
            continue
        out += _literals(normal_form("".join(run)))
        run = []
        out.append(_normal_item(op, av))
    return out + _literals(normal_form("".join(run)))


def _normal_item(op: Any, av: Any) -> Item:
    name = str(op)
    if name == "NOT_LITERAL":
        normal = normal_form(chr(av))
        return (op, ord(normal)) if len(normal) == 1 else (op, av)
    if name == "IN":
        return _normal_class(list(av))
    if name == "SUBPATTERN":
        number, add, remove, inner = av
        return op, (number, add, remove, normal_items(list(inner)))
    if name == "BRANCH":
        return op, (av[0], [normal_items(list(alt)) for alt in av[1]])
    if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
        low, high, inner = av
        return op, (low, high, normal_items(list(inner)))
    if name == "ATOMIC_GROUP":
        return op, normal_items(list(av))
    if name in ("ASSERT", "ASSERT_NOT"):
        return op, (av[0], normal_items(list(av[1])))
    if name == "GROUPREF_EXISTS":
        condition, yes, no = av
        return op, (condition, normal_items(list(yes)), normal_items(list(no)) if no else no)
    return op, av  # anchors, `.`, back-references: no characters of their own


def _normal_class(items: list[Item]) -> Item:
    negate = bool(items) and str(items[0][0]) == "NEGATE"
    kept: list[Item] = []
    longer: list[str] = []  # normal forms of several characters
    for op, av in items:
        name = str(op)
        if name == "LITERAL":
            kept += _class_members(chr(av), longer)
        elif name == "RANGE" and _range_to_normalise(*av):
            for code in range(av[0], av[1] + 1):
                kept += _class_members(chr(code), longer)
        else:  # NEGATE, a category (\w, \d, \s hold their normal forms), a range of code points
            kept.append((op, av))
    in_class = (_parser.IN, kept)
    if negate or not longer:  # "none of these" cannot exclude a sequence; nor need it, see above
        return in_class
    alternatives = [[in_class], *(_literals(text) for text in dict.fromkeys(longer))]
    return _parser.BRANCH, (None, alternatives)


def _class_members(c: str, longer: list[str]) -> list[Item]:
    normal = normal_form(c)
    if len(normal) == 1:
        return [(_parser.LITERAL, ord(normal))]
    if normal:
        longer.append(normal)
    return [(_parser.LITERAL, ord(c))]


def _range_to_normalise(low: int, high: int) -> bool:
    typed_ends = normal_form(chr(low)) != chr(low) or normal_form(chr(high)) != chr(high)
    return typed_ends and high - low < MAX_RANGE_NORMALISED


def _literals(text: str) -> list[Item]:
    return [(_parser.LITERAL, ord(c)) for c in text]
