"""Moderators' regular expressions, written in Python's syntax, rewritten for RE2.

Blocklist regexes are written (and have always been stored) in Python's `re` syntax. Python's own
parser reads them, so an entry means what it always meant; this module writes the parsed form out
as an RE2 pattern, which RE2 matches in time linear in the prompt whatever the pattern.

RE2 has no look-around, back-references, conditionals, atomic groups or possessive quantifiers.
A strict rewrite refuses them (`Unsupported` names the construct); a widened one replaces each by
something that matches at least as much (a look-around by nothing, a back-reference by a copy of
its group...), so that an entry stored before keeps blocking everything it blocked. A shrunk
rewrite also turns each `{n,m}` over 10 into `{min(n, 10),}`, for an entry too large for RE2.

The text it is matched against is in normal form (bot/normal_form.py), and so are the
pattern's literal characters: `ｇｕｎ` is written as `gun`, a full-width `＊` as a literal `*`.

What RE2 would read differently is written out explicitly: `\\w`, `\\d` and `\\s` keep Python's
Unicode meaning; in any case `i` also matches `İ` and `ı`; `$` also matches before a final
newline (but a part after the `$` cannot then match that newline: `$\\n` never matches; the
blocklist trims its texts, so none ends with a newline). `\\b` and `\\B` see word characters
of every script wherever the part of the pattern on each side of them surely is a word character
or surely is not (at either end of the pattern, the text outside it always counts); beside a
part that may be either (`.`, `\\S`, `[a!]`, `a?`), they are RE2's, which counts only ASCII
letters, digits and `_` as word characters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from re import _parser  # type: ignore[attr-defined]  # Python's own regex parser
from typing import Any, Literal

from bot.normal_form import Item
from bot.regex_parse import parse

WORD = r"\p{L}\p{N}_"  # Python's \w (str.isalnum or "_"), as a class body
DIGIT = r"\p{Nd}"
ASCII_WORD, ASCII_DIGIT = "0-9A-Za-z_", "0-9"
SPACES = "".join(c for c in map(chr, range(0x3001)) if c.isspace())  # Python's \s; none above
ASCII_SPACES = " \t\n\r\f\v"
# Python's ignore-case also matches these four with one another; RE2's case folding does not.
DOTTED_I = "Iiİı"
SHRUNK_COUNT = 10  # a shrunk {n,m} becomes {min(n, 10),}

_IGNORECASE, _MULTILINE, _DOTALL = re.IGNORECASE.value, re.MULTILINE.value, re.DOTALL.value
_ASCII = re.ASCII.value
_INLINE_FLAGS = ((_IGNORECASE, "i"), (_MULTILINE, "m"), (_DOTALL, "s"))
_MAXREPEAT = _parser.MAXREPEAT


class Unsupported(ValueError):
    """A construct RE2 cannot run; `construct` shows it as a moderator would write it."""

    def __init__(self, construct: str) -> None:
        super().__init__(construct)
        self.construct = construct


@dataclass(frozen=True)
class Rewritten:
    """RE2 syntax, to be compiled case-insensitive; each part self-contained (no global flag).
    `lead` and `tail` are what a `\\b` or `\\B` at either end asks of the character just outside
    the match: "", `not_after_word()` / `not_before_word()`, or `word_class()`."""

    core: str
    widened: bool  # True if it matches more than the entry as written
    lead: str = ""
    tail: str = ""

    @property
    def pattern(self) -> str:
        return self.lead + self.core + self.tail


def rewrite(pattern: str, *, widen: bool = False, shrink: bool = False) -> Rewritten:
    """Raises re.error for a pattern Python cannot read, and (unless `widen`) Unsupported."""
    items, flags = parse(pattern)
    writer = _Writer(widen or shrink, shrink)
    if not flags & _ASCII:
        items = _exact_boundaries(items, flags)
    lead = str(items.pop(0)[1]) if items and items[0][0] == _LEAD else ""
    tail = str(items.pop()[1]) if items and items[-1][0] == _TAIL else ""
    body = writer.sequence(items, flags)
    scope = "".join(letter for bit, letter in _INLINE_FLAGS[1:] if flags & bit)
    return Rewritten(f"(?{scope}:{body})" if scope else body, writer.widened, lead, tail)


def positions(pattern: str) -> int:
    """How many characters the pattern may be reading at once, each `{n}` counted n times: what
    bounds RE2's work per byte of prompt when its fast DFA gives up. Plain literal text is not
    counted (however long, it keeps the DFA small), except inside alternatives. Raises re.error."""
    return _positions(parse(pattern)[0], in_branch=False)


def literal(text: str, *, ignore_case: bool = True) -> str:
    """`text` as an RE2 pattern that matches it as Python's `re` would (in any case by default)."""
    return "".join(_char(ord(c), ignore_case) for c in text)


