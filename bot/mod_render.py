"""What moderators (and members looking at their own history) read: log pages, one generation in
full, the audit trail, the blocklist and the mod-log channel's posts.

Member text (prompts, reasons, patterns) goes through `render.clip`: no pings, no markdown.
Mentions in embeds never ping anyone; messages carrying them are sent with no allowed mentions.
"""

from __future__ import annotations

import datetime as dt

import discord

from bot.credits import fmt
from bot.moderation import AuditEntry, BlockRule, LogFilter
from bot.render import clip, parameters_line, task_failure_text
from bot.store import Generation

COLOR_MOD = discord.Colour.dark_teal()
COLOR_REQUEST = discord.Colour.blurple()
COLOR_DONE = discord.Colour.green()
COLOR_FAILED = discord.Colour.red()
COLOR_WARN = discord.Colour.orange()

STATUS_LABELS = {
    "queued": "⏳ waiting for a slot",
    "requested": "⏳ starting",
    "submitted": "⏳ queued at EvoLink",
    "running": "🎬 rendering",
    "completed": "✅ completed",
    "failed": "❌ failed",
    "expired": "⌛ expired",
    "cancelled": "🚫 cancelled",
}
ACTION_LABELS = {
    "ban": "🔨 banned",
    "unban": "🕊️ unbanned",
    "blocklist_add": "🚫 added to the blocklist",
    "blocklist_remove": "♻️ removed from the blocklist",
    "config": "⚙️ changed a setting",
    "grant": "🎁 granted credits",
    "limit": "📏 changed a limit",
    "refund": "↩️ refunded",
}


def code(text: str | None, limit: int = 200) -> str:
    """Text in a code span: shown literally (no markdown, no mentions) and unable to close it."""
    text = (text or "").replace("`", "ˋ").replace("\n", " ").strip() or " "
    return f"`{text if len(text) <= limit else text[: limit - 1] + '…'}`"


def ts(unix: float, style: str = "R") -> str:
    """A Discord timestamp: each reader sees it in their own time zone."""
    return f"<t:{int(unix)}:{style}>"


def status_label(g: Generation) -> str:
    return STATUS_LABELS.get(g.status, g.status)


def credits_text(g: Generation) -> str:
    if g.credits_used is not None:
        return f"{fmt(g.credits_used)} credits"
    if g.credits_reserved is not None:
        held = g.status in ("queued", "requested", "submitted", "running")
        return f"{fmt(g.credits_reserved)} credits{' (held)' if held else ''}"
    return "no charge"


def video_link(url: str, limit: int = 1024) -> str:
    """A markdown link, or a note when the URL (signed CDN links can be long) does not fit."""
    text = f"[Open the video]({url})"
    return text if len(text) <= limit else "(the video link is too long to show here)"


def outcome_line(g: Generation, *, for_member: bool = False, limit: int = 1024) -> str | None:
    if g.status == "completed" and g.result_url:
        return video_link(g.result_url, limit)
    if g.status in ("failed", "expired"):
        if for_member:
            return task_failure_text(g.error_code or g.status, None)
        return f"Error: {code(g.error_code or g.status, 60)}"
    return None


def filters_text(f: LogFilter, status_name: str | None) -> str:
    parts = []
    if f.user_id is not None:
        parts.append(f"member <@{f.user_id}>")
    if status_name:
        parts.append(f"status {status_name}")
    if f.since is not None:
        parts.append(f"since {ts(f.since, 'f')}")
    return "Filters: " + ", ".join(parts) if parts else "All generations"


ENTRY_LIMIT = 850  # six entries and the headers stay under Discord's 6000 per embed


def _entry(g: Generation, *, with_member: bool) -> tuple[str, str]:
    head = [f"<@{g.user_id}>"] if with_member else []
    head += [ts(g.requested_at), status_label(g)]
    lines = [
        " · ".join(head),
        f"> {clip(g.prompt, 160)}",
        f"{parameters_line(g)} · {credits_text(g)}",
    ]
    if g.task_id:
        lines.append(f"Task {code(g.task_id, 80)}")
    used = sum(len(line) + 1 for line in lines)
    outcome = outcome_line(g, for_member=not with_member, limit=ENTRY_LIMIT - used)
    if outcome:
        lines.append(outcome)
    return f"#{g.id}", "\n".join(lines)[:ENTRY_LIMIT]


