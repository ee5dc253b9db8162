"""Everything a member reads: status embeds, results, refusals and failures, in one place.

Each function takes the member's Discord `locale` (None: English); the texts are bot/ui/i18n.py's.

Prompts are member-written text: they are shown only inside embeds or escaped, so they can never
ping anyone or break the layout. Every failure says what happened and what it cost (nothing).
"""

from __future__ import annotations

import time

import discord

from bot import evolink
from bot.credits import fmt
from bot.request import ASPECT_RATIO, DURATION, NEGATIVE_PROMPT, QUALITY, output_size
from bot.store import Generation
from bot.ui.discord_limits import CONTENT, clip_text, fit_embed, join_lines
from bot.ui.i18n import AnyLocale as Locale
from bot.ui.i18n import option_label, t, tn
from bot.validation import InvalidRequest, Problem

COLOR_WORKING = discord.Colour.blurple()
COLOR_DONE = discord.Colour.green()
COLOR_FAILED = discord.Colour.red()
LINK_LIFETIME = 24 * 3600  # EvoLink's result links expire after a day

#: EvoLink task error codes (and our own `expired`, `submit_unconfirmed`, `cancelled`: a
#: request withdrawn while it waited, or a task EvoLink ended as cancelled) with their own text.
TASK_FAILURES = frozenset(
    {
        "content_policy_violation",
        "invalid_parameters",
        "request_cancelled",
        "generation_failed_no_content",
        "generation_timeout",
        "service_error",
        "service_unavailable",
        "resource_exhausted",
        "quota_exceeded",
        "resource_not_found",
        "task_not_found",
        "expired",
        "submit_unconfirmed",
        "unusable_result",
        "no_result",
        "cancelled",
    }
)


def task_failure_text(code: str | None, message: str | None = None, locale: Locale = None) -> str:
    if code in TASK_FAILURES:
        return t(f"failure.{code}", locale)
    if message:
        return t("failure.unknown_detail", locale, detail=_clip(message, 200))
    return t("failure.unknown", locale)


def submit_error_text(error: evolink.EvoLinkError, locale: Locale = None) -> str:
    """Why a /video request could not be started, for the member who asked."""
    match error:
        case evolink.BadRequest():
            message = _clip(error.message, 300).rstrip(" .。")  # the template ends the sentence
            return t("submit.bad_request", locale, message=message)
        case evolink.Unauthorized() | evolink.ModelAccessDenied():
            return t("submit.key_refused", locale)
        case evolink.InsufficientBalance():
            return t("submit.insufficient_balance", locale)
        case _:
            return t("submit.unavailable", locale)


def problem_text(problem: Problem, locale: Locale = None) -> str:
    """One reason a request cannot start, each option named as the member's Discord shows it."""
    labels = {name: option_label(option, locale) for name, option in problem.options.items()}
    return t(problem.key, locale, **problem.values, **labels)


def invalid_request_text(error: InvalidRequest, locale: Locale = None) -> str:
    """Every problem of the request, as a list."""
    room = CONTENT - len(t("request.invalid", locale, problems=""))
    lines = join_lines([f"• {problem_text(p, locale)}" for p in error.issues], room)
    return t("request.invalid", locale, problems=lines)


def parameters_line(g: Generation, locale: Locale = None) -> str:
    quality = g.quality or QUALITY.default
    aspect = g.aspect_ratio or ASPECT_RATIO.default
    parts = [
        f"{quality} · {aspect} ({output_size(quality, aspect)})",
        t("settings.duration", locale, seconds=g.duration or DURATION.default),
    ]
    if g.seed is not None:
        parts.append(t("settings.seed", locale, seed=g.seed))
    else:
        parts.append(t("settings.random_seed", locale))
    if g.prompt_extend:
        parts.append(t("settings.prompt_extend", locale))
    if g.audio_url:
        parts.append(t("settings.custom_audio", locale))
    return " · ".join(parts)


def progress_bar(percent: int, width: int = 10) -> str:
    percent = max(0, min(100, percent))
    filled = round(percent * width / 100)
    return f"{'▰' * filled}{'▱' * (width - filled)} {percent}%"


