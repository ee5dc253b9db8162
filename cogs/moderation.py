"""/videomod: the moderators' view of the video bot, and their controls.

The whole group is shown by default only to members with Manage Server (server admins can
re-assign it under Server Settings → Integrations) and every command checks again when it runs,
Manage Server or the server's overrides (cogs/shared.py: `is_moderator`), since a crafted request
does not have to respect what Discord shows.

The group itself is shared (cogs/shared.py: `moderator_group`); this cog's commands join it, as
do other cogs' moderator commands (`ModeratorCog`): they all inherit the same permission check.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gzip
import io
import logging
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from typing import IO, TYPE_CHECKING, Any, TypeVar

import discord
from discord import app_commands

from bot.export import Wording
from bot.moderation import STATUS_FILTERS, InvalidInput, LogCursor, LogFilter, parse_since
from bot.ui import mod_render
from bot.ui.client import UserFacingError
from bot.ui.discord_limits import CHOICE_NAME, CHOICE_VALUE, clip_text, fit_embed
from bot.ui.i18n import AnyLocale, command_text, listing, sentences, t
from bot.ui.mod_render import code
from cogs.shared import ModeratorCog, ModGroup, Pager, is_moderator, moderator_group

if TYPE_CHECKING:
    from bot.ui.client import VideoBot

log = logging.getLogger(__name__)
T = TypeVar("T")

STATUS_CHOICES = [
    app_commands.Choice(name="completed", value="completed"),
    app_commands.Choice(name="failed", value="failed"),
    app_commands.Choice(name="expired (took too long)", value="expired"),
    app_commands.Choice(name="in progress", value="in_progress"),
    app_commands.Choice(name="cancelled", value="cancelled"),
]
STATUS_NAMES = {c.value: c.name for c in STATUS_CHOICES}
FILTER_HELP = {
    "user": "Only this member's videos",
    "status": "Only videos in this state",
    "since": "Only since: 30m (minutes), 24h, 7d, 2w, or a date such as 2026-11-01 (UTC)",
}
BLOCKLIST_PAGE = 12
BANS_PAGE = 15
UPLOAD_MARGIN = 8 * 1024  # the multipart envelope around the file


def not_your_pages(locale: discord.Locale) -> str:
    return t("mod.not_your_pages", locale)


def status_name(status: str, locale: AnyLocale) -> str:
    """A status filter as the moderator's Discord shows its choice: `expired (took too long)`."""
    return command_text(STATUS_NAMES.get(status, status), locale)


class PostableChannel(app_commands.Transformer):
    """A channel the bot can post text in; passed through unresolved (no cache needed)."""

    @property
    def type(self) -> discord.AppCommandOptionType:
        return discord.AppCommandOptionType.channel

    @property
    def channel_types(self) -> list[discord.ChannelType]:
        kind = discord.ChannelType
        return [
            kind.text, kind.news, kind.public_thread, kind.private_thread, kind.news_thread,
            kind.voice,
        ]  # fmt: skip

    async def transform(
        self, interaction: discord.Interaction[Any], value: Any, /
    ) -> app_commands.AppCommandChannel | app_commands.AppCommandThread:
        if not isinstance(value, app_commands.AppCommandChannel | app_commands.AppCommandThread):
            raise UserFacingError.translated("mod.pick_text_channel")
        return value


Channel = app_commands.AppCommandChannel | app_commands.AppCommandThread


