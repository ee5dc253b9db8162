"""What the bot remembers between starts that belongs to no server, member or video: named
values (e.g. `commands_guild`, the server the commands were last registered in)."""

from __future__ import annotations

from bot.store.database import Executor

COMMANDS_GUILD = "commands_guild"


class BotState:
    """The bot_state table, on the database or in a transaction."""

    def __init__(self, db: Executor) -> None:
        self._db = db

    async def get(self, name: str) -> str | None:
        row = await self._db.fetchone("SELECT value FROM bot_state WHERE name = ?", name)
        return None if row is None else str(row[0])

    async def put(self, name: str, value: str | None) -> None:
        """Remember `value` under `name` (None: forget it)."""
        if value is None:
            await self._db.execute("DELETE FROM bot_state WHERE name = ?", name)
            return
        await self._db.execute(
            """INSERT INTO bot_state (name, value) VALUES (?, ?)
               ON CONFLICT (name) DO UPDATE SET value = excluded.value""",
            name, value,
        )  # fmt: skip
