"""/video: the member's way in. Validates, hands the request to bot/, shows the status message."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.request import (
    ASPECT_RATIO,
    DURATION,
    NEGATIVE_PROMPT,
    PROMPT,
    SEED,
    output_size,
)
from bot.store import Generation
from bot.ui import render
from bot.ui.client import UserFacingError
from bot.ui.i18n import AnyLocale, t
from bot.validation import AudioFile, InvalidRequest, validate_video_request
from cogs.shared import friendly_errors, refuse_invalid, start_video

if TYPE_CHECKING:
    from bot.ui.client import VideoBot

log = logging.getLogger(__name__)

ASPECT_NAMES = {"16:9": "landscape", "9:16": "portrait", "1:1": "square", "4:3": "classic",
                "3:4": "classic portrait"}  # fmt: skip
ASPECT_CHOICES = [
    app_commands.Choice(
        name=f"{ratio} {ASPECT_NAMES[ratio]} · {output_size('720p', ratio)} (720p), "
        f"{output_size('1080p', ratio)} (1080p)",
        value=ratio,
    )
    for ratio in ASPECT_RATIO.choices
]
QUALITY_CHOICES = [
    app_commands.Choice(name="720p (default)", value="720p"),
    app_commands.Choice(name="1080p (sharper, costs more)", value="1080p"),
]


class CancelQueued(
    discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"video:cancel:(?P<id>\d+)"
):
    """Withdraws a request still waiting in the bot's own queue; survives restarts."""

    def __init__(self, generation_id: int, locale: AnyLocale = None) -> None:
        super().__init__(
            discord.ui.Button(
                label=t("video.cancel.label", locale),
                style=discord.ButtonStyle.secondary,
                custom_id=f"video:cancel:{generation_id}",
            )
        )
        self.generation_id = generation_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str]
    ) -> CancelQueued:
        return cls(int(match["id"]))

    @friendly_errors
    async def callback(self, interaction: discord.Interaction[VideoBot]) -> None:  # type: ignore[override]
        bot = interaction.client
        locale = interaction.locale
        generation = await bot.store.generations.get(self.generation_id)
        if generation is None or generation.user_id != interaction.user.id:
            await interaction.response.send_message(
                t("video.cancel.not_yours", locale), ephemeral=True
            )
            return
        cancelled = await bot.service.cancel_queued(generation.id, interaction.user.id)
        if cancelled is None:
            # read the row as it is now: a second press racing the first finds it cancelled
            current = await bot.store.generations.get(generation.id)
            if current is None or current.status != "cancelled":
                await interaction.response.send_message(
                    t("video.cancel.too_late", locale), ephemeral=True
                )
                return
            await interaction.response.send_message(
                t("video.cancel.already", locale), ephemeral=True
            )
            # its status may still show it waiting (the bot stopped before it was edited)
            embed = render.status_embed(current, now=bot.clock(), locale=current.locale)
            await _show_cancelled(interaction.message, embed)
            return
        embed = render.status_embed(cancelled, now=bot.clock(), locale=cancelled.locale)
        try:  # no "credits reserved" above it any more: they were given back
            await interaction.response.edit_message(content=None, embed=embed, view=None)
            await interaction.followup.send(t("video.cancel.done", locale), ephemeral=True)
        except discord.HTTPException as exc:
            # too late to answer (a slow database) or Discord failed: the status message must
            # not go on saying the request waits, holding credits, with a Cancel button
            log.info("cancel of generation %s not answered (%s)", cancelled.id, exc)
            await _show_cancelled(interaction.message, embed)
        await bot.tracker.renumber_queue(cancelled.guild_id, cancelled.user_id)


async def _show_cancelled(status: discord.Message | None, embed: discord.Embed) -> None:
    """The status message edited with the bot's own token (an ephemeral one cannot be)."""
    if status is None:
        return
    try:
        await status.edit(content=None, embed=embed, view=None)
    except discord.HTTPException as exc:
        log.info("status message %s not updated after a cancel: %s", status.id, exc)


def status_buttons(generation: Generation) -> discord.ui.View | None:
    """Cancel, while the request waits in the bot's queue (labelled in the requester's
    language: only they may press it)."""
    if generation.status != "queued":
        return None
    view = discord.ui.View(timeout=None)
    view.add_item(CancelQueued(generation.id, generation.locale))
    return view


class VideoCog(commands.Cog):
    def __init__(self, bot: VideoBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(CancelQueued)
        self.bot.buttons.supply(status=status_buttons)

    @app_commands.command(name="video", description="Make a short video from a text prompt")
    @app_commands.guild_only()
    @app_commands.describe(
        prompt="What should happen in the video (English or Chinese, up to 5000 characters)",
        negative_prompt="What must not appear (up to 500 characters)",
        quality="Resolution: 720p (default) or 1080p",
        aspect_ratio="Shape of the video (default 16:9)",
        duration="Length in seconds, 2 to 15 (default 5)",
        seed="Fixed seed, 1 to 2147483647, to reproduce a result (default random)",
        prompt_extend="Let a language model enrich a short prompt first (default off)",
        audio="Driving audio: a .wav or .mp3 file, 2-30 s, up to 15 MB",
        audio_url="Driving audio as an https link to a .wav or .mp3 file",
    )
    @app_commands.choices(quality=QUALITY_CHOICES, aspect_ratio=ASPECT_CHOICES)
    async def video(
        self,
        interaction: discord.Interaction[VideoBot],
        prompt: app_commands.Range[str, 1, PROMPT.max_length],
        negative_prompt: app_commands.Range[str, 1, NEGATIVE_PROMPT.max_length] | None = None,
        quality: str | None = None,
        aspect_ratio: str | None = None,
        duration: app_commands.Range[int, DURATION.minimum, DURATION.maximum] | None = None,
        seed: app_commands.Range[int, SEED.minimum, SEED.maximum] | None = None,
        prompt_extend: bool | None = None,
        audio: discord.Attachment | None = None,
        audio_url: app_commands.Range[str, 1, 2048] | None = None,
    ) -> None:
        try:
            request = validate_video_request(
                prompt=prompt,
                negative_prompt=negative_prompt,
                quality=quality,
                aspect_ratio=aspect_ratio,
                duration=duration,
                seed=seed,
                prompt_extend=prompt_extend,
                audio=_audio_file(audio),
                audio_url=audio_url,
            )
        except InvalidRequest as exc:
            await refuse_invalid(interaction, exc)
            return
        await start_video(self.bot, interaction, request)


def _audio_file(attachment: discord.Attachment | None) -> AudioFile | None:
    if attachment is None:
        return None
    if not isinstance(attachment, discord.Attachment):  # a crafted id Discord did not resolve
        raise UserFacingError.translated("error.attachment_missing")
    return AudioFile(
        filename=attachment.filename,
        size=attachment.size,
        content_type=attachment.content_type,
        url=attachment.url,
    )


async def setup(bot: VideoBot) -> None:
    await bot.add_cog(VideoCog(bot))
