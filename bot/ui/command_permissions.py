"""The servers' command permission overrides, as Discord holds them: fetched when first needed
(`GET /applications/{app}/guilds/{guild}/commands/permissions`), kept, and replaced whenever
Discord says they changed (APPLICATION_COMMAND_PERMISSIONS_UPDATE). What they mean is
bot/command_access.py's."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import discord

from bot.command_access import Asker, Override, decide
from bot.store import Clock

log = logging.getLogger(__name__)

KEEP = 600.0  # seconds a server's overrides are trusted without an update from Discord
RETRY = 60.0  # after Discord did not answer: no overrides meanwhile, asked again after this

Overrides = dict[int, list[Override]]  # command id (or the application's id: all) -> overrides


class CommandPermissions:
    def __init__(self, client: discord.Client, clock: Clock = time.time) -> None:
        self._client = client
        self._clock = clock
        self._servers: dict[int, tuple[float, Overrides]] = {}  # guild -> (valid until, ...)
        self._unread: set[int] = set()  # guilds whose overrides Discord did not answer with

    async def decide(self, command_id: int, asker: Asker) -> bool | None:
        """Whether the server's overrides let `asker` use the command (None: none speaks)."""
        overrides = await self._overrides(asker.guild_id)
        app = overrides.get(self._application_id(), [])
        return decide(overrides.get(command_id, []), app, asker)

    def changed(self, guild_id: int, target_id: int, permissions: Sequence[Any]) -> None:
        """Discord's word that a command's (or, target_id = the application, all commands')
        overrides in a server are now `permissions` (discord.py's AppCommandPermissions)."""
        kept = self._servers.get(guild_id)
        if kept is None:
            return  # not needed yet: fetched, whole, when it is
        valid_until, overrides = kept
        overrides[target_id] = [
            Override(int(p.id), int(p.type.value), bool(p.permission)) for p in permissions
        ]
        if guild_id not in self._unread:  # else the others are still unknown: read them soon
            valid_until = max(valid_until, self._clock() + KEEP)
        self._servers[guild_id] = (valid_until, overrides)

    async def _overrides(self, guild_id: int) -> Overrides:
        kept = self._servers.get(guild_id)
        now = self._clock()
        if kept is not None and now < kept[0]:
            return kept[1]
        try:
            answer = await self._client.http.get_guild_application_command_permissions(
                self._application_id(), guild_id
            )
            overrides = _parse(answer)
        except (discord.HTTPException, KeyError, TypeError, ValueError, AttributeError) as exc:
            log.warning("could not read the command permissions of server %s: %r", guild_id, exc)
            self._servers[guild_id] = (now + RETRY, {})
            self._unread.add(guild_id)
            return {}
        self._servers[guild_id] = (now + KEEP, overrides)
        self._unread.discard(guild_id)
        return overrides

    def _application_id(self) -> int:
        return self._client.application_id or 0


def _parse(answer: Any) -> Overrides:
    """Discord's answer, checked: anything malformed raises, and the caller treats it as no
    answer (the command's default permission decides)."""
    return {
        int(command["id"]): [
            Override(int(p["id"]), int(p["type"]), p["permission"] is True)
            for p in command.get("permissions") or []
        ]
        for command in answer or []
    }
