"""The discord.py bot: wires storage, the EvoLink client, the tracker and the cogs together."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Sequence
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

import discord
import httpx
from discord import app_commands
from discord.ext import commands

from bot import evolink
from bot.bounded_http import Answer
from bot.callbacks import CallbackServer, ReceiverLimits
from bot.charges import ChargeAnomaly
from bot.credits import Credits, Limits, Prices
from bot.fdlimit import open_file_limit
from bot.generations import VideoService
from bot.health import Health, MonitoringServer
from bot.instruments import NO_INSTRUMENTS, Instruments
from bot.media import VideoDownloader
from bot.metrics import Metrics, count_rate_limit_waits
from bot.moderation import Moderation
from bot.refusal import Hint
from bot.request_budget import RequestBudget
from bot.schedule import FixedSchedule, PredictedSchedule, Schedule
from bot.settings import Settings
from bot.store import Claimant, Clock, Store, open_store
from bot.store.bot_state import COMMANDS_GUILD
from bot.tracker import Tracker
from bot.ui import render
from bot.ui.budgeted_http import spend_budget
from bot.ui.command_permissions import CommandPermissions
from bot.ui.delivery import DiscordNotifier, MessageButtons
from bot.ui.discord_limits import CONTENT, clip_text
from bot.ui.i18n import AnyLocale, Translator, command_text, listing, option_label, t
from bot.ui.invite import invite_url
from bot.ui.modlog import ModLog
from bot.ui.modlog_render import charge_warning
from bot.validation import unsendable_option

log = logging.getLogger(__name__)

#: The commands, buttons and forms: one extension per area, each module's `setup(bot)` adds its
#: cogs. Discord lists the top-level commands in this order.
EXTENSIONS = (
    "cogs.video",
    "cogs.results",
    "cogs.moderation",
    "cogs.history",
    "cogs.credits",
    "cogs.help",
)
WARN_EVERY = 3600.0  # seconds between two mod-log warnings of one kind in one server
SHUTDOWN_GRACE = 10.0  # seconds for in-flight requests and the tracker's pass to finish
REMEMBERED_INTERACTIONS = 10_000  # ids kept to know a replayed interaction (minutes of traffic)
ADMITTED = "evl-admitted"  # marks an interaction (its `extras`) as the copy being handled


class UserFacingError(app_commands.AppCommandError):
    """An expected refusal, shown to the member privately: as it is, or, made with
    :meth:`translated`, in the member's language."""

    message_key: str | None = None
    message_values: dict[str, object]

    @classmethod
    def translated(cls, key: str, /, **values: object) -> UserFacingError:
        """A refusal from the catalogues (its English text is the exception's str). A value
        named `option` is an option's name and `choices` a tuple of choice names: each is shown
        as the reader's Discord shows it."""
        error = cls(t(key, None, **as_shown(values, None)))
        error.message_key, error.message_values = key, values
        return error

    @classmethod
    def like(cls, error: Exception) -> UserFacingError:
        """The same refusal as `error` (e.g. bot.moderation.InvalidInput), message key and all."""
        key: str | None = getattr(error, "message_key", None)
        if key is None:
            return cls(str(error))
        return cls.translated(key, **getattr(error, "message_values", {}))


def error_text(error: Exception, locale: discord.Locale | str | None) -> str:
    """An expected refusal's text in the member's language, when it carries a message key."""
    key: str | None = getattr(error, "message_key", None)
    if key is None:
        return str(error)
    return t(key, locale, **as_shown(getattr(error, "message_values", {}), locale))


