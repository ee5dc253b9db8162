"""What several cogs share; a cog imports this module and no other cog. In order:

- Buttons and forms that fail: slash commands have the tree's error handler
  (bot.ui.client.VideoTree.on_error), buttons and forms do not (discord.py only logs their
  errors, and the member sees "This interaction failed"); `report_failure` and `friendly_errors`
  log the error and tell the member, in their language, that nothing was charged.
- A member's role ids and what they have left to spend (/video, /credits, /videohelp).
- `start_video`: the one way a video is asked for (/video and the buttons under a result).
- `ResultButton`: Regenerate, Use seed, Edit & retry (under a result, and Regenerate in /videos).
- The moderators' group /videomod (`moderator_group`), its permission check (`ModGroup`), and
  `ModeratorCog`, the cogs whose commands join it.
- `Pager`: previous/next buttons under an ephemeral embed, which only the member who asked can
  turn. Pages are fetched on demand with keyset cursors: the view keeps the cursor each page
  started from, so "previous" re-reads that page and "next" continues from the last row shown.
  Views live in memory for ten minutes (an interaction token lives fifteen); they do not survive
  a restart.
"""

from __future__ import annotations

import functools
import logging
import random
import re
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import discord
from discord import app_commands
from discord.ext import commands

from bot import evolink
from bot.command_access import Asker
from bot.credits import Admission, CreditRefused, MemberCredits, Requester, fmt
from bot.generations import SubmitRefused, SubmitUnconfirmed, SubmitUnrecorded, request_of
from bot.moderation import Banned, Blocked
from bot.request import NEGATIVE_PROMPT, SEED, VideoRequest
from bot.settings import CREDIT_PERIODS
from bot.store import Generation
from bot.ui import render
from bot.ui.client import already_answered, error_text, reply_privately
from bot.ui.i18n import AnyLocale, t, tn
from bot.ui.private_reply import DISCORD_ERRORS, PrivateReply
from bot.validation import InvalidRequest

if TYPE_CHECKING:
    from bot.ui.client import VideoBot

log = logging.getLogger(__name__)

Item = TypeVar("Item")
K = TypeVar("K")
PAGER_TIMEOUT = 600.0
NO_PINGS = discord.AllowedMentions.none()
MODAL_TEXT_MAX = 4000  # Discord's limit for a text input
LABELS = {"again": "results.again", "seed": "results.seed", "edit": "results.edit"}  # i18n keys
NOT_A_MODERATOR = t("mod.not_a_moderator")  # English; shown in the member's language

# (cursor of the page's start or None for the first page, 1-based page number) -> (embed, next)
PageRenderer = Callable[[K | None, int], Awaitable[tuple[discord.Embed, K | None]]]
# what someone else pressing the buttons is told, in their own language
Refusal = str | Callable[[discord.Locale], str]
# buttons that belong to the page on show (e.g. Regenerate under each of a member's videos)
PageItems = Callable[[], list[discord.ui.Item[Any]]]


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


def member_role_ids(member: discord.abc.User) -> tuple[int, ...]:
    """The member's role ids as the interaction lists them (needs no cached guild)."""
    raw = getattr(member, "_roles", None)
    if raw is not None:
        return tuple(int(r) for r in raw)
    return tuple(role.id for role in getattr(member, "roles", ()))


def remaining_text(summary: MemberCredits, locale: AnyLocale = None) -> str:
    """What is left this period, e.g. `**7** of 10 per day`, or `Unlimited`; the period's
    allowance and what moderators granted or took are told apart (`**56** of 50 per day plus 10
    credits granted by a moderator`), so that nothing reads "56 of 50 per day" alone."""
    if summary.allowance is None:
        return t("credits.unlimited", locale)
    remaining = fmt(max(summary.remaining or 0.0, 0.0))
    allowance = fmt(summary.allowance)
    period = summary.period if summary.period in CREDIT_PERIODS else "other"
    extra = summary.granted
    if fmt(abs(extra)) == "0":
        return t(f"credits.remaining.{period}", locale, remaining=remaining, allowance=allowance)
    key = "credits.extra.granted" if extra > 0 else "credits.extra.taken"
    extra_text = tn(key, abs(extra), locale, credits=fmt(abs(extra)))
    return t(
        f"credits.remaining_extra.{period}",
        locale,
        remaining=remaining,
        allowance=allowance,
        extra=extra_text,
    )


