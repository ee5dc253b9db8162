"""The one place that talks to Discord for the tracker: status edits and final deliveries.

Everything goes through the bot token and the stored channel and message ids, so it works long
after the 15-minute interaction token has expired and after a restart. A delivery carries a
nonce derived from the generation id: if the bot dies between sending and recording it, the
repeated send returns the message Discord already has instead of posting it twice.
"""

from __future__ import annotations

import logging
import time

import aiohttp
import discord

from bot import render
from bot.store import Clock, Generation
from bot.tracker import Delivery, DeliveryFailed

log = logging.getLogger(__name__)

INTERACTION_LIFETIME = 14 * 60.0  # a little under Discord's 15 minutes


def only_mention(user_id: int) -> discord.AllowedMentions:
    """Mentions that ping the requester and nobody else, whatever the text contains."""
    return discord.AllowedMentions(
        everyone=False, roles=False, users=[discord.Object(user_id)], replied_user=False
    )


def delivery_nonce(generation_id: int) -> str:
    return f"evl-video-{generation_id}"


class DiscordNotifier:
    def __init__(self, client: discord.Client, clock: Clock = time.time) -> None:
        self._client = client
        self._clock = clock
        self._interactions: dict[int, tuple[float, discord.Interaction]] = {}

    def remember_interaction(self, generation_id: int, interaction: discord.Interaction) -> None:
        """Keep a fresh interaction for follow-ups while its token still works."""
        now = self._clock()
        self._interactions = {
            gid: (t, i) for gid, (t, i) in self._interactions.items()
            if now - t < INTERACTION_LIFETIME
        }  # fmt: skip
        self._interactions[generation_id] = (now, interaction)

    def _fresh_interaction(self, generation_id: int) -> discord.Interaction | None:
        entry = self._interactions.get(generation_id)
        if entry is None or self._clock() - entry[0] >= INTERACTION_LIFETIME:
            return None
        return entry[1]

    async def progress(self, generation: Generation) -> None:
        await self._edit_status(generation)

    async def deliver(self, generation: Generation) -> Delivery:
        await self._edit_status(generation)
        content = render.result_content(generation)
        embed = render.result_embed(generation)
        mentions = only_mention(generation.user_id)
        channel = self._client.get_partial_messageable(
            generation.channel_id, guild_id=generation.guild_id
        )
        try:
            message = await channel.send(
                content, embed=embed, allowed_mentions=mentions,
                nonce=delivery_nonce(generation.id),
            )  # fmt: skip
            return Delivery("channel", message.id)
        except (discord.Forbidden, discord.NotFound) as exc:
            log.warning("cannot post in channel %s (%s)", generation.channel_id, exc)
        except (discord.HTTPException, aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryFailed(f"channel send failed: {exc}") from exc

        interaction = self._fresh_interaction(generation.id)
        if interaction is not None:
            try:
                message = await interaction.followup.send(
                    content, embed=embed, allowed_mentions=mentions, wait=True
                )
                return Delivery("followup", message.id)
            except (discord.HTTPException, aiohttp.ClientError, TimeoutError) as exc:
                log.warning("follow-up for generation %s failed (%s)", generation.id, exc)

        try:
            dm = await self._client.create_dm(discord.Object(generation.user_id))
            note = f"I could not post in <#{generation.channel_id}>, so here it is.\n"
            message = await dm.send(
                note + content, embed=embed, allowed_mentions=mentions,
                nonce=delivery_nonce(generation.id),
            )  # fmt: skip
            return Delivery("dm", message.id)
        except (discord.HTTPException, aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryFailed(f"channel and direct message both failed: {exc}") from exc

    async def _edit_status(self, generation: Generation) -> None:
        """Best effort: a status message that cannot be edited must not stop a delivery."""
        embed = render.status_embed(generation)
        interaction = self._fresh_interaction(generation.id)
        try:
            if interaction is not None:
                await interaction.edit_original_response(content=None, embed=embed, view=None)
            elif generation.status_message_id is not None:
                channel = self._client.get_partial_messageable(
                    generation.channel_id, guild_id=generation.guild_id
                )
                message = channel.get_partial_message(generation.status_message_id)
                await message.edit(content=None, embed=embed, view=None)
        except (discord.HTTPException, aiohttp.ClientError, TimeoutError) as exc:
            log.info("status message of generation %s not updated: %s", generation.id, exc)
