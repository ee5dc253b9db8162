"""What a server's mod-log channel receives: one embed per post, in the server's language
(`locale`, see ModLog.locale), read by all of its moderators. Member text goes through `clip`.
"""

from __future__ import annotations

import datetime as dt

import discord

from bot.charges import ChargeAnomaly
from bot.credits import fmt
from bot.moderation import AuditEntry
from bot.store import Generation
from bot.ui.discord_limits import fit_embed
from bot.ui.i18n import AnyLocale, t
from bot.ui.mod_render import (
    COLOR_DONE,
    COLOR_FAILED,
    COLOR_MOD,
    COLOR_REQUEST,
    COLOR_WARN,
    audit_text,
    code,
    credits_text,
    status_label,
    video_link,
)
from bot.ui.render import clip, inert_link, parameters_line


def _stamp(embed: discord.Embed, when: float) -> discord.Embed:
    embed.timestamp = dt.datetime.fromtimestamp(when, dt.UTC)
    return fit_embed(embed)


def _member_in(g: Generation, locale: AnyLocale) -> str:
    return t("modview.member_in", locale, member=f"<@{g.user_id}>", channel=f"<#{g.channel_id}>")


def _footer(g: Generation, task: str, locale: AnyLocale) -> str:
    return t("modview.footer", locale, task_id=g.task_id or task, id=g.id)


def request_post(g: Generation, locale: AnyLocale = None) -> discord.Embed:
    embed = discord.Embed(
        title=t("modlog.request.title", locale),
        description=clip(g.prompt, 1500),
        colour=COLOR_REQUEST,
    )
    embed.add_field(name=t("modview.member", locale), value=_member_in(g, locale))
    embed.add_field(name=t("field.cost", locale), value=credits_text(g, locale))
    if g.negative_prompt:
        embed.add_field(
            name=t("field.negative_prompt", locale),
            value=clip(g.negative_prompt, 600),
            inline=False,
        )
    embed.add_field(
        name=t("field.settings", locale), value=parameters_line(g, locale), inline=False
    )
    embed.set_footer(text=_footer(g, t("modlog.not_started", locale), locale))
    return _stamp(embed, g.requested_at)


def outcome_post(
    g: Generation, *, withheld: bool = False, locale: AnyLocale = None
) -> discord.Embed:
    done = g.status == "completed"
    if done:
        title = t("status.title.completed", locale)
    else:
        title = t("modlog.not_made", locale, status=status_label(g, locale))
    embed = discord.Embed(
        title=title, description=clip(g.prompt, 1000), colour=COLOR_DONE if done else COLOR_FAILED
    )
    embed.add_field(name=t("modview.member", locale), value=_member_in(g, locale))
    embed.add_field(name=t("field.cost", locale), value=credits_text(g, locale))
    if done and g.result_url:
        shown = inert_link(g.result_url)
        url = shown if len(shown) <= 1024 else video_link(g.result_url, locale=locale)
        embed.add_field(name=t("modview.video", locale), value=url, inline=False)
    elif g.error_code or g.error_message:
        text = f"{code(g.error_code, 100)} " if g.error_code else ""
        embed.add_field(
            name=t("modview.error", locale),
            value=text + clip(g.error_message, 500),
            inline=False,
        )
    if withheld:
        embed.add_field(
            name=t("modlog.withheld.title", locale), value=t("modlog.withheld", locale),
            inline=False,
        )  # fmt: skip
    embed.set_footer(text=_footer(g, "-", locale))
    return _stamp(embed, g.finished_at or g.updated_at)


def undelivered_post(
    g: Generation, reason: str, reached: str | None, locale: AnyLocale = None
) -> discord.Embed:
    """The bot gave up delivering a result: what happened, and what moderators can do."""

    def say(key: str, **values: object) -> str:
        return t(f"modlog.undelivered.{key}", locale, **values)

    member, channel = f"<@{g.user_id}>", f"<#{g.channel_id}>"
    lines = [say("body", id=g.id, member=member, channel=channel, count=g.delivery_attempts)]
    lines.append(say(f"reached.{reached or 'nowhere'}", channel=channel))
    if g.status == "completed":
        used = g.credits_used if g.credits_used is not None else g.credits_reserved
        cost = used or 0
        lines.append(say("charged", credits=fmt(cost), count=cost, task_id=g.task_id or "-"))
    else:
        lines.append(say("refunded"))
    embed = discord.Embed(title=say("title"), description="\n".join(lines), colour=COLOR_WARN)
    embed.add_field(name=say("error"), value=code(reason, 300), inline=False)
    if g.status == "completed" and g.result_url:
        embed.add_field(
            name=t("modview.video", locale),
            value=video_link(g.result_url, locale=locale),
            inline=False,
        )
    embed.set_footer(text=_footer(g, "-", locale))
    return _stamp(embed, g.updated_at)


def blocked_post(
    user_id: int,
    prompt: str,
    pattern: str,
    negative_prompt: str | None,
    now: float,
    locale: AnyLocale = None,
) -> discord.Embed:
    embed = discord.Embed(
        title=t("modlog.blocked.title", locale), description=clip(prompt, 1500), colour=COLOR_WARN
    )
    embed.add_field(name=t("modview.member", locale), value=f"<@{user_id}>")
    embed.add_field(name=t("modlog.blocked.matched", locale), value=code(pattern, 210))
    if negative_prompt:
        embed.add_field(
            name=t("field.negative_prompt", locale),
            value=clip(negative_prompt, 600),
            inline=False,
        )
    embed.set_footer(text=t("modlog.blocked.footer", locale))
    return _stamp(embed, now)


def action_post(e: AuditEntry, locale: AnyLocale = None) -> discord.Embed:
    embed = discord.Embed(
        title=t("modlog.action.title", locale), description=audit_text(e, locale), colour=COLOR_MOD
    )
    embed.set_footer(text=t("modlog.action.footer", locale, id=e.id))
    return _stamp(embed, e.created_at)


def charge_warning(anomaly: ChargeAnomaly, locale: AnyLocale = None) -> str:
    """For the mod-log: a credit figure from EvoLink the bot did not believe, and what it did."""
    key = f"modlog.charge_rejected.{anomaly.stage}"
    if anomaly.reported == 0 and anomaly.stage == "used":
        key = "modlog.charge_zero"
    return t(
        key,
        locale,
        reported=code(fmt(anomaly.reported), 40),
        id=anomaly.generation.id,
        task_id=code(anomaly.task_id, 80),
        ceiling=fmt(anomaly.ceiling),
        estimate=fmt(anomaly.estimate),
        kept=fmt(anomaly.kept),
        count=anomaly.kept if key == "modlog.charge_zero" else anomaly.reported,
    )


def warning_post(text: str, now: float, locale: AnyLocale = None) -> discord.Embed:
    title = t("modlog.warning.title", locale)
    return _stamp(discord.Embed(title=title, description=text, colour=COLOR_WARN), now)
