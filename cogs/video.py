"""/video: the member's way in. Validates, hands the request to bot/, shows the status message."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot import render
from bot.generations import Requester, SubmitRefused, SubmitUnconfirmed
from bot.validation import (
    ASPECT_RATIOS,
    OUTPUT_SIZES,
    AudioFile,
    InvalidRequest,
    validate_video_request,
)

if TYPE_CHECKING:
    from bot.client import VideoBot

log = logging.getLogger(__name__)

ASPECT_NAMES = {"16:9": "landscape", "9:16": "portrait", "1:1": "square", "4:3": "classic",
                "3:4": "classic portrait"}  # fmt: skip
ASPECT_CHOICES = [
    app_commands.Choice(
        name=f"{ratio} {ASPECT_NAMES[ratio]} · {OUTPUT_SIZES['720p'][ratio]} (720p), "
        f"{OUTPUT_SIZES['1080p'][ratio]} (1080p)",
        value=ratio,
    )
    for ratio in ASPECT_RATIOS
]
QUALITY_CHOICES = [
    app_commands.Choice(name="720p (default)", value="720p"),
    app_commands.Choice(name="1080p (sharper, costs more)", value="1080p"),
]
UNCONFIRMED = (
    "EvoLink did not confirm that your video started. I'm checking again and will post it here "
    "if it did; if it didn't, I'll tell you. You won't be charged twice."
)


class VideoCog(commands.Cog):
    def __init__(self, bot: VideoBot) -> None:
        self.bot = bot

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
        prompt: app_commands.Range[str, 1, 5000],
        negative_prompt: app_commands.Range[str, 1, 500] | None = None,
        quality: str | None = None,
        aspect_ratio: str | None = None,
        duration: app_commands.Range[int, 2, 15] | None = None,
        seed: app_commands.Range[int, 1, 2147483647] | None = None,
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
            await interaction.response.send_message(
                render.invalid_request_text(exc.problems),
                ephemeral=True,
                allowed_mentions=discord.AllowedMentions.none(),
            )
            return

        await interaction.response.defer(thinking=True)
        assert interaction.channel_id is not None
        requester = Requester(
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id,
            user_id=interaction.user.id,
            locale=interaction.locale.value,
        )
        try:
            generation = await self.bot.service.request(requester, request)
        except SubmitRefused as exc:
            await interaction.followup.send(
                render.submit_error_text(exc.error),
                ephemeral=True,
                allowed_mentions=discord.AllowedMentions.none(),
            )
            await _delete_thinking(interaction)
            return
        except SubmitUnconfirmed as exc:
            self.bot.notifier.remember_interaction(exc.generation_id, interaction)
            message = await interaction.edit_original_response(content=UNCONFIRMED)
            await self.bot.store.set_status_message(exc.generation_id, message.id)
            return

        self.bot.notifier.remember_interaction(generation.id, interaction)
        message = await interaction.edit_original_response(
            embed=render.status_embed(generation, now=self.bot.clock()),
            allowed_mentions=discord.AllowedMentions.none(),
        )
        await self.bot.store.set_status_message(generation.id, message.id)


def _audio_file(attachment: discord.Attachment | None) -> AudioFile | None:
    if attachment is None:
        return None
    return AudioFile(
        filename=attachment.filename,
        size=attachment.size,
        content_type=attachment.content_type,
        url=attachment.url,
    )


async def _delete_thinking(interaction: discord.Interaction[VideoBot]) -> None:
    try:
        await interaction.delete_original_response()
    except discord.HTTPException as exc:
        log.info("could not remove the 'thinking' message: %s", exc)