def space_class() -> str:
    return "[" + "".join(_code(ord(c)) for c in SPACES) + "]"


def not_after_word() -> str:
    """Consumes the character before a word, if any: `(?<!\\w)` for a search."""
    return rf"(?:\A|[^{WORD}])"


def not_before_word() -> str:
    """Consumes the character after a word, if any: `(?!\\w)` for a search."""
    return rf"(?:[^{WORD}]|\z)"


def word_class() -> str:
    return f"[{WORD}]"


def is_word_char(c: str) -> bool:
    return c.isalnum() or c == "_"


# --- writing the parsed pattern out -----------------------------------------------------------

# A \b or \B rewritten exactly: what it asks of the character before the pattern (lead), after it
# (tail), or, between parts known to be word characters or not, whether it holds at all (fixed).
_LEAD, _TAIL, _FIXED = "lead", "tail", "fixed"
NOTHING = r"[^\x{0}-\x{10ffff}]"  # a class no character is in


@dataclass
class _Writer:
    widen: bool
    shrink: bool
    widened: bool = False
    groups: dict[int, tuple[list[Item], int]] = field(default_factory=dict)  # number: items, flags
    anchors_hold: bool = False  # writing a copy of a group for a back-reference

    def refuse(self, construct: str, replacement: str) -> str:
        if not self.widen:
            raise Unsupported(construct)
        self.widened = True
        return replacement

    def sequence(self, items: list[Item], flags: int) -> str:
        return "".join(self.item(op, av, flags) for op, av in items)

    def item(self, op: Any, av: Any, flags: int) -> str:
        ignore_case = bool(flags & _IGNORECASE)
        name = str(op)
        if name == "LITERAL":
            return _char(av, ignore_case)
        if name == "NOT_LITERAL":
            return f"[^{_class_char(av, ignore_case)}]"
        if name == "ANY":
            return "."
        if name == "IN":
            return self.char_class(av, flags)
        if name == "BRANCH":
            return "(?:" + "|".join(self.sequence(list(alt), flags) for alt in av[1]) + ")"
        if name == "SUBPATTERN":
            return self.group(av, flags)
        if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            return self.repeat(name, av, flags)
        if name == "AT":
            return self.anchor(str(av), flags)
        if name in (_LEAD, _TAIL, _FIXED):  # assertions, which hold in a copy (see `copy`)
            return "" if self.anchors_hold else str(av)
        if name == "ATOMIC_GROUP":
            return "(?:" + self.refuse("(?>...)", self.sequence(list(av), flags)) + ")"
        if name in ("ASSERT", "ASSERT_NOT"):
            direction, negative = av[0], name == "ASSERT_NOT"
            behind = direction < 0
            shown = "(?" + ("<" if behind else "") + ("!" if negative else "=") + "...)"
            return self.refuse(shown, "")  # asserting nothing: at least as many matches
        if name == "GROUPREF":
            return self.refuse(f"\\{av}", self.copy(av))
        if name == "GROUPREF_EXISTS":
            _, yes, no = av
            alternatives = self.sequence(list(yes), flags) + "|"
            alternatives += self.sequence(list(no), flags) if no is not None else ""
            return self.refuse("(?(...)...)", f"(?:{alternatives})")
        raise Unsupported(name)  # nothing Python's parser gives for a text pattern

    def group(self, av: Any, flags: int) -> str:
        number, add, remove, items = av
        inner = (flags | add) & ~remove
        on = "".join(letter for bit, letter in _INLINE_FLAGS if add & bit)
        off = "".join(letter for bit, letter in _INLINE_FLAGS if remove & bit)
        scope = on + (f"-{off}" if off else "")
        if number is not None:
            self.groups[number] = (list(items), inner)
        return f"(?{scope}:{self.sequence(list(items), inner)})"

    def copy(self, number: int) -> str:
        """Whatever text the group can match anywhere: its pattern with every anchor holding,
        since the text it matched need not be at an anchor again where it is repeated."""
        if number not in self.groups:  # a reference inside its own group
            return "(?s:.)*"
        items, flags = self.groups[number]
        outer, self.anchors_hold = self.anchors_hold, True
        try:
            return f"(?:{self.sequence(items, flags)})"
        finally:
            self.anchors_hold = outer

    def repeat(self, name: str, av: Any, flags: int) -> str:
        low, high, items = av
        body = f"(?:{self.sequence(list(items), flags)})"
        if name == "POSSESSIVE_REPEAT":
            self.refuse("*+", "")
        if self.shrink and max(low, 0 if high == _MAXREPEAT else high) > SHRUNK_COUNT:
            self.widened = True  # in a search, `low` or more is at least what up to `high` was
            low, high = min(low, SHRUNK_COUNT), _MAXREPEAT
        if high == _MAXREPEAT:
            counts = {0: "*", 1: "+"}.get(low, f"{{{low},}}")
        elif (low, high) == (0, 1):
            counts = "?"
        else:
            counts = f"{{{low}}}" if low == high else f"{{{low},{high}}}"
        return body + counts + ("?" if name == "MIN_REPEAT" else "")

    def anchor(self, at: str, flags: int) -> str:
        if self.anchors_hold:
            return ""
        multiline = flags & _MULTILINE
        if at == "AT_BEGINNING":
            return "^"
        if at == "AT_END":  # Python's `$` also matches just before a final newline
            return "$" if multiline else r"(?:\n?\z)"
        if at == "AT_BEGINNING_STRING":
            return r"\A"
        if at == "AT_END_STRING":
            return r"\z"
        if at == "AT_BOUNDARY":
            return r"\b"
        if at == "AT_NON_BOUNDARY":
            return r"\B"
        raise Unsupported(at)

    def char_class(self, items: list[Item], flags: int) -> str:
        ignore_case, ascii_only = bool(flags & _IGNORECASE), bool(flags & _ASCII)
        negate = bool(items) and str(items[0][0]) == "NEGATE"
        inside: list[str] = []  # class bodies of what the class contains
        outside: list[str] = []  # class bodies of \W, \D, \S: what it contains all but
        for op, av in items[1:] if negate else items:
            name = str(op)
            if name == "LITERAL":
                inside.append(_class_char(av, ignore_case))
            elif name == "RANGE":
                low, high = av
                inside.append(f"{_code(low)}-{_code(high)}")
                if ignore_case and any(low <= ord(c) <= high for c in DOTTED_I):
                    inside.append(_codes(DOTTED_I))
            elif name == "CATEGORY":
                body, negated = _category(str(av), ascii_only)
                (outside if negated else inside).append(body)
            else:
                raise Unsupported(name)
        body = "".join(inside)
        if not outside:
            return f"[^{body}]" if negate else f"[{body}]"
        if not negate:  # a union: what it lists, or anything outside \w, \d or \s
            return (
                "(?:"
                + "|".join(([f"[{body}]"] if body else []) + [f"[^{o}]" for o in outside])
                + ")"
            )
        if not inside and len(outside) == 1:  # [^\W] is \w
            return f"[{outside[0]}]"
        if not inside and set(outside) <= {WORD, DIGIT}:  # [^\W\D] is \d
            return f"[{DIGIT}]"
        underscore = _code(ord("_"))
        if outside == [WORD] and set(inside) <= {DIGIT, underscore}:  # [^\W\d_]: letters
            kept = [r"\p{L}", r"\p{Nl}\p{No}", r"\p{Nd}" * (DIGIT not in inside)]
            return "[" + "".join(kept) + "_" * (underscore not in inside) + "]"
        spaces = _category("CATEGORY_SPACE", ascii_only)[0]
        if outside == [spaces]:  # [^\S\n]: the spaces it does not list
            listed = re.compile(f"[{_python_class(items[1:])}]", re.ASCII if ascii_only else 0)
            kept = [c for c in (ASCII_SPACES if ascii_only else SPACES) if not listed.fullmatch(c)]
            return f"[{_codes(''.join(kept))}]" if kept else NOTHING
        # the intersection of classes, which RE2 cannot write; each of them is a wider class
        return self.refuse("[^\\W...]", f"[{outside[0]}]")