async def refuse_invalid(interaction: discord.Interaction[VideoBot], error: InvalidRequest) -> None:
    """Every problem with the request, privately, in the member's language."""
    locale = interaction.locale
    interaction.client.instruments.request("refused_invalid")
    text = render.invalid_request_text(error, locale)
    await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_PINGS)


async def start_video(
    bot: VideoBot, interaction: discord.Interaction[VideoBot], request: VideoRequest
) -> None:
    """The one way a video is asked for: /video, Regenerate, Use seed and Edit & retry.

    Refusals are private from the first moment and a request that never starts leaves nothing
    in the channel: the checks that need no one else come first (answered at once, bot/ui/
    private_reply.py), then EvoLink's answer behind a private "thinking…"; only a request that
    started, or waits its turn, gets a public status message (which goes when the result comes).
    """
    locale = interaction.locale  # the member's Discord language: every answer below uses it
    if not await bot.admit(interaction):  # buttons do not pass the command tree's check
        return
    if interaction.guild_id is None or interaction.channel_id is None:
        await interaction.response.send_message(t("video.guild_only", locale), ephemeral=True)
        return
    guild_id = interaction.guild_id
    requester = Requester(
        guild_id=guild_id,
        channel_id=interaction.channel_id,
        user_id=interaction.user.id,
        role_ids=member_role_ids(interaction.user),
        locale=locale.value,
        upload_limit=interaction.filesize_limit,
        user_name=member_name(interaction.user),
    )
    reply = PrivateReply(interaction)
    try:
        admission = await reply.within_budget(bot.service.admit(requester, request))
    except Banned as exc:
        bot.instruments.request("refused_banned")
        await reply.say(error_text(exc, locale))
        return
    except Blocked as exc:
        bot.instruments.request("refused_blocked")
        bot.spawn(bot.modlog.post_blocked(
            guild_id, requester.user_id, request.prompt, exc.pattern, request.negative_prompt
        ))  # fmt: skip
        await reply.say(error_text(exc, locale))
        return
    except CreditRefused as exc:
        bot.instruments.request("refused_limits")
        await reply.say(error_text(exc, locale))
        return

    try:
        # privately "thinking…", for EvoLink may take longer than Discord's 3 s; the paid call
        # leaves meanwhile, in the order the requests were admitted (a busy EvoLink's line)
        admission = await reply.thinking_while(bot.service.start(admission))
    except SubmitRefused as exc:
        bot.instruments.request("refused_evolink")
        if isinstance(exc.error, evolink.InsufficientBalance):
            # for the moderators, in the mod-log channel: the server's language
            warning = t("video.low_balance", bot.modlog.locale(guild_id))
            bot.warn_moderators(guild_id, warning, kind="low_balance")
        elif isinstance(exc.error, evolink.Unauthorized | evolink.ModelAccessDenied):
            bot.spawn(bot.report_key_refused(exc.error))
        await reply.say(render.submit_error_text(exc.error, locale))
        return
    except SubmitUnconfirmed as exc:
        bot.instruments.request("unconfirmed")
        # Both mean: a task may exist and will be settled. Never "not charged, try again".
        key = "video.unrecorded" if isinstance(exc, SubmitUnrecorded) else "video.unconfirmed"
        bot.notifier.remember_interaction(exc.generation_id, interaction, shows_status=True)
        await reply.say(t(key, locale))
        return

    generation = admission.generation
    bot.instruments.request("started" if admission.queue_position is None else "queued")
    bot.spawn(bot.modlog.post_request(generation))
    await _post_status(bot, interaction, admission, reply)


