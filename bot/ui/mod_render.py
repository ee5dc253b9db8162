"""What moderators (and members looking at their own history) read: log pages, one generation in
full, the audit trail, the blocklist and the bans, in the reader's language (`locale`). The
mod-log channel's posts are bot/ui/modlog_render.py's.

Member text (prompts, reasons, patterns) goes through `render.clip`: no pings, no markdown.
Mentions in embeds never ping anyone; messages carrying them are sent with no allowed mentions.
"""

from __future__ import annotations

import discord

from bot.credits import fmt
from bot.export import COLUMNS as EXPORT_COLUMNS
from bot.export import Wording
from bot.export import message_link as posted_message_link
from bot.moderation import NOT_CHECKED, WIDENED, AuditEntry, Ban, BlockRule, LogFilter
from bot.request import ASPECT_RATIO, DURATION, QUALITY
from bot.settings import CREDIT_PERIODS
from bot.store import Generation
from bot.ui.discord_limits import clip_text, fit_embed
from bot.ui.i18n import AnyLocale, listing, option_label, t, tn
from bot.ui.render import LINK_LIFETIME, clip, inert_link, parameters_line, task_failure_text

COLOR_MOD = discord.Colour.dark_teal()
COLOR_REQUEST = discord.Colour.blurple()
COLOR_DONE = discord.Colour.green()
COLOR_FAILED = discord.Colour.red()
COLOR_WARN = discord.Colour.orange()

STATUSES = ("queued", "requested", "submitted", "running", "completed", "failed", "expired",
            "cancelled")  # fmt: skip
STATUS_LABELS = {s: t(f"log.status.{s}") for s in STATUSES}  # English; status_label() translates
ACTIONS = ("ban", "unban", "blocklist_add", "blocklist_remove", "config", "grant", "limit",
           "refund")  # fmt: skip
#: Where a result went (generations.delivered_via), each with its "modview.via.<route>" text.
ROUTES = ("channel", "dm", "followup", "ephemeral", "interaction", "withheld", "withdrawn",
          "undeliverable")  # fmt: skip
#: The details the audit trail stores ("audit.detail.<name>"); others are /videomod options.
DETAIL_NAMES = ("amount", "allowance", "target", "credits", "generation", "limits", "reset")


def code(text: str | None, limit: int = 200) -> str:
    """Text in a code span: shown literally (no markdown, no mentions) and unable to close it."""
    text = (text or "").replace("`", "ˋ").replace("\n", " ").strip() or " "
    return f"`{text if len(text) <= limit else text[: limit - 1] + '…'}`"


def ts(unix: float, style: str = "R") -> str:
    """A Discord timestamp: each reader sees it in their own time zone."""
    return f"<t:{int(unix)}:{style}>"


def status_label(g: Generation, locale: AnyLocale = None) -> str:
    return t(f"log.status.{g.status}", locale) if g.status in STATUSES else g.status


REFUNDED_STATUSES = ("failed", "expired", "cancelled")  # every credit held is given back


def credits_text(g: Generation, locale: AnyLocale = None) -> str:
    if g.status in REFUNDED_STATUSES:
        if g.credits_reserved is None:
            return t("log.no_charge", locale)
        return tn("log.refunded", g.credits_reserved, locale, credits=fmt(g.credits_reserved))
    if g.credits_used is not None:
        return tn("status.cost", g.credits_used, locale, credits=fmt(g.credits_used))
    if g.credits_reserved is not None:
        held = g.status in ("queued", "requested", "submitted", "running")
        key = "log.credits_held" if held else "status.cost"
        return tn(key, g.credits_reserved, locale, credits=fmt(g.credits_reserved))
    return t("log.no_charge", locale)


def video_link(url: str, limit: int = 1024, locale: AnyLocale = None) -> str:
    """A markdown link, or a note when the URL (signed CDN links can be long) does not fit."""
    text = t("log.open_video", locale, url=inert_link(url))
    return text if len(text) <= limit else t("log.link_too_long", locale)


def message_link(g: Generation) -> str | None:
    """The address of the message a video was posted in, where the server has one."""
    return posted_message_link(g.guild_id, g.channel_id, g.delivery_message_id, g.delivered_via)


