"""The one place that talks to Discord for the tracker: status edits and final deliveries.

Everything can go through the bot token and the stored channel and message ids, so it works long
after the 15-minute interaction token has expired and after a restart. A delivery carries a
nonce derived from the generation id: if the bot dies between sending and recording it, the
repeated send returns the message Discord already has instead of posting it twice.

One message per video: when the result is posted, the status message that followed the request
is deleted, so a busy channel shows each video once, with one mention of the member who asked. A
failure is not the channel's business: the member is told privately while their interaction
still works (an ephemeral follow-up), else by a short message that names no prompt.

Every text is in the requester's language (the `locale` stored with the request), public
deliveries included: it is their video.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

import aiohttp
import discord

from bot import media
from bot.busy_line import Place
from bot.logcontext import about_generation
from bot.store import Clock, Generation
from bot.tracker import Delivery, DeliveryFailed
from bot.ui import render, unrecorded
from bot.ui.i18n import t
from bot.ui.throttle import EditThrottle

log = logging.getLogger(__name__)

INTERACTION_LIFETIME = 14 * 60.0  # a little under Discord's 15 minutes
DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024  # Discord's limit for a server without boosts
DOWNLOAD_TIMEOUT = 60.0
DISCORD_ERRORS = (discord.HTTPException, aiohttp.ClientError, TimeoutError)

ButtonsFor = Callable[[Generation], discord.ui.View | None]
Withhold = Callable[[Generation], Awaitable[bool]]
Outcome = Callable[[Generation, bool], Awaitable[object]]
GaveUp = Callable[[Generation, str, str | None], Awaitable[object]]
RecordRoute = Callable[[int, str | None], Awaitable[None]]
PlaceOf = Callable[[Generation], Awaitable[Place | None]]


def no_buttons(generation: Generation) -> None:
    return None


class MessageButtons:
    """The buttons under the bot's status and result messages. The cogs that answer them supply
    them when they load (bot/ imports no cog); until one does, those messages carry none."""

    def __init__(self) -> None:
        self._status: ButtonsFor = no_buttons
        self._result: ButtonsFor = no_buttons

    def supply(self, *, status: ButtonsFor | None = None, result: ButtonsFor | None = None) -> None:
        self._status = status or self._status
        self._result = result or self._result

    def status(self, generation: Generation) -> discord.ui.View | None:
        """Under a request's status message, e.g. Cancel while it waits in the queue."""
        return self._status(generation)

    def result(self, generation: Generation) -> discord.ui.View | None:
        """Under a delivered video or a failure, e.g. Regenerate."""
        return self._result(generation)


def only_mention(user_id: int) -> discord.AllowedMentions:
    """Mentions that ping the requester and nobody else, whatever the text contains."""
    return discord.AllowedMentions(
        everyone=False, roles=False, users=[discord.Object(user_id)], replied_user=False
    )


def delivery_nonce(generation_id: int) -> str:
    return f"evl-video-{generation_id}"


def note_nonce(generation_id: int) -> str:
    return f"evl-note-{generation_id}"


@dataclass(frozen=True)
class Remembered:
    seen: float
    interaction: discord.Interaction[Any]
    shows_status: bool  # the status is the interaction's own (private) message