def as_shown(values: dict[str, object], locale: AnyLocale) -> dict[str, object]:
    """A refusal's values (bot/refusal.py) with `option` (an option's name) and `choices` (a
    tuple of choice names) as the reader's Discord shows them, `period` and `daily, weekly` in
    English, `when` (seconds since the epoch) as a Discord timestamp relative to now, and `hint`
    (a Hint) as its own sentence."""
    shown = dict(values)
    when = values.get("when")
    if isinstance(when, int | float):
        shown["when"] = f"<t:{int(when)}:R>"
    if isinstance(values.get("option"), str):
        shown["option"] = option_label(str(values["option"]), locale)
    choices = values.get("choices")
    if isinstance(choices, tuple):
        shown["choices"] = listing(locale, (command_text(str(c), locale) for c in choices))
    hint = values.get("hint")
    if isinstance(hint, Hint):
        shown["hint"] = t(hint.key, locale, **as_shown(hint.values, locale))
    return shown


class VideoTree(app_commands.CommandTree["VideoBot"]):
    async def interaction_check(self, interaction: discord.Interaction[VideoBot]) -> bool:
        data: Any = interaction.data or {}
        problem = unsendable_option(data.get("options"))
        if problem is not None:  # a crafted interaction: refused before any command runs
            if interaction.type is discord.InteractionType.autocomplete:
                await interaction.response.autocomplete([])
            else:
                locale = interaction.locale
                problem_text = render.problem_text(problem, locale)
                text = t("validation.refused_unsendable", locale, problem=problem_text)
                await reply_privately(interaction, text)
            return False
        return await interaction.client.admit(interaction)

    async def on_error(
        self, interaction: discord.Interaction[VideoBot], error: app_commands.AppCommandError
    ) -> None:
        locale = interaction.locale
        original = getattr(error, "original", error)
        if already_answered(original):
            log.warning("command %s: already answered (a replayed interaction?)",
                        _command_name(interaction))  # fmt: skip
            return
        if isinstance(error, UserFacingError):
            text = error_text(error, locale)
        elif isinstance(error, app_commands.CheckFailure):
            text = error_text(error, locale) or t("error.check_failed", locale)
        elif isinstance(
            error,
            app_commands.CommandSignatureMismatch
            | app_commands.TransformerError
            | app_commands.CommandNotFound,  # Discord still shows a command we no longer have
        ):
            log.warning("command %s: options did not match: %s", _command_name(interaction), error)
            text = t("error.mismatch", locale)
        else:
            log.error("command %s failed", _command_name(interaction), exc_info=original)
            text = t("error.unexpected", locale)
        await reply_privately(interaction, text)


def already_answered(error: BaseException) -> bool:
    """Discord refused our answer because the interaction was answered before: the gateway
    delivered it twice. The first copy did the work; this one has nothing to add."""
    return isinstance(error, discord.HTTPException) and error.code == 40060


async def reply_privately(interaction: discord.Interaction[VideoBot], text: str) -> None:
    """Answer only the member, whether or not the interaction was already acknowledged."""
    none = discord.AllowedMentions.none()
    text = clip_text(text, CONTENT)  # refusals may quote what was typed
    try:
        if interaction.response.is_done():
            await interaction.followup.send(text, ephemeral=True, allowed_mentions=none)
        else:
            await interaction.response.send_message(text, ephemeral=True, allowed_mentions=none)
    except discord.HTTPException as exc:
        log.warning("could not tell the member about an error: %s", exc)


def _command_name(interaction: discord.Interaction[VideoBot]) -> str:
    return interaction.command.qualified_name if interaction.command else "?"


# The bot never joins voice: no warning at start about voice libraries it does not need.
discord.VoiceClient.warn_nacl = False
discord.VoiceClient.warn_dave = False


def _server_id(remembered: str | None) -> int | None:
    """The server the commands were registered in last, as remembered; a value that is no
    server id (edited by hand, damaged) must not stop the bot from starting: it is forgotten."""
    if remembered is None:
        return None
    if remembered.isascii() and remembered.isdigit() and 0 < int(remembered) < 2**64:
        return int(remembered)
    log.warning("forgot %r, remembered as the server the commands were registered in: it is "
                "no server id; if a server shows the commands twice, start once with "
                "DISCORD_GUILD_ID set to it, then as you mean to run", remembered[:40])  # fmt: skip
    return None


