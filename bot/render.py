"""Everything a member reads: status embeds, results, refusals and failures, in one place.

Prompts are member-written text: they are shown only inside embeds or escaped, so they can never
ping anyone or break the layout. Every failure says what happened and what it cost (nothing).
"""

from __future__ import annotations

import time

import discord

from bot import evolink
from bot.credits import fmt
from bot.store import Generation
from bot.validation import output_size

COLOR_WORKING = discord.Colour.blurple()
COLOR_DONE = discord.Colour.green()
COLOR_FAILED = discord.Colour.red()
NOT_CHARGED = "You were not charged for it."
REFUNDED = "Every credit it held was given back."
LINK_LIFETIME = 24 * 3600  # EvoLink's result links expire after a day

TASK_FAILURES: dict[str, str] = {
    "content_policy_violation": (
        "EvoLink's safety filter blocked this video. Try describing the scene differently."
    ),
    "invalid_parameters": "EvoLink could not use these settings. Try other options.",
    "request_cancelled": "The task was cancelled at EvoLink.",
    "generation_failed_no_content": "EvoLink could not generate this video. Please try again.",
    "generation_timeout": "EvoLink took too long to make this video. Please try again.",
    "service_error": "EvoLink had a problem making this video. Please try again.",
    "service_unavailable": "EvoLink's video service is unavailable. Try again in a few minutes.",
    "resource_exhausted": "EvoLink is overloaded right now. Try again in a few minutes.",
    "quota_exceeded": "EvoLink is limiting requests right now. Try again in a few minutes.",
    "resource_not_found": "EvoLink no longer knows this task. Please try again.",
    "task_not_found": "EvoLink no longer knows this task. Please try again.",
    "expired": "EvoLink did not finish this video in time, so the bot stopped waiting.",
    "submit_unconfirmed": (
        "EvoLink never confirmed that this video started, so the bot stopped waiting. "
        "Please try again."
    ),
}


def task_failure_text(code: str | None, message: str | None = None) -> str:
    if code in TASK_FAILURES:
        return TASK_FAILURES[code]
    detail = f" ({_clip(message, 200)})" if message else ""
    return f"EvoLink could not make this video{detail}. Please try again."


def submit_error_text(error: evolink.EvoLinkError) -> str:
    """Why a /video request could not be started, for the member who asked."""
    match error:
        case evolink.BadRequest():
            return f"EvoLink refused this request: {_clip(error.message, 300)}. {NOT_CHARGED}"
        case evolink.Unauthorized() | evolink.ModelAccessDenied():
            return (
                "The bot's EvoLink key was refused, so no video can be made right now. "
                f"A server admin has to fix the bot's settings. {NOT_CHARGED}"
            )
        case evolink.InsufficientBalance():
            return (
                "The EvoLink account that pays for this server's videos is out of credits. "
                f"Please tell a moderator. {NOT_CHARGED}"
            )
        case evolink.RateLimited():
            return f"EvoLink is busy. Try again in a minute. {NOT_CHARGED}"
        case _:
            return f"EvoLink is having trouble right now. Try again in a few minutes. {NOT_CHARGED}"


def invalid_request_text(problems: list[str]) -> str:
    lines = "\n".join(f"• {p}" for p in problems)
    return f"I can't start this video yet:\n{lines}\nNothing was sent, and you were not charged."


def parameters_line(g: Generation) -> str:
    quality = g.quality or "720p"
    aspect = g.aspect_ratio or "16:9"
    parts = [f"{quality} · {aspect} ({output_size(quality, aspect)})", f"{g.duration or 5} s"]
    parts.append(f"seed {g.seed}" if g.seed is not None else "random seed")
    if g.prompt_extend:
        parts.append("prompt extend")
    if g.audio_url:
        parts.append("custom audio")
    return " · ".join(parts)


def progress_bar(percent: int, width: int = 10) -> str:
    percent = max(0, min(100, percent))
    filled = round(percent * width / 100)
    return f"{'▰' * filled}{'▱' * (width - filled)} {percent}%"


