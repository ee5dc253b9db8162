"""Buttons under a finished video: Regenerate, Use seed, Edit & retry (the buttons themselves,
`ResultButton`, are shared: /videos shows Regenerate too). They survive restarts (the generation
id is in the custom id) and only the member who asked may press them.

The Edit & retry form survives restarts too: it is not kept in memory (discord.py would forget
it), its submission is read from the interaction by a listener, keyed by the form's custom id."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import discord
from discord.ext import commands

from bot.store import Generation
from bot.ui.i18n import t
from bot.validation import InvalidRequest, validate_video_request
from cogs.shared import (
    PROMPT_REFUSED,
    ResultButton,
    refuse_invalid,
    report_failure,
    start_video,
)

if TYPE_CHECKING:
    from bot.ui.client import VideoBot

EDIT_FORM = re.compile(r"video:editform:(?P<id>\d+)")


async def edit_submitted(interaction: discord.Interaction[VideoBot], generation_id: int) -> None:
    bot = interaction.client
    g = await bot.store.generations.get(generation_id)
    if g is None or g.user_id != interaction.user.id or g.guild_id != interaction.guild_id:
        await interaction.response.send_message(
            t("results.not_yours", interaction.locale), ephemeral=True
        )
        return
    values = form_values(interaction.data)
    try:
        request = validate_video_request(
            prompt=values.get("prompt"),
            negative_prompt=values.get("negative_prompt") or None,
            quality=g.quality,
            aspect_ratio=g.aspect_ratio,
            duration=g.duration,
            seed=g.seed,
            prompt_extend=g.prompt_extend,
            audio_url=g.audio_url,
        )
    except InvalidRequest as exc:
        await refuse_invalid(interaction, exc)
        return
    await start_video(bot, interaction, request)


def form_values(data: Any) -> dict[str, str]:
    """The text typed into a submitted form, by input custom id (in action rows or labels)."""
    values: dict[str, str] = {}

    def walk(components: Any) -> None:
        for component in components if isinstance(components, list) else []:
            if not isinstance(component, dict):
                continue
            if isinstance(component.get("value"), str):
                values[str(component.get("custom_id"))] = component["value"]
            walk(component.get("components"))
            if isinstance(component.get("component"), dict):
                walk([component["component"]])

    walk((data or {}).get("components"))
    return values


def result_view(generation: Generation) -> discord.ui.View | None:
    """The buttons under a delivered video (or under a failure, to try again), labelled in the
    requester's language: only they may press them. After a refused prompt, Edit & retry only:
    Regenerate would send the same prompt to be refused again."""
    if generation.status not in ("completed", "failed", "expired"):
        return None
    locale = generation.locale
    view = discord.ui.View(timeout=None)
    if generation.error_code not in PROMPT_REFUSED:
        view.add_item(ResultButton("again", generation.id, locale))
    if generation.seed is not None and generation.status == "completed":
        view.add_item(ResultButton("seed", generation.id, locale))
    view.add_item(ResultButton("edit", generation.id, locale))
    return view


class ResultsCog(commands.Cog):
    def __init__(self, bot: VideoBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(ResultButton)
        self.bot.buttons.supply(result=result_view)

    @commands.Cog.listener()
    async def on_interaction(self, interaction: discord.Interaction[VideoBot]) -> None:
        if interaction.type is not discord.InteractionType.modal_submit:
            return
        custom_id = interaction.data.get("custom_id") if interaction.data else None
        match = EDIT_FORM.fullmatch(str(custom_id or ""))
        if match is None:
            return
        try:
            await edit_submitted(interaction, int(match["id"]))
        except Exception as exc:
            await report_failure(interaction, exc, "Edit & retry form")


async def setup(bot: VideoBot) -> None:
    await bot.add_cog(ResultsCog(bot))
