"""What a member hears when one of our buttons or forms fails unexpectedly.

Slash commands have the tree's error handler (bot.client.VideoTree.on_error). Buttons and forms
do not: discord.py only logs their errors, and the member sees "This interaction failed". These
helpers log the error and tell the member, in their language, that nothing was charged.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import discord

from bot.client import already_answered, reply_privately
from bot.i18n import t

log = logging.getLogger(__name__)

Item = TypeVar("Item")


async def report_failure(
    interaction: discord.Interaction[Any], error: Exception, what: str
) -> None:
    if already_answered(error):
        log.warning("%s: already answered (a replayed interaction?)", what)
        return
    log.error("%s failed", what, exc_info=error)
    await reply_privately(interaction, t("error.unexpected", interaction.locale))


def friendly_errors(
    callback: Callable[[Item, discord.Interaction[Any]], Awaitable[None]],
) -> Callable[[Item, discord.Interaction[Any]], Awaitable[None]]:
    """For the callback of a button that outlives its view (a DynamicItem)."""

    @functools.wraps(callback)
    async def guarded(item: Item, interaction: discord.Interaction[Any]) -> None:
        try:
            await callback(item, interaction)
        except Exception as exc:
            custom_id = interaction.data.get("custom_id", "?") if interaction.data else "?"
            await report_failure(interaction, exc, f"button {custom_id}")

    return guarded