async def _post_status(
    bot: VideoBot,
    interaction: discord.Interaction[VideoBot],
    admission: Admission,
    reply: PrivateReply,
) -> None:
    """The public status message of a request that started or waits its turn, in the channel;
    where the bot cannot post, the member keeps it privately while the interaction lives."""
    generation, locale = admission.generation, interaction.locale
    embed = render.status_embed(
        generation,
        now=bot.clock(),
        queue_position=admission.queue_position,
        evolink_busy=admission.evolink_busy,
        locale=locale,
    )
    content = None
    if admission.queue_position is not None:
        content = tn("video.reserved", admission.cost, locale, credits=fmt(admission.cost))
    view = bot.buttons.status(generation)
    channel = bot.get_partial_messageable(generation.channel_id, guild_id=generation.guild_id)
    extra: dict[str, Any] = {"view": view} if view is not None else {}
    try:
        message = await channel.send(content, embed=embed, allowed_mentions=NO_PINGS, **extra)
    except DISCORD_ERRORS as exc:  # a refusal, or the connection lost: the video runs anyway
        log.warning("status of generation %s not posted in the channel: %s", generation.id, exc)
        bot.notifier.remember_interaction(generation.id, interaction, shows_status=True)
        try:
            await reply.say(content, embed=embed, view=view)
        except DISCORD_ERRORS as exc:  # the video is told about when it comes all the same
            log.warning("status of generation %s not shown privately: %s", generation.id, exc)
        return
    bot.notifier.remember_interaction(generation.id, interaction)
    try:
        await bot.store.generations.set_status_message(generation.id, message.id)
    except Exception:  # the video runs all the same; its status is found when it ends
        log.exception("status message of generation %s not recorded", generation.id)
    await reply.withdraw()


def member_name(user: discord.abc.User) -> str:
    """How moderators know the member: their name here, and their username if it differs."""
    shown, username = user.display_name, user.name
    return shown if shown == username else f"{shown} ({username})"


#: Failures that the same prompt would meet again: only a changed prompt can help, so no
#: Regenerate is offered after one (Edit & retry is).
PROMPT_REFUSED = frozenset({"content_policy_violation"})


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
        generation = await bot.store.generations.get(self.generation_id)
        if generation is None or generation.user_id != interaction.user.id:
            await interaction.response.send_message(t("results.not_yours", locale), ephemeral=True)
            return
        if generation.guild_id != interaction.guild_id:  # e.g. pressed in a direct message
            key = "video.guild_only" if interaction.guild_id is None else "results.not_yours"
            await interaction.response.send_message(t(key, locale), ephemeral=True)
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


async def is_moderator(interaction: discord.Interaction[VideoBot]) -> bool:
    """Who may use /videomod: administrators; whoever the server's command permission overrides
    allow (Server Settings → Integrations), and nobody they forbid; else Manage Server, the
    command's default permission."""
    if interaction.guild_id is None:
        return False
    permissions = interaction.permissions
    if permissions.administrator:
        return True
    data: Any = interaction.data or {}
    channel = interaction.channel
    parent = getattr(channel, "parent_id", None)
    asker = Asker(
        guild_id=interaction.guild_id,
        user_id=interaction.user.id,
        role_ids=member_role_ids(interaction.user),
        channel_ids=[c for c in (interaction.channel_id, parent) if c is not None],
    )
    command_id = int(data.get("id") or 0)
    decided = await interaction.client.command_permissions.decide(command_id, asker)
    return permissions.manage_guild if decided is None else decided


class NotModerator(app_commands.CheckFailure):
    message_key = "mod.not_a_moderator"  # the tree's on_error shows it in the member's language

    def __init__(self) -> None:
        super().__init__(NOT_A_MODERATOR)


class ModGroup(app_commands.Group):
    """A /videomod group or subgroup. discord.py runs only the direct parent's check, so every
    subgroup must be a ModGroup too: `ModGroup(name=..., description=...)`, joined to /videomod
    by a `ModeratorCog`."""

    async def interaction_check(self, interaction: discord.Interaction[Any], /) -> bool:
        if not await is_moderator(interaction):
            raise NotModerator()
        return True


def moderator_group(bot: VideoBot) -> ModGroup:
    """/videomod, the moderators' group, shown by default only to members with Manage Server.
    The first cog to ask makes it and registers it with the command tree; the others are given
    the same one, so the order the cogs load in does not matter."""
    group = bot.tree.get_command("videomod")
    if isinstance(group, ModGroup):
        return group
    group = ModGroup(
        name="videomod",
        description="Moderate the video bot: log, export, bans, blocklist, audit",
        default_permissions=discord.Permissions(manage_guild=True),
        guild_only=True,
    )
    bot.tree.add_command(group)
    return group