def where_to_find(
    g: Generation, now: float, *, limit: int = 1024, locale: AnyLocale = None
) -> str | None:
    """Where a finished video can still be watched: the message it was posted in (and whether
    its file is there), EvoLink's link while it is valid (a day), or that neither exists any
    more. None for a video that was not made."""
    if g.status != "completed":
        return None
    parts: list[str] = []
    posted = message_link(g)
    if posted is not None:
        parts.append(t("log.posted.file" if g.delivered_file else "log.posted", locale, url=posted))
    elif g.delivered_via == "dm":
        parts.append(t("log.sent_dm.file" if g.delivered_file else "log.sent_dm", locale))
    expires = (g.finished_at or g.requested_at) + LINK_LIFETIME
    if g.result_url and now < expires:
        link = video_link(g.result_url, limit, locale)
        parts.append(f"{link} · {t('log.link_expires', locale, expires=ts(expires))}")
    elif not g.delivered_file:
        parts.append(t("log.gone", locale, expired=ts(expires)))
    text = " · ".join(parts)
    return text if len(text) <= limit else clip_text(parts[0], limit)


def outcome_line(
    g: Generation,
    now: float,
    *,
    for_member: bool = False,
    limit: int = 1024,
    locale: AnyLocale = None,
) -> str | None:
    if g.status == "completed":
        return where_to_find(g, now, limit=limit, locale=locale)
    if g.status in ("failed", "expired"):
        if for_member:
            return task_failure_text(g.error_code or g.status, None, locale)
        return t("log.error", locale, code=code(g.error_code or g.status, 60))
    return None


def export_wording(locale: AnyLocale = None) -> Wording:
    """The CSV export's header and values in the moderator's language."""
    return Wording(
        header={column: t(f"export.column.{column}", locale) for column in EXPORT_COLUMNS},
        statuses={status: t(f"log.status.{status}", locale) for status in STATUSES},
        yes=t("export.yes", locale),
        no=t("export.no", locale),
        random_seed=t("modview.random", locale),
    )


def filters_text(f: LogFilter, status_name: str | None, locale: AnyLocale = None) -> str:
    parts = []
    if f.user_id is not None:
        parts.append(t("modview.filter.member", locale, member=f"<@{f.user_id}>"))
    if status_name:
        parts.append(t("modview.filter.status", locale, status=status_name))
    if f.since is not None:
        parts.append(t("modview.filter.since", locale, since=ts(f.since, "f")))
    if not parts:
        return t("modview.all", locale)
    return t("modview.filters", locale, filters=listing(locale, parts))


ENTRY_LIMIT = 850  # six entries and the headers stay under Discord's 6000 per embed


def _entry(
    g: Generation, now: float, *, with_member: bool, locale: AnyLocale = None
) -> tuple[str, str]:
    head = [f"<@{g.user_id}>"] if with_member else []
    head += [ts(g.requested_at), status_label(g, locale)]
    lines = [
        " · ".join(head),
        f"> {clip(g.prompt, 160)}",
        f"{parameters_line(g, locale)} · {credits_text(g, locale)}",
    ]
    if g.task_id:
        lines.append(t("footer.task", locale, task_id=code(g.task_id, 80)))
    used = sum(len(line) + 1 for line in lines)
    outcome = outcome_line(
        g, now, for_member=not with_member, limit=ENTRY_LIMIT - used, locale=locale
    )
    if outcome:
        lines.append(outcome)
    return f"#{g.id}", clip_text("\n".join(lines), ENTRY_LIMIT)


def log_embed(
    items: list[Generation],
    *,
    title: str,
    description: str,
    page: int,
    now: float,
    with_member: bool = True,
    locale: AnyLocale = None,
) -> discord.Embed:
    """A page of the log; `locale`: the reader's language (a member reading /videos); `now`:
    for what is still valid (EvoLink's links last a day)."""
    embed = discord.Embed(title=title, description=description, colour=COLOR_MOD)
    for g in items:
        name, value = _entry(g, now, with_member=with_member, locale=locale)
        embed.add_field(name=name, value=value, inline=False)
    if not items:
        embed.add_field(
            name=t("log.empty.title", locale), value=t("log.empty", locale), inline=False
        )
    embed.set_footer(text=t("log.footer", locale, page=page))
    return fit_embed(embed)


SHOW_PROMPT_LIMIT = 2000  # with every other field at its longest, the embed stays under 6000