class VideoBot(commands.Bot):
    store: Store
    api: evolink.EvoLinkClient
    service: VideoService
    credits: Credits
    tracker: Tracker
    notifier: DiscordNotifier
    moderation: Moderation
    modlog: ModLog

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock = time.time,
        evolink_transport: httpx.AsyncBaseTransport | None = None,
        evolink_sleep: evolink.Sleep = asyncio.sleep,
        start_tracker: bool = True,
        extensions: Sequence[str] = EXTENSIONS,
        schedule: Schedule | None = None,
    ) -> None:
        """`schedule`: when to look at running tasks (default: predicted from what EvoLink says,
        or every CALLBACK_SAFETY_POLL_SECONDS with callbacks on)."""
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=discord.Intents(guilds=True),
            tree_cls=VideoTree,
            help_command=None,
            allowed_mentions=discord.AllowedMentions.none(),
            **self.gateway_options(settings),
        )
        # every bot-token request takes its share of Discord's global limit (all processes')
        self.budget = RequestBudget(settings.discord_rate_limit)
        spend_budget(self, self.budget)
        self.settings = settings
        self.clock = clock
        self._evolink_transport = evolink_transport
        self._evolink_sleep = evolink_sleep
        self._start_tracker = start_tracker
        self._extension_names = tuple(extensions)
        self._schedule = schedule
        self._tracker_task: asyncio.Task[None] | None = None
        self._lease_task: asyncio.Task[None] | None = None
        self._key_check: asyncio.Task[None] | None = None
        self.callbacks: CallbackServer | None = None
        self.closing = False
        self._requests: set[asyncio.Task[Any]] = set()
        self._admitted: OrderedDict[int, None] = OrderedDict()  # interaction ids, newest last
        self._background: set[asyncio.Task[None]] = set()
        self._key_refused_reported = False
        self._warned: dict[tuple[int, str], float] = {}
        self.gateway_connected = False
        self._announced = False
        # metrics are counted only when someone can read them (METRICS_PORT)
        self.metrics = Metrics(clock) if settings.metrics_port is not None else None
        self.instruments: Instruments = self.metrics or NO_INSTRUMENTS
        self.monitoring: MonitoringServer | None = None
        self.health: Health | None = None
        self._monitoring_tasks: list[asyncio.Task[None]] = []
        self._stop_counting_rate_limits: Callable[[], None] = lambda: None
        # the cogs that answer the buttons under status and result messages supply them
        self.buttons = MessageButtons()
        self.command_permissions = CommandPermissions(self, clock)

    @staticmethod
    def gateway_options(settings: Settings) -> dict[str, Any]:
        """How the client connects to the gateway (ShardedVideoBot: its shards)."""
        return {}

    async def setup_hook(self) -> None:
        s = self.settings
        self.store = await open_store(
            s.database, clock=self.clock, pool_size=s.database_pool_size,
            claimant=Claimant.new(s.lease_seconds),
        )  # fmt: skip
        if self.store.is_shared:  # other processes may use the bot token too
            self.budget.share_through(self.store.shared)
        self.api = evolink.EvoLinkClient(
            s.evolink_base_url,
            s.evolink_api_key.get(),
            timeout=s.http_timeout,
            connections=s.poll_concurrency + 50,  # every poll its own, and room for creates
            transport=self._evolink_transport,
            sleep=self._evolink_sleep,
            observe=self.instruments.evolink_call,
        )
        self.moderation = Moderation(self.store)
        self.modlog = ModLog(self, self.moderation)
        self.notifier = DiscordNotifier(
            self, clock=self.clock,
            # the simulator serves its files at a loopback EVOLINK_BASE_URL's own origin
            videos=VideoDownloader(evolink_base_url=s.evolink_base_url),
            buttons=self.buttons,
            place_of=lambda g: self.service.place(g),  # in its member's queue, or in line
            withhold=lambda g: self.moderation.is_banned(g.guild_id or 0, g.user_id),
            on_outcome=lambda g, withheld: self.modlog.post_outcome(g, withheld=withheld),
            on_undeliverable=self.modlog.post_undelivered,
            record_route=self.store.generations.set_delivery_route,
            congested=lambda: self.budget.congested,  # then a fresh interaction's token first
        )  # fmt: skip
        self.credits = Credits(
            self.store, Limits.from_settings(s), Prices.from_settings(s), clock=self.clock
        )
        # With callbacks, EvoLink says when a task is done; polling is only the safety net.
        poll_interval = s.callback_safety_poll if s.callback_public_url else s.poll_interval
        schedule = self._schedule or (
            FixedSchedule(poll_interval, clock=self.clock, first_at_estimate=False)
            if s.callback_public_url
            else PredictedSchedule(poll_interval, clock=self.clock)
        )
        self.service = VideoService(
            self.store, self.api, self.credits, self.moderation, schedule=schedule,
            clock=self.clock, on_submitted=lambda: self.tracker.wake(),
            callback_base=s.callback_public_url, on_charge_anomaly=self.report_charge_anomaly,
            instruments=self.instruments,
        )  # fmt: skip
        self.tracker = Tracker(
            self.store, self.api, self.service, self.credits, self.notifier,
            schedule=schedule, poll_interval=poll_interval, concurrency=s.poll_concurrency,
            task_timeout=s.task_timeout, http_timeout=s.http_timeout, clock=self.clock,
            on_charge_anomaly=self.report_charge_anomaly, on_key_refused=self.report_key_refused,
            instruments=self.instruments,
        )  # fmt: skip
        await self.tracker.resume_lost_creates()  # before any command can start a create
        if s.callback_public_url:
            prefix = urlsplit(s.callback_public_url).path  # the same path, served at the root
            limits = ReceiverLimits.within(open_file_limit())
            self.callbacks = CallbackServer(self.store, self.tracker.wake, prefix, limits)
            await self.callbacks.start(s.callback_host, s.callback_port)
        if self.metrics is not None and s.metrics_port is not None:
            await self.start_monitoring(self.metrics, s.metrics_host, s.metrics_port)

        for name in self._extension_names:
            await self.load_extension(name)
        # English and Simplified Chinese names, descriptions and choices, from the member's
        # Discord language; Discord still sends the English names back, so dispatch is unchanged.
        await self.tree.set_translator(Translator())
        if s.registers_commands:
            await self.sync_commands()
        else:  # one process registers them: the one that runs shard 0 (SHARD_IDS)
            log.info("the commands are registered by the process that runs shard 0")
        if self._start_tracker:
            self._tracker_task = asyncio.create_task(self.tracker.run(), name="video-tracker")
            if self.store.is_shared:  # other processes take over work whose lease runs out
                self._lease_task = asyncio.create_task(
                    self.tracker.keep_leases(), name="lease-renewal"
                )
        self._key_check = asyncio.create_task(self.check_evolink_key(), name="evolink-key-check")

    async def start_monitoring(self, metrics: Metrics, host: str, port: int) -> None:
        """/healthz and /metrics (bot/health.py), and what keeps their figures current."""
        health = self.health = Health(
            self.store, metrics, lambda: self.gateway_connected, clock=self.clock
        )

        async def healthz() -> Answer:
            return (await health.report()).answer()

        async def scrape() -> Answer:
            text = await metrics.render(self.store, lambda: self.gateway_connected)
            return Answer(HTTPStatus.OK, "text/plain; version=0.0.4; charset=utf-8", text)

        self._stop_counting_rate_limits = count_rate_limit_waits(metrics)
        self.monitoring = MonitoringServer({"/healthz": healthz, "/metrics": scrape})
        await self.monitoring.start(host, port)
        self._monitoring_tasks.append(
            asyncio.create_task(
                health.keep_evolink_fresh(self.api.get_balance), name="evolink-probe"
            )
        )

    async def on_ready(self) -> None:
        self.gateway_connected = True
        if self._announced:
            return  # a new session after a lost one: said once per process is enough
        self._announced = True
        user = self.user
        client_id = self.application_id or (user.id if user else 0)
        log.info(
            "logged in as %s (id %s), in %d server(s); invite it with %s",
            user, user.id if user else "?", len(self.guilds), invite_url(client_id),
        )  # fmt: skip

    async def on_raw_app_command_permissions_update(
        self, payload: discord.RawAppCommandPermissionsUpdateEvent
    ) -> None:
        """A server's admins changed who may use a command (Server Settings → Integrations)."""
        if payload.application_id != self.application_id:
            return  # another app's commands: their overrides say nothing about this bot's
        self.command_permissions.changed(payload.guild.id, payload.target_id, payload.permissions)

    async def on_resumed(self) -> None:
        self.gateway_connected = True

    async def on_disconnect(self) -> None:
        self.gateway_connected = False

    async def admit(self, interaction: discord.Interaction[VideoBot]) -> bool:
        """Refuse new work while closing, and a second copy of an interaction (the gateway
        replays events after a lost connection: /video decides before it answers, so a copy
        would otherwise be admitted, and charged, again); otherwise let close() wait for it."""
        if self._seen_before(interaction):
            log.warning("interaction %s already answered (a replayed interaction?)",
                        interaction.id)  # fmt: skip
            return False
        if self.closing:
            await reply_privately(interaction, t("error.closing", interaction.locale))
            return False
        current = asyncio.current_task()
        if current is not None:
            self._requests.add(current)
            current.add_done_callback(self._requests.discard)
        return True

    def _seen_before(self, interaction: discord.Interaction[VideoBot]) -> bool:
        """Whether another copy of this interaction (same id) came first."""
        if interaction.extras.get(ADMITTED):
            return False  # this very copy, asked again (the tree's check, then the command)
        if interaction.id in self._admitted:
            return True
        interaction.extras[ADMITTED] = True
        self._admitted[interaction.id] = None
        while len(self._admitted) > REMEMBERED_INTERACTIONS:
            self._admitted.popitem(last=False)
        return False

    def spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        """Run side work (mod-log posts) without making the member wait; errors are logged."""

        async def run() -> None:
            try:
                await work
            except Exception:
                log.exception("background work failed")

        task = asyncio.create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def sync_commands(self) -> None:
        """Register the commands so that each server sees each once: everywhere, or, with
        DISCORD_GUILD_ID, in that server only (they appear there at once). The server they were
        registered in last is remembered, so that a change of the setting removes the copies
        left there."""
        target = self.settings.discord_guild_id
        try:
            remembered = _server_id(await self.store.state.get(COMMANDS_GUILD))
            if target is None:
                await self.tree.sync()
            else:
                guild = discord.Object(target)
                self.tree.copy_global_to(guild=guild)
                await self.tree.sync(guild=guild)
                await self.http.bulk_upsert_global_commands(self.application_id or 0, [])
            if remembered is not None and remembered != target:
                await self._remove_commands_from(remembered)
            await self.store.state.put(COMMANDS_GUILD, None if target is None else str(target))
        except discord.HTTPException as exc:
            log.error("could not register the slash commands with Discord: %s", exc)

    async def _remove_commands_from(self, guild_id: int) -> None:
        """The copies registered in a server by an earlier DISCORD_GUILD_ID."""
        try:
            await self.http.bulk_upsert_guild_commands(self.application_id or 0, guild_id, [])
            log.info("removed the commands registered in server %s before", guild_id)
        except (discord.Forbidden, discord.NotFound) as exc:  # the bot left it: nothing to see
            log.info("server %s's commands were not removed (%s)", guild_id, exc)

    async def check_evolink_key(self) -> None:
        """Tell the owner at start, in the log, whether EvoLink accepts the key."""
        try:
            balance = await self.api.get_balance()
        except (evolink.Unauthorized, evolink.ModelAccessDenied) as exc:
            await self.report_key_refused(exc)
        except evolink.EvoLinkError as exc:
            log.warning("could not check the EvoLink balance at start: %s", exc)
        else:
            if balance.unlimited:
                log.info("EvoLink key accepted (unlimited credits)")
            else:
                log.info("EvoLink key accepted; %s credits remaining", balance.remaining_credits)

    async def report_key_refused(self, error: evolink.EvoLinkError) -> None:
        """Loudly, once: in the log for the owner and in every mod-log channel."""
        if self._key_refused_reported:
            return
        self._key_refused_reported = True
        if not await self._first_to_tell("key refused"):
            return
        log.error(
            "EvoLink refused EVOLINK_API_KEY (%s): no video can be made until it is fixed in .env",
            error,
        )
        for guild_id in await self.moderation.guilds_with_log_channel():
            text = t("modlog.key_refused", self.modlog.locale(guild_id))
            await self.modlog.warn(guild_id, text)

    def report_charge_anomaly(self, anomaly: ChargeAnomaly) -> None:
        """A credit figure from EvoLink the bot did not believe (already logged as an error):
        told in the server's mod-log channel, in the server's language, one post per video."""
        guild_id = anomaly.generation.guild_id
        if guild_id is None:
            return
        text = charge_warning(anomaly, self.modlog.locale(guild_id))
        self.spawn(self.modlog.warn(guild_id, text))

    def warn_moderators(self, guild_id: int, text: str, kind: str) -> None:
        """A mod-log warning, at most once an hour per server and kind (a burst of refused
        requests makes one warning, not fifty)."""
        now = self.clock()
        if now - self._warned.get((guild_id, kind), -WARN_EVERY) < WARN_EVERY:
            return
        self._warned[(guild_id, kind)] = now

        async def warn() -> None:
            if await self._first_to_tell(f"{kind} warning in server {guild_id}"):
                await self.modlog.warn(guild_id, text)

        self.spawn(warn())

    async def _first_to_tell(self, notice: str) -> bool:
        """Where processes share the database, one of them sends a notice per WARN_EVERY: this
        one, if it is the first to ask. (Alone, the caller's own memory decides.)"""
        if not self.store.is_shared:
            return True
        return await self.store.shared.claim_notice(notice, WARN_EVERY)

    async def close(self) -> None:
        """Stop taking requests, let work in flight finish its writes, then close everything."""
        if self.closing:
            return
        self.closing = True
        if hasattr(self, "tracker"):
            self.tracker.stop()
        pending = [
            t for t in (self._tracker_task, *self._requests, *self._background) if t is not None
        ]
        if pending:
            _, late = await asyncio.wait(pending, timeout=SHUTDOWN_GRACE)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        for helper in (self._key_check, self._lease_task):
            if helper is not None:
                helper.cancel()
                await asyncio.gather(helper, return_exceptions=True)
        if hasattr(self, "tracker"):
            await self.tracker.close()
        if self.callbacks is not None:
            await self.callbacks.stop()
        for task in self._monitoring_tasks:
            task.cancel()
        await asyncio.gather(*self._monitoring_tasks, return_exceptions=True)
        if self.monitoring is not None:
            await self.monitoring.stop()
        self._stop_counting_rate_limits()
        await super().close()
        if hasattr(self, "api"):
            await self.api.aclose()
        if hasattr(self, "store"):
            await self.store.close()


class ShardedVideoBot(VideoBot, commands.AutoShardedBot):
    """The bot over the shards SHARD_IDS of SHARD_COUNT (all of them without SHARD_IDS): one
    gateway connection per shard, each receiving the events of its servers. Work that is not an
    event (polling, deliveries, status edits) is shared through the database by every process,
    whichever shards it runs."""

    @staticmethod
    def gateway_options(settings: Settings) -> dict[str, Any]:
        ids = list(settings.shard_ids) if settings.shard_ids is not None else None
        return {"shard_count": settings.shard_count, "shard_ids": ids}


def make_bot(settings: Settings, **options: Any) -> VideoBot:
    """The bot these settings ask for: sharded with SHARD_COUNT, else one connection."""
    if settings.shard_count is not None:
        return ShardedVideoBot(settings, **options)
    return VideoBot(settings, **options)