def status_embed(
    g: Generation,
    now: float | None = None,
    *,
    queue_position: int | None = None,
    evolink_busy: bool = False,
    locale: Locale = None,
) -> discord.Embed:
    """The one message that follows a request from start to end, in the requester's language.
    A waiting request shows its place: in its member's queue, or (`evolink_busy`) in the line of
    requests EvoLink could not take yet."""
    now = time.time() if now is None else now
    status = t("field.status", locale)
    if g.status == "queued" and evolink_busy and queue_position:
        embed = discord.Embed(title=t("status.title.evolink_busy", locale), colour=COLOR_WORKING)
        value = t("status.evolink_busy", locale, position=queue_position)
        embed.add_field(name=status, value=value, inline=False)
    elif g.status == "queued":
        embed = discord.Embed(title=t("status.title.queued", locale), colour=COLOR_WORKING)
        if queue_position:
            value = t("status.queued.position", locale, position=queue_position)
        else:
            value = t("status.queued", locale)
        embed.add_field(name=status, value=value, inline=False)
    elif g.status == "cancelled":
        embed = discord.Embed(title=t("status.title.cancelled", locale), colour=COLOR_FAILED)
        embed.add_field(name=status, value=t("status.cancelled", locale), inline=False)
    elif g.status == "completed":
        embed = discord.Embed(title=t("status.title.completed", locale), colour=COLOR_DONE)
        embed.add_field(name=status, value=t("status.completed", locale), inline=False)
    elif g.status in ("failed", "expired"):
        embed = discord.Embed(title=t("status.title.failed", locale), colour=COLOR_FAILED)
        reason = task_failure_text(g.error_code or g.status, g.error_message, locale)
        embed.add_field(name=status, value=t("status.failed", locale, reason=reason), inline=False)
    else:
        embed = discord.Embed(title=t("status.title.working", locale), colour=COLOR_WORKING)
        state = t(
            "status.state.running" if g.status == "running" else "status.state.pending", locale
        )
        value = f"{state}\n`{progress_bar(g.progress)}`"
        if g.submitted_at is not None:
            elapsed = _duration(max(0, int(now - g.submitted_at)), locale)
            if g.estimated_seconds:
                estimate = _duration(int(g.estimated_seconds), locale)
                value += "\n" + t(
                    "status.elapsed_estimate", locale, elapsed=elapsed, estimate=estimate
                )
            else:
                value += "\n" + t("status.elapsed", locale, elapsed=elapsed)
        embed.add_field(name=status, value=value, inline=False)
    embed.description = t("status.asked_by", locale, mention=f"<@{g.user_id}>")  # no ping
    embed.add_field(name=t("field.prompt", locale), value=_clip(g.prompt, 1000), inline=False)
    _add_request_fields(embed, g, locale)
    if g.credits_reserved is not None and g.status not in ("failed", "expired", "cancelled"):
        amount = g.credits_used or g.credits_reserved
        embed.add_field(
            name=t("field.cost", locale),
            value=tn("status.cost", amount, locale, credits=fmt(amount)),
        )
    if g.task_id:
        embed.set_footer(text=t("footer.task", locale, task_id=g.task_id))
    return fit_embed(embed)


def result_message(
    g: Generation,
    *,
    attached: bool = False,
    note: str | None = None,
    details: bool = True,
    locale: Locale = None,
) -> tuple[str, discord.Embed | None]:
    """The delivery: a mention of the requester and the file or the link (after `note`, if any)
    as the text, the request's details as an embed (`details=False`: none). A link too long
    for the text goes whole at the top of the embed instead: it is never cut."""
    content = _after_note(note, result_content(g, attached=attached, locale=locale))
    embed = result_embed(g, locale) if details else None
    link = (
        inert_link(g.result_url)
        if g.result_url and g.status == "completed" and not attached
        else None
    )
    if link and len(content) > CONTENT:
        content = _after_note(note, result_content(g, link_below=True, locale=locale))
        embed = embed or discord.Embed(colour=COLOR_DONE)
        embed.description = f"{link}\n\n{embed.description}" if embed.description else link
        fit_embed(embed)
    return clip_text(content, CONTENT), embed


def failure_notice(
    g: Generation, *, private: bool, note: str | None = None, locale: Locale = None
) -> tuple[str, discord.Embed | None]:
    """Why a video was not made, and that it cost nothing. `private` (an ephemeral reply or a
    direct message): with the prompt and settings below; else a mention and the reason only, so
    that the channel never reads the prompt a second time (nor EvoLink's words about it)."""
    if private:
        reason = task_failure_text(g.error_code or g.status, g.error_message, locale)
        content = _after_note(note, t("result.failed.private", locale, reason=reason))
        return clip_text(content, CONTENT), result_embed(g, locale)
    reason = task_failure_text(g.error_code or g.status, None, locale)
    content = t("result.failed", locale, mention=f"<@{g.user_id}>", reason=reason)
    return clip_text(content, CONTENT), None


