"""/credits for members, and the moderators' credit tools under /videomod."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot import evolink
from bot.client import UserFacingError
from bot.credits import LedgerEntry, Limits, MemberCredits, fmt
from bot.moderation import GRANT, LIMIT, REFUND, AuditEntry
from bot.settings import CREDIT_PERIODS
from cogs.moderation import ModGroup

if TYPE_CHECKING:
    from bot.client import VideoBot

PERIOD_CHOICES = [app_commands.Choice(name=p, value=p) for p in CREDIT_PERIODS]
CREDITS_VALUE_HELP = "A number of credits, or 'unlimited'"

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
        roles = member_role_ids(interaction.user)
        summary = await self.bot.credits.member(interaction.guild_id, interaction.user.id, roles)
        prices = self.bot.credits.prices.per_second
        embed = credits_embed(summary)
        embed.set_footer(
            text=f"A 5 s video costs {fmt(prices['720p'] * 5)} credits at 720p, "
            f"{fmt(prices['1080p'] * 5)} at 1080p; cost grows with the duration."
        )
        await interaction.response.send_message(embed=embed, ephemeral=True)


def parse_credits(text: str, option: str) -> float | None:
    """'12', '7.5' -> a number; 'unlimited' -> None."""
    value = text.strip().lower()
    if value in ("unlimited", "none", "no limit", "∞"):
        return None
    try:
        number = float(value)
    except ValueError:
        raise UserFacingError(f"`{option}` must be a number of credits or `unlimited`.") from None
    if not 0 <= number <= 1e9:
        raise UserFacingError(f"`{option}` must be between 0 and 1,000,000,000.")
    return number


def limits_embed(limits: Limits) -> discord.Embed:
    def amount(value: float | None) -> str:
        return "unlimited" if value is None else fmt(value)

    embed = discord.Embed(title="Video limits in this server", colour=discord.Colour.blurple())
    embed.add_field(name="Credits per member", value=amount(limits.default_credits))
    embed.add_field(name="Period", value=limits.period)
    embed.add_field(name="Server cap per period", value=amount(limits.guild_cap))
    embed.add_field(name="In progress per member", value=str(limits.max_running))
    embed.add_field(name="Waiting per member", value=str(limits.max_queued))
    embed.add_field(name="Cooldown", value=f"{fmt(limits.cooldown)} s")
    if limits.global_cap is not None:
        embed.set_footer(text=f"The bot as a whole may spend {fmt(limits.global_cap)} per period.")
    return embed


class CreditsAdmin(ModGroup):
    """/videomod credits ...: every change is a ledger row and an audit row, in one transaction."""

    def __init__(self, bot: VideoBot) -> None:
        super().__init__(
            name="credits",
            description="Members' video credits: show, grant, take, allowances, refunds",
            parent=bot.videomod,
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
        embed = credits_embed(summary, title=f"Credits of {member.display_name}")
        lines = [ledger_line(e) for e in await self.bot.credits.ledger(guild_id, member.id)]
        embed.set_field_at(3, name="Ledger (newest first)", value="\n".join(lines)[:1024] or "-")
        await interaction.response.send_message(embed=embed, ephemeral=True)

    @app_commands.command(name="grant", description="Give a member extra credits for this period")
    @app_commands.describe(member="The member", amount="How many credits", reason="Why")
    async def grant(
        self,
        interaction: discord.Interaction[VideoBot],
        member: discord.Member,
        amount: app_commands.Range[float, 0.01, 1_000_000.0],
        reason: app_commands.Range[str, 1, 500],
    ) -> None:
        await self._adjust(interaction, member, _amount(amount), reason)

    @app_commands.command(name="take", description="Take credits from a member for this period")
    @app_commands.describe(member="The member", amount="How many credits", reason="Why")
    async def take(
        self,
        interaction: discord.Interaction[VideoBot],
        member: discord.Member,
        amount: app_commands.Range[float, 0.01, 1_000_000.0],
        reason: app_commands.Range[str, 1, 500],
    ) -> None:
        await self._adjust(interaction, member, -_amount(amount), reason)

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
        verb = "Gave" if amount > 0 else "Took"
        await interaction.response.send_message(
            f"{verb} {fmt(abs(amount))} credits {'to' if amount > 0 else 'from'} "
            f"{member.mention} for this period.",
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
            raise UserFacingError("Name either a `member` or a `role`, not both.")
        kind, target = ("member", member.id) if member is not None else ("role", role.id)  # type: ignore[union-attr]
        name = member.mention if member is not None else role.mention  # type: ignore[union-attr]
        guild_id, moderator = _guild(interaction), interaction.user.id
        credits = parse_credits(amount, "amount") if amount is not None else None
        async with self.bot.store.transaction() as tx:
            if amount is None:
                changed = await self.bot.credits.clear_allowance(tx, guild_id, kind, target)
                text = (
                    f"{name} now follows the server's default allowance."
                    if changed
                    else f"{name} had no allowance of their own."
                )
            else:
                await self.bot.credits.set_allowance(tx, guild_id, kind, target, credits, moderator)
                shown = "unlimited" if credits is None else fmt(credits)
                text = f"{name} now gets {shown} credits per period."
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
        generation = await self.bot.moderation.get_by_task_id(guild_id, task_id.strip())
        if generation is None:
            raise UserFacingError("I can't find a video with that task id in this server.")
        if generation.status != "completed":
            raise UserFacingError(
                "Only finished videos can be refunded: a video that failed or was cancelled "
                "already gave its credits back, and one in progress is settled when it ends."
            )
        async with self.bot.store.transaction() as tx:
            given = await self.bot.credits.refund(tx, generation, reason, moderator_id=moderator)
            entry = None
            if given:
                entry = await self.bot.moderation.record(
                    guild_id, moderator, REFUND, generation.user_id,
                    {"generation": generation.id, "credits": given}, reason, tx=tx,
                )  # fmt: skip
        await self._audited(entry)
        text = (
            f"Gave {fmt(given)} credits back to <@{generation.user_id}>."
            if given
            else "That video's credits were already given back."
        )
        await interaction.response.send_message(
            text, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
        )


class CreditsModeration(commands.Cog):
    """/videomod limits and /videomod balance (added to the moderators' group)."""

    def __init__(self, bot: VideoBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        CreditsAdmin(self.bot)  # registers itself under /videomod
        self.bot.videomod.add_command(self.limits)
        self.bot.videomod.add_command(self.balance)

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
                raise UserFacingError(f"`period` must be one of {', '.join(CREDIT_PERIODS)}.")
            changes["period"] = period
        for name, value, low, high in (
            ("max_running", max_running, 1, 50),
            ("max_queued", max_queued, 0, 50),
            ("cooldown", cooldown, 0, 86400),
        ):
            if value is not None:
                if type(value) is not int or not low <= value <= high:
                    raise UserFacingError(f"`{name}` must be a whole number from {low} to {high}.")
                changes[name] = value
        if not changes and not reset:
            limits = await self.bot.credits.limits(guild_id)
            await interaction.response.send_message(embed=limits_embed(limits), ephemeral=True)
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
            "Saved. These limits apply from the next request.",
            embed=limits_embed(limits),
            ephemeral=True,
        )

    @app_commands.command(name="balance", description="The EvoLink account's remaining balance")
    async def balance(self, interaction: discord.Interaction[VideoBot]) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            balance = await self.bot.api.get_balance()
        except (evolink.Unauthorized, evolink.ModelAccessDenied):
            text = "EvoLink refused the bot's API key: the owner has to fix EVOLINK_API_KEY."
        except evolink.EvoLinkError:
            text = "EvoLink did not answer the balance request. Try again in a minute."
        else:
            remaining = "unlimited" if balance.unlimited else fmt(balance.remaining_credits or 0)
            text = f"The EvoLink account has **{remaining}** credits left."
        await interaction.followup.send(text, ephemeral=True)


def _amount(value: float) -> float:
    """discord.py does not re-check ranges on an incoming interaction: a crafted one could
    'grant' a negative amount."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.01 <= value <= 1e6:
        raise UserFacingError("`amount` must be between 0.01 and 1,000,000 credits.")
    return float(value)


def member_role_ids(member: discord.abc.User) -> tuple[int, ...]:
    """The member's role ids as the interaction lists them (needs no cached guild)."""
    raw = getattr(member, "_roles", None)
    if raw is not None:
        return tuple(int(r) for r in raw)
    return tuple(role.id for role in getattr(member, "roles", ()))


def _guild(interaction: discord.Interaction[VideoBot]) -> int:
    if interaction.guild_id is None:
        raise UserFacingError("This command works only in a server.")
    return interaction.guild_id