# What is next to a part of the pattern: a word character (True), surely not one (False), either
# (None), or the text outside the pattern, at its start or end.
Side = bool | None | Literal["outside"]


def _exact_boundaries(
    items: list[Item], flags: int, before: Side = "outside", after: Side = "outside"
) -> list[Item]:
    """Each `\\b` and `\\B` that can be written exactly for every script, though RE2's own count
    only ASCII word characters: between two parts each surely a word character or surely not, as
    holding or not; and first or last in the pattern, next to such a part, as what it asks of
    the character outside the match. `before` and `after` are what is next to `items`. The
    others, next to a part that may be either, stay RE2's."""
    if flags & _ASCII:  # then Python's are ASCII too
        return items
    out: list[Item] = []
    last = len(items) - 1
    for i, (op, av) in enumerate(items):
        name = str(op)
        if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):  # next to itself, too
            out.append((op, (av[0], av[1], _exact_boundaries(list(av[2]), flags, None, None))))
            continue
        if name not in ("AT", "BRANCH", "SUBPATTERN"):  # characters, look-around...
            out.append((op, av))
            continue
        left = _side_kind(items[i - 1], first=False) if i > 0 else before
        right = _side_kind(items[i + 1], first=True) if i < last else after
        if _is_boundary((op, av)):
            boundary = str(av) == "AT_BOUNDARY"
            if left == "outside" and isinstance(right, bool):
                out.append((_LEAD, _outside_char(boundary, right, before=True)))
            elif right == "outside" and isinstance(left, bool):
                out.append((_TAIL, _outside_char(boundary, left, before=False)))
            elif isinstance(left, bool) and isinstance(right, bool):
                out.append((_FIXED, "" if (left != right) == boundary else NOTHING))
            else:
                out.append((op, av))
        elif name == "BRANCH":
            alternatives = [_exact_boundaries(list(alt), flags, left, right) for alt in av[1]]
            out.append((op, (av[0], alternatives)))
        elif name == "SUBPATTERN":
            number, add, remove, inner = av
            inner = _exact_boundaries(list(inner), (flags | add) & ~remove, left, right)
            out.append((op, (number, add, remove, inner)))
        else:  # another anchor
            out.append((op, av))
    return out


