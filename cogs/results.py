"""Buttons under a finished video: Regenerate, Use seed, Edit & retry. They survive restarts
(the generation id is in the custom id) and only the member who asked may press them.

The Edit & retry form survives restarts too: it is not kept in memory (discord.py would forget
it), its submission is read from the interaction by a listener, keyed by the form's custom id."""

from __future__ import annotations

import random
import re
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import discord
from discord.ext import commands

from bot.generations import request_of
from bot.i18n import AnyLocale, t
from bot.request import NEGATIVE_PROMPT, SEED
from bot.store import Generation
from bot.validation import InvalidRequest, validate_video_request
from cogs.shared import friendly_errors, refuse_invalid, report_failure, start_video

if TYPE_CHECKING:
    from bot.client import VideoBot

MODAL_TEXT_MAX = 4000  # Discord's limit for a text input
EDIT_FORM = re.compile(r"video:editform:(?P<id>\d+)")
LABELS = {"again": "results.again", "seed": "results.seed", "edit": "results.edit"}  # i18n keys


class ResultButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"video:(?P<action>again|seed|edit):(?P<id>\d+)",
):
    def __init__(
        self,
        action: str,
        generation_id: int,
        locale: AnyLocale = None,
        *,
        label: str | None = None,
        row: int | None = None,
    ) -> None:
        super().__init__(
            discord.ui.Button(
                label=label or t(LABELS[action], locale),
                style=discord.ButtonStyle.secondary,
                custom_id=f"video:{action}:{generation_id}",
                row=row,
            )
        )
        self.action = action
        self.generation_id = generation_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str]
    ) -> ResultButton:
        return cls(match["action"], int(match["id"]))

    @friendly_errors
    async def callback(self, interaction: discord.Interaction[VideoBot]) -> None:  # type: ignore[override]
        bot = interaction.client
        locale = interaction.locale
        generation = await bot.store.get(self.generation_id)
        if (
            generation is None
            or generation.user_id != interaction.user.id
            or generation.guild_id != interaction.guild_id
        ):
            await interaction.response.send_message(t("results.not_yours", locale), ephemeral=True)
            return
        if self.action == "edit":
            if len(generation.prompt) > MODAL_TEXT_MAX:
                text = t("results.too_long_to_edit", locale, count=MODAL_TEXT_MAX)
                await interaction.response.send_message(text, ephemeral=True)
                return
            form = EditModal(generation, locale)
            await interaction.response.send_modal(form)
            form.stop()  # not kept in memory: ResultsCog.on_interaction reads the submission
            return
        if self.action == "seed" and generation.seed is None:
            await interaction.response.send_message(
                t("results.random_seed", locale), ephemeral=True
            )
            return
        seed = (
            generation.seed if self.action == "seed" else random.randint(SEED.minimum, SEED.maximum)
        )
        await start_video(bot, interaction, replace(request_of(generation), seed=seed))


class EditModal(discord.ui.Modal):
    """The form only; what is typed into it is handled by `edit_submitted`."""

    def __init__(self, generation: Generation, locale: AnyLocale = None) -> None:
        super().__init__(
            title=t("results.modal.title", locale),
            timeout=None,
            custom_id=f"video:editform:{generation.id}",
        )
        self.add_item(
            discord.ui.TextInput(
                label=t("results.modal.prompt", locale),
                custom_id="prompt",
                style=discord.TextStyle.paragraph,
                default=generation.prompt,
                max_length=MODAL_TEXT_MAX,
            )
        )
        self.add_item(
            discord.ui.TextInput(
                label=t("results.modal.negative_prompt", locale),
                custom_id="negative_prompt",
                style=discord.TextStyle.paragraph,
                default=(generation.negative_prompt or "")[: NEGATIVE_PROMPT.max_length],
                max_length=NEGATIVE_PROMPT.max_length,
                required=False,
            )
        )


async def edit_submitted(interaction: discord.Interaction[VideoBot], generation_id: int) -> None:
    bot = interaction.client
    g = await bot.store.get(generation_id)
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
    requester's language: only they may press them."""
    if generation.status not in ("completed", "failed", "expired"):
        return None
    locale = generation.locale
    view = discord.ui.View(timeout=None)
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
