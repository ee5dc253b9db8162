"""/credits for members, and the moderators' credit tools under /videomod."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.credits import LedgerEntry, MemberCredits, fmt

if TYPE_CHECKING:
    from bot.client import VideoBot

KIND_WORDS = {
    "reserve": "reserved",
    "settle": "settled",
    "refund": "refunded",
    "grant": "granted",
    "take": "taken",
}
PERIOD_WORDS = {"daily": "per day", "weekly": "per week", "monthly": "per month", "once": "in all"}


def ledger_line(entry: LedgerEntry) -> str:
    what = KIND_WORDS.get(entry.kind, entry.kind)
    sign = "+" if entry.amount > 0 else "−"
    subject = f" · video #{entry.generation_id}" if entry.generation_id else ""
    reason = f" · {discord.utils.escape_markdown(entry.reason)}" if entry.reason else ""
    return (
        f"`{sign}{fmt(abs(entry.amount))}` {what}{subject}{reason} · <t:{int(entry.created_at)}:R>"
    )


def credits_embed(summary: MemberCredits, title: str = "Your video credits") -> discord.Embed:
    embed = discord.Embed(title=title, colour=discord.Colour.blurple())
    if summary.allowance is None:
        embed.add_field(name="Remaining", value="Unlimited", inline=True)
    else:
        remaining = max(summary.remaining or 0.0, 0.0)
        embed.add_field(
            name="Remaining",
            value=f"**{fmt(remaining)}** of {fmt(summary.allowance)} "
            f"{PERIOD_WORDS.get(summary.period, '')}",
            inline=True,
        )
    embed.add_field(name="Held by videos in progress", value=fmt(summary.held), inline=True)
    renews = (
        f"<t:{int(summary.renews_at)}:R>" if summary.renews_at is not None else "never (one-off)"
    )
    embed.add_field(name="Renews", value=renews, inline=True)
    lines = [ledger_line(e) for e in summary.recent] or ["Nothing yet."]
    embed.add_field(name="Recent changes", value="\n".join(lines), inline=False)
    return embed


class CreditsCog(commands.Cog):
    def __init__(self, bot: VideoBot) -> None:
        self.bot = bot

    @app_commands.command(name="credits", description="See your video credits and recent charges")
    @app_commands.guild_only()
    async def credits(self, interaction: discord.Interaction[VideoBot]) -> None:
        assert interaction.guild_id is not None
        roles = tuple(role.id for role in getattr(interaction.user, "roles", ()))
        summary = await self.bot.credits.member(interaction.guild_id, interaction.user.id, roles)
        prices = self.bot.credits.prices.per_second
        embed = credits_embed(summary)
        embed.set_footer(
            text=f"A 5 s video costs {fmt(prices['720p'] * 5)} credits at 720p, "
            f"{fmt(prices['1080p'] * 5)} at 1080p; cost grows with the duration."
        )
        await interaction.response.send_message(embed=embed, ephemeral=True)
