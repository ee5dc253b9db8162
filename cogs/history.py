"""/videos: a member's own videos in this server, newest first. Never anyone else's."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot import mod_render
from bot.i18n import t
from bot.moderation import LogCursor, LogFilter
from cogs.paging import Pager

if TYPE_CHECKING:
    from bot.client import VideoBot


class HistoryCog(commands.Cog):
    def __init__(self, bot: VideoBot) -> None:
        self.bot = bot

    @app_commands.command(
        name="videos", description="Your videos here: prompts, status, links, cost"
    )
    @app_commands.guild_only()
    async def videos(self, interaction: discord.Interaction[VideoBot]) -> None:
        assert interaction.guild_id is not None  # guild_only
        locale = interaction.locale
        f = LogFilter(guild_id=interaction.guild_id, user_id=interaction.user.id)

        async def render(
            cursor: LogCursor | None, page: int
        ) -> tuple[discord.Embed, LogCursor | None]:
            result = await self.bot.moderation.log_page(f, cursor)
            embed = mod_render.log_embed(
                result.items,
                title=t("history.title", locale),
                description=t("history.description", locale),
                page=page,
                with_member=False,
                locale=locale,
            )
            return embed, result.next

        pager = Pager[LogCursor](
            interaction.user.id, render, refusal=not_your_history, locale=locale
        )
        await pager.send(interaction)


def not_your_history(locale: discord.Locale) -> str:
    return t("history.not_yours", locale)