def generation_embed(
    g: Generation, now: float, locale: AnyLocale = None
) -> tuple[discord.Embed, bool]:
    """One generation in full; the flag says the prompt was too long and needs a file."""

    def say(key: str, **values: object) -> str:
        return t(f"modview.{key}", locale, **values)

    prompt = clip(g.prompt, 100_000)
    too_long = len(prompt) > SHOW_PROMPT_LIMIT
    embed = discord.Embed(
        title=say("generation", id=g.id),
        description=clip(g.prompt, SHOW_PROMPT_LIMIT) if too_long else prompt,
        colour=COLOR_MOD,
    )
    where = say("member_in", member=f"<@{g.user_id}>", channel=f"<#{g.channel_id}>")
    embed.add_field(name=say("member"), value=where)
    status = status_label(g, locale)
    if g.status in ("submitted", "running"):  # a finished video's progress says nothing
        status = f"{status} ({g.progress}%)"
    embed.add_field(name=say("status"), value=status)
    embed.add_field(name=say("credits"), value=_credits_detail(g, locale))
    if g.negative_prompt:
        embed.add_field(
            name=t("field.negative_prompt", locale),
            value=clip(g.negative_prompt, 1000),
            inline=False,
        )
    duration = say("param.duration", seconds=g.duration or DURATION.default)
    params = [
        say("param.quality", value=g.quality or say("default", value=QUALITY.default)),
        say(
            "param.aspect_ratio",
            value=g.aspect_ratio or say("default", value=ASPECT_RATIO.default),
        ),
        duration if g.duration else say("default", value=duration),
        say("param.seed", value=g.seed if g.seed is not None else say("random")),
        say("param.prompt_extend_on" if g.prompt_extend else "param.prompt_extend_off"),
    ]
    if g.audio_url:
        params.append(say("param.audio", url=clip(g.audio_url, 300)))
    embed.add_field(name=say("parameters"), value="\n".join(params), inline=False)
    times = [say("requested", when=ts(g.requested_at, "f"), ago=ts(g.requested_at))]
    for label, when in (
        ("submitted", g.submitted_at),
        ("finished", g.finished_at),
        ("delivered", g.delivered_at),
    ):
        if when is not None:
            times.append(say(label, when=ts(when, "f")))
    if g.delivered_via:
        via = say(f"via.{g.delivered_via}") if g.delivered_via in ROUTES else g.delivered_via
        times.append(say("delivered_via", via=via, count=g.delivery_attempts))
    embed.add_field(name=say("timeline"), value="\n".join(times), inline=False)
    if g.error_code or g.error_message:
        text = f"{code(g.error_code, 100)} " if g.error_code else ""
        text += clip(g.error_message, 400) if g.error_message else ""
        text += f"\n{task_failure_text(g.error_code or g.status, None, locale)}"
        embed.add_field(name=say("error"), value=text, inline=False)
    found = where_to_find(g, now, locale=locale)
    if found:
        embed.add_field(name=say("video"), value=found, inline=False)
    task = g.task_id or say("not_started")
    embed.set_footer(text=say("footer", task_id=task, id=g.id))
    return fit_embed(embed), too_long


def _credits_detail(g: Generation, locale: AnyLocale = None) -> str:
    held = used = None
    if g.credits_reserved is not None:
        key = (
            "modview.credits_refunded" if g.status in REFUNDED_STATUSES else "modview.credits_held"
        )
        held = t(key, locale, credits=fmt(g.credits_reserved))
    if g.credits_used is not None:
        used = t("modview.credits_charged", locale, credits=fmt(g.credits_used))
    return " · ".join(p for p in (held, used) if p) or t("modview.none", locale)


def audit_text(e: AuditEntry, locale: AnyLocale = None) -> str:
    amount = e.details.get("amount")
    if e.action == "grant" and isinstance(amount, int | float) and amount < 0:
        what = t("modview.action.take", locale)  # credits taken are a negative grant
    elif e.action in ACTIONS:
        what = t(f"modview.action.{e.action}", locale)
    else:
        what = clip(e.action, 40)
    line = f"{ts(e.created_at)} <@{e.moderator_id}> {what}"
    if e.target_user_id is not None:
        line += f" <@{e.target_user_id}>"
    details = _details_text(e, locale)
    if details:
        line += f"\n{details}"
    if e.reason:
        line += "\n" + t("modview.reason", locale, reason=clip(e.reason, 300))
    return line


def _details_text(e: AuditEntry, locale: AnyLocale = None) -> str:
    d = e.details
    if e.action == "config" and d.get("setting") == "log_channel":
        off = t("modview.off", locale)
        new = f"<#{d['new']}>" if d.get("new") else off
        old = f"<#{d['old']}>" if d.get("old") else off
        return t("modview.log_channel_change", locale, old=old, new=new)
    if "pattern" in d:
        return t("modview.entry", locale, entry=code(str(d["pattern"]), 210))
    text = " · ".join(
        f"{clip(_detail_name(str(k), locale), 40)}: {_detail_value(str(k), v, d, locale)}"
        for k, v in d.items()
    )
    return clip_text(text, 300)


def _detail_name(name: str, locale: AnyLocale) -> str:
    if name in DETAIL_NAMES:
        return t(f"audit.detail.{name}", locale)
    return option_label(name, locale)


