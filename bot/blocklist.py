"""The prompt blocklist's entries: what each one means, and checking prompts against them.

What moderators are told in /videomod blocklist:
* A plain entry is a word or phrase (stored in lower case), matched in any case as a whole
  word: ``gun`` blocks "a GUN" but not "begun" or "guns". Spaces inside a phrase match any run
  of spaces. Characters of scripts written without spaces (Chinese, Japanese, Korean) match
  anywhere in the text.
* An entry written as ``/.../`` (or added with ``regex: True``) is a regular expression in
  Python's syntax, searched in any case. Matching uses RE2 (bot/regex_re2.py), whose time is
  linear in the prompt whatever the pattern, so no entry can stall the bot. RE2 has no
  look-around, back-references, conditionals, atomic groups or possessive quantifiers: such
  regexes are refused when added. One stored before that cannot be run as written is run widened
  (it blocks everything it blocked, and may block more) and is marked in the list; one that
  would match an empty prompt, so block every prompt, is not checked, and marked.
* Before matching, prompts, words and the characters of a regex are NFKC-normalised (full-width
  letters, digits and punctuation become ASCII, ``ﬁ`` becomes ``fi``) and invisible format
  characters (zero-width spaces) are removed, so they cannot split a word (bot/normal_form.py).
  A regex is normalised character by character in its parsed form, so a full-width ``＊``,
  ``？`` or ``（`` stays the character it is in Python, never regex syntax. Prompts are also
  trimmed.
* Regexes are capped in length, a server in entries, and all of a server's entries together in
  the size of the one RE2 program that checks a prompt and in how many characters its regexes
  may be reading at once: this bounds the work per prompt (bench/blocklist.py).

Nothing here talks to Discord or reads the text catalogue: errors carry a message key.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import re2
from re2 import _re2  # the binding itself: the module's wrapper keeps 128 programs cached

from bot import regex_re2
from bot.normal_form import normal_form
from bot.refusal import Refusal
from bot.regex_re2 import Unsupported, literal, not_after_word, not_before_word, space_class

log = logging.getLogger(__name__)

MAX_WORD_LENGTH = 100
MAX_REGEX_LENGTH = 200
MAX_RULES = 200
# All of a server's entries together, in the one RE2 program that reads each prompt:
MAX_PROGRAM = 60_000  # instructions (memory, compile time): 200 entries of 99 letters take 23,000
MAX_POSITIONS = 1_000  # characters all regexes read at once (regex_re2.positions): this bounds
# the work per prompt when RE2's fast DFA gives up, to ~0.2 ms a position (bench/blocklist.py)


class RuleError(Refusal, ValueError):
    """An entry a moderator can fix: its message key and values say why."""


def normalize(text: str) -> str:
    """A prompt as checked: in normal form, trimmed as the bot trims what members type (a
    zero-width character could have hidden a space or newline at either end)."""
    return normal_form(text).strip()


def plain(text: str) -> str:
    """A word entry as stored: normalised, lower case, single spaces."""
    return " ".join(normalize(text).lower().split())


def parse_rule(text: str, regex: bool = False) -> tuple[str, bool]:
    """A moderator's entry as (pattern, is_regex): `/.../` means a regex. Raises RuleError."""
    value = _encodable(text.strip())
    if len(value) > 2 and value.startswith("/") and value.endswith("/"):
        value, regex = value[1:-1], True
    if not regex:
        value = plain(value)
    if not value:
        raise RuleError("input.blocklist_empty")
    if not regex:
        if len(value) > MAX_WORD_LENGTH:
            raise RuleError("input.word_too_long", count=MAX_WORD_LENGTH)
        return value, False
    if len(value) > MAX_REGEX_LENGTH:
        raise RuleError("input.regex_too_long", count=MAX_REGEX_LENGTH)
    try:
        rewritten = regex_re2.rewrite(value)
    except re.error as exc:
        raise RuleError("input.regex_invalid", pattern=value, error=exc) from None
    except Unsupported as exc:
        raise RuleError("input.regex_unsupported", construct=exc.construct) from None
    program = _compile(rewritten.pattern)
    if program is None or program.size > MAX_PROGRAM:
        raise RuleError("input.regex_too_complex")
    if regex_re2.positions(value) > MAX_POSITIONS:
        raise RuleError("input.regex_too_complex")
    if program.search(""):
        raise RuleError("input.regex_matches_empty")
    return value, True