class ModerationCog(ModeratorCog):
    config = ModGroup(name="config", description="The video bot's settings")
    blocklist = ModGroup(name="blocklist", description="Words and patterns refused in prompts")

    def __init__(self, bot: VideoBot, videomod: ModGroup) -> None:
        super().__init__(bot, videomod)
        self.mod = bot.moderation

    # --- the generation log ------------------------------------------------------------------

    @app_commands.command(name="log", description="Who made which video: newest first, filterable")
    @app_commands.describe(**FILTER_HELP)
    @app_commands.choices(status=STATUS_CHOICES)
    async def log_command(
        self,
        interaction: discord.Interaction[VideoBot],
        user: discord.User | None = None,
        status: str | None = None,
        since: app_commands.Range[str, 1, 40] | None = None,
    ) -> None:
        f = self._filter(interaction, user, status, since)
        locale = interaction.locale
        name = status_name(status, locale) if status else None
        description = mod_render.filters_text(f, name, locale)

        async def render(
            cursor: LogCursor | None, page: int
        ) -> tuple[discord.Embed, LogCursor | None]:
            result = await self.mod.log_page(f, cursor)
            embed = mod_render.log_embed(
                result.items,
                title=t("modview.log_title", locale),
                description=description,
                page=page,
                now=self.bot.clock(),
                locale=locale,
            )
            return embed, result.next

        await Pager[LogCursor](
            interaction.user.id, render, refusal=not_your_pages, locale=interaction.locale
        ).send(interaction)

    @app_commands.command(
        name="show", description="One video in full: prompt, settings, times, cost"
    )
    @app_commands.describe(task_id="Its task id (type to search recent videos by id or prompt)")
    async def show(
        self, interaction: discord.Interaction[VideoBot], task_id: app_commands.Range[str, 1, 100]
    ) -> None:
        g = await self.mod.get_by_task_id(_guild(interaction), task_id)
        if g is None:
            raise UserFacingError.translated("mod.show.not_found", task_id=code(task_id, 100))
        locale = interaction.locale
        embed, too_long = mod_render.generation_embed(g, self.bot.clock(), locale)
        files = []
        if too_long:
            files.append(discord.File(io.BytesIO(g.prompt.encode()), f"prompt-{g.id}.txt"))
            embed.add_field(
                name=t("mod.show.full_prompt", locale),
                value=t("mod.show.attached", locale),
                inline=False,
            )
        await interaction.response.send_message(
            embed=fit_embed(embed), files=files, ephemeral=True,
            allowed_mentions=discord.AllowedMentions.none(),
        )  # fmt: skip

    @show.autocomplete("task_id")
    async def _task_ids(
        self, interaction: discord.Interaction[VideoBot], current: str
    ) -> list[app_commands.Choice[str]]:
        if not await is_moderator(interaction):  # autocomplete skips the group's check
            return []
        choices = []
        for g in await self.mod.recent(_guild(interaction), current):
            ref = g.task_id or f"#{g.id}"
            prompt = " ".join(g.prompt.split())
            name = f"{ref} · {mod_render.status_label(g, interaction.locale)} · {prompt}"
            if len(ref) <= CHOICE_VALUE:  # a longer task id from EvoLink cannot be offered
                choices.append(app_commands.Choice(name=clip_text(name, CHOICE_NAME), value=ref))
        return choices

    @app_commands.command(name="export", description="Download the video log as a CSV file")
    @app_commands.describe(**FILTER_HELP)
    @app_commands.choices(status=STATUS_CHOICES)
    async def export(
        self,
        interaction: discord.Interaction[VideoBot],
        user: discord.User | None = None,
        status: str | None = None,
        since: app_commands.Range[str, 1, 40] | None = None,
    ) -> None:
        f = self._filter(interaction, user, status, since)
        locale = interaction.locale
        await interaction.response.defer(ephemeral=True, thinking=True)
        stamp = dt.datetime.fromtimestamp(self.bot.clock(), dt.UTC).strftime("%Y%m%d-%H%M")
        name = f"videos-{f.guild_id}-{stamp}.csv"
        none = discord.AllowedMentions.none()
        limit = interaction.filesize_limit - UPLOAD_MARGIN
        with tempfile.TemporaryFile() as raw, tempfile.TemporaryFile() as packed:
            rows = await self._write_csv(f, raw, mod_render.export_wording(locale))
            if rows == 0:
                await interaction.followup.send(
                    t("mod.export.none", locale), ephemeral=True, allowed_mentions=none
                )
                return
            upload: io.BufferedRandom = raw
            if raw.tell() > limit:
                raw.seek(0)
                await asyncio.to_thread(_gzip, raw, packed)
                upload, name = packed, name + ".gz"
            if upload.tell() > limit:
                await interaction.followup.send(
                    t("mod.export.too_large", locale, count=rows),
                    ephemeral=True, allowed_mentions=none,
                )  # fmt: skip
                return
            upload.seek(0)
            done = "mod.export.done_packed" if upload is packed else "mod.export.done"
            await interaction.followup.send(
                t(done, locale, count=rows),
                file=discord.File(upload, name), ephemeral=True, allowed_mentions=none,
            )  # fmt: skip

    async def _write_csv(self, f: LogFilter, raw: IO[bytes], wording: Wording) -> int:
        # UTF-8 with a byte-order mark, so that spreadsheet apps read Chinese prompts correctly
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        try:
            return await self.mod.export_csv(f, text, wording=wording)
        finally:
            text.flush()
            text.detach()

    # --- the audit trail ---------------------------------------------------------------------

    @app_commands.command(name="audit", description="What moderators did, newest first")
    @app_commands.describe(
        moderator="Only this moderator's actions", user="Only actions about this member"
    )
    async def audit(
        self,
        interaction: discord.Interaction[VideoBot],
        moderator: discord.User | None = None,
        user: discord.User | None = None,
    ) -> None:
        guild_id = _guild(interaction)
        locale = interaction.locale
        description = mod_render.audit_description(
            moderator.id if moderator else None, user.id if user else None, locale
        )

        async def render(cursor: int | None, page: int) -> tuple[discord.Embed, int | None]:
            result = await self.mod.audit_page(
                guild_id, cursor,
                moderator_id=moderator.id if moderator else None,
                target_user_id=user.id if user else None,
            )  # fmt: skip
            embed = mod_render.audit_embed(
                result.items, page=page, description=description, locale=locale
            )
            return embed, result.next

        await Pager[int](
            interaction.user.id, render, refusal=not_your_pages, locale=interaction.locale
        ).send(interaction)

    # --- bans --------------------------------------------------------------------------------

    @app_commands.command(name="ban", description="Stop a member from making videos in this server")
    @app_commands.describe(
        user="The member", reason="Why (kept in the audit log, not shown to them)"
    )
    async def ban(
        self,
        interaction: discord.Interaction[VideoBot],
        user: discord.User,
        reason: app_commands.Range[str, 1, 500],
    ) -> None:
        guild_id, locale, mention = _guild(interaction), interaction.locale, f"<@{user.id}>"
        entry = await _checked(self.mod.ban(guild_id, user.id, interaction.user.id, reason))
        if entry is None:
            ban = await self.mod.get_ban(guild_id, user.id)
            if ban:
                since = mod_render.ts(ban.banned_at)
                text = t("mod.ban.already_since", locale, user=mention, since=since)
            else:
                text = t("mod.ban.already", locale, user=mention)
            await _reply(interaction, text)
            return
        text = t("mod.ban.done", locale, user=mention)
        withdrawn = await self.bot.service.withdraw_queued(guild_id, user.id)
        for generation in withdrawn:  # their waiting status messages now say "cancelled"
            self.bot.spawn(self.bot.notifier.progress(generation))
        running = await self.mod.active_count(guild_id, user.id)
        notes = [t("mod.ban.withdrawn", locale, count=len(withdrawn))] if withdrawn else []
        if running:
            notes.append(t("mod.ban.running", locale, count=running))
            if await self.mod.log_channel(guild_id) is None:
                notes.append(t("mod.ban.no_log_channel", locale))
        if notes:
            text += "\n" + sentences(locale, *notes)
        await _reply(interaction, text)
        await self.bot.modlog.post_action(entry)

    @app_commands.command(name="unban", description="Let a banned member make videos again")
    @app_commands.describe(user="The member", reason="Why (kept in the audit log)")
    async def unban(
        self,
        interaction: discord.Interaction[VideoBot],
        user: discord.User,
        reason: app_commands.Range[str, 1, 500] | None = None,
    ) -> None:
        guild_id, locale, mention = _guild(interaction), interaction.locale, f"<@{user.id}>"
        entry = await _checked(self.mod.unban(guild_id, user.id, interaction.user.id, reason))
        if entry is None:
            await _reply(interaction, t("mod.unban.not_banned", locale, user=mention))
            return
        await _reply(interaction, t("mod.unban.done", locale, user=mention))
        await self.bot.modlog.post_action(entry)

    @app_commands.command(
        name="bans", description="Who is banned from making videos in this server"
    )
    async def bans(self, interaction: discord.Interaction[VideoBot]) -> None:
        bans = await self.mod.bans(_guild(interaction))
        await _page_through(interaction, bans, BANS_PAGE, mod_render.bans_embed)

    # --- settings ----------------------------------------------------------------------------

    @config.command(
        name="log_channel",
        description="Post every request, result and moderator action in a channel",
    )
    @app_commands.describe(channel="Where to post; leave it out to stop posting")
    async def log_channel(
        self,
        interaction: discord.Interaction[VideoBot],
        channel: app_commands.Transform[Channel, PostableChannel] | None = None,
    ) -> None:
        guild_id, locale = _guild(interaction), interaction.locale
        if channel is None:
            entry = await self.mod.set_log_channel(guild_id, None, interaction.user.id)
            text = t("mod.log_channel.off" if entry else "mod.log_channel.already_off", locale)
            await _reply(interaction, text)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        hello = discord.Embed(
            title=t("mod.log_channel.hello_title", locale),
            description=t("mod.log_channel.hello", locale, moderator=f"<@{interaction.user.id}>"),
            colour=mod_render.COLOR_MOD,
        )
        try:
            await self.bot.get_partial_messageable(channel.id, guild_id=guild_id).send(
                embed=hello, allowed_mentions=discord.AllowedMentions.none()
            )
        except discord.HTTPException as exc:
            log.info("mod-log channel %s refused: %s", channel.id, exc)
            raise UserFacingError.translated(
                "mod.log_channel.cannot_post", channel=f"<#{channel.id}>"
            ) from None
        entry = await self.mod.set_log_channel(guild_id, channel.id, interaction.user.id)
        done = "mod.log_channel.set" if entry else "mod.log_channel.already"
        await interaction.followup.send(
            t(done, locale, channel=f"<#{channel.id}>"), ephemeral=True,
            allowed_mentions=discord.AllowedMentions.none(),
        )  # fmt: skip

    # --- blocklist ---------------------------------------------------------------------------

    @blocklist.command(name="add", description="Refuse prompts with a word, phrase or /regex/")
    @app_commands.describe(
        pattern="A word or phrase (whole words, any case), or a regular expression as /.../",
        regex="Treat the pattern as a regular expression (same as writing it as /.../)",
        reason="Why (kept in the audit log)",
    )
    async def blocklist_add(
        self,
        interaction: discord.Interaction[VideoBot],
        pattern: app_commands.Range[str, 1, 210],
        regex: bool = False,
        reason: app_commands.Range[str, 1, 500] | None = None,
    ) -> None:
        entry = await _checked(
            self.mod.blocklist_add(
                _guild(interaction), pattern, interaction.user.id, regex=regex, reason=reason
            )
        )
        locale = interaction.locale
        if entry is None:
            await _reply(interaction, t("mod.blocklist.exists", locale))
            return
        shown = str(entry.details["pattern"])
        added = "mod.blocklist.added_regex" if shown.startswith("/") else "mod.blocklist.added_word"
        await _reply(interaction, t(added, locale, entry=code(shown, 210)))
        await self.bot.modlog.post_action(entry)

    @blocklist.command(name="remove", description="Allow a blocked word or pattern again")
    @app_commands.describe(
        pattern="The entry as the list shows it", reason="Why (kept in the audit log)"
    )
    async def blocklist_remove(
        self,
        interaction: discord.Interaction[VideoBot],
        pattern: app_commands.Range[str, 1, 210],
        reason: app_commands.Range[str, 1, 500] | None = None,
    ) -> None:
        entry = await _checked(
            self.mod.blocklist_remove(_guild(interaction), pattern, interaction.user.id, reason)
        )
        locale = interaction.locale
        if entry is None:
            missing = code(pattern, 210)
            await _reply(interaction, t("mod.blocklist.not_listed", locale, entry=missing))
            return
        removed = code(str(entry.details["pattern"]), 210)
        await _reply(interaction, t("mod.blocklist.removed", locale, entry=removed))
        await self.bot.modlog.post_action(entry)

    @blocklist_remove.autocomplete("pattern")
    async def _patterns(
        self, interaction: discord.Interaction[VideoBot], current: str
    ) -> list[app_commands.Choice[str]]:
        if not await is_moderator(interaction):
            return []
        needle = current.lower()
        rules = [
            r for r in await self.mod.blocklist(_guild(interaction)) if needle in r.display.lower()
        ]
        return [
            app_commands.Choice(name=clip_text(r.display, CHOICE_NAME), value=r.display)
            for r in rules[:25]
            if len(r.display) <= CHOICE_VALUE
        ]

    @blocklist.command(name="list", description="Show the blocked words and patterns")
    async def blocklist_list(self, interaction: discord.Interaction[VideoBot]) -> None:
        rules = await self.mod.blocklist(_guild(interaction))
        await _page_through(interaction, rules, BLOCKLIST_PAGE, mod_render.blocklist_embed)

    # --- helpers -----------------------------------------------------------------------------

    def _filter(
        self,
        interaction: discord.Interaction[VideoBot],
        user: discord.User | None,
        status: str | None,
        since: str | None,
    ) -> LogFilter:
        if status is not None and status not in STATUS_FILTERS:
            locale = interaction.locale
            choices = listing(locale, (status_name(s, locale) for s in STATUS_NAMES))
            raise UserFacingError.translated("mod.status_one_of", choices=choices)
        try:
            start = parse_since(since, self.bot.clock()) if since else None
        except InvalidInput as exc:
            raise UserFacingError.like(exc) from None
        return LogFilter(
            guild_id=_guild(interaction),
            user_id=user.id if user else None,
            statuses=STATUS_FILTERS[status] if status else None,
            since=start,
        )


