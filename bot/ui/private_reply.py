"""Answering a request privately from the first moment, within Discord's 3 seconds.

A request that is refused must leave nothing in the channel, not even a "thinking…" that
vanishes. So a command first decides what it can without waiting on anyone else (bans, the
blocklist, credits: the database only) and answers that privately at once. Only when that takes
longer than `BUDGET`, or when a slow call follows (EvoLink), does it show a "thinking…" first,
and then a private one, edited into the answer when it comes. The budget counts from when
Discord made the interaction (its id says when), so time spent reaching the bot is not spent
twice; never more than `BUDGET` from now, whichever clock is off.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

import aiohttp
import discord

from bot.ui.discord_limits import CONTENT, clip_text

log = logging.getLogger(__name__)
T = TypeVar("T")

BUDGET = 1.5  # seconds of Discord's 3 spent deciding before a private "thinking…" is shown
NO_PINGS = discord.AllowedMentions.none()
DISCORD_ERRORS = (discord.HTTPException, aiohttp.ClientError, TimeoutError)  # or no answer at all


class PrivateReply:
    """The member's private answer to one interaction."""

    def __init__(self, interaction: discord.Interaction[Any]) -> None:
        self._interaction = interaction

    async def within_budget(self, work: Awaitable[T], budget: float | None = None) -> T:
        """The result of `work`, awaited here; if it is not ready within the budget, a private
        "thinking…" is shown meanwhile, so that Discord gets its answer in time."""
        deferring = asyncio.Event()
        wait = self.time_left() if budget is None else budget

        async def think_when_late() -> None:
            await asyncio.sleep(wait)
            deferring.set()  # from here on it is not cancelled: Discord may have the answer
            await self.thinking()

        timer = asyncio.create_task(think_when_late())
        try:
            return await work
        finally:
            if deferring.is_set():
                await timer
            else:
                timer.cancel()

    async def thinking_while(self, work: Awaitable[T]) -> T:
        """The result of `work`, awaited here from its first step on, while a private
        "thinking…" is sent; the interaction is answered when this returns or raises."""
        thinking = asyncio.ensure_future(self.thinking())
        try:
            return await work
        finally:
            await thinking

    def time_left(self) -> float:
        """What is left of the budget: from the interaction's creation, at most BUDGET."""
        age = time.time() - self._interaction.created_at.timestamp()
        return max(0.0, BUDGET - max(age, 0.0))

    async def thinking(self) -> None:
        """A private "thinking…", unless the interaction is answered already. Discord failing
        it must not lose the work it covers (a request admitted, a task made): the answer then
        goes where it can."""
        if self._interaction.response.is_done():
            return
        try:
            await self._interaction.response.defer(ephemeral=True, thinking=True)
        except DISCORD_ERRORS as exc:
            log.warning("could not show the private 'thinking': %s", exc)

    async def say(
        self,
        text: str | None,
        *,
        embed: discord.Embed | None = None,
        view: discord.ui.View | None = None,
    ) -> None:
        """The answer, privately: in place of the "thinking…" if one is shown."""
        content = clip_text(text, CONTENT) if text else None
        response = self._interaction.response
        if response.is_done():
            await self._interaction.edit_original_response(
                content=content, embed=embed, view=view, allowed_mentions=NO_PINGS
            )
            return
        kwargs: dict[str, Any] = {"ephemeral": True, "allowed_mentions": NO_PINGS}
        if embed is not None:
            kwargs["embed"] = embed
        if view is not None:
            kwargs["view"] = view
        await response.send_message(content, **kwargs)

    async def withdraw(self) -> None:
        """The "thinking…" is no longer needed (the answer went elsewhere): remove it."""
        if not self._interaction.response.is_done():
            return
        try:
            await self._interaction.delete_original_response()
        except DISCORD_ERRORS as exc:
            log.info("could not remove the private 'thinking' message: %s", exc)
