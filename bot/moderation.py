"""Moderation rules over the store: the generation log, bans, the prompt blocklist, per-server
settings and the audit trail of moderator actions. Nothing here talks to Discord.

What a blocklist entry means, and the checking of prompts, is bot/blocklist.py.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from dataclasses import dataclass, replace
from typing import IO, Any, Generic, TypeVar

from bot.blocklist import MAX_RULES, Checker, RuleError, checked, parse_rule, plain
from bot.export import Wording, write_csv
from bot.refusal import Refusal
from bot.store import Generation, Store, Transaction
from bot.store.generations import STATUSES

# The records moderators keep are the store's; the cogs and renderers read them from here.
from bot.store.history import IN_PROGRESS as IN_PROGRESS
from bot.store.history import LogCursor as LogCursor
from bot.store.history import LogFilter as LogFilter
from bot.store.moderation import AuditEntry as AuditEntry
from bot.store.moderation import Ban as Ban
from bot.store.moderation import BlocklistRow

T = TypeVar("T")
K = TypeVar("K")

LOG_PAGE_SIZE = 6
AUDIT_PAGE_SIZE = 8
EXPORT_BATCH = 500
MAX_REASON_LENGTH = 500
AUTOCOMPLETE_SCAN = 500  # autocomplete looks at this many recent generations, no more

KNOWN_STATUSES = STATUSES  # every status a generation can have
STATUS_FILTERS: dict[str, tuple[str, ...]] = {
    "completed": ("completed",),
    "failed": ("failed",),
    "expired": ("expired",),
    "cancelled": ("cancelled",),
    "in_progress": IN_PROGRESS,
}

# Audit actions. Others (e.g. the credits cog's) may record their own names too.
BAN, UNBAN = "ban", "unban"
BLOCKLIST_ADD, BLOCKLIST_REMOVE = "blocklist_add", "blocklist_remove"
CONFIG = "config"
GRANT, LIMIT, REFUND = "grant", "limit", "refund"


class InvalidInput(Refusal, ValueError):
    """Input a moderator can fix: its message key and values say why, and the cog words them in
    the moderator's language."""

    @classmethod
    def from_rule(cls, error: RuleError) -> InvalidInput:
        return cls(error.message_key, **error.message_values)


class Banned(Refusal):
    """The member may not make videos in this server."""

    def __init__(self) -> None:
        super().__init__("moderation.banned")


class Blocked(Refusal):
    """The prompt hits the server's blocklist; `pattern` is the entry it hit (as displayed), for
    the moderators: the member is not told which."""

    def __init__(self, pattern: str) -> None:
        super().__init__("moderation.blocked")
        self.pattern = pattern


# --- time filters -----------------------------------------------------------------------------

_RELATIVE = re.compile(r"(\d{1,5})\s*(m|min|mins|h|hr|hrs|d|day|days|w|wk|wks)", re.IGNORECASE)
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
MAX_LOOKBACK = 3660 * 86400


def parse_since(text: str, now: float) -> float:
    """`24h`, `30m`, `7d`, `2w`, or a date (`2026-11-01`, UTC midnight) or ISO date-time."""
    value = text.strip()
    match = _RELATIVE.fullmatch(value)
    if match:
        amount = int(match.group(1))
        seconds = amount * _UNIT_SECONDS[match.group(2)[0].lower()]
        if amount <= 0 or seconds > MAX_LOOKBACK:
            raise InvalidInput("input.since_range", text=text)
        return now - seconds
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput("input.since_unreadable", text=text) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


# --- records ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page(Generic[T, K]):
    items: list[T]
    next: K | None  # pass back to get the following page; None at the end


# How a blocklist entry is checked: as written, or (a regex stored before the blocklist ran on
# RE2, that RE2 cannot run as written) widened so it still blocks all it did, or not at all.
AS_WRITTEN, WIDENED, NOT_CHECKED = "as_written", "widened", "not_checked"