def _after_note(note: str | None, text: str) -> str:
    return f"{note}\n{text}" if note else text


# Characters a link may hold which Discord's markdown reads: a `)` ends a masked link (the
# moderators' "Open the video"), `[...](...)` makes one, `*` formats; `|`, `` ` ``, `<` and `>`
# (which the link check already refuses) too. Percent-encoded, these delimiters are the same
# address to servers (S3's canonical form encodes them anyway). `_` and `~` stay: unreserved
# characters that must not be encoded (RFC 3986, 2.3; CloudFront signatures hold `~`), and
# inside a bare URL Discord's link rule takes them before any formatting can.
_MARKDOWN_IN_URLS = str.maketrans({c: f"%{ord(c):02X}" for c in "()[]*|`<>"})
_MARKDOWN_IN_HOSTS = str.maketrans({c: f"%{ord(c):02X}" for c in "()*|`<>"})  # [::1] stays


def inert_link(url: str) -> str:
    """EvoLink's result link as it is shown: the same address, with nothing Discord's markdown
    can read in it, so a link cannot smuggle a masked link or formatting into a message."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        return url.translate(_MARKDOWN_IN_URLS)
    end = next((i for i, c in enumerate(rest) if c in "/?#"), len(rest))
    host, tail = rest[:end], rest[end:]
    return f"{scheme}://{host.translate(_MARKDOWN_IN_HOSTS)}{tail.translate(_MARKDOWN_IN_URLS)}"


def result_content(
    g: Generation, *, attached: bool = False, link_below: bool = False, locale: Locale = None
) -> str:
    """The delivery message's text: a mention of the requester, then the file or the link
    (`link_below`: the link is in the embed under it)."""
    mention = f"<@{g.user_id}>"
    if g.status == "completed" and attached:
        return t("result.ready.attached", locale, mention=mention)
    if g.status == "completed" and g.result_url:
        key = "result.ready.link_below" if link_below else "result.ready"
        url = inert_link(g.result_url)
        if g.finished_at is not None:
            expires = f"<t:{int(g.finished_at + LINK_LIFETIME)}:R>"
            return t(f"{key}.expires", locale, mention=mention, url=url, expires=expires)
        return t(key, locale, mention=mention, url=url)
    reason = task_failure_text(g.error_code or g.status, g.error_message, locale)
    return t("result.failed", locale, mention=mention, reason=reason)


def result_embed(g: Generation, locale: Locale = None) -> discord.Embed:
    colour = COLOR_DONE if g.status == "completed" else COLOR_FAILED
    embed = discord.Embed(description=_clip(g.prompt, 1000), colour=colour)
    _add_request_fields(embed, g, locale)
    if g.submitted_at and g.finished_at:
        took = _duration(int(g.finished_at - g.submitted_at), locale)
        embed.add_field(name=t("field.took", locale), value=took)
    cost = g.credits_used if g.credits_used is not None else g.credits_reserved
    if g.status == "completed" and cost is not None:
        embed.add_field(
            name=t("field.cost", locale), value=tn("status.cost", cost, locale, credits=fmt(cost))
        )
    if g.task_id:
        embed.set_footer(text=t("footer.task", locale, task_id=g.task_id))
    return fit_embed(embed)


def _add_request_fields(embed: discord.Embed, g: Generation, locale: Locale) -> None:
    """The negative prompt (if any) and the settings line, as every request embed shows them."""
    if g.negative_prompt:
        embed.add_field(
            name=t("field.negative_prompt", locale),
            value=_clip(g.negative_prompt, NEGATIVE_PROMPT.max_length),
            inline=False,
        )
    embed.add_field(
        name=t("field.settings", locale), value=parameters_line(g, locale), inline=False
    )


def _duration(seconds: int, locale: Locale = None) -> str:
    minutes, seconds = divmod(max(0, seconds), 60)
    if minutes:
        return t("duration.minutes", locale, minutes=minutes, seconds=seconds)
    return t("duration.seconds", locale, seconds=seconds)


def _clip(text: str | None, limit: int) -> str:
    """Member or API text, made inert (no mentions, no markdown) and cut to fit, never inside
    an escape or a mention."""
    text = discord.utils.escape_markdown(discord.utils.escape_mentions((text or "").strip()))
    return clip_text(text, limit)


clip = _clip  # the public name, for the moderation embeds