class DiscordNotifier:
    def __init__(
        self,
        client: discord.Client,
        clock: Clock = time.time,
        *,
        videos: media.VideoDownloader | None = None,
        buttons: MessageButtons | None = None,
        place_of: PlaceOf | None = None,
        withhold: Withhold | None = None,
        on_outcome: Outcome | None = None,
        on_undeliverable: GaveUp | None = None,
        record_route: RecordRoute | None = None,
        congested: Callable[[], bool] | None = None,
    ) -> None:
        self._client = client
        self._clock = clock
        self._interactions: OrderedDict[int, Remembered] = OrderedDict()
        self._throttle = EditThrottle(clock)
        self._videos = videos
        self._buttons = buttons or MessageButtons()
        self._place_of = place_of  # where a waiting request stands
        self._withhold = withhold  # e.g. the requester was banned meanwhile
        self._on_outcome = on_outcome  # e.g. the mod-log post
        self._on_undeliverable = on_undeliverable  # (generation, why, where the note went)
        self._record_route = record_route  # remembers a fallback while it is tried
        self._congested = congested  # requests wait for the bot token's budget right now

    def remember_interaction(
        self,
        generation_id: int,
        interaction: discord.Interaction[Any],
        *,
        shows_status: bool = False,
    ) -> None:
        """Keep a fresh interaction while its token still works: to tell the member privately
        (and, `shows_status`, to edit the status where it is the interaction's own message)."""
        now = self._clock()
        while self._interactions:
            oldest_id, oldest = next(iter(self._interactions.items()))
            if now - oldest.seen < INTERACTION_LIFETIME:
                break
            del self._interactions[oldest_id]
        self._interactions[generation_id] = Remembered(now, interaction, shows_status)

    def _fresh(self, generation_id: int) -> Remembered | None:
        entry = self._interactions.get(generation_id)
        if entry is None or self._clock() - entry.seen >= INTERACTION_LIFETIME:
            return None
        return entry

    def _fresh_interaction(self, generation_id: int) -> discord.Interaction[Any] | None:
        entry = self._fresh(generation_id)
        return entry.interaction if entry is not None else None

    @about_generation
    async def progress(self, generation: Generation) -> None:
        """A progress edit, skipped when the channel is busy (the next poll brings a newer one).
        A waiting request's place in the queue has no next poll: that edit goes out anyway."""
        if generation.status_message_id is not None:
            message_id = generation.status_message_id
        elif (entry := self._fresh(generation.id)) is not None and entry.shows_status:
            message_id = -generation.id  # the interaction's own message: no id of its own here
        else:
            return
        correction = generation.status == "queued"
        if self._throttle.allow(generation.channel_id, message_id, correction=correction):
            await self._edit_status(generation)

    @about_generation
    async def deliver(self, generation: Generation) -> Delivery:
        if self._withhold is not None and await self._withhold(generation):
            await self._remove_status(generation)
            await self._report(generation, withheld=True)
            return Delivery("withheld", None)
        if generation.status == "completed":
            video = await self._fetch_video(generation)
            try:
                delivery = await self._send_everywhere(generation, video)
            finally:
                if video is not None:
                    video.close()
        else:
            delivery = await self._tell_failure(generation)
        await self._remove_status(generation, besides=delivery.message_id)
        await self._report(generation, withheld=False)
        return delivery

    async def give_up(self, generation: Generation, reason: str) -> None:
        """Every attempt failed: the outcome as plain text (no details, buttons or file: the
        parts most likely to be what failed; a link too long for the text comes alone in an
        embed), the status message removed, then word to the moderators."""
        try:
            reached = await self._note(generation)
        except Exception:
            log.exception("could not send generation %s's note", generation.id)
            reached = None
        try:
            # else it shows the video running for ever; not looked for when unrecorded: a
            # post Discord made while its answers failed may be the video itself
            if generation.status_message_id is not None:
                await self._remove_status(generation)
        except Exception:
            log.exception("could not remove generation %s's status", generation.id)
        if self._on_undeliverable is None:
            return
        try:
            await self._on_undeliverable(generation, reason, reached)
        except Exception:
            log.exception("could not report the undelivered generation %s", generation.id)

    async def _note(self, g: Generation) -> str | None:
        """Where the note went: "channel", "dm", "withheld" (a banned member gets nothing) or
        None. It carries its own nonce, so a restart does not post it twice."""
        if self._withhold is not None and await self._withhold(g):
            return "withheld"
        text, link = render.result_message(g, details=False, locale=g.locale)
        embeds = [link] if link is not None else []
        mentions, nonce = only_mention(g.user_id), note_nonce(g.id)
        public = text  # a failure: the reason only, never EvoLink's words about the prompt
        if g.status != "completed":
            public, _ = render.failure_notice(g, private=False, locale=g.locale)
        channel = self._client.get_partial_messageable(g.channel_id, guild_id=g.guild_id)
        try:
            await channel.send(public, embeds=embeds, allowed_mentions=mentions, nonce=nonce)
            return "channel"
        except DISCORD_ERRORS as exc:
            log.info("note for generation %s not posted in the channel: %s", g.id, exc)
        try:
            dm = await self._client.create_dm(discord.Object(g.user_id))
            await dm.send(text, embeds=embeds, allowed_mentions=mentions, nonce=nonce)
            return "dm"
        except DISCORD_ERRORS as exc:
            log.info("note for generation %s not sent by direct message: %s", g.id, exc)
        return None

    async def _report(self, generation: Generation, *, withheld: bool) -> None:
        if self._on_outcome is None:
            return
        try:
            await self._on_outcome(generation, withheld)
        except Exception:
            log.exception("could not report the outcome of generation %s", generation.id)

    async def _send_everywhere(self, g: Generation, video: media.Video | None) -> Delivery:
        """Channel first, then a follow-up while the interaction is fresh, then a DM. While
        requests wait for the bot token's budget (Discord's global limit), a fresh interaction's
        public follow-up comes first: the interaction's token is not bound by that limit.

        A fallback is recorded (`record_route`) before it is tried and cleared if it fails. One
        still recorded means the bot stopped while sending it: the video may be there already,
        so the delivery resumes on that route rather than posting again in the channel."""
        if g.delivery_route == "followup":
            found = await unrecorded.find_followup(self._client, g)
            if found is not None:
                return Delivery("followup", found, attached=None)
        if g.delivery_route is None:
            if (posted := await self._posted_before(g)) is not None:
                return Delivery("channel", posted.id, bool(posted.attachments))
            if self._congested is not None and self._congested():
                if (followed := await self._follow_up(g, video)) is not None:
                    return followed
            channel = self._client.get_partial_messageable(g.channel_id, guild_id=g.guild_id)
            try:
                message, attached = await self._send(channel, g, video)
                return Delivery("channel", message.id, attached)
            except (discord.Forbidden, discord.NotFound) as exc:
                log.warning("cannot post in channel %s (%s)", g.channel_id, exc)
            except DISCORD_ERRORS as exc:
                raise DeliveryFailed(f"channel send failed: {exc}") from exc

            if (followed := await self._follow_up(g, video)) is not None:
                return followed

        await self._route(g, "dm")  # the DM carries the nonce: sent twice, it is posted once
        try:
            dm = await self._client.create_dm(discord.Object(g.user_id))
            note = t("delivery.dm_note", g.locale, channel=f"<#{g.channel_id}>")
            message, attached = await self._send(dm, g, video, note=note, buttons=False)
            return Delivery("dm", message.id, attached)
        except DISCORD_ERRORS as exc:
            await self._route(g, None)
            raise DeliveryFailed(f"channel and direct message both failed: {exc}") from exc

    async def _follow_up(self, g: Generation, video: media.Video | None) -> Delivery | None:
        """The video as a public follow-up of the member's interaction, while it is fresh."""
        interaction = self._fresh_interaction(g.id)
        if interaction is None:
            return None
        await self._route(g, "followup")
        try:
            message = await interaction.followup.send(
                **self._message(g, video, link_only=video is None), wait=True
            )
            return Delivery("followup", message.id, video is not None)
        except DISCORD_ERRORS as exc:
            log.warning("follow-up for generation %s failed (%s)", g.id, exc)
        await self._route(g, None)
        return None

    async def _tell_failure(self, g: Generation) -> Delivery:
        """A video that was not made: privately while the member's interaction still works,
        else in the channel without the prompt, else by direct message. As with a video, a
        route still recorded after a restart is not tried again: the direct message is next."""
        if g.delivery_route is None:
            interaction = self._fresh_interaction(g.id)
            if interaction is not None:
                await self._route(g, "ephemeral")
                try:
                    message = await interaction.followup.send(
                        **self._failure(g, private=True), ephemeral=True, wait=True
                    )
                    return Delivery("ephemeral", message.id)
                except DISCORD_ERRORS as exc:
                    log.info("private notice of generation %s failed (%s)", g.id, exc)
                await self._route(g, None)
            if (posted := await self._posted_before(g)) is not None:
                return Delivery("channel", posted.id)
            channel = self._client.get_partial_messageable(g.channel_id, guild_id=g.guild_id)
            try:
                sent = await channel.send(**self._failure(g), nonce=delivery_nonce(g.id))
                return Delivery("channel", sent.id)
            except (discord.Forbidden, discord.NotFound) as exc:
                log.warning("cannot post in channel %s (%s)", g.channel_id, exc)
            except DISCORD_ERRORS as exc:
                raise DeliveryFailed(f"channel send failed: {exc}") from exc
        await self._route(g, "dm")
        try:
            dm = await self._client.create_dm(discord.Object(g.user_id))
            note = t("delivery.dm_note", g.locale, channel=f"<#{g.channel_id}>")
            notice = self._failure(g, private=True, note=note, buttons=False)
            sent = await dm.send(**notice, nonce=delivery_nonce(g.id))
            return Delivery("dm", sent.id)
        except DISCORD_ERRORS as exc:
            await self._route(g, None)
            raise DeliveryFailed(f"channel and direct message both failed: {exc}") from exc

    def _failure(
        self,
        g: Generation,
        *,
        private: bool = False,
        note: str | None = None,
        buttons: bool = True,
    ) -> dict[str, Any]:
        """Why the video was not made, with the buttons to try again (not in a direct message:
        a video is asked for in a server); the prompt and settings only where nobody but the
        member reads them (`private`)."""
        content, embed = render.failure_notice(g, private=private, note=note, locale=g.locale)
        kwargs: dict[str, Any] = {"content": content, "allowed_mentions": only_mention(g.user_id)}
        if embed is not None:
            kwargs["embed"] = embed
        view = self._buttons.result(g) if buttons else None
        if view is not None:
            kwargs["view"] = view
        return kwargs

    async def _route(self, g: Generation, route: str | None) -> None:
        if self._record_route is not None:
            await self._record_route(g.id, route)

    async def _send(
        self,
        target: discord.abc.Messageable,
        g: Generation,
        video: media.Video | None,
        note: str | None = None,
        buttons: bool = True,
    ) -> tuple[discord.Message, bool]:
        """The message, and whether it carries the file."""
        if video is not None:
            try:
                message = await target.send(
                    **self._message(g, video, note=note, buttons=buttons),
                    nonce=delivery_nonce(g.id),
                )
                return message, True
            except discord.HTTPException as exc:
                if exc.status != 413 and exc.code != 40005:  # too large for this channel
                    raise
                log.info("video %s too large to upload here; sending the link", g.id)
        message = await target.send(
            **self._message(g, None, note=note, link_only=True, buttons=buttons),
            nonce=delivery_nonce(g.id),
        )
        return message, False

    def _message(
        self,
        g: Generation,
        video: media.Video | None,
        *,
        note: str | None = None,
        link_only: bool = False,
        buttons: bool = True,
    ) -> dict[str, Any]:
        """The delivery; `buttons`: Regenerate and the others, which work in a server only."""
        attached = video is not None and not link_only
        content, embed = render.result_message(g, attached=attached, note=note, locale=g.locale)
        kwargs: dict[str, Any] = {
            "content": content,
            "embed": embed,
            "allowed_mentions": only_mention(g.user_id),
        }
        view = self._buttons.result(g) if buttons else None
        if view is not None:
            kwargs["view"] = view
        if video is not None and not link_only:
            video.file.seek(0)
            name = f"video-{g.id}{video.extension}"  # what the file says it is
            kwargs["file"] = discord.File(cast(io.BufferedIOBase, video.file), name)
        return kwargs

    async def _fetch_video(self, g: Generation) -> media.Video | None:
        if g.status != "completed" or not g.result_url or self._videos is None:
            return None
        limit = g.upload_limit or DEFAULT_UPLOAD_LIMIT
        return await self._videos.download(
            g.result_url, max_bytes=limit, max_seconds=DOWNLOAD_TIMEOUT
        )

    async def _remove_status(self, g: Generation, besides: int | None = None) -> None:
        """The outcome is out: the status message goes, so the channel shows the video once.
        Best effort: one that cannot be deleted is brought to its final state instead. One the
        bot posted but did not get to record (it stopped in between, or the database failed) is
        looked for; `besides`: the message that delivered the outcome."""
        entry = self._fresh(g.id)
        status_id = g.status_message_id
        if status_id is None:
            if entry is not None and entry.shows_status:
                try:
                    await entry.interaction.delete_original_response()
                except DISCORD_ERRORS as exc:
                    log.info("private status of generation %s not removed: %s", g.id, exc)
                return
            status_id = await unrecorded.find_status(
                self._client, g, besides=besides, buttons=self._status_button_ids(g)
            )
            if status_id is None:
                return
        channel = self._client.get_partial_messageable(g.channel_id, guild_id=g.guild_id)
        try:
            await channel.get_partial_message(status_id).delete()
            return
        except discord.NotFound:
            return  # gone already (a repeated delivery, or someone removed it)
        except DISCORD_ERRORS as exc:
            log.info("status message of generation %s not deleted: %s", g.id, exc)
        await self._edit_status(g)

    def _status_button_ids(self, g: Generation) -> list[str]:
        """The custom ids under the status of `g` while it waited its turn (it then had no task
        to name)."""
        return _custom_ids(self._buttons.status(dataclasses.replace(g, status="queued")))

    async def _posted_before(self, g: Generation) -> discord.Message | None:
        """The outcome of `g` in its channel, if an earlier attempt posted it though it failed
        (its nonce no longer helps once Discord has forgotten it)."""
        if not g.delivery_attempts:
            return None
        buttons = _custom_ids(self._buttons.result(g))
        return await unrecorded.find_outcome(self._client, g, buttons=buttons)

    async def _edit_status(self, generation: Generation) -> None:
        """Best effort: a status message that cannot be edited must not stop a delivery."""
        place = None
        if generation.status == "queued" and self._place_of is not None:
            place = await self._place_of(generation)
        embed = render.status_embed(
            generation,
            now=self._clock(),
            queue_position=place.position if place else None,
            evolink_busy=place is not None and place.evolink_busy,
            locale=generation.locale,
        )
        view = self._buttons.status(generation)
        if generation.status_message_id is None:
            entry = self._fresh(generation.id)
            if entry is None or not entry.shows_status:
                return
            try:
                await entry.interaction.edit_original_response(content=None, embed=embed, view=view)
            except DISCORD_ERRORS as exc:
                log.info("private status of generation %s not edited: %s", generation.id, exc)
            return
        channel = self._client.get_partial_messageable(
            generation.channel_id, guild_id=generation.guild_id
        )
        try:
            message = channel.get_partial_message(generation.status_message_id)
            await message.edit(content=None, embed=embed, view=view)
        except DISCORD_ERRORS as exc:
            log.info("status message of generation %s not updated: %s", generation.id, exc)


def _custom_ids(view: discord.ui.View | None) -> list[str]:
    if view is None:
        return []
    return [str(item.custom_id) for item in view.children if hasattr(item, "custom_id")]