def _detail_value(name: str, value: object, details: dict[str, object], locale: AnyLocale) -> str:
    """A stored detail as a moderator reads it: numbers as people write them (an amount taken
    without its sign: the action says "took"), a member or role as their mention, a video by
    its number, a server's limits one by one."""
    if name == "target" and isinstance(value, int):
        return f"<@&{value}>" if details.get("allowance") == "role" else f"<@{value}>"
    if name == "generation" and isinstance(value, int):
        return f"#{value}"
    if name == "amount" and isinstance(value, int | float) and not isinstance(value, bool):
        return fmt(abs(value))
    if isinstance(value, dict):
        return ", ".join(
            f"{clip(_detail_name(str(k), locale), 40)}: {_limit_value(str(k), v, locale)}"
            for k, v in value.items()
        )
    return _plain(value, locale)


def _limit_value(name: str, value: object, locale: AnyLocale) -> str:
    """One of a server's limits as it was set: a negative allowance or cap is unlimited."""
    if name in ("default_credits", "guild_cap") and isinstance(value, int | float):
        if value < 0:
            return t("modcredits.unlimited", locale)
    if name == "cooldown" and isinstance(value, int | float) and not isinstance(value, bool):
        return t("limits.seconds", locale, seconds=fmt(value))
    if value in CREDIT_PERIODS:
        return t(f"limits.period.{value}", locale)
    return _plain(value, locale)


def _plain(value: object, locale: AnyLocale) -> str:
    if isinstance(value, bool):
        return t(f"audit.value.{value}", locale)
    if isinstance(value, int | float):
        return fmt(value)
    if value in ("member", "role"):  # whose allowance
        return option_label(str(value), locale)
    if value == "default":
        return t("audit.value.default", locale)
    return clip(str(value), 100)


def audit_description(
    moderator_id: int | None, user_id: int | None, locale: AnyLocale = None
) -> str:
    """What an audit page shows: "Actions by <@1>, about <@2>", or every recorded action."""
    parts = []
    if moderator_id is not None:
        parts.append(t("modview.audit_by", locale, user=f"<@{moderator_id}>"))
    if user_id is not None:
        parts.append(t("modview.audit_about", locale, user=f"<@{user_id}>"))
    if not parts:
        return t("modview.audit_all", locale)
    return t("modview.audit_filtered", locale, filters=listing(locale, parts))


def audit_embed(
    entries: list[AuditEntry], *, page: int, description: str, locale: AnyLocale = None
) -> discord.Embed:
    title = t("modview.audit_title", locale)
    embed = discord.Embed(title=title, description=description, colour=COLOR_MOD)
    for e in entries:
        embed.add_field(name=f"#{e.id}", value=audit_text(e, locale), inline=False)
    if not entries:
        embed.add_field(name=t("log.empty.title", locale), value=t("modview.audit_empty", locale))
    embed.set_footer(text=t("log.footer", locale, page=page))
    return fit_embed(embed)


_CHECKED = {WIDENED: "modview.widened", NOT_CHECKED: "modview.not_checked"}  # keys of the notes


def blocklist_embed(
    rules: list[BlockRule], *, page: int, pages: int, locale: AnyLocale = None
) -> discord.Embed:
    embed = discord.Embed(title=t("modview.blocklist_title", locale), colour=COLOR_MOD)
    if not rules:
        embed.description = t("modview.blocklist_empty", locale)
    else:
        embed.description = "\n".join(
            f"{code(r.display, 210)} · "
            f"{t('modview.regex' if r.is_regex else 'modview.whole_word', locale)} · "
            f"<@{r.added_by}> {ts(r.added_at)}"
            + (f" · **{t(_CHECKED[r.checked], locale)}**" if r.checked in _CHECKED else "")
            for r in rules
        )
    for checked in (WIDENED, NOT_CHECKED):
        if any(r.checked == checked for r in rules):
            embed.add_field(
                name=t(f"{_CHECKED[checked]}_title", locale),
                value=t(f"{_CHECKED[checked]}_note", locale),
                inline=False,
            )
    footer = t("modview.blocklist_footer", locale, page=page, pages=max(pages, 1))
    embed.set_footer(text=footer)
    return fit_embed(embed)


def bans_embed(
    bans: list[Ban], *, page: int, pages: int, locale: AnyLocale = None
) -> discord.Embed:
    embed = discord.Embed(title=t("modview.bans_title", locale), colour=COLOR_MOD)
    if not bans:
        embed.description = t("modview.bans_empty", locale)
    else:
        embed.description = "\n".join(
            t("modview.ban_line", locale, user=f"<@{b.user_id}>", moderator=f"<@{b.banned_by}>",
              since=ts(b.banned_at))
            + (f" · {code(b.reason, 120)}" if b.reason else "")
            for b in bans
        )  # fmt: skip
    embed.set_footer(text=t("modview.bans_footer", locale, page=page, pages=max(pages, 1)))
    return fit_embed(embed)