@dataclass(frozen=True)
class BlockRule:
    id: int
    guild_id: int
    pattern: str
    is_regex: bool
    added_by: int
    added_at: float
    checked: str = AS_WRITTEN

    @property
    def display(self) -> str:
        return f"/{self.pattern}/" if self.is_regex else self.pattern


# --- the service ------------------------------------------------------------------------------


class Moderation:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._blocklists: dict[int, tuple[list[BlockRule], Checker]] = {}
        self._edits: dict[int, int] = {}  # blocklist changes per server: a stale compile is dropped

    def clock(self) -> float:
        return self._store.clock()

    # generation log ---------------------------------------------------------------------------

    async def log_page(
        self, f: LogFilter, after: LogCursor | None = None, limit: int = LOG_PAGE_SIZE
    ) -> Page[Generation, LogCursor]:
        """Newest first; keyset pagination, so page 1000 costs what page 1 costs."""
        rows = await self._store.history.page(f, after, limit + 1)
        items = rows[:limit]
        more = len(rows) > limit
        return Page(items, (items[-1].requested_at, items[-1].id) if more else None)

    async def get_by_task_id(self, guild_id: int, task_id: str) -> Generation | None:
        """One generation of this server by its task id (or `#<number>` for rows without one)."""
        ref = task_id.strip()
        found = await self._store.history.by_task_id(guild_id, ref)
        if found is None and re.fullmatch(r"#?\d{1,18}", ref):
            found = await self._store.history.by_id(guild_id, int(ref.lstrip("#")))
        return found

    async def recent(self, guild_id: int, typed: str = "", limit: int = 25) -> list[Generation]:
        """For autocomplete: recent generations whose task id or prompt contains `typed`."""
        needle = typed.strip().lower()
        return await self._store.history.recent_matching(
            guild_id, needle, scan=AUTOCOMPLETE_SCAN, limit=limit
        )

    async def active_count(self, guild_id: int, user_id: int) -> int:
        return await self._store.history.count_in_progress(guild_id, user_id)

    async def export_csv(
        self,
        f: LogFilter,
        out: IO[str],
        *,
        batch: int = EXPORT_BATCH,
        wording: Wording | None = None,
    ) -> int:
        """Write every matching video (newest first) as CSV a person can open: see
        bot/export.py. Returns the number of rows; memory does not grow with the history."""
        return await write_csv(self._store.history, f, out, wording or Wording(), batch=batch)

    # bans -------------------------------------------------------------------------------------

    async def ban(
        self, guild_id: int, user_id: int, moderator_id: int, reason: str
    ) -> AuditEntry | None:
        """The audit entry, or None if the member was already banned (nothing changes)."""
        reason_text = _reason(reason)
        async with self._store.transaction() as tx:
            if not await tx.moderation.add_ban(guild_id, user_id, moderator_id, reason_text):
                return None
            return await self.record(guild_id, moderator_id, BAN, user_id, None, reason_text, tx=tx)

    async def unban(
        self, guild_id: int, user_id: int, moderator_id: int, reason: str | None = None
    ) -> AuditEntry | None:
        """The audit entry, or None if the member was not banned."""
        reason = _reason(reason)
        async with self._store.transaction() as tx:
            if not await tx.moderation.remove_ban(guild_id, user_id):
                return None
            return await self.record(guild_id, moderator_id, UNBAN, user_id, None, reason, tx=tx)

    async def get_ban(self, guild_id: int, user_id: int) -> Ban | None:
        return await self._store.moderation.ban(guild_id, user_id)

    async def is_banned(self, guild_id: int, user_id: int) -> bool:
        """The one answer to whether a member is banned: when they ask for a video (`screen`),
        when their waiting request's turn comes, and when their video is ready to deliver."""
        return await self.get_ban(guild_id, user_id) is not None

    async def screen(
        self, guild_id: int, user_id: int, prompt: str, negative_prompt: str | None
    ) -> None:
        """Whether the member may ask for this video, as far as moderators decide: raises Banned,
        else Blocked. The service that admits requests asks, before any credit is reserved."""
        if await self.is_banned(guild_id, user_id):
            raise Banned()
        pattern = await self.match(guild_id, prompt, negative_prompt)
        if pattern is not None:
            raise Blocked(pattern)

    async def bans(self, guild_id: int) -> list[Ban]:
        """Every ban in the server, newest first."""
        return await self._store.moderation.bans(guild_id)

    # blocklist --------------------------------------------------------------------------------

    async def blocklist_add(
        self,
        guild_id: int,
        text: str,
        moderator_id: int,
        *,
        regex: bool = False,
        reason: str | None = None,
    ) -> AuditEntry | None:
        """The audit entry (`details["pattern"]` as displayed), or None if it was already there.
        Raises InvalidInput for an entry that is empty, too long, invalid, unsupported, or too
        large to check together with the others."""
        try:
            pattern, is_regex = parse_rule(text, regex)
        except RuleError as exc:
            raise InvalidInput.from_rule(exc) from None
        reason = _reason(reason)
        edits = self._edits.get(guild_id, 0)
        current = await self.blocklist(guild_id)
        entries = [(r.pattern, r.is_regex) for r in current]
        checker = None
        if len(current) < MAX_RULES and (pattern, is_regex) not in entries:
            try:
                checker = await asyncio.to_thread(checked, [*entries, (pattern, is_regex)])
            except RuleError as exc:
                raise InvalidInput.from_rule(exc) from None
        async with self._store.transaction() as tx:
            if await tx.moderation.blocklist_size(guild_id) >= MAX_RULES:
                raise InvalidInput("input.blocklist_full", count=MAX_RULES)
            row = await tx.moderation.add_blocklist_entry(guild_id, pattern, is_regex, moderator_id)
            if row is None:
                return None
            details = {"pattern": _rule(row).display}
            entry = await self.record(
                guild_id, moderator_id, BLOCKLIST_ADD, None, details, reason, tx=tx
            )
        self._forget_blocklist(guild_id)
        if checker is not None and self._edits[guild_id] == edits + 1:  # no other edit meanwhile
            self._keep_blocklist(guild_id, [*current, _rule(row)], checker)
        return entry

    async def blocklist_remove(
        self, guild_id: int, text: str, moderator_id: int, reason: str | None = None
    ) -> AuditEntry | None:
        """Remove an entry given as shown in the list (`word` or `/regex/`); None if absent."""
        reason = _reason(reason)
        value = text.strip()
        slashed = len(value) > 2 and value[0] == value[-1] == "/"
        candidates = [(value[1:-1], True)] if slashed else []
        candidates += [(plain(value), False), (value, True)]
        async with self._store.transaction() as tx:
            for pattern, is_regex in candidates:
                row = await tx.moderation.remove_blocklist_entry(guild_id, pattern, is_regex)
                if row is not None:
                    entry = await self.record(
                        guild_id, moderator_id, BLOCKLIST_REMOVE, None,
                        {"pattern": _rule(row).display}, reason, tx=tx,
                    )  # fmt: skip
                    break
            else:
                return None
        self._forget_blocklist(guild_id)
        return entry

    async def blocklist(self, guild_id: int) -> list[BlockRule]:
        """Every entry in the order added, each saying how it is checked."""
        rules, _ = await self._blocklist(guild_id)
        return rules

    async def match(
        self, guild_id: int, prompt: str, negative_prompt: str | None = None
    ) -> str | None:
        """A blocklist entry (as displayed) that the prompts hit, or None: the one matched
        earliest in the prompt, else in the negative prompt. RE2 reads each prompt once for all
        entries, in a worker thread and in time linear in the prompt, so the bot never waits."""
        rules, checker = await self._blocklist(guild_id)
        if not rules:
            return None
        index = await asyncio.to_thread(checker.first_match, prompt, negative_prompt)
        return rules[index].display if index is not None else None

    async def _blocklist(self, guild_id: int) -> tuple[list[BlockRule], Checker]:
        cached = self._blocklists.get(guild_id)
        if cached is not None:
            return cached
        edits = self._edits.get(guild_id, 0)
        rules = [_rule(r) for r in await self._store.moderation.blocklist(guild_id)]
        checker = await asyncio.to_thread(Checker, [(r.pattern, r.is_regex) for r in rules])
        if self._edits.get(guild_id, 0) != edits:  # an edit came in meanwhile: do not keep it
            return rules, checker
        return self._keep_blocklist(guild_id, rules, checker)

    def _keep_blocklist(
        self, guild_id: int, rules: list[BlockRule], checker: Checker
    ) -> tuple[list[BlockRule], Checker]:
        rules = [replace(r, checked=_how_checked(checker, i)) for i, r in enumerate(rules)]
        self._blocklists[guild_id] = (rules, checker)
        return rules, checker

    def _forget_blocklist(self, guild_id: int) -> None:
        self._edits[guild_id] = self._edits.get(guild_id, 0) + 1
        self._blocklists.pop(guild_id, None)

    # server settings --------------------------------------------------------------------------

    async def guilds_with_log_channel(self) -> list[int]:
        return await self._store.moderation.guilds_with_log_channel()

    async def log_channel(self, guild_id: int) -> int | None:
        return await self._store.moderation.log_channel(guild_id)

    async def set_log_channel(
        self, guild_id: int, channel_id: int | None, moderator_id: int, reason: str | None = None
    ) -> AuditEntry | None:
        """Set (or, with None, turn off) the mod-log channel; None if nothing changed."""
        reason = _reason(reason)
        async with self._store.transaction() as tx:
            previous = await tx.moderation.log_channel(guild_id)
            await tx.moderation.set_log_channel(guild_id, channel_id, moderator_id)
            if previous == channel_id:
                return None
            details = {"setting": "log_channel", "old": previous, "new": channel_id}
            return await self.record(guild_id, moderator_id, CONFIG, None, details, reason, tx=tx)

    # audit trail ------------------------------------------------------------------------------

    async def record(
        self,
        guild_id: int,
        moderator_id: int,
        action: str,
        target_user_id: int | None = None,
        details: dict[str, Any] | None = None,
        reason: str | None = None,
        *,
        tx: Transaction | None = None,
    ) -> AuditEntry:
        """Append one moderator action (inside `tx` to make it atomic with the action)."""
        return await (tx or self._store).moderation.record_audit(
            guild_id, moderator_id, action, target_user_id, details or {}, reason
        )

    async def audit_page(
        self,
        guild_id: int,
        before: int | None = None,
        limit: int = AUDIT_PAGE_SIZE,
        *,
        moderator_id: int | None = None,
        target_user_id: int | None = None,
    ) -> Page[AuditEntry, int]:
        """Newest first; `before` is the `next` of the previous page."""
        rows = await self._store.moderation.audit_page(
            guild_id, before=before, limit=limit + 1, moderator_id=moderator_id,
            target_user_id=target_user_id,
        )  # fmt: skip
        items = rows[:limit]
        return Page(items, items[-1].id if len(rows) > limit else None)


def _reason(reason: str | None) -> str | None:
    reason = (reason or "").strip()
    if len(reason) > MAX_REASON_LENGTH:
        raise InvalidInput("input.reason_too_long", count=MAX_REASON_LENGTH)
    return reason or None


def _how_checked(checker: Checker, index: int) -> str:
    if index in checker.unchecked:
        return NOT_CHECKED
    return WIDENED if index in checker.widened else AS_WRITTEN


def _rule(row: BlocklistRow) -> BlockRule:
    return BlockRule(row.id, row.guild_id, row.pattern, row.is_regex, row.added_by, row.added_at)
