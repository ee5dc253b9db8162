"""/videohelp: what each /video option does and its limits, the prices, the member's own credits
right now, and how to write a prompt the model follows; privately, in the member's language."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.credits import MemberCredits, Prices, fmt
from bot.request import ASPECT_RATIO, DURATION, NEGATIVE_PROMPT, PROMPT, SEED
from bot.ui.discord_limits import fit_embed
from bot.ui.i18n import AnyLocale, listing, option_label, t, tn
from cogs.shared import member_role_ids, remaining_text

if TYPE_CHECKING:
    from bot.ui.client import VideoBot


def help_embed(
    prices: Prices, credits: MemberCredits | None, locale: AnyLocale = None
) -> discord.Embed:
    """The whole help in one embed (well within Discord's limits in both languages)."""

    def label(option: str) -> str:
        return option_label(option, locale)

    options = [
        t("help.option.prompt", locale, option=label("prompt"), count=PROMPT.max_length),
        t(
            "help.option.negative_prompt",
            locale,
            option=label("negative_prompt"),
            count=NEGATIVE_PROMPT.max_length,
        ),
        t("help.option.quality", locale, option=label("quality")),
        t(
            "help.option.aspect_ratio",
            locale,
            option=label("aspect_ratio"),
            choices=listing(locale, ASPECT_RATIO.choices),
            default=ASPECT_RATIO.default,
        ),
        t(
            "help.option.duration",
            locale,
            option=label("duration"),
            min=DURATION.minimum,
            max=DURATION.maximum,
            count=DURATION.maximum,
            default=DURATION.default,
        ),
        t("help.option.seed", locale, option=label("seed"), min=SEED.minimum, max=SEED.maximum),
        t("help.option.prompt_extend", locale, option=label("prompt_extend")),
        t("help.option.audio", locale, audio=label("audio"), audio_url=label("audio_url")),
    ]
    description = "\n".join(
        [t("help.intro", locale), "", f"**{t('help.options', locale)}**"]
        + [f"• {line}" for line in options]
    )
    embed = discord.Embed(
        title=t("help.title", locale), description=description, colour=discord.Colour.blurple()
    )
    embed.add_field(name=t("help.prices", locale), value=prices_text(prices, locale), inline=False)
    if credits is not None:
        embed.add_field(
            name=t("help.credits", locale), value=credits_text(credits, locale), inline=False
        )
    embed.add_field(
        name=t("help.shots", locale),
        value=t("help.shots.text", locale, duration=label("duration")),
        inline=False,
    )
    embed.add_field(
        name=t("help.tips", locale),
        value=t(
            "help.tips.text",
            locale,
            negative_prompt=label("negative_prompt"),
            prompt_extend=label("prompt_extend"),
            seed=label("seed"),
        ),
        inline=False,
    )
    embed.set_footer(text=t("help.footer", locale))
    return fit_embed(embed)


def prices_text(prices: Prices, locale: AnyLocale = None) -> str:
    """'720p: 1 credit per second; a 5 s video costs 5', one line per quality, and the rule."""
    lines = []
    for quality, per_second in prices.per_second.items():
        example = fmt(prices.estimate(quality, DURATION.default))
        lines.append(
            tn(
                "help.price",
                per_second,
                locale,
                quality=quality,
                price=fmt(per_second),
                example=example,
            )
        )
    lines.append(t("help.prices.note", locale))
    return "\n".join(lines)


def credits_text(summary: MemberCredits, locale: AnyLocale = None) -> str:
    """What the member has left now, what is held, when it renews, and where to see more."""
    lines = [remaining_text(summary, locale)]
    if summary.held > 0:
        lines.append(t("help.credits.held", locale, held=fmt(summary.held)))
    if summary.allowance is not None:
        if summary.renews_at is not None:
            when = f"<t:{int(summary.renews_at)}:R>"
            lines.append(t("help.credits.renews", locale, when=when))
        else:
            lines.append(t("help.credits.no_renewal", locale))
    lines.append(t("help.credits.more", locale))
    return "\n".join(lines)


class HelpCog(commands.Cog):
    def __init__(self, bot: VideoBot) -> None:
        self.bot = bot

    @app_commands.command(
        name="videohelp", description="How to make videos, and what each option does"
    )
    @app_commands.guild_only()
    async def videohelp(self, interaction: discord.Interaction[VideoBot]) -> None:
        credits = None
        if interaction.guild_id is not None:  # credits are per server
            user = interaction.user
            credits = await self.bot.credits.member(
                interaction.guild_id, user.id, member_role_ids(user)
            )
        embed = help_embed(self.bot.credits.prices, credits, interaction.locale)
        await interaction.response.send_message(
            embed=embed, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
        )


async def setup(bot: VideoBot) -> None:
    await bot.add_cog(HelpCog(bot))