async def _page_through(
    interaction: discord.Interaction[VideoBot],
    items: Sequence[T],
    per_page: int,
    embed: Callable[..., discord.Embed],
) -> None:
    """A private, paged list of `items`, `per_page` at a time (`embed(shown, page=, pages=,
    locale=)` draws one page)."""
    pages = -(-len(items) // per_page)

    async def render(start: int | None, page: int) -> tuple[discord.Embed, int | None]:
        first = start or 0
        end = first + per_page
        shown = list(items[first:end])
        drawn = embed(shown, page=page, pages=pages, locale=interaction.locale)
        return drawn, end if end < len(items) else None

    await Pager[int](
        interaction.user.id, render, refusal=not_your_pages, locale=interaction.locale
    ).send(interaction)


def _guild(interaction: discord.Interaction[Any]) -> int:
    if interaction.guild_id is None:
        raise UserFacingError.translated("error.guild_only")
    return interaction.guild_id


async def _checked(call: Awaitable[T]) -> T:
    try:
        return await call
    except InvalidInput as exc:
        raise UserFacingError.like(exc) from None


async def _reply(interaction: discord.Interaction[Any], text: str) -> None:
    await interaction.response.send_message(
        text, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
    )


def _gzip(source: IO[bytes], target: IO[bytes]) -> None:
    with gzip.GzipFile(fileobj=target, mode="wb") as packed:
        shutil.copyfileobj(source, packed)


async def setup(bot: VideoBot) -> None:
    await bot.add_cog(ModerationCog(bot, moderator_group(bot)), override=True)