def _encodable(text: str) -> str:
    """The text with each lone surrogate (which Discord's JSON can carry, and no database can
    store) replaced by U+FFFD, as any decoder would."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def compile_rule(pattern: str, is_regex: bool) -> Program:
    """One stored entry, ready to search (widened if RE2 cannot run it as written)."""
    runnable = _runnable(_word(0, pattern) if not is_regex else _regex(0, pattern))
    if runnable is None:
        raise RuleError("input.regex_too_complex")
    if runnable[1].search(""):
        raise RuleError("input.regex_matches_empty")
    return runnable[1]


def checked(entries: Sequence[tuple[str, bool]]) -> Checker:
    """The checker of these (pattern, is_regex) entries; RuleError if too large together."""
    checker = Checker(entries)
    if checker.size > MAX_PROGRAM or checker.positions > MAX_POSITIONS:
        raise RuleError("input.blocklist_too_complex")
    return checker


class Program:
    """One compiled RE2 program; each of its capturing groups belongs to one entry."""

    def __init__(self, compiled: Any, owners: Sequence[int] = ()) -> None:
        self._compiled, self._owners = compiled, list(owners)
        self.size: int = compiled.ProgramSize()

    def with_owners(self, owners: Sequence[int]) -> Program:
        return Program(self._compiled, owners)

    def search(self, text: str) -> bool:
        return self._spans(text.encode())[0] != _NO_MATCH

    def first(self, text: bytes) -> int | None:
        """The entry matched leftmost in `text` (the first listed if several start there)."""
        spans = self._spans(text)
        if spans[0] == _NO_MATCH:
            return None
        return next(self._owners[i] for i, span in enumerate(spans[1:]) if span != _NO_MATCH)

    def _spans(self, text: bytes) -> list[tuple[int, int]]:
        """RE2 runs without the GIL here, so a worker thread leaves the event loop free."""
        return self._compiled.Match(_UNANCHORED, text, 0, len(text))  # type: ignore[no-any-return]


class Checker:
    """A server's entries compiled into one RE2 program, so that each prompt is read once. Only
    rows stored before the caps may need several programs, or hold a regex RE2 cannot run as
    written (then checked widened) or at all (not checked): both are logged and listed."""

    def __init__(self, entries: Sequence[tuple[str, bool]]) -> None:
        parsed = [(_regex if is_regex else _word)(i, p) for i, (p, is_regex) in enumerate(entries)]
        whole = _program(parsed) if parsed and all(e.core is not None for e in parsed) else None
        if whole is not None and whole.first(b"") is None and whole.size <= MAX_PROGRAM:
            runnable, self.programs, everything = parsed, [whole], set()
        else:  # each entry alone, widened as needed; then as few programs as the cap allows
            alone = [r for r in map(_runnable, parsed) if r is not None]
            # one that matches an empty prompt, stored before that was refused or emptied by
            # normal_form since (a regex of a zero-width space), would block every prompt
            everything = {e.index for e, program in alone if program.search("")}
            alone = [(e, program) for e, program in alone if e.index not in everything]
            runnable, self.programs = [e for e, _ in alone], _pack(alone)
        kept = {e.index for e in runnable}
        self.unchecked = frozenset(e.index for e in parsed if e.index not in kept)
        self.widened = frozenset(e.index for e in runnable if e.widened)
        self.size = sum(program.size for program in self.programs)
        self.positions = sum(_positions(p) for p, is_regex in entries if is_regex)
        for index in sorted(self.widened | self.unchecked):
            state = "NOT CHECKED" if index in self.unchecked else "checked widened"
            why = "it would match every prompt" if index in everything else "RE2 cannot run it"
            pattern, is_regex = entries[index]
            shown = f"/{pattern}/" if is_regex else repr(pattern)
            log.warning("blocklist entry %s is %s: %s as written", shown, state, why)

    def first_match(self, *texts: str | None) -> int | None:
        """The index of an entry the texts hit (the first text is read first), or None."""
        for text in texts:
            if not text:
                continue
            data = normalize(text).encode()
            for program in self.programs:
                found = program.first(data)
                if found is not None:
                    return found
        return None


# --- building the programs --------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    index: int
    core: str | None  # RE2 syntax; None: RE2 cannot run it
    lead: str = ""  # what a word boundary at its start asks of the character before (regex_re2)
    tail: str = ""
    widened: bool = False
    regex: str = ""  # a regex entry as stored, and how far it was widened (_LEVELS)
    level: int = 0


def _word(index: int, pattern: str) -> _Entry:
    pattern = plain(pattern)  # as stored, unless by a version that normalised less
    core = (space_class() + "+").join(literal(part) for part in pattern.split())
    lead = not_after_word() if pattern and _spaced_word_char(pattern[0]) else ""
    tail = not_before_word() if pattern and _spaced_word_char(pattern[-1]) else ""
    return _Entry(index, core, lead, tail)


def _spaced_word_char(c: str) -> bool:
    """A word character of a script that separates words with spaces."""
    return regex_re2.is_word_char(c) and unicodedata.east_asian_width(c) not in ("W", "F")


# A stored regex is rewritten as written, else widened, else also with its large counts shrunk.
_LEVELS: tuple[dict[str, bool], ...] = ({}, {"widen": True}, {"widen": True, "shrink": True})


def _regex(index: int, pattern: str, level: int = 0) -> _Entry:
    for at in range(level, len(_LEVELS)):
        try:
            r = regex_re2.rewrite(pattern, **_LEVELS[at])
        except Unsupported:
            continue
        except re.error:  # not even Python's syntax: nothing to run
            break
        return _Entry(index, r.core, r.lead, r.tail, r.widened, pattern, at)
    return _Entry(index, None, regex=pattern, level=len(_LEVELS))


def _positions(pattern: str) -> int:
    try:
        return regex_re2.positions(pattern)
    except re.error:
        return 0


def _runnable(entry: _Entry) -> tuple[_Entry, Program] | None:
    """The entry compiled alone; a regex RE2 refuses is tried at the next level."""
    program = _program([entry]) if entry.core is not None else None
    if program is not None:
        return entry, program
    if entry.regex and entry.level + 1 < len(_LEVELS):
        return _runnable(_regex(entry.index, entry.regex, entry.level + 1))
    return None


def _program(entries: Sequence[_Entry]) -> Program | None:
    """One program for these entries: those that ask the same of the characters around them
    share one alternation, so a boundary's large Unicode classes are written once, not each time
    (each entry is a capturing group, in this order: a match tells which entry it is)."""
    buckets: dict[tuple[str, str], list[_Entry]] = {}
    for entry in entries:
        buckets.setdefault((entry.lead, entry.tail), []).append(entry)
    alternatives = [
        lead + "(?:" + "|".join(f"({e.core})" for e in bucket) + ")" + tail
        for (lead, tail), bucket in buckets.items()
    ]
    program = _compile("|".join(alternatives))
    owners = [e.index for bucket in buckets.values() for e in bucket]
    return program.with_owners(owners) if program is not None else None


def _pack(alone: list[tuple[_Entry, Program]]) -> list[Program]:
    """Consecutive entries joined into programs of at most MAX_PROGRAM instructions each."""
    programs: list[Program] = []
    batch: list[tuple[_Entry, Program]] = []
    for entry, program in alone:
        if batch and sum(p.size for _, p in batch) + program.size > MAX_PROGRAM:
            programs += _join(batch)
            batch = []
        batch.append((entry, program))
    return programs + (_join(batch) if batch else [])


def _join(batch: list[tuple[_Entry, Program]]) -> list[Program]:
    joined = _program([entry for entry, _ in batch]) if len(batch) > 1 else None
    return [joined] if joined is not None else [program for _, program in batch]


_OPTIONS = re2.Options()
_OPTIONS.case_sensitive = False
# Room for the program (MAX_PROGRAM) and its DFA's states, which are made as prompts need them:
# with RE2's default 8 MiB, a large blocklist left the DFA too little room and every prompt
# went to the 100x slower NFA (bench/blocklist.py).
_OPTIONS.max_mem = 32 << 20
_OPTIONS.log_errors = False  # RE2 would print to stderr; failures are handled here
_UNANCHORED = _re2.RE2.Anchor.UNANCHORED
_NO_MATCH = (-1, -1)


def _compile(source: str) -> Program | None:
    """None if RE2 refuses it (too large, or a count over 1,000)."""
    compiled = _re2.RE2(source.encode(), _OPTIONS)
    return Program(compiled) if compiled.ok() else None
