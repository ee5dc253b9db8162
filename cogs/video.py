"""/video: the member's way in. Validates, hands the request to bot/, shows the status message."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot import evolink, render
from bot.credits import CreditRefused, Requester, fmt
from bot.evolink import VideoRequest
from bot.generations import SubmitRefused, SubmitUnconfirmed
from bot.moderation import BANNED_MESSAGE, BLOCKED_MESSAGE
from bot.validation import (
    ASPECT_RATIOS,
    OUTPUT_SIZES,
    AudioFile,
    InvalidRequest,
    validate_video_request,
)
from cogs.credits import member_role_ids

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
    "if it did; if it didn't, I'll tell you and give the credits back. You won't pay twice."
)
NO_PINGS = discord.AllowedMentions.none()
LOW_BALANCE = (
    "EvoLink refused a video because the account's balance cannot cover it. Members can't make "
    "videos until the EvoLink account is topped up."
)


class CancelQueued(
    discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"video:cancel:(?P<id>\d+)"
):
    """Withdraws a request still waiting in the bot's own queue; survives restarts."""

    def __init__(self, generation_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Cancel",
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

    async def callback(self, interaction: discord.Interaction[VideoBot]) -> None:  # type: ignore[override]
        bot = interaction.client
        generation = await bot.store.get(self.generation_id)
        if generation is None or generation.user_id != interaction.user.id:
            await interaction.response.send_message(
                "Only the member who asked for this video can cancel it.", ephemeral=True
            )
            return
        cancelled = await bot.service.cancel_queued(generation.id, interaction.user.id)
        if cancelled is None:
            await interaction.response.send_message(
                "This video has already started, and EvoLink cannot stop a started video, "
                "so it can no longer be cancelled.",
                ephemeral=True,
            )
            return
        await interaction.response.edit_message(
            embed=render.status_embed(cancelled, now=bot.clock()), view=None
        )
        await interaction.followup.send(
            "Cancelled. Every credit it held was given back.", ephemeral=True
        )


def cancel_view(generation_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(CancelQueued(generation_id))
    return view


class VideoCog(commands.Cog):
    def __init__(self, bot: VideoBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(CancelQueued)

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
                render.invalid_request_text(exc.problems), ephemeral=True, allowed_mentions=NO_PINGS
            )
            return
        await start_video(self.bot, interaction, request)


async def start_video(
    bot: VideoBot, interaction: discord.Interaction[VideoBot], request: VideoRequest
) -> None:
    """The one way a video is asked for: /video, Regenerate, Use seed and Edit & retry."""
    if interaction.guild_id is None or interaction.channel_id is None:
        await interaction.response.send_message("Use /video in a server channel.", ephemeral=True)
        return
    await interaction.response.defer(thinking=True)  # within Discord's 3 s, whatever follows
    guild_id, user_id = interaction.guild_id, interaction.user.id
    if await bot.moderation.is_banned(guild_id, user_id):
        await _refuse(interaction, BANNED_MESSAGE)
        return
    pattern = await bot.moderation.match(guild_id, request.prompt, request.negative_prompt)
    if pattern is not None:
        bot.spawn(bot.modlog.post_blocked(
            guild_id, user_id, request.prompt, pattern, request.negative_prompt
        ))  # fmt: skip
        await _refuse(interaction, BLOCKED_MESSAGE)
        return

    requester = Requester(
        guild_id=guild_id,
        channel_id=interaction.channel_id,
        user_id=user_id,
        role_ids=member_role_ids(interaction.user),
        locale=interaction.locale.value,
        upload_limit=interaction.filesize_limit,
    )
    try:
        admission = await bot.service.request(requester, request)
    except CreditRefused as exc:
        await _refuse(interaction, str(exc))
        return
    except SubmitRefused as exc:
        if isinstance(exc.error, evolink.InsufficientBalance):
            bot.spawn(bot.modlog.warn(guild_id, LOW_BALANCE))
        await _refuse(interaction, render.submit_error_text(exc.error))
        return
    except SubmitUnconfirmed as exc:
        bot.notifier.remember_interaction(exc.generation_id, interaction)
        message = await interaction.edit_original_response(content=UNCONFIRMED)
        await bot.store.set_status_message(exc.generation_id, message.id)
        return

    generation = admission.generation
    bot.notifier.remember_interaction(generation.id, interaction)
    bot.spawn(bot.modlog.post_request(generation))
    embed = render.status_embed(
        generation, now=bot.clock(), queue_position=admission.queue_position
    )
    if admission.queue_position is not None:
        message = await interaction.edit_original_response(
            content=f"Reserved {fmt(admission.cost)} credits.",
            embed=embed,
            view=cancel_view(generation.id),
            allowed_mentions=NO_PINGS,
        )
    else:
        message = await interaction.edit_original_response(embed=embed, allowed_mentions=NO_PINGS)
    await bot.store.set_status_message(generation.id, message.id)


async def _refuse(interaction: discord.Interaction[VideoBot], text: str) -> None:
    """A private answer in place of the public 'thinking…' message."""
    await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_PINGS)
    try:
        await interaction.delete_original_response()
    except discord.HTTPException as exc:
        log.info("could not remove the 'thinking' message: %s", exc)


def _audio_file(attachment: discord.Attachment | None) -> AudioFile | None:
    if attachment is None:
        return None
    return AudioFile(
        filename=attachment.filename,
        size=attachment.size,
        content_type=attachment.content_type,
        url=attachment.url,
    )