def log_embed(
    items: list[Generation], *, title: str, description: str, page: int, with_member: bool = True
) -> discord.Embed:
    embed = discord.Embed(title=title, description=description, colour=COLOR_MOD)
    for g in items:
        name, value = _entry(g, with_member=with_member)
        embed.add_field(name=name, value=value, inline=False)
    if not items:
        embed.add_field(name="Nothing here", value="No generations match.", inline=False)
    embed.set_footer(text=f"Page {page} · newest first")
    return embed


SHOW_PROMPT_LIMIT = 2000  # with every other field at its longest, the embed stays under 6000


def generation_embed(g: Generation) -> tuple[discord.Embed, bool]:
    """One generation in full; the flag says the prompt was too long and needs a file."""
    prompt = clip(g.prompt, 100_000)
    too_long = len(prompt) > SHOW_PROMPT_LIMIT
    embed = discord.Embed(
        title=f"Generation #{g.id}",
        description=clip(g.prompt, SHOW_PROMPT_LIMIT) if too_long else prompt,
        colour=COLOR_MOD,
    )
    embed.add_field(name="Member", value=f"<@{g.user_id}> in <#{g.channel_id}>")
    embed.add_field(name="Status", value=f"{status_label(g)} ({g.progress}%)")
    embed.add_field(name="Credits", value=_credits_detail(g))
    if g.negative_prompt:
        embed.add_field(name="Negative prompt", value=clip(g.negative_prompt, 1000), inline=False)
    params = [
        f"quality {g.quality or '720p (default)'}",
        f"aspect ratio {g.aspect_ratio or '16:9 (default)'}",
        f"duration {g.duration or 5} s{'' if g.duration else ' (default)'}",
        f"seed {g.seed if g.seed is not None else 'random'}",
        f"prompt extend {'on' if g.prompt_extend else 'off'}",
    ]
    if g.audio_url:
        params.append(f"audio {clip(g.audio_url, 300)}")
    embed.add_field(name="Parameters", value="\n".join(params), inline=False)
    times = [f"Requested {ts(g.requested_at, 'f')} ({ts(g.requested_at)})"]
    for label, when in (
        ("Submitted", g.submitted_at),
        ("Finished", g.finished_at),
        ("Delivered", g.delivered_at),
    ):
        if when is not None:
            times.append(f"{label} {ts(when, 'f')}")
    if g.delivered_via:
        times.append(f"Delivered via {g.delivered_via} ({g.delivery_attempts} attempt(s))")
    embed.add_field(name="Timeline", value="\n".join(times), inline=False)
    if g.error_code or g.error_message:
        text = f"{code(g.error_code, 100)} " if g.error_code else ""
        text += clip(g.error_message, 400) if g.error_message else ""
        text += f"\n{task_failure_text(g.error_code or g.status, None)}"
        embed.add_field(name="Error", value=text, inline=False)
    if g.result_url:
        embed.add_field(name="Video", value=video_link(g.result_url), inline=False)
    embed.set_footer(text=f"Task {g.task_id or 'not started'} · generation #{g.id}"[:200])
    return embed, too_long


def _credits_detail(g: Generation) -> str:
    held = f"{fmt(g.credits_reserved)} held" if g.credits_reserved is not None else None
    used = f"{fmt(g.credits_used)} charged" if g.credits_used is not None else None
    return " · ".join(p for p in (held, used) if p) or "none"


def audit_text(e: AuditEntry) -> str:
    what = ACTION_LABELS.get(e.action, clip(e.action, 40))
    line = f"{ts(e.created_at)} <@{e.moderator_id}> {what}"
    if e.target_user_id is not None:
        line += f" <@{e.target_user_id}>"
    details = _details_text(e)
    if details:
        line += f"\n{details}"
    if e.reason:
        line += f"\nReason: {clip(e.reason, 300)}"
    return line


def _details_text(e: AuditEntry) -> str:
    d = e.details
    if e.action == "config" and d.get("setting") == "log_channel":
        new = f"<#{d['new']}>" if d.get("new") else "off"
        old = f"<#{d['old']}>" if d.get("old") else "off"
        return f"Mod-log channel: {old} → {new}"
    if "pattern" in d:
        return f"Entry: {code(str(d['pattern']), 210)}"
    text = " · ".join(f"{clip(str(k), 40)}: {clip(str(v), 100)}" for k, v in d.items())
    return text if len(text) <= 300 else text[:299] + "…"


