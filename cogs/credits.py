"""/credits for members, and the moderators' credit tools under /videomod."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot import evolink
from bot.credits import RECENT, Limits, MemberCredits, fmt, odd_balance
from bot.moderation import GRANT, IN_PROGRESS, LIMIT, MAX_REASON_LENGTH, REFUND, AuditEntry
from bot.settings import CREDIT_PERIODS
from bot.store import LedgerEntry, VideoCharge
from bot.ui.client import UserFacingError
from bot.ui.discord_limits import FIELD_VALUE, fit_embed, join_lines
from bot.ui.i18n import AnyLocale, t, tn
from bot.ui.render import clip
from cogs.shared import (
    ModeratorCog,
    ModGroup,
    member_role_ids,
    moderator_group,
    remaining_text,
)

if TYPE_CHECKING:
    from bot.ui.client import VideoBot

PERIOD_CHOICES = [app_commands.Choice(name=p, value=p) for p in CREDIT_PERIODS]
CREDITS_VALUE_HELP = "A number of credits, or 'unlimited'"

LEDGER_KINDS = ("reserve", "settle", "refund", "grant", "take")  # "ledger.<kind>" in the catalogues
LEDGER_REASON = 100  # five lines of /credits' recent changes must fit one embed field
#: The reasons the bot itself writes in the ledger (bot/credits.py, generations.py, tracker.py),
#: as stored, and their message keys; a moderator's reason is shown as it was typed.
BOT_REASONS = {
    "estimate": "ledger.reason.estimate",
    "reserved by EvoLink": "ledger.reason.reserved_by_evolink",
    "final charge": "ledger.reason.final_charge",
    "EvoLink refused the request": "ledger.reason.evolink_refused",
    "cancelled while waiting": "ledger.reason.cancelled_waiting",
    "withdrawn: member banned": "ledger.reason.withdrawn_banned",
    "video failed": "ledger.reason.video_failed",
    "video expired": "ledger.reason.video_expired",
}


def ledger_line(entry: LedgerEntry, locale: AnyLocale = None) -> str:
    what = t(f"ledger.{entry.kind}", locale) if entry.kind in LEDGER_KINDS else entry.kind
    sign = "+" if entry.amount > 0 else "−"
    video = t("ledger.video", locale, generation_id=entry.generation_id)
    subject = f" · {video}" if entry.generation_id else ""
    reason = ""
    if entry.reason in BOT_REASONS:
        reason = f" · {t(BOT_REASONS[entry.reason], locale)}"
    elif entry.reason:
        reason = f" · {clip(entry.reason, LEDGER_REASON)}"
    return (
        f"`{sign}{fmt(abs(entry.amount))}` {what}{subject}{reason} · <t:{int(entry.created_at)}:R>"
    )


def video_line(video: VideoCharge, locale: AnyLocale = None) -> str:
    """What one video did to the member's credits: what it holds while it is made; once it is
    over, what it held, what it finally cost and what came back."""
    name = t("ledger.video", locale, generation_id=video.generation_id)
    if video.status in IN_PROGRESS:
        parts = [t("credits.video.holding", locale, held=fmt(video.cost))]
    else:
        parts = [t("credits.video.held", locale, held=fmt(video.held))]
        if fmt(video.cost) == "0":
            parts.append(t("credits.video.free", locale))
        else:
            parts.append(t("credits.video.cost", locale, cost=fmt(video.cost)))
        back = video.held - video.cost
        if fmt(back) != "0" and back > 0:
            parts.append(t("credits.video.back", locale, back=fmt(back)))
    return f"{name} · {' · '.join(parts)} · <t:{int(video.requested_at)}:R>"


def recent_lines(summary: MemberCredits, locale: AnyLocale = None) -> list[str]:
    """The member's latest videos and moderators' changes, newest first."""
    dated = [(v.requested_at, video_line(v, locale)) for v in summary.videos]
    dated += [(e.created_at, ledger_line(e, locale)) for e in summary.adjustments]
    return [line for _, line in sorted(dated, key=lambda d: d[0], reverse=True)][:RECENT]


def credits_embed(
    summary: MemberCredits, title: str | None = None, locale: AnyLocale = None
) -> discord.Embed:
    title = title or t("credits.title", locale)
    embed = discord.Embed(title=title, colour=discord.Colour.blurple())
    embed.add_field(
        name=t("credits.field.remaining", locale), value=remaining_text(summary, locale)
    )
    embed.add_field(name=t("credits.field.held", locale), value=fmt(summary.held), inline=True)
    renews = (
        f"<t:{int(summary.renews_at)}:R>"
        if summary.renews_at is not None
        else t("credits.renews_never", locale)
    )
    embed.add_field(name=t("credits.field.renews", locale), value=renews, inline=True)
    lines = recent_lines(summary, locale) or [t("credits.nothing_yet", locale)]
    embed.add_field(
        name=t("credits.field.recent", locale), value=ledger_text(lines, locale), inline=False
    )
    return fit_embed(embed)


def ledger_text(lines: list[str], locale: AnyLocale = None) -> str:
    """Whole ledger lines, newest first, as many as one field holds."""
    return join_lines(lines, FIELD_VALUE, lambda n: t("credits.more", locale, count=n))


class CreditsCog(commands.Cog):
    def __init__(self, bot: VideoBot) -> None:
        self.bot = bot

    @app_commands.command(name="credits", description="See your video credits and recent charges")
    @app_commands.guild_only()
    async def credits(self, interaction: discord.Interaction[VideoBot]) -> None:
        if interaction.guild_id is None:  # Discord offers it in servers only; a forged call
            raise UserFacingError.translated("error.guild_only")
        locale = interaction.locale
        roles = member_role_ids(interaction.user)
        summary = await self.bot.credits.member(interaction.guild_id, interaction.user.id, roles)
        prices = self.bot.credits.prices.per_second
        embed = credits_embed(summary, locale=locale)
        embed.set_footer(
            text=tn(
                "credits.footer",
                prices["720p"] * 5,
                locale,
                price_720p=fmt(prices["720p"] * 5),
                price_1080p=fmt(prices["1080p"] * 5),
            )
        )
        await interaction.response.send_message(embed=fit_embed(embed), ephemeral=True)


def parse_credits(text: str, option: str) -> float | None:
    """'12', '7.5' -> a number; 'unlimited' -> None."""
    value = text.strip().lower()
    if value in ("unlimited", "none", "no limit", "∞"):
        return None
    try:
        number = float(value)
    except ValueError:
        raise UserFacingError.translated("modcredits.not_a_number", option=option) from None
    if not 0 <= number <= 1e9:
        raise UserFacingError.translated("modcredits.out_of_range", option=option)
    return number


def limits_embed(limits: Limits, locale: AnyLocale = None) -> discord.Embed:
    def amount(value: float | None) -> str:
        return t("modcredits.unlimited", locale) if value is None else fmt(value)

    def name(key: str) -> str:
        return t(f"limits.{key}", locale)

    period = limits.period
    if period in CREDIT_PERIODS:
        period = t(f"limits.period.{period}", locale)
    embed = discord.Embed(title=name("title"), colour=discord.Colour.blurple())
    embed.add_field(name=name("credits_per_member"), value=amount(limits.default_credits))
    embed.add_field(name=name("period"), value=period)
    embed.add_field(name=name("guild_cap"), value=amount(limits.guild_cap))
    embed.add_field(name=name("max_running"), value=str(limits.max_running))
    embed.add_field(name=name("max_queued"), value=str(limits.max_queued))
    embed.add_field(
        name=name("cooldown"), value=t("limits.seconds", locale, seconds=fmt(limits.cooldown))
    )
    if limits.global_cap is not None:
        embed.set_footer(text=t("limits.global_cap", locale, credits=fmt(limits.global_cap)))
    return fit_embed(embed)


class CreditsAdmin(ModGroup):
    """/videomod credits ...: every change is a ledger row and an audit row, in one transaction."""

    def __init__(self, bot: VideoBot) -> None:
        super().__init__(
            name="credits",
            description="Members' video credits: show, grant, take, allowances, refunds",
        )
        self.bot = bot

    async def _audited(self, entry: AuditEntry | None) -> None:
        if entry is not None:
            self.bot.spawn(self.bot.modlog.post_action(entry))

    @app_commands.command(name="show", description="A member's credits and recent changes")
    @app_commands.describe(member="The member")
    async def show(
        self, interaction: discord.Interaction[VideoBot], member: discord.Member
    ) -> None:
        guild_id = _guild(interaction)
        summary = await self.bot.credits.member(guild_id, member.id, member_role_ids(member))
        locale = interaction.locale
        title = t("credits.mod_title", locale, name=member.display_name)
        embed = credits_embed(summary, title=title, locale=locale)
        entries = await self.bot.credits.ledger(guild_id, member.id)
        lines = [ledger_line(e, locale) for e in entries]
        ledger = t("modcredits.ledger", locale)
        embed.set_field_at(3, name=ledger, value=ledger_text(lines, locale) or "-")
        await interaction.response.send_message(embed=fit_embed(embed), ephemeral=True)

    @app_commands.command(name="grant", description="Give a member extra credits for this period")
    @app_commands.describe(member="The member", amount="How many credits", reason="Why")
    async def grant(
        self,
        interaction: discord.Interaction[VideoBot],
        member: discord.Member,
        amount: app_commands.Range[float, 0.01, 1_000_000.0],
        reason: app_commands.Range[str, 1, 500],
    ) -> None:
        await self._adjust(interaction, member, _amount(amount), _reason(reason))

    @app_commands.command(name="take", description="Take credits from a member for this period")
    @app_commands.describe(member="The member", amount="How many credits", reason="Why")
    async def take(
        self,
        interaction: discord.Interaction[VideoBot],
        member: discord.Member,
        amount: app_commands.Range[float, 0.01, 1_000_000.0],
        reason: app_commands.Range[str, 1, 500],
    ) -> None:
        await self._adjust(interaction, member, -_amount(amount), _reason(reason))

    async def _adjust(
        self,
        interaction: discord.Interaction[VideoBot],
        member: discord.Member,
        amount: float,
        reason: str,
    ) -> None:
        guild_id, moderator = _guild(interaction), interaction.user.id
        async with self.bot.store.transaction() as tx:
            await self.bot.credits.adjust(tx, guild_id, member.id, amount, moderator, reason)
            entry = await self.bot.moderation.record(
                guild_id, moderator, GRANT, member.id, {"amount": amount}, reason, tx=tx
            )
        await self._audited(entry)
        done = "modcredits.gave" if amount > 0 else "modcredits.took"
        await interaction.response.send_message(
            tn(
                done,
                abs(amount),
                interaction.locale,
                amount=fmt(abs(amount)),
                member=member.mention,
            ),
            ephemeral=True,
            allowed_mentions=discord.AllowedMentions.none(),
        )

    @app_commands.command(
        name="allowance", description="Set a member's or a role's credits per period"
    )
    @app_commands.describe(
        member="The member",
        role="The role",
        amount="Credits per period; leave it out to remove the override",
    )
    async def allowance(
        self,
        interaction: discord.Interaction[VideoBot],
        member: discord.Member | None = None,
        role: discord.Role | None = None,
        amount: app_commands.Range[str, 1, 20] | None = None,
    ) -> None:
        if (member is None) == (role is None):
            raise UserFacingError.translated("modcredits.member_or_role")
        kind, target = ("member", member.id) if member is not None else ("role", role.id)  # type: ignore[union-attr]
        name = member.mention if member is not None else role.mention  # type: ignore[union-attr]
        guild_id, moderator, locale = _guild(interaction), interaction.user.id, interaction.locale
        credits = parse_credits(amount, "amount") if amount is not None else None
        async with self.bot.store.transaction() as tx:
            if amount is None:
                changed = await self.bot.credits.clear_allowance(tx, guild_id, kind, target)
                key = "modcredits.follows_default" if changed else "modcredits.had_none"
                text = t(key, locale, name=name)
            else:
                await self.bot.credits.set_allowance(tx, guild_id, kind, target, credits, moderator)
                shown = t("modcredits.unlimited", locale) if credits is None else fmt(credits)
                count = math.inf if credits is None else credits  # unlimited reads as many
                text = tn("modcredits.allowance_set", count, locale, name=name, credits=shown)
            details = {"allowance": kind, "target": target, "credits": amount or "default"}
            entry = await self.bot.moderation.record(
                guild_id, moderator, LIMIT, member.id if member else None, details, tx=tx
            )
        await self._audited(entry)
        await interaction.response.send_message(
            text, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
        )

    @app_commands.command(name="refund", description="Give back the credits a video cost")
    @app_commands.describe(task_id="The video's task id", reason="Why")
    async def refund(
        self,
        interaction: discord.Interaction[VideoBot],
        task_id: app_commands.Range[str, 1, 100],
        reason: app_commands.Range[str, 1, 500],
    ) -> None:
        guild_id, moderator = _guild(interaction), interaction.user.id
        reason = _reason(reason)
        generation = await self.bot.moderation.get_by_task_id(guild_id, task_id.strip())
        if generation is None:
            raise UserFacingError.translated("modcredits.refund_not_found")
        if generation.status != "completed":
            raise UserFacingError.translated("modcredits.refund_not_finished")
        async with self.bot.store.transaction() as tx:
            given = await self.bot.credits.refund(tx, generation, reason, moderator_id=moderator)
            entry = None
            if given:
                entry = await self.bot.moderation.record(
                    guild_id, moderator, REFUND, generation.user_id,
                    {"generation": generation.id, "credits": given}, reason, tx=tx,
                )  # fmt: skip
        await self._audited(entry)
        if given:
            member = f"<@{generation.user_id}>"
            text = tn(
                "modcredits.refunded", given, interaction.locale, credits=fmt(given), member=member
            )
        else:
            text = t("modcredits.already_refunded", interaction.locale)
        await interaction.response.send_message(
            text, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
        )


class CreditsModeration(ModeratorCog):
    """/videomod credits, /videomod limits and /videomod balance."""

    def moderator_commands(self) -> list[app_commands.Command[Any, ..., Any] | app_commands.Group]:
        return [CreditsAdmin(self.bot), *super().moderator_commands()]

    @app_commands.command(name="limits", description="Show or change this server's video limits")
    @app_commands.describe(
        default_credits="Credits each member gets per period",
        period="How often credits renew",
        max_running="Videos a member may have in progress at once",
        max_queued="Videos a member may have waiting in the queue",
        cooldown="Seconds a member must wait between two videos",
        guild_cap="Credits this server may spend per period",
        reset="Forget this server's own limits and use the bot's defaults",
    )
    @app_commands.choices(period=PERIOD_CHOICES)
    async def limits(
        self,
        interaction: discord.Interaction[VideoBot],
        default_credits: app_commands.Range[str, 1, 20] | None = None,
        period: str | None = None,
        max_running: app_commands.Range[int, 1, 50] | None = None,
        max_queued: app_commands.Range[int, 0, 50] | None = None,
        cooldown: app_commands.Range[int, 0, 86400] | None = None,
        guild_cap: app_commands.Range[str, 1, 20] | None = None,
        reset: bool | None = None,
    ) -> None:
        guild_id, moderator = _guild(interaction), interaction.user.id
        changes: dict[str, Any] = {}
        if default_credits is not None:
            value = parse_credits(default_credits, "default_credits")
            changes["default_credits"] = -1.0 if value is None else value
        if guild_cap is not None:
            value = parse_credits(guild_cap, "guild_cap")
            changes["guild_cap"] = -1.0 if value is None else value
        if period is not None:
            if period not in CREDIT_PERIODS:
                raise UserFacingError.translated(
                    "validation.one_of", option="period", choices=CREDIT_PERIODS
                )
            changes["period"] = period
        for name, value, low, high in (
            ("max_running", max_running, 1, 50),
            ("max_queued", max_queued, 0, 50),
            ("cooldown", cooldown, 0, 86400),
        ):
            if value is not None:
                if type(value) is not int or not low <= value <= high:
                    raise UserFacingError.translated(
                        "modcredits.whole_number", option=name, min=low, max=high
                    )
                changes[name] = value
        if not changes and not reset:
            limits = await self.bot.credits.limits(guild_id)
            await interaction.response.send_message(
                embed=limits_embed(limits, interaction.locale), ephemeral=True
            )
            return
        async with self.bot.store.transaction() as tx:
            if reset:
                await self.bot.credits.reset_limits(tx, guild_id)
            limits = await self.bot.credits.set_limits(tx, guild_id, moderator, **changes)
            details = {"limits": {k: v for k, v in changes.items()}, "reset": bool(reset)}
            entry = await self.bot.moderation.record(
                guild_id, moderator, LIMIT, None, details, tx=tx
            )
        self.bot.spawn(self.bot.modlog.post_action(entry))
        await interaction.response.send_message(
            t("modcredits.saved", interaction.locale),
            embed=limits_embed(limits, interaction.locale),
            ephemeral=True,
        )

    @app_commands.command(name="balance", description="The EvoLink account's remaining balance")
    async def balance(self, interaction: discord.Interaction[VideoBot]) -> None:
        locale = interaction.locale
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            balance = await self.bot.api.get_balance()
        except (evolink.Unauthorized, evolink.ModelAccessDenied):
            text = t("modcredits.balance_key_refused", locale)
        except evolink.EvoLinkError:
            text = t("modcredits.balance_unavailable", locale)
        else:
            count = balance.remaining_credits or 0
            if balance.unlimited:  # unlimited reads as many
                remaining = t("modcredits.unlimited", locale)
                text = tn("modcredits.balance", math.inf, locale, credits=remaining)
            elif odd_balance(count):
                text = t("modcredits.balance_odd", locale, credits=fmt(count))
            else:
                text = tn("modcredits.balance", count, locale, credits=fmt(count))
        await interaction.followup.send(text, ephemeral=True)


def _amount(value: float) -> float:
    """discord.py does not re-check ranges on an incoming interaction: a crafted one could
    'grant' a negative amount."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.01 <= value <= 1e6:
        raise UserFacingError.translated("modcredits.amount_range")
    return float(value)


def _reason(text: str) -> str:
    """discord.py does not re-check an option's length on an incoming interaction either."""
    reason = text.strip()
    if len(reason) > MAX_REASON_LENGTH:
        raise UserFacingError.translated("input.reason_too_long", count=MAX_REASON_LENGTH)
    return reason


def _guild(interaction: discord.Interaction[VideoBot]) -> int:
    if interaction.guild_id is None:
        raise UserFacingError.translated("error.guild_only")
    return interaction.guild_id


async def setup(bot: VideoBot) -> None:
    await bot.add_cog(CreditsCog(bot))
    await bot.add_cog(CreditsModeration(bot, moderator_group(bot)), override=True)
