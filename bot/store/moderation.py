"""What moderators keep: bans, the prompt blocklist's entries, each server's settings
(guild_config: the mod-log channel) and the audit log of their actions (append-only).

What a blocklist entry means, and the checking of prompts, is bot/blocklist.py; the rules about
all of these are bot/moderation.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bot.store.database import Clock, Executor, Row


@dataclass(frozen=True)
class Ban:
    guild_id: int
    user_id: int
    banned_by: int
    reason: str | None
    banned_at: float


@dataclass(frozen=True)
class BlocklistRow:
    """A blocklist entry as stored: a plain word or phrase, or a regex."""

    id: int
    guild_id: int
    pattern: str
    is_regex: bool
    added_by: int
    added_at: float


@dataclass(frozen=True)
class AuditEntry:
    id: int
    guild_id: int
    moderator_id: int
    action: str
    target_user_id: int | None
    details: dict[str, Any]
    reason: str | None
    created_at: float


_BAN_COLUMNS = "guild_id, user_id, banned_by, reason, banned_at"
_BLOCKLIST_COLUMNS = "id, guild_id, pattern, is_regex, added_by, added_at"
_AUDIT_COLUMNS = "id, guild_id, moderator_id, action, target_user_id, details, reason, created_at"


class ModerationRecords:
    """The moderation tables, on the database (each call commits alone) or in a transaction."""

    def __init__(self, db: Executor, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    # --- bans ------------------------------------------------------------------------------------

    async def add_ban(
        self, guild_id: int, user_id: int, banned_by: int, reason: str | None
    ) -> bool:
        """False if the member was banned already (the ban stays as it was)."""
        added = await self._db.execute(
            f"""INSERT INTO bans ({_BAN_COLUMNS}) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING""",
            guild_id, user_id, banned_by, reason, self._clock(),
        )  # fmt: skip
        return added > 0

    async def remove_ban(self, guild_id: int, user_id: int) -> bool:
        """False if the member was not banned."""
        removed = await self._db.execute(
            "DELETE FROM bans WHERE guild_id = ? AND user_id = ?", guild_id, user_id
        )
        return removed > 0

    async def ban(self, guild_id: int, user_id: int) -> Ban | None:
        row = await self._db.fetchone(
            f"SELECT {_BAN_COLUMNS} FROM bans WHERE guild_id = ? AND user_id = ?",
            guild_id, user_id,
        )  # fmt: skip
        return Ban(*row) if row is not None else None

    async def bans(self, guild_id: int) -> list[Ban]:
        """Every ban in the server, newest first."""
        rows = await self._db.fetchall(
            f"""SELECT {_BAN_COLUMNS} FROM bans
               WHERE guild_id = ? ORDER BY banned_at DESC, user_id""",
            guild_id,
        )
        return [Ban(*row) for row in rows]

    # --- the blocklist ---------------------------------------------------------------------------

    async def blocklist_size(self, guild_id: int) -> int:
        row = await self._db.fetchone("SELECT COUNT(*) FROM blocklist WHERE guild_id = ?", guild_id)
        return int(row[0]) if row is not None else 0

    async def add_blocklist_entry(
        self, guild_id: int, pattern: str, is_regex: bool, added_by: int
    ) -> BlocklistRow | None:
        """None if the server has this entry already."""
        row = await self._db.fetchone(
            f"""INSERT INTO blocklist (guild_id, pattern, is_regex, added_by, added_at)
               VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING {_BLOCKLIST_COLUMNS}""",
            guild_id, pattern, int(is_regex), added_by, self._clock(),
        )  # fmt: skip
        return _blocklist_row(row) if row is not None else None

    async def remove_blocklist_entry(
        self, guild_id: int, pattern: str, is_regex: bool
    ) -> BlocklistRow | None:
        """The entry removed; None if the server had no such entry."""
        row = await self._db.fetchone(
            f"""DELETE FROM blocklist WHERE guild_id = ? AND pattern = ? AND is_regex = ?
               RETURNING {_BLOCKLIST_COLUMNS}""",
            guild_id, pattern, int(is_regex),
        )  # fmt: skip
        return _blocklist_row(row) if row is not None else None

    async def blocklist(self, guild_id: int) -> list[BlocklistRow]:
        """Every entry of the server, in the order added."""
        rows = await self._db.fetchall(
            f"SELECT {_BLOCKLIST_COLUMNS} FROM blocklist WHERE guild_id = ? ORDER BY id",
            guild_id,
        )
        return [_blocklist_row(row) for row in rows]

    # --- server settings -------------------------------------------------------------------------

    async def guilds_with_log_channel(self) -> list[int]:
        rows = await self._db.fetchall(
            "SELECT guild_id FROM guild_config WHERE log_channel_id IS NOT NULL"
        )
        return [int(row[0]) for row in rows]

    async def log_channel(self, guild_id: int) -> int | None:
        row = await self._db.fetchone(
            "SELECT log_channel_id FROM guild_config WHERE guild_id = ?", guild_id
        )
        return int(row[0]) if row is not None and row[0] is not None else None

    async def set_log_channel(
        self, guild_id: int, channel_id: int | None, moderator_id: int
    ) -> None:
        await self._db.execute(
            """INSERT INTO guild_config (guild_id, log_channel_id, updated_by, updated_at)
               VALUES (?, ?, ?, ?) ON CONFLICT (guild_id) DO UPDATE SET
               log_channel_id = excluded.log_channel_id, updated_by = excluded.updated_by,
               updated_at = excluded.updated_at""",
            guild_id, channel_id, moderator_id, self._clock(),
        )  # fmt: skip

    # --- the audit log ---------------------------------------------------------------------------

    async def record_audit(
        self,
        guild_id: int,
        moderator_id: int,
        action: str,
        target_user_id: int | None,
        details: dict[str, Any],
        reason: str | None,
    ) -> AuditEntry:
        """Append one moderator action (`details` kept as a JSON object)."""
        row = await self._db.fetchone(
            f"""INSERT INTO audit_log (guild_id, moderator_id, action, target_user_id, details,
                   reason, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING {_AUDIT_COLUMNS}""",
            guild_id, moderator_id, action, target_user_id,
            json.dumps(details, separators=(",", ":"), sort_keys=True), reason, self._clock(),
        )  # fmt: skip
        assert row is not None
        return _audit_entry(row)

    async def audit_page(
        self,
        guild_id: int,
        *,
        before: int | None,
        limit: int,
        moderator_id: int | None = None,
        target_user_id: int | None = None,
    ) -> list[AuditEntry]:
        """Up to `limit` entries of the server, newest first, older than the entry `before`."""
        conds, params = ["guild_id = ?"], [guild_id]
        for column, value in (("moderator_id", moderator_id), ("target_user_id", target_user_id)):
            if value is not None:
                conds.append(f"{column} = ?")
                params.append(value)
        if before is not None:
            conds.append("id < ?")
            params.append(before)
        rows = await self._db.fetchall(
            f"""SELECT {_AUDIT_COLUMNS} FROM audit_log WHERE {" AND ".join(conds)}
               ORDER BY id DESC LIMIT ?""",
            *params, limit,
        )  # fmt: skip
        return [_audit_entry(row) for row in rows]


def _blocklist_row(row: Row) -> BlocklistRow:
    return BlocklistRow(row[0], row[1], row[2], bool(row[3]), row[4], row[5])


def _audit_entry(row: Row) -> AuditEntry:
    details = json.loads(row[5]) if row[5] else {}
    return AuditEntry(row[0], row[1], row[2], row[3], row[4], details, row[6], row[7])