def audit_embed(entries: list[AuditEntry], *, page: int, description: str) -> discord.Embed:
    embed = discord.Embed(title="Moderator actions", description=description, colour=COLOR_MOD)
    for e in entries:
        embed.add_field(name=f"#{e.id}", value=audit_text(e), inline=False)
    if not entries:
        embed.add_field(name="Nothing here", value="No moderator action recorded yet.")
    embed.set_footer(text=f"Page {page} · newest first")
    return embed


def blocklist_embed(rules: list[BlockRule], *, page: int, pages: int) -> discord.Embed:
    embed = discord.Embed(title="Prompt blocklist", colour=COLOR_MOD)
    if not rules:
        embed.description = (
            "The blocklist is empty. Add a word with `/videomod blocklist add`, or a regular "
            "expression written as `/.../`."
        )
    else:
        embed.description = "\n".join(
            f"{code(r.display, 210)} · {'regex' if r.is_regex else 'whole word'} · "
            f"<@{r.added_by}> {ts(r.added_at)}"
            for r in rules
        )
    embed.set_footer(text=f"Page {page} of {max(pages, 1)} · matched in any case")
    return embed


# --- mod-log channel posts --------------------------------------------------------------------


def _stamp(embed: discord.Embed, when: float) -> discord.Embed:
    embed.timestamp = dt.datetime.fromtimestamp(when, dt.UTC)
    return embed


def request_post(g: Generation) -> discord.Embed:
    embed = discord.Embed(
        title="🎬 Video requested", description=clip(g.prompt, 1500), colour=COLOR_REQUEST
    )
    embed.add_field(name="Member", value=f"<@{g.user_id}> in <#{g.channel_id}>")
    embed.add_field(name="Cost", value=credits_text(g))
    if g.negative_prompt:
        embed.add_field(name="Negative prompt", value=clip(g.negative_prompt, 600), inline=False)
    embed.add_field(name="Settings", value=parameters_line(g), inline=False)
    embed.set_footer(text=f"Task {g.task_id or 'not started yet'} · generation #{g.id}")
    return _stamp(embed, g.requested_at)


def outcome_post(g: Generation, *, withheld: bool = False) -> discord.Embed:
    done = g.status == "completed"
    embed = discord.Embed(
        title="✅ Video ready" if done else f"{status_label(g)}: video not made",
        description=clip(g.prompt, 1000),
        colour=COLOR_DONE if done else COLOR_FAILED,
    )
    embed.add_field(name="Member", value=f"<@{g.user_id}> in <#{g.channel_id}>")
    embed.add_field(name="Cost", value=credits_text(g))
    if done and g.result_url:
        url = g.result_url if len(g.result_url) <= 1024 else video_link(g.result_url)
        embed.add_field(name="Video", value=url, inline=False)
    elif g.error_code or g.error_message:
        text = f"{code(g.error_code, 100)} " if g.error_code else ""
        embed.add_field(name="Error", value=text + clip(g.error_message, 500), inline=False)
    if withheld:
        embed.add_field(
            name="Withheld",
            value="The member is banned, so this result was posted only here.",
            inline=False,
        )
    embed.set_footer(text=f"Task {g.task_id or '-'} · generation #{g.id}")
    return _stamp(embed, g.finished_at or g.updated_at)


def blocked_post(
    user_id: int, prompt: str, pattern: str, negative_prompt: str | None, now: float
) -> discord.Embed:
    embed = discord.Embed(
        title="🚫 Prompt blocked", description=clip(prompt, 1500), colour=COLOR_WARN
    )
    embed.add_field(name="Member", value=f"<@{user_id}>")
    embed.add_field(name="Matched", value=code(pattern, 210))
    if negative_prompt:
        embed.add_field(name="Negative prompt", value=clip(negative_prompt, 600), inline=False)
    embed.set_footer(text="Refused before anything was reserved or sent to EvoLink")
    return _stamp(embed, now)


def action_post(e: AuditEntry) -> discord.Embed:
    embed = discord.Embed(title="Moderator action", description=audit_text(e), colour=COLOR_MOD)
    embed.set_footer(text=f"Audit #{e.id}")
    return _stamp(embed, e.created_at)


def warning_post(text: str, now: float) -> discord.Embed:
    return _stamp(discord.Embed(title="⚠️ Attention", description=text, colour=COLOR_WARN), now)
