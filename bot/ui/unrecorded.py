"""The bot's own messages about a request that it posted but did not get to record.

A bot stopped at the wrong moment (SIGKILL, a power cut) may leave a message in the channel whose
id the database never learnt: a follow-up (it carries no nonce) or a status message (its id is
written once Discord answers). After a restart they are looked for among the channel's latest
messages, by the bot and about this request: a follow-up is a webhook message naming the task;
a status message is a message of the bot's own naming the task in its footer, or carrying the
request's status buttons (one still waiting has no task). Nothing else of the bot's matches:
moderator log entries name the task in another footer. The same goes for a video or failure
notice posted by an attempt whose answer was lost: it carries the buttons of the outcome.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterator
from typing import Any

import discord

from bot.store import Generation
from bot.ui.i18n import t

log = logging.getLogger(__name__)

SEARCH = 50  # the channel's latest messages looked through
DISCORD_ERRORS = (discord.HTTPException, discord.ClientException)


async def find_followup(client: discord.Client, g: Generation) -> int | None:
    """The follow-up that delivered `g`, if the bot posted one before it stopped."""
    if not g.task_id:
        return None
    found = await _find(client, g, lambda m: m.webhook_id is not None and _names_task(m, g))
    return found.id if found is not None else None


async def find_outcome(
    client: discord.Client, g: Generation, *, buttons: Collection[str]
) -> discord.Message | None:
    """The video or failure notice of `g` in its channel, if an earlier attempt posted it and
    its answer was lost (Discord holds a nonce a few minutes only): a message of the bot's own,
    not a follow-up, carrying the buttons of `g`'s outcome (`buttons`: their custom ids)."""
    if not buttons:
        return None

    def is_outcome(m: discord.Message) -> bool:
        return m.webhook_id is None and any(c in buttons for c in _custom_ids(m))

    return await _find(client, g, is_outcome)


async def find_status(
    client: discord.Client,
    g: Generation,
    *,
    besides: int | None,
    buttons: Collection[str] = (),
) -> int | None:
    """The status message of `g` in its channel, if the bot posted one and did not record it:
    not `besides` (the message that delivered it) and not a follow-up. `buttons`: the custom ids
    a waiting request's status carries."""

    def is_status(m: discord.Message) -> bool:
        if m.id == besides or m.webhook_id is not None:
            return False
        return _names_task(m, g) or any(c in buttons for c in _custom_ids(m))

    found = await _find(client, g, is_status)
    return found.id if found is not None else None


async def _find(client: discord.Client, g: Generation, wanted: Any) -> discord.Message | None:
    me = client.user
    if me is None:
        return None
    channel = client.get_partial_messageable(g.channel_id, guild_id=g.guild_id)
    try:
        async for message in channel.history(limit=SEARCH):
            if message.author.id == me.id and wanted(message):
                return message
    except DISCORD_ERRORS as exc:
        log.info("could not look through channel %s for video %s (%s)", g.channel_id, g.id, exc)
    return None


def _names_task(message: discord.Message, g: Generation) -> bool:
    if not g.task_id:
        return False
    footer = t("footer.task", g.locale, task_id=g.task_id)
    return any(embed.footer.text == footer for embed in message.embeds)


def _custom_ids(message: discord.Message) -> Iterator[str]:
    for row in message.components:
        for item in getattr(row, "children", ()):
            custom_id = getattr(item, "custom_id", None)
            if custom_id:
                yield str(custom_id)