def status_embed(
    g: Generation, now: float | None = None, *, queue_position: int | None = None
) -> discord.Embed:
    """The one message that follows a request from start to end."""
    now = time.time() if now is None else now
    if g.status == "queued":
        embed = discord.Embed(title="⏳ Waiting for a free slot", colour=COLOR_WORKING)
        place = f"#{queue_position} in your queue" if queue_position else "in your queue"
        embed.add_field(
            name="Status",
            value=f"Waiting, {place}: it starts when one of your videos finishes. "
            "Cancel it any time before then for a full refund.",
            inline=False,
        )
    elif g.status == "cancelled":
        embed = discord.Embed(title="🚫 Cancelled", colour=COLOR_FAILED)
        embed.add_field(
            name="Status", value="Cancelled before it started. " + REFUNDED, inline=False
        )
    elif g.status == "completed":
        embed = discord.Embed(title="✅ Video ready", colour=COLOR_DONE)
        embed.add_field(name="Status", value="Done: the video is posted below.", inline=False)
    elif g.status in ("failed", "expired"):
        embed = discord.Embed(title="❌ Video failed", colour=COLOR_FAILED)
        text = task_failure_text(g.error_code or g.status, g.error_message)
        embed.add_field(name="Status", value=f"{text} {NOT_CHARGED}", inline=False)
    else:
        embed = discord.Embed(title="🎬 Making your video", colour=COLOR_WORKING)
        state = "Rendering" if g.status == "running" else "Queued at EvoLink"
        value = f"{state}\n`{progress_bar(g.progress)}`"
        if g.submitted_at is not None:
            elapsed = max(0, int(now - g.submitted_at))
            value += f"\nElapsed {_duration(elapsed)}"
            if g.estimated_seconds:
                value += f" · usually about {_duration(int(g.estimated_seconds))}"
        embed.add_field(name="Status", value=value, inline=False)
    embed.add_field(name="Prompt", value=_clip(g.prompt, 1000), inline=False)
    if g.negative_prompt:
        embed.add_field(name="Negative prompt", value=_clip(g.negative_prompt, 500), inline=False)
    embed.add_field(name="Settings", value=parameters_line(g), inline=False)
    if g.credits_reserved is not None and g.status not in ("failed", "expired", "cancelled"):
        embed.add_field(name="Cost", value=f"{fmt(g.credits_used or g.credits_reserved)} credits")
    if g.task_id:
        embed.set_footer(text=f"Task {g.task_id}")
    return embed


def result_content(g: Generation, *, attached: bool = False) -> str:
    """The delivery message: a mention of the requester, then the file or the link."""
    mention = f"<@{g.user_id}>"
    if g.status == "completed" and attached:
        return f"{mention} your video is ready."
    if g.status == "completed" and g.result_url:
        expiry = ""
        if g.finished_at is not None:
            expiry = f" (<t:{int(g.finished_at + LINK_LIFETIME)}:R>)"
        return (
            f"{mention} your video is ready: {g.result_url}\n"
            f"-# The link expires 24 hours after it was made{expiry}: "
            "download the video to keep it."
        )
    text = task_failure_text(g.error_code or g.status, g.error_message)
    return f"{mention} your video could not be made. {text} {NOT_CHARGED}"


def result_embed(g: Generation) -> discord.Embed:
    colour = COLOR_DONE if g.status == "completed" else COLOR_FAILED
    embed = discord.Embed(description=_clip(g.prompt, 1000), colour=colour)
    if g.negative_prompt:
        embed.add_field(name="Negative prompt", value=_clip(g.negative_prompt, 500), inline=False)
    embed.add_field(name="Settings", value=parameters_line(g), inline=False)
    if g.submitted_at and g.finished_at:
        embed.add_field(name="Took", value=_duration(int(g.finished_at - g.submitted_at)))
    cost = g.credits_used if g.credits_used is not None else g.credits_reserved
    if g.status == "completed" and cost is not None:
        embed.add_field(name="Cost", value=f"{fmt(cost)} credits")
    if g.task_id:
        embed.set_footer(text=f"Task {g.task_id}")
    return embed


def _duration(seconds: int) -> str:
    minutes, seconds = divmod(max(0, seconds), 60)
    return f"{minutes}m {seconds:02d}s" if minutes else f"{seconds}s"


def _clip(text: str | None, limit: int) -> str:
    """Member or API text, made inert (no mentions, no markdown) and cut to fit."""
    text = discord.utils.escape_markdown(discord.utils.escape_mentions((text or "").strip()))
    return text if len(text) <= limit else text[: limit - 1] + "…"


clip = _clip  # the public name, for the moderation embeds
