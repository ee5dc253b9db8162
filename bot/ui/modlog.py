"""Posts to a server's mod-log channel (set with `/videomod config log_channel`).

Every method looks the channel up, posts one embed with no allowed mentions, and returns the
message, or None when no channel is set or Discord refused. It never raises: a mod-log that
cannot be written must not break a request or a delivery. Posts are in the server's language
(its Discord "preferred locale"), since every moderator of the server reads them.
"""

from __future__ import annotations

import logging

import aiohttp
import discord

from bot.moderation import AuditEntry, Moderation
from bot.store import Generation
from bot.ui import modlog_render

log = logging.getLogger(__name__)


class ModLog:
    def __init__(self, client: discord.Client, moderation: Moderation) -> None:
        self._client = client
        self._moderation = moderation

    def locale(self, guild_id: int | None) -> discord.Locale | None:
        """The server's language, as the gateway told it (None, English, until it has)."""
        guild = self._client.get_guild(guild_id) if guild_id is not None else None
        return guild.preferred_locale if guild is not None else None

    async def post_request(self, generation: Generation) -> discord.Message | None:
        """Who asked for what, with which settings, at what cost."""
        locale = self.locale(generation.guild_id)
        return await self._post(generation.guild_id, modlog_render.request_post(generation, locale))

    async def post_outcome(
        self, generation: Generation, *, withheld: bool = False
    ) -> discord.Message | None:
        """The video link or the error. `withheld`: the member is banned and gets nothing."""
        locale = self.locale(generation.guild_id)
        embed = modlog_render.outcome_post(generation, withheld=withheld, locale=locale)
        return await self._post(generation.guild_id, embed)

    async def post_undelivered(
        self, generation: Generation, reason: str, reached: str | None
    ) -> discord.Message | None:
        """The bot gave up delivering: what happened, whether the member got a note, and what
        moderators can do about the credits."""
        log.warning("guild %s: generation %s undelivered", generation.guild_id, generation.id)
        locale = self.locale(generation.guild_id)
        embed = modlog_render.undelivered_post(generation, reason, reached, locale)
        return await self._post(generation.guild_id, embed)

    async def post_blocked(
        self,
        guild_id: int,
        user_id: int,
        prompt: str,
        pattern: str,
        negative_prompt: str | None = None,
    ) -> discord.Message | None:
        now = self._moderation.clock()
        locale = self.locale(guild_id)
        embed = modlog_render.blocked_post(user_id, prompt, pattern, negative_prompt, now, locale)
        log.info("guild %s: prompt of user %s blocked by %r", guild_id, user_id, pattern)
        return await self._post(guild_id, embed)

    async def post_action(self, entry: AuditEntry) -> discord.Message | None:
        """A moderator action, as recorded in the audit trail."""
        embed = modlog_render.action_post(entry, self.locale(entry.guild_id))
        return await self._post(entry.guild_id, embed)

    async def warn(self, guild_id: int, text: str) -> discord.Message | None:
        """Something moderators should know (plain text from the bot, not member text), already
        in the server's language (:meth:`locale`)."""
        embed = modlog_render.warning_post(text, self._moderation.clock(), self.locale(guild_id))
        return await self._post(guild_id, embed)

    async def _post(self, guild_id: int | None, embed: discord.Embed) -> discord.Message | None:
        if guild_id is None:
            return None
        try:
            channel_id = await self._moderation.log_channel(guild_id)
            if channel_id is None:
                return None
            channel = self._client.get_partial_messageable(channel_id, guild_id=guild_id)
            return await channel.send(embed=embed, allowed_mentions=discord.AllowedMentions.none())
        except (discord.HTTPException, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("could not post to the mod-log channel of guild %s: %s", guild_id, exc)
        except Exception:
            log.exception("mod-log post for guild %s failed", guild_id)
        return None