def _positions(items: list[Item], *, in_branch: bool) -> int:
    total = 0
    for op, av in items:
        name = str(op)
        if name in ("NOT_LITERAL", "ANY", "IN") or (name == "LITERAL" and in_branch):
            total += 1
        elif name == "BRANCH":
            total += sum(_positions(list(alt), in_branch=True) for alt in av[1])
        elif name in ("SUBPATTERN", "ASSERT", "ASSERT_NOT", "ATOMIC_GROUP"):
            inner = av[3] if name == "SUBPATTERN" else av if name == "ATOMIC_GROUP" else av[1]
            total += _positions(list(inner), in_branch=in_branch)
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, high, inner_items = av
            count = max(1, low if high == _MAXREPEAT else high)
            total += _positions(list(inner_items), in_branch=in_branch) * count
        elif name == "GROUPREF_EXISTS":
            total += sum(_positions(list(b), in_branch=True) for b in av[1:] if b is not None)
    return total


def _is_boundary(item: Item) -> bool:
    return str(item[0]) == "AT" and str(item[1]) in ("AT_BOUNDARY", "AT_NON_BOUNDARY")


def _outside_char(boundary: bool, inside_is_word: bool, *, before: bool) -> str:
    """What the character just outside the pattern must be: a word character, or not one (or
    no character at all, at the start or end of the prompt)."""
    if boundary != inside_is_word:
        return word_class()
    return not_after_word() if before else not_before_word()