class ModeratorCog(commands.Cog):
    """A cog whose commands and groups are /videomod subcommands, and so inherit its permission
    check: they join the group the cog is given when it loads, and leave it when it unloads.
    Add it with `bot.add_cog(cog, override=True)`: discord.py registers a cog's commands by their
    root, /videomod, which the tree already holds."""

    def __init__(self, bot: VideoBot, videomod: ModGroup) -> None:
        self.bot = bot
        self.videomod = videomod
        self._joined: list[str] = []

    def moderator_commands(self) -> list[app_commands.Command[Any, ..., Any] | app_commands.Group]:
        """What joins /videomod, in the order Discord lists it: the cog's own commands."""
        return list(self.get_app_commands())

    async def cog_load(self) -> None:
        for command in self.moderator_commands():
            self.videomod.add_command(command)
            self._joined.append(command.name)

    async def cog_unload(self) -> None:
        for name in self._joined:
            self.videomod.remove_command(name)
        if not self.videomod.commands:
            self.bot.tree.remove_command(self.videomod.name)


class Pager(discord.ui.View, Generic[K]):
    def __init__(
        self,
        owner_id: int,
        render: PageRenderer[K],
        *,
        refusal: Refusal,
        locale: AnyLocale = None,
        timeout: float = PAGER_TIMEOUT,
        page_items: PageItems | None = None,
    ) -> None:
        super().__init__(timeout=timeout)
        self._page_items = page_items
        self._shown_items: list[discord.ui.Item[Any]] = []
        self.previous.label = t("paging.previous", locale)
        self.next.label = t("paging.next", locale)
        self.owner_id = owner_id
        self._render = render
        self._refusal = refusal
        self._starts: list[K | None] = [None]
        self._index = 0
        self._next: K | None = None
        self._interaction: discord.Interaction[Any] | None = None

    async def send(self, interaction: discord.Interaction[Any]) -> None:
        """Answer `interaction` privately with the first page (buttons only if there are more)."""
        embed = await self._load(0)
        none = discord.AllowedMentions.none()
        if self._next is None:
            self.stop()
            items = self._page_items() if self._page_items else []
            if items:  # one page only: its own buttons, without previous/next
                view = discord.ui.View(timeout=None)
                for item in items:
                    view.add_item(item)
                await interaction.response.send_message(
                    embed=embed, view=view, ephemeral=True, allowed_mentions=none
                )
            else:
                await interaction.response.send_message(
                    embed=embed, ephemeral=True, allowed_mentions=none
                )
            return
        self._interaction = interaction
        await interaction.response.send_message(
            embed=embed, view=self, ephemeral=True, allowed_mentions=none
        )

    async def _load(self, index: int) -> discord.Embed:
        embed, self._next = await self._render(self._starts[index], index + 1)
        self._index = index
        del self._starts[index + 1 :]
        if self._next is not None:
            self._starts.append(self._next)
        self.previous.disabled = index == 0
        self.next.disabled = self._next is None
        if self._page_items is not None:
            for item in self._shown_items:
                self.remove_item(item)
            self._shown_items = self._page_items()
            for item in self._shown_items:
                self.add_item(item)
        return embed

    async def on_error(
        self, interaction: discord.Interaction[Any], error: Exception, item: discord.ui.Item[Any]
    ) -> None:
        await report_failure(interaction, error, "page turn")

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        if interaction.user.id == self.owner_id:
            return True
        refusal = self._refusal
        if not isinstance(refusal, str):
            refusal = refusal(interaction.locale)
        await interaction.response.send_message(
            refusal, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
        )
        return False

    @discord.ui.button(label="Previous", emoji="◀️", style=discord.ButtonStyle.secondary)
    async def previous(
        self, interaction: discord.Interaction[Any], button: discord.ui.Button[Pager[K]]
    ) -> None:
        await self._turn(interaction, max(0, self._index - 1))

    @discord.ui.button(label="Next", emoji="▶️", style=discord.ButtonStyle.secondary)
    async def next(
        self, interaction: discord.Interaction[Any], button: discord.ui.Button[Pager[K]]
    ) -> None:
        await self._turn(interaction, min(self._index + 1, len(self._starts) - 1))

    async def _turn(self, interaction: discord.Interaction[Any], index: int) -> None:
        embed = await self._load(index)
        await interaction.response.edit_message(
            embed=embed, view=self, allowed_mentions=discord.AllowedMentions.none()
        )

    async def on_timeout(self) -> None:
        if self._interaction is None:
            return
        for item in self.children:
            if isinstance(item, discord.ui.Button):
                item.disabled = True
        try:
            await self._interaction.edit_original_response(view=self)
        except discord.HTTPException as exc:
            log.debug("could not disable the page buttons: %s", exc)
