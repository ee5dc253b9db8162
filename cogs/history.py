"""/videos: a member's own videos in this server, newest first. Never anyone else's."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.moderation import LogCursor, LogFilter
from bot.store import Generation
from bot.ui import mod_render
from bot.ui.client import UserFacingError
from bot.ui.i18n import t
from cogs.shared import PROMPT_REFUSED, Pager, ResultButton

if TYPE_CHECKING:
    from bot.ui.client import VideoBot


class HistoryCog(commands.Cog):
    def __init__(self, bot: VideoBot) -> None:
        self.bot = bot

    @app_commands.command(
        name="videos", description="Your videos here: prompts, status, links, cost"
    )
    @app_commands.guild_only()
    async def videos(self, interaction: discord.Interaction[VideoBot]) -> None:
        if interaction.guild_id is None:  # Discord offers it in servers only; a forged call
            raise UserFacingError.translated("error.guild_only")
        locale = interaction.locale
        f = LogFilter(guild_id=interaction.guild_id, user_id=interaction.user.id)
        shown: list[Generation] = []

        async def render(
            cursor: LogCursor | None, page: int
        ) -> tuple[discord.Embed, LogCursor | None]:
            result = await self.bot.moderation.log_page(f, cursor)
            shown[:] = result.items
            embed = mod_render.log_embed(
                result.items,
                title=t("history.title", locale),
                description=t("history.description", locale),
                page=page,
                now=self.bot.clock(),
                with_member=False,
                locale=locale,
            )
            return embed, result.next

        def regenerate_buttons() -> list[discord.ui.Item[Any]]:
            """🔁 #id under the page: the same settings again, with a new seed."""
            finished = [
                g
                for g in shown
                if g.status in ("completed", "failed", "expired")
                and g.error_code not in PROMPT_REFUSED
            ]
            return [
                ResultButton("again", g.id, label=f"🔁 #{g.id}", row=1 + n // 5)
                for n, g in enumerate(finished[:10])
            ]

        pager = Pager[LogCursor](
            interaction.user.id, render, refusal=not_your_history, locale=locale,
            page_items=regenerate_buttons,
        )  # fmt: skip
        await pager.send(interaction)


def not_your_history(locale: discord.Locale) -> str:
    return t("history.not_yours", locale)


async def setup(bot: VideoBot) -> None:
    await bot.add_cog(HistoryCog(bot))