def _side_kind(item: Item, *, first: bool) -> bool | None:
    """`_edge_kind`, and what an anchor next to a `\\b` says of the character on its far side:
    before `^` and `\\A`, and after `$` and `\\Z`, there is none or a newline."""
    if str(item[0]) == "AT":
        at = str(item[1])
        ends = ("AT_END", "AT_END_STRING") if first else ("AT_BEGINNING", "AT_BEGINNING_STRING")
        return False if at in ends else None
    return _edge_kind(item, first=first)


def _edge_kind(item: Item, *, first: bool) -> bool | None:
    """True if `item` always starts (first) or ends with a word character, False if never,
    None if it may do either or match nothing."""
    name, av = str(item[0]), item[1]
    if name == "LITERAL":
        return is_word_char(chr(av))
    if name == "IN":
        kinds = {_class_item_kind(op, a) for op, a in av}
        return kinds.pop() if len(kinds) == 1 else None
    if name == "SUBPATTERN":  # under (?a:...), \\W holds letters of other scripts
        return _sequence_kind(list(av[3]), first=first) if not av[1] & _ASCII else None
    if name == "BRANCH":
        kinds = {_sequence_kind(list(alt), first=first) for alt in av[1]}
        return kinds.pop() if len(kinds) == 1 else None
    if name in ("MAX_REPEAT", "MIN_REPEAT") and av[0] >= 1:
        return _sequence_kind(list(av[2]), first=first)
    return None


def _sequence_kind(items: list[Item], *, first: bool) -> bool | None:
    if not items:
        return None
    return _edge_kind(items[0] if first else items[-1], first=first)


def _class_item_kind(op: Any, av: Any) -> bool | None:
    name = str(op)
    if name == "LITERAL":
        return is_word_char(chr(av))
    if name == "RANGE":
        low, high = av
        if high - low > 2000:
            return None
        kinds = {is_word_char(chr(c)) for c in range(low, high + 1)}
        return kinds.pop() if len(kinds) == 1 else None
    if name == "CATEGORY":
        return {"CATEGORY_WORD": True, "CATEGORY_DIGIT": True, "CATEGORY_NOT_WORD": False,
                "CATEGORY_SPACE": False}.get(str(av))  # fmt: skip
    return None  # NEGATE: a class that excludes can hold either


def _category(name: str, ascii_only: bool) -> tuple[str, bool]:
    """A category as a class body, and whether the class means everything but that body."""
    bodies = {
        "DIGIT": ASCII_DIGIT if ascii_only else DIGIT,
        "WORD": ASCII_WORD if ascii_only else WORD,
        "SPACE": _codes(ASCII_SPACES if ascii_only else SPACES),
    }
    base = name.removeprefix("CATEGORY_")
    negated = base.startswith("NOT_")
    body = bodies.get(base.removeprefix("NOT_"))
    if body is None:
        raise Unsupported(name)
    return body, negated


def _python_class(items: list[Item]) -> str:
    """The class items back in Python's syntax (for the few spaces a `[^\\S...]` keeps)."""
    out = []
    for op, av in items:
        name = str(op)
        if name == "LITERAL":
            out.append(re.escape(chr(av)))
        elif name == "RANGE":
            out.append(f"{re.escape(chr(av[0]))}-{re.escape(chr(av[1]))}")
        elif name == "CATEGORY":
            base = str(av).removeprefix("CATEGORY_")
            out.append({"DIGIT": r"\d", "NOT_DIGIT": r"\D", "WORD": r"\w", "NOT_WORD": r"\W",
                        "SPACE": r"\s", "NOT_SPACE": r"\S"}[base])  # fmt: skip
    return "".join(out)


def _char(code: int, ignore_case: bool) -> str:
    if ignore_case and chr(code) in DOTTED_I:
        return f"[{_codes(DOTTED_I)}]"
    return _code(code)


def _class_char(code: int, ignore_case: bool) -> str:
    return _codes(DOTTED_I) if ignore_case and chr(code) in DOTTED_I else _code(code)


def _code(code: int) -> str:
    """One character, safe inside and outside a class."""
    c = chr(code)
    return c if c.isascii() and c.isalnum() else f"\\x{{{code:x}}}"


def _codes(text: str) -> str:
    return "".join(_code(ord(c)) for c in text)
