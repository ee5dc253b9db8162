"""A recorded, fake Discord REST layer for testing a discord.py 2.x bot through its real code paths.

Everything except the network is real discord.py: the command tree, transformers, checks, error
routing, views, modals, dynamic items and serialisation. Only three methods are replaced while a
:class:`FakeDiscord` is installed:

* ``discord.http.HTTPClient.request`` (bot-token REST: login, ``channel.send``, ``tree.sync`` ...),
* ``discord.webhook.async_.AsyncWebhookAdapter.request`` (interaction callbacks, follow-ups,
  ``@original`` edits, ``Webhook.partial``),
* ``discord.http.HTTPClient.get_from_cdn`` (``Attachment.read()``; serve bytes with
  :meth:`FakeDiscord.serve`).

Each request is recorded as a :class:`Call` and answered the way Discord would, closely enough for
discord.py's parsers. Messages the bot creates are kept in :attr:`FakeDiscord.messages`.

Typical test::

    from tests.discord_fake import FakeDiscord, dispatch, running_bot, slash_command

    async def test_balance(fake_discord: FakeDiscord) -> None:
        async with running_bot(make_bot(), fake_discord) as bot:
            payload = slash_command("balance")
            await dispatch(bot, payload)
        body = fake_discord.interaction_response(int(payload["id"]))
        assert body["type"] == 4 and body["data"]["flags"] == 64

The ``fake_discord`` fixture lives in this module: add ``pytest_plugins = ["tests.discord_fake"]``
to the root ``tests/conftest.py`` (or import the fixture there), or build one yourself with
``with FakeDiscord() as fake: ...``.

What works without a READY event (nothing is cached; ``bot.is_ready()`` is False):

* ``interaction.channel`` is a real ``TextChannel`` (or ``DMChannel``) built from the payload's
  ``channel`` object, so ``interaction.channel_id`` and ``interaction.channel.send()`` work.
* ``interaction.guild`` is a partial guild built from the payload's ``guild`` object (name ``''``,
  no roles or channels); ``interaction.guild_id``, ``interaction.user`` (a ``Member`` with
  ``guild_permissions`` from ``permissions``), ``interaction.permissions`` and
  ``interaction.app_permissions`` all work.
* ``bot.get_channel()``, ``bot.get_guild()``, ``bot.get_user()`` return ``None``; use
  ``bot.get_partial_messageable(channel_id)`` (``.send``, ``.get_partial_message(id).edit``),
  ``await bot.fetch_channel(id)`` or ``await bot.fetch_user(id)`` (answered by the fake).

``dispatch`` waits for every task the interaction started (view/modal timeout watchers and
``tasks.loop`` loops excepted) and re-raises the first exception that escaped one of them; errors
discord.py catches itself (command errors without an ``on_error``, dynamic-item callbacks,
autocomplete) are only logged: assert on ``caplog`` or install a recording ``on_error``.
For non-interaction flows use ``async with settled(): ...``.

A payload over one of Discord's size limits (content, embeds, components, modals, autocomplete
choices, command schemas: discord_double/rules.py) is answered 400 with code 50035, as
Discord does, and recorded in :attr:`FakeDiscord.refused`, so every test also checks that what
the bot sends fits.

Unknown routes are recorded in :attr:`FakeDiscord.unhandled` and answered ``{}`` (which may make
discord.py fail to parse the answer); ``FakeDiscord(strict=True)`` raises
:class:`UnhandledRequest` instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import datetime
import http
import itertools
import json as jsonlib
import mimetypes
import re
import time
import urllib.parse
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, cast

import discord
import pytest
from discord.http import HTTPClient, Route
from discord.webhook.async_ import AsyncWebhookAdapter

from discord_double.rules import payload_problems

__all__ = [
    "ADMIN_PERMISSIONS",
    "APPLICATION_ID",
    "APP_PERMISSIONS",
    "CHANNEL_ID",
    "DEFAULT_ATTACHMENT_SIZE_LIMIT",
    "GUILD_ID",
    "MEMBER_PERMISSIONS",
    "OWNER_ID",
    "USER_ID",
    "Call",
    "FakeDiscord",
    "TaskTracker",
    "UnhandledRequest",
    "attachment",
    "attachment_option",
    "autocomplete",
    "button_press",
    "channel_payload",
    "dispatch",
    "fake_discord",
    "focused",
    "make_http_exception",
    "member_payload",
    "message_payload",
    "modal_submit",
    "modal_submit_for",
    "modal_text_inputs",
    "option",
    "running_bot",
    "select_choice",
    "settled",
    "slash_command",
    "snowflake",
    "start_bot",
    "subcommand",
    "subcommand_group",
    "user_payload",
]

# --------------------------------------------------------------------------------------------
# Ids and defaults
# --------------------------------------------------------------------------------------------

DISCORD_EPOCH_MS = 1420070400000

APPLICATION_ID = 1100000000000000001
"""Application id, also the bot user's id."""
OWNER_ID = 1100000000000000002
GUILD_ID = 1100000000000000003
CHANNEL_ID = 1100000000000000004
USER_ID = 1100000000000000005
DEFAULT_ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024

MEMBER_PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    read_message_history=True,
    embed_links=True,
    attach_files=True,
    add_reactions=True,
    use_application_commands=True,
    use_external_emojis=True,
).value
"""``permissions`` of an ordinary member (no Manage Server, no Administrator)."""
ADMIN_PERMISSIONS = discord.Permissions.all().value
APP_PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    send_messages_in_threads=True,
    read_message_history=True,
    embed_links=True,
    attach_files=True,
    add_reactions=True,
    use_external_emojis=True,
).value
"""``app_permissions`` (what the bot may do in the channel) sent with every interaction."""

_snowflake_seq = itertools.count()
_last_snowflake = 0


def snowflake() -> int:
    """A fresh Discord snowflake; strictly increasing within the process."""
    global _last_snowflake
    now_ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
    candidate = (now_ms << 22) | (next(_snowflake_seq) & 0xFFF)
    _last_snowflake = max(candidate, _last_snowflake + 1)
    return _last_snowflake


def _now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat()


# --------------------------------------------------------------------------------------------
# Recorded calls and errors
# --------------------------------------------------------------------------------------------


@dataclass
class Call:
    """One outgoing request the bot made."""

    method: str
    path: str
    """The concrete path, e.g. ``/channels/123/messages`` (for ``via='cdn'``: the full URL)."""
    route_template: str
    """The discord.py route template, e.g. ``/channels/{channel_id}/messages``."""
    json: Any = None
    """The JSON body: ``json=`` or the ``payload_json`` part of a multipart request."""
    files: list[tuple[str, bytes]] = field(default_factory=list)
    params: dict[str, Any] | None = None
    route_params: dict[str, str] = field(default_factory=dict)
    """Values of the template's placeholders, e.g. ``{"channel_id": "123"}``."""
    via: str = "bot"
    """``'bot'`` (HTTPClient), ``'webhook'`` (AsyncWebhookAdapter) or ``'cdn'``."""
    reason: str | None = None
    status: int = 200
    """The status the fake answered with (an error status when a failure was injected)."""

    @property
    def file_names(self) -> list[str]:
        return [name for name, _ in self.files]


class UnhandledRequest(AssertionError):
    """Raised in strict mode for a route the fake does not know."""


class _FakeResponse:
    """Just enough of ``aiohttp.ClientResponse`` for ``discord.HTTPException``."""

    def __init__(self, status: int, method: str, url: str) -> None:
        self.status = status
        try:
            self.reason = http.HTTPStatus(status).phrase
        except ValueError:
            self.reason = "Unknown"
        self.headers: dict[str, str] = {}
        self.method = method
        self.url = url


def make_http_exception(
    status: int, code: int = 0, message: str = "", *, method: str = "GET", url: str = ""
) -> discord.HTTPException:
    """Exactly the exception discord.py raises for this status and JSON error body."""
    response = cast(Any, _FakeResponse(status, method, url))
    body = {"code": code, "message": message or response.reason}
    if status == 403:
        return discord.Forbidden(response, body)
    if status == 404:
        return discord.NotFound(response, body)
    if status >= 500:
        return discord.DiscordServerError(response, body)
    return discord.HTTPException(response, body)


@dataclass
class _Failure:
    method: str | None
    path_contains: str | None
    status: int
    code: int
    message: str
    times: int

    def matches(self, call: Call) -> bool:
        if self.method is not None and self.method.upper() != call.method:
            return False
        if self.path_contains is not None and not (
            self.path_contains in call.path or self.path_contains in call.route_template
        ):
            return False
        return True


@dataclass
class _InteractionState:
    id: int
    token: str
    payload: dict[str, Any] | None = None
    channel_id: int | None = None
    responded: bool = False
    response_type: int | None = None
    original_id: int | None = None


_CALLBACK = "/interactions/{webhook_id}/{webhook_token}/callback"
_WEBHOOK = "/webhooks/{webhook_id}/{webhook_token}"
_ORIGINAL = "/webhooks/{webhook_id}/{webhook_token}/messages/@original"
_WEBHOOK_MESSAGE = "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}"
_CHANNEL_MESSAGES = "/channels/{channel_id}/messages"
_CHANNEL_MESSAGE = "/channels/{channel_id}/messages/{message_id}"

_template_cache: dict[str, re.Pattern[str]] = {}


def _match_template(template: str, path: str) -> dict[str, str]:
    pattern = _template_cache.get(template)
    if pattern is None:
        parts = re.split(r"\{(\w+)\}", template)
        regex = "".join(
            re.escape(part) if i % 2 == 0 else f"(?P<{part}>[^/]+)" for i, part in enumerate(parts)
        )
        pattern = _template_cache[template] = re.compile(regex + r"\Z")
    m = pattern.match(path)
    if m is None:
        return {}
    return {k: urllib.parse.unquote(v) for k, v in m.groupdict().items()}


def _path_of(route: Route) -> str:
    url = route.url
    if url.startswith(Route.BASE):
        return url[len(Route.BASE) :]
    path = urllib.parse.urlsplit(url).path
    return re.sub(r"^/api(/v\d+)?", "", path)


def _read_files(files: Sequence[discord.File] | None) -> list[tuple[str, bytes]]:
    out: list[tuple[str, bytes]] = []
    for f in files or ():
        f.reset()
        data = f.fp.read()
        f.reset()
        out.append((f.filename, bytes(data)))
    return out


def _payload_json(parts: Iterable[Mapping[str, Any]] | None) -> Any:
    for part in parts or ():
        if part.get("name") == "payload_json":
            value = part["value"]
            return jsonlib.loads(value if isinstance(value, str) else bytes(value).decode())
    return None


# --------------------------------------------------------------------------------------------
# The fake
# --------------------------------------------------------------------------------------------

_Handler = Callable[[Call], Any]


class FakeDiscord:
    """Records and answers every REST request of every discord.py client in the process.

    Install with :meth:`install` / :meth:`uninstall`, ``with FakeDiscord() as fake:`` or the
    ``fake_discord`` fixture. Only one instance can be installed at a time.
    """

    _active: ClassVar[FakeDiscord | None] = None

    def __init__(
        self,
        *,
        strict: bool = False,
        application_id: int = APPLICATION_ID,
        bot_name: str = "TestBot",
        owner_id: int = OWNER_ID,
        default_guild_id: int = GUILD_ID,
    ) -> None:
        self.strict = strict
        self.application_id = application_id
        self.bot_name = bot_name
        self.owner_id = owner_id
        self.default_guild_id = default_guild_id

        self.calls: list[Call] = []
        """Every request, in order (including the ones answered with an injected error)."""
        self.messages: dict[int, dict[str, Any]] = {}
        """Every live message the bot created (or that an interaction referenced), by id."""
        self.deleted_messages: dict[int, dict[str, Any]] = {}
        self.channels: dict[int, dict[str, Any]] = {}
        """Channel objects answered by ``GET /channels/{id}``; filled from interaction payloads."""
        self.commands: dict[int | None, list[dict[str, Any]]] = {}
        """Registered commands as ``tree.sync()`` left them; key ``None`` = global."""
        self.cdn: dict[str, bytes] = {}
        """Bytes served to ``Attachment.read()`` by URL (see :meth:`serve`)."""
        self.unhandled: list[Call] = []
        self.refused: list[tuple[Call, list[str]]] = []
        """Requests answered 400 (50035 Invalid Form Body) for breaking Discord's size rules
        (discord_double/rules.py), with what was wrong."""

        self._failures: list[_Failure] = []
        self._interactions: dict[int, _InteractionState] = {}
        self._tokens: dict[str, int] = {}
        self._expired_tokens: set[str] = set()
        self._nonces: dict[tuple[int, str], int] = {}
        self._dm_channels: dict[int, int] = {}
        self._saved: tuple[Any, Any, Any] | None = None
        self._routes: dict[tuple[str, str], _Handler] = {
            ("GET", "/users/@me"): self._get_me,
            ("GET", "/oauth2/applications/@me"): self._get_application,
            ("GET", "/users/{user_id}"): self._get_user,
            ("POST", "/users/@me/channels"): self._create_dm,
            ("GET", "/channels/{channel_id}"): self._get_channel,
            ("POST", _CHANNEL_MESSAGES): self._channel_send,
            ("GET", _CHANNEL_MESSAGES): self._channel_history,
            ("GET", _CHANNEL_MESSAGE): self._channel_get_message,
            ("PATCH", _CHANNEL_MESSAGE): self._channel_edit_message,
            ("DELETE", _CHANNEL_MESSAGE): self._channel_delete_message,
            ("POST", "/channels/{channel_id}/typing"): self._no_content,
            ("PUT", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me"): (
                self._no_content
            ),
            ("DELETE", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me"): (
                self._no_content
            ),
            ("PUT", "/channels/{channel_id}/pins/{message_id}"): self._no_content,
            ("DELETE", "/channels/{channel_id}/pins/{message_id}"): self._no_content,
            ("PUT", "/applications/{application_id}/commands"): self._sync_commands,
            ("PUT", "/applications/{application_id}/guilds/{guild_id}/commands"): (
                self._sync_commands
            ),
            ("GET", "/applications/{application_id}/commands"): self._get_commands,
            ("GET", "/applications/{application_id}/guilds/{guild_id}/commands"): (
                self._get_commands
            ),
            ("GET", "/guilds/{guild_id}/members/{user_id}"): self._get_member,
            ("POST", _CALLBACK): self._interaction_callback,
            ("POST", _WEBHOOK): self._webhook_execute,
            ("GET", _ORIGINAL): self._original_get,
            ("PATCH", _ORIGINAL): self._original_edit,
            ("DELETE", _ORIGINAL): self._original_delete,
            ("GET", _WEBHOOK_MESSAGE): self._webhook_get_message,
            ("PATCH", _WEBHOOK_MESSAGE): self._webhook_edit_message,
            ("DELETE", _WEBHOOK_MESSAGE): self._webhook_delete_message,
        }

    # ---- installation -------------------------------------------------------------------

    @classmethod
    def active(cls) -> FakeDiscord | None:
        """The installed instance, if any."""
        return cls._active

    def install(self) -> None:
        if FakeDiscord._active is not None:
            raise RuntimeError("another FakeDiscord is already installed")
        self._saved = (
            HTTPClient.request,
            AsyncWebhookAdapter.request,
            HTTPClient.get_from_cdn,
        )
        fake = self

        async def http_request(
            http_self: HTTPClient,
            route: Route,
            *,
            files: Sequence[discord.File] | None = None,
            form: Iterable[dict[str, Any]] | None = None,
            **kwargs: Any,
        ) -> Any:
            body = kwargs.get("json")
            if body is None and form is not None:
                body = _payload_json(form)
            return await fake._handle(
                "bot",
                route,
                body=copy.deepcopy(body),
                files=_read_files(files),
                params=kwargs.get("params"),
                reason=kwargs.get("reason"),
            )

        async def webhook_request(
            adapter_self: AsyncWebhookAdapter,
            route: Route,
            session: Any = None,
            *,
            payload: dict[str, Any] | None = None,
            multipart: list[dict[str, Any]] | None = None,
            proxy: str | None = None,
            proxy_auth: Any = None,
            files: Sequence[discord.File] | None = None,
            reason: str | None = None,
            auth_token: str | None = None,
            params: dict[str, Any] | None = None,
        ) -> Any:
            body: Any = payload
            if body is None and multipart is not None:
                body = _payload_json(multipart)
            return await fake._handle(
                "webhook",
                route,
                body=copy.deepcopy(body),
                files=_read_files(files),
                params=params,
                reason=reason,
            )

        async def get_from_cdn(http_self: HTTPClient, url: str) -> bytes:
            return await fake._cdn_get(url)

        setattr(HTTPClient, "request", http_request)  # noqa: B010
        setattr(AsyncWebhookAdapter, "request", webhook_request)  # noqa: B010
        setattr(HTTPClient, "get_from_cdn", get_from_cdn)  # noqa: B010
        FakeDiscord._active = self

    def uninstall(self) -> None:
        if self._saved is not None:
            http_request, webhook_request, cdn = self._saved
            setattr(HTTPClient, "request", http_request)  # noqa: B010
            setattr(AsyncWebhookAdapter, "request", webhook_request)  # noqa: B010
            setattr(HTTPClient, "get_from_cdn", cdn)  # noqa: B010
            self._saved = None
        if FakeDiscord._active is self:
            FakeDiscord._active = None

    def __enter__(self) -> FakeDiscord:
        self.install()
        return self

    def __exit__(self, *exc: object) -> None:
        self.uninstall()

    # ---- test controls ------------------------------------------------------------------

    def fail(
        self,
        *,
        method: str | None = None,
        path_contains: str | None = None,
        status: int,
        code: int = 0,
        message: str = "",
        times: int = 1,
    ) -> None:
        """Make the next ``times`` matching requests raise what discord.py raises for ``status``.

        ``path_contains`` is matched against the concrete path and the route template, e.g.
        ``"/callback"``, ``"/messages/@original"``, ``"/webhooks/"`` or ``f"/channels/{cid}/"``.
        403 -> ``discord.Forbidden``, 404 -> ``discord.NotFound``, >= 500 ->
        ``discord.DiscordServerError`` (raised at once, without discord.py's retry sleeps),
        anything else -> plain ``discord.HTTPException`` (``.status``, ``.code``, ``.text``).
        """
        if times < 1:
            raise ValueError("times must be >= 1")
        self._failures.append(_Failure(method, path_contains, status, code, message, times))

    def clear_failures(self) -> None:
        self._failures.clear()

    def expire_interaction(self, interaction_id: int) -> None:
        """From now on, webhook requests with this interaction's token answer 401 code 50027."""
        state = self._interactions.get(interaction_id)
        if state is None:
            raise KeyError(f"unknown interaction {interaction_id}")
        self._expired_tokens.add(state.token)

    def serve(self, url: str, content: bytes) -> None:
        """Serve ``content`` for ``url`` to ``Attachment.read()`` / ``Asset.read()``."""
        self.cdn[url] = content

    def add_channel(
        self,
        channel_id: int,
        *,
        guild_id: int | None = None,
        name: str = "general",
        type: int = 0,
    ) -> dict[str, Any]:
        """Register a guild channel for ``GET /channels/{id}`` (``bot.fetch_channel``)."""
        data = channel_payload(
            channel_id, guild_id=guild_id or self.default_guild_id, name=name, type=type
        )
        self.channels[channel_id] = data
        return data

    def register_interaction(self, payload: Mapping[str, Any]) -> None:
        """Remember an INTERACTION_CREATE payload (``dispatch`` does this for you). The same
        payload again is a gateway replay: Discord remembers that it was answered."""
        iid = int(payload["id"])
        if iid in self._interactions and self._interactions[iid].payload is not None:
            return
        token = str(payload["token"])
        raw_channel = payload.get("channel") or {}
        channel_id = raw_channel.get("id") or payload.get("channel_id")
        state = _InteractionState(
            id=iid,
            token=token,
            payload=copy.deepcopy(dict(payload)),
            channel_id=int(channel_id) if channel_id is not None else None,
        )
        self._interactions[iid] = state
        self._tokens[token] = iid
        if raw_channel.get("id") is not None:
            stored = copy.deepcopy(dict(raw_channel))
            if payload.get("guild_id") is not None:
                stored.setdefault("guild_id", payload["guild_id"])
            self.channels.setdefault(int(raw_channel["id"]), stored)
        msg = payload.get("message")
        if msg is not None and int(msg["id"]) not in self.messages:
            self._adopt_message(msg)

    # ---- queries ------------------------------------------------------------------------

    def calls_to(self, method: str | None, template_or_substring: str) -> list[Call]:
        """Calls whose template equals, or whose path or template contains, the given string."""
        wanted = method.upper() if method is not None else None
        return [
            c
            for c in self.calls
            if (wanted is None or c.method == wanted)
            and (
                c.route_template == template_or_substring
                or template_or_substring in c.path
                or template_or_substring in c.route_template
            )
        ]

    def channel_messages(self, channel_id: int) -> list[dict[str, Any]]:
        """Live messages in a channel, oldest first (channel sends, follow-ups, originals)."""
        return sorted(
            (m for m in self.messages.values() if m["channel_id"] == channel_id),
            key=lambda m: int(m["id"]),
        )

    def interaction_responses(self, interaction_id: int) -> list[Call]:
        """The ``POST /interactions/{id}/{token}/callback`` calls for this interaction."""
        return [
            c
            for c in self.calls
            if c.route_template == _CALLBACK
            and c.route_params.get("webhook_id") == str(interaction_id)
        ]

    def interaction_response(self, interaction_id: int) -> dict[str, Any]:
        """The JSON body of the (single, successful) callback of this interaction."""
        ok = [c for c in self.interaction_responses(interaction_id) if c.status < 300]
        if len(ok) != 1:
            raise AssertionError(
                f"interaction {interaction_id} got {len(ok)} successful callbacks, expected 1"
            )
        return cast(dict[str, Any], ok[0].json)

    def modal_sent(self, interaction_id: int) -> dict[str, Any]:
        """The modal (``data`` of the type-9 callback) sent in answer to this interaction."""
        body = self.interaction_response(interaction_id)
        if body.get("type") != 9:
            raise AssertionError(f"interaction {interaction_id} answered type {body.get('type')}")
        return cast(dict[str, Any], body["data"])

    def interaction_messages(self, interaction_id: int) -> list[dict[str, Any]]:
        """Live messages created through this interaction (original first, then follow-ups)."""
        return sorted(
            (m for m in self.messages.values() if m.get("interaction_id") == interaction_id),
            key=lambda m: (m["kind"] != "original", int(m["id"])),
        )

    def original(self, interaction_id: int) -> dict[str, Any] | None:
        state = self._interactions.get(interaction_id)
        if state is None or state.original_id is None:
            return None
        return self.messages.get(state.original_id)

    def followups(self, interaction_id: int) -> list[dict[str, Any]]:
        return [m for m in self.interaction_messages(interaction_id) if m["kind"] == "followup"]

    def api_message(self, message_id: int) -> dict[str, Any]:
        """The message as Discord would deliver it (e.g. as ``button_press(message=...)``)."""
        rec = self.messages[message_id]
        data: dict[str, Any] = {
            "id": str(rec["id"]),
            "channel_id": str(rec["channel_id"]),
            "author": self.bot_user(),
            "content": rec["content"] or "",
            "timestamp": rec["timestamp"],
            "edited_timestamp": rec["edited_timestamp"],
            "tts": rec["tts"],
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": copy.deepcopy(rec["attachment_objects"]),
            "embeds": copy.deepcopy(rec["embeds"]),
            "components": copy.deepcopy(rec["components"]),
            "pinned": False,
            "type": rec["type"],
            "flags": rec["flags"],
        }
        if rec.get("nonce") is not None:
            data["nonce"] = rec["nonce"]
        if rec["kind"] in ("followup", "original", "webhook"):
            data["webhook_id"] = str(rec.get("webhook_id") or self.application_id)
            data["application_id"] = str(self.application_id)
        if rec.get("message_reference"):
            data["message_reference"] = copy.deepcopy(rec["message_reference"])
        return data

    def bot_user(self) -> dict[str, Any]:
        return {
            "id": str(self.application_id),
            "username": self.bot_name,
            "discriminator": "0",
            "global_name": None,
            "avatar": None,
            "bot": True,
            "public_flags": 0,
            "flags": 0,
            "verified": True,
            "mfa_enabled": False,
        }

    # ---- core ---------------------------------------------------------------------------

    async def _handle(
        self,
        via: str,
        route: Route,
        *,
        body: Any,
        files: list[tuple[str, bytes]],
        params: dict[str, Any] | None,
        reason: str | None,
    ) -> Any:
        path = _path_of(route)
        call = Call(
            method=route.method,
            path=path,
            route_template=route.path,
            json=body,
            files=files,
            params=dict(params) if params is not None else None,
            route_params=_match_template(route.path, path),
            via=via,
            reason=reason,
        )
        self.calls.append(call)
        await asyncio.sleep(0)  # let other tasks run, as a real request would

        token = call.route_params.get("webhook_token")
        if via == "webhook" and token is not None and token in self._expired_tokens:
            raise self._error(call, 401, 50027, "Invalid Webhook Token")
        self._raise_injected(call)
        problems = payload_problems(call.method, path, body)
        if problems:
            self.refused.append((call, problems))
            raise self._error(call, 400, 50035, "Invalid Form Body: " + "; ".join(problems))

        handler = self._routes.get((route.method, route.path))
        if handler is None:
            self.unhandled.append(call)
            if self.strict:
                raise UnhandledRequest(f"FakeDiscord has no answer for {route.method} {path}")
            return {}
        return copy.deepcopy(handler(call))

    def _raise_injected(self, call: Call) -> None:
        for failure in self._failures:
            if failure.matches(call):
                failure.times -= 1
                if failure.times <= 0:
                    self._failures.remove(failure)
                raise self._error(call, failure.status, failure.code, failure.message)

    def _error(self, call: Call, status: int, code: int, message: str) -> discord.HTTPException:
        call.status = status
        return make_http_exception(status, code, message, method=call.method, url=call.path)

    async def _cdn_get(self, url: str) -> bytes:
        call = Call(method="GET", path=url, route_template="<cdn>", via="cdn")
        self.calls.append(call)
        await asyncio.sleep(0)
        self._raise_injected(call)
        try:
            return self.cdn[url]
        except KeyError:
            call.status = 404
            response = cast(Any, _FakeResponse(404, "GET", url))
            raise discord.NotFound(response, "asset not found") from None

    # ---- message store ------------------------------------------------------------------

    def _attachment_objects(
        self, channel_id: int, files: list[tuple[str, bytes]]
    ) -> list[dict[str, Any]]:
        out = []
        for name, content in files:
            aid = snowflake()
            url = f"https://cdn.discordapp.com/attachments/{channel_id}/{aid}/{name}"
            self.cdn[url] = content
            out.append(
                {
                    "id": str(aid),
                    "filename": name,
                    "size": len(content),
                    "url": url,
                    "proxy_url": url.replace("cdn.discordapp.com", "media.discordapp.net"),
                    "content_type": mimetypes.guess_type(name)[0] or "application/octet-stream",
                }
            )
        return out

    def _create_message(
        self,
        *,
        channel_id: int,
        payload: Mapping[str, Any],
        files: list[tuple[str, bytes]],
        kind: str,
        interaction_id: int | None = None,
        extra_flags: int = 0,
        message_type: int = 0,
        webhook_id: int | None = None,
    ) -> dict[str, Any]:
        mid = snowflake()
        objects = self._attachment_objects(channel_id, files)
        rec: dict[str, Any] = {
            "id": mid,
            "channel_id": channel_id,
            "kind": kind,
            "content": payload.get("content") or "",
            "embeds": payload.get("embeds") or [],
            "components": payload.get("components") or [],
            "allowed_mentions": payload.get("allowed_mentions"),
            "attachments": [o["filename"] for o in objects],
            "attachment_objects": objects,
            "flags": int(payload.get("flags") or 0) | extra_flags,
            "nonce": payload.get("nonce"),
            "tts": bool(payload.get("tts", False)),
            "message_reference": payload.get("message_reference"),
            "interaction_id": interaction_id,
            "webhook_id": webhook_id,
            "type": message_type,
            "timestamp": _now_iso(),
            "edited_timestamp": None,
        }
        self.messages[mid] = rec
        return rec

    def _adopt_message(self, msg: Mapping[str, Any]) -> dict[str, Any]:
        """Store a message delivered in a payload (e.g. sent by an earlier process)."""
        mid = int(msg["id"])
        objects = copy.deepcopy(list(msg.get("attachments") or []))
        rec: dict[str, Any] = {
            "id": mid,
            "channel_id": int(msg.get("channel_id") or 0),
            "kind": "channel",
            "content": msg.get("content") or "",
            "embeds": copy.deepcopy(msg.get("embeds") or []),
            "components": copy.deepcopy(msg.get("components") or []),
            "allowed_mentions": None,
            "attachments": [o["filename"] for o in objects],
            "attachment_objects": objects,
            "flags": int(msg.get("flags") or 0),
            "nonce": msg.get("nonce"),
            "tts": bool(msg.get("tts", False)),
            "message_reference": msg.get("message_reference"),
            "interaction_id": None,
            "webhook_id": None,
            "type": int(msg.get("type") or 0),
            "timestamp": msg.get("timestamp") or _now_iso(),
            "edited_timestamp": msg.get("edited_timestamp"),
        }
        self.messages[mid] = rec
        return rec

    def _edit_message(
        self, rec: dict[str, Any], payload: Mapping[str, Any] | None, files: list[tuple[str, bytes]]
    ) -> None:
        payload = payload or {}
        if "content" in payload:
            rec["content"] = payload["content"] or ""
        for key in ("embeds", "components"):
            if key in payload:
                rec[key] = payload[key] or []
        if "allowed_mentions" in payload:
            rec["allowed_mentions"] = payload["allowed_mentions"]
        # Editing never changes the ephemeral bit and always ends the "loading" state.
        base = int(payload["flags"] or 0) if "flags" in payload else rec["flags"]
        rec["flags"] = (base & ~(64 | 128)) | (rec["flags"] & 64)
        new_objects = self._attachment_objects(rec["channel_id"], files)
        if "attachments" in payload:
            keep = {
                str(a.get("id"))
                for a in payload["attachments"] or []
                if isinstance(a, Mapping) and a.get("id") is not None
            }
            kept = [o for o in rec["attachment_objects"] if str(o["id"]) in keep]
            rec["attachment_objects"] = kept + new_objects
        else:
            rec["attachment_objects"] = rec["attachment_objects"] + new_objects
        rec["attachments"] = [o["filename"] for o in rec["attachment_objects"]]
        rec["edited_timestamp"] = _now_iso()

    def _delete_message(self, message_id: int) -> None:
        rec = self.messages.pop(message_id, None)
        if rec is not None:
            self.deleted_messages[message_id] = rec

    def _message_or_404(self, call: Call, message_id: int) -> dict[str, Any]:
        rec = self.messages.get(message_id)
        if rec is None:
            raise self._error(call, 404, 10008, "Unknown Message")
        return rec

    # ---- handlers: bot token ------------------------------------------------------------

    def _no_content(self, call: Call) -> None:
        return None

    def _get_me(self, call: Call) -> dict[str, Any]:
        return self.bot_user()

    def _get_application(self, call: Call) -> dict[str, Any]:
        return {
            "id": str(self.application_id),
            "name": self.bot_name,
            "icon": None,
            "description": "",
            "summary": "",
            "bot_public": True,
            "bot_require_code_grant": False,
            "owner": user_payload(self.owner_id, username="owner"),
            "verify_key": "0" * 64,
            "flags": 0,
            "team": None,
            "rpc_origins": [],
            "bot": self.bot_user(),
        }

    def _get_user(self, call: Call) -> dict[str, Any]:
        return user_payload(int(call.route_params["user_id"]))

    def _get_member(self, call: Call) -> dict[str, Any]:
        return member_payload(int(call.route_params["user_id"]))

    def _create_dm(self, call: Call) -> dict[str, Any]:
        recipient = int((call.json or {})["recipient_id"])
        channel_id = self._dm_channels.get(recipient)
        if channel_id is None:
            channel_id = self._dm_channels[recipient] = snowflake()
            self.channels[channel_id] = {
                "id": str(channel_id),
                "type": 1,
                "last_message_id": None,
                "flags": 0,
                "recipients": [user_payload(recipient)],
            }
        return self.channels[channel_id]

    def dm_channel_id(self, user_id: int) -> int | None:
        """The id of the DM channel the bot opened with ``user_id``, if any."""
        return self._dm_channels.get(user_id)

    def _get_channel(self, call: Call) -> dict[str, Any]:
        channel_id = int(call.route_params["channel_id"])
        data = self.channels.get(channel_id)
        if data is None:
            data = self.add_channel(channel_id)
        return data

    def _channel_send(self, call: Call) -> dict[str, Any]:
        channel_id = int(call.route_params["channel_id"])
        payload = call.json or {}
        nonce = payload.get("nonce")
        if nonce is not None and payload.get("enforce_nonce"):
            existing = self._nonces.get((channel_id, str(nonce)))
            if existing is not None and existing in self.messages:
                return self.api_message(existing)
        rec = self._create_message(
            channel_id=channel_id,
            payload=payload,
            files=call.files,
            kind="channel",
            message_type=19 if payload.get("message_reference") else 0,
        )
        if nonce is not None:
            self._nonces[(channel_id, str(nonce))] = rec["id"]
        return self.api_message(rec["id"])

    def _channel_history(self, call: Call) -> list[dict[str, Any]]:
        channel_id = int(call.route_params["channel_id"])
        limit = int((call.params or {}).get("limit", 50))
        newest_first = list(reversed(self.channel_messages(channel_id)))[:limit]
        return [self.api_message(m["id"]) for m in newest_first]

    def _channel_get_message(self, call: Call) -> dict[str, Any]:
        rec = self._message_or_404(call, int(call.route_params["message_id"]))
        return self.api_message(rec["id"])

    def _channel_edit_message(self, call: Call) -> dict[str, Any]:
        rec = self._message_or_404(call, int(call.route_params["message_id"]))
        self._edit_message(rec, call.json, call.files)
        return self.api_message(rec["id"])

    def _channel_delete_message(self, call: Call) -> None:
        self._message_or_404(call, int(call.route_params["message_id"]))
        self._delete_message(int(call.route_params["message_id"]))

    def _sync_commands(self, call: Call) -> list[dict[str, Any]]:
        guild = call.route_params.get("guild_id")
        guild_id = int(guild) if guild is not None else None
        previous = {(c["name"], c.get("type", 1)): c for c in self.commands.get(guild_id, [])}
        out = []
        for cmd in call.json or []:
            echoed = copy.deepcopy(cmd)
            echoed.setdefault("type", 1)
            old = previous.get((echoed["name"], echoed["type"]))
            echoed["id"] = old["id"] if old else str(snowflake())
            echoed["application_id"] = str(self.application_id)
            echoed["version"] = str(snowflake())
            perms = echoed.get("default_member_permissions")
            echoed["default_member_permissions"] = str(perms) if perms is not None else None
            if guild_id is not None:
                echoed["guild_id"] = str(guild_id)
            out.append(echoed)
        self.commands[guild_id] = out
        return out

    def _get_commands(self, call: Call) -> list[dict[str, Any]]:
        guild = call.route_params.get("guild_id")
        return self.commands.get(int(guild) if guild is not None else None, [])

    # ---- handlers: interactions and webhooks --------------------------------------------

    def _interaction_for(self, call: Call) -> _InteractionState | None:
        token = call.route_params.get("webhook_token", "")
        iid = self._tokens.get(token)
        return self._interactions.get(iid) if iid is not None else None

    def _interaction_callback(self, call: Call) -> dict[str, Any]:
        iid = int(call.route_params["webhook_id"])
        token = call.route_params["webhook_token"]
        state = self._interactions.get(iid)
        if state is None:
            state = self._interactions[iid] = _InteractionState(id=iid, token=token)
            self._tokens[token] = iid
        if state.responded:
            raise self._error(call, 400, 40060, "Interaction has already been acknowledged.")
        body = call.json or {}
        rtype = int(body.get("type", 0))
        data: Mapping[str, Any] = body.get("data") or {}
        state.responded = True
        state.response_type = rtype
        itype = int((state.payload or {}).get("type", 2))
        channel_id = state.channel_id or 0
        message_id: int | None = None
        if rtype in (4, 5):
            rec = self._create_message(
                channel_id=channel_id,
                payload=data if rtype == 4 else {"flags": int(data.get("flags") or 0) & 64},
                files=call.files if rtype == 4 else [],
                kind="original",
                interaction_id=iid,
                extra_flags=128 if rtype == 5 else 0,
                message_type=20 if itype == 2 else 0,
                webhook_id=self.application_id,
            )
            message_id = state.original_id = rec["id"]
        elif rtype in (6, 7):
            source = (state.payload or {}).get("message")
            if source is not None:
                message_id = int(source["id"])
                rec = self.messages.get(message_id) or self._adopt_message(source)
                if rtype == 7:
                    self._edit_message(rec, data, call.files)
                state.original_id = message_id
        answer: dict[str, Any] = {
            "interaction": {
                "id": str(iid),
                "type": itype,
                "response_message_loading": rtype == 5,
                "response_message_ephemeral": bool(int(data.get("flags") or 0) & 64),
            },
            "resource": {"type": rtype},
        }
        if message_id is not None:
            answer["interaction"]["response_message_id"] = str(message_id)
            answer["resource"]["message"] = self.api_message(message_id)
        return answer

    def _webhook_execute(self, call: Call) -> dict[str, Any]:
        state = self._interaction_for(call)
        payload = call.json or {}
        if state is None:
            rec = self._create_message(
                channel_id=int((call.params or {}).get("thread_id") or 0),
                payload=payload,
                files=call.files,
                kind="webhook",
                webhook_id=int(call.route_params["webhook_id"]),
            )
            return self.api_message(rec["id"])
        if not state.responded:
            raise self._error(call, 404, 10015, "Unknown Webhook")
        itype = int((state.payload or {}).get("type", 2))
        rec = self._create_message(
            channel_id=state.channel_id or 0,
            payload=payload,
            files=call.files,
            kind="followup",
            interaction_id=state.id,
            message_type=20 if itype == 2 else 0,
            webhook_id=self.application_id,
        )
        return self.api_message(rec["id"])

    def _original_or_404(self, call: Call) -> dict[str, Any]:
        state = self._interaction_for(call)
        if state is None or state.original_id is None:
            raise self._error(call, 404, 10008, "Unknown Message")
        return self._message_or_404(call, state.original_id)

    def _original_get(self, call: Call) -> dict[str, Any]:
        return self.api_message(self._original_or_404(call)["id"])

    def _original_edit(self, call: Call) -> dict[str, Any]:
        rec = self._original_or_404(call)
        self._edit_message(rec, call.json, call.files)
        return self.api_message(rec["id"])

    def _original_delete(self, call: Call) -> None:
        self._delete_message(self._original_or_404(call)["id"])

    def _webhook_get_message(self, call: Call) -> dict[str, Any]:
        rec = self._message_or_404(call, int(call.route_params["message_id"]))
        return self.api_message(rec["id"])

    def _webhook_edit_message(self, call: Call) -> dict[str, Any]:
        rec = self._message_or_404(call, int(call.route_params["message_id"]))
        self._edit_message(rec, call.json, call.files)
        return self.api_message(rec["id"])

    def _webhook_delete_message(self, call: Call) -> None:
        rec = self._message_or_404(call, int(call.route_params["message_id"]))
        self._delete_message(rec["id"])


@pytest.fixture
def fake_discord() -> Iterator[FakeDiscord]:
    """An installed :class:`FakeDiscord`, uninstalled after the test. The test fails if the bot
    sent anything over Discord's size limits, even where the bot caught the 400 and went on (a
    test that sends one on purpose clears :attr:`FakeDiscord.refused`)."""
    fake = FakeDiscord()
    with fake:
        yield fake
    if fake.refused:
        refusals = "\n".join(
            f"{call.method} {call.route_template}: {'; '.join(problems)}"
            for call, problems in fake.refused
        )
        pytest.fail(f"Discord would have refused {len(fake.refused)} request(s):\n{refusals}")


# --------------------------------------------------------------------------------------------
# Driving a bot
# --------------------------------------------------------------------------------------------


async def start_bot(bot: discord.Client, fake: FakeDiscord) -> None:
    """Log ``bot`` in against the fake (runs ``setup_hook``). No gateway connection is made."""
    if FakeDiscord.active() is not fake:
        raise RuntimeError("install the FakeDiscord before start_bot (it would hit discord.com)")
    await bot.login("fake-token")


@contextlib.asynccontextmanager
async def running_bot(bot: discord.Client, fake: FakeDiscord) -> AsyncIterator[discord.Client]:
    """``start_bot`` then, on exit, ``bot.close()`` (closes its aiohttp session)."""
    await start_bot(bot, fake)
    try:
        yield bot
    finally:
        await bot.close()


def _is_long_lived(task: asyncio.Task[Any]) -> bool:
    coro = task.get_coro()
    qualname = getattr(coro, "__qualname__", "")
    # View/Modal timeout watchers, tasks.loop bodies and a loopback aiohttp server's keep-alive
    # connection handlers (a simulator in the same process) never finish on their own.
    return "__timeout_task_impl" in qualname or qualname in ("Loop._loop", "RequestHandler.start")


class TaskTracker:
    """Records every task created on the running loop while installed (via the task factory).

    ``with TaskTracker() as tracker: ...; await tracker.settle()``; or use :func:`settled`.
    """

    def __init__(self) -> None:
        self.tasks: list[asyncio.Task[Any]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._previous: Any = None

    def __enter__(self) -> TaskTracker:
        loop = self._loop = asyncio.get_running_loop()
        previous = self._previous = loop.get_task_factory()

        def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
            if previous is not None:
                task = cast("asyncio.Task[Any]", previous(loop, coro, **kwargs))
            else:
                task = asyncio.Task(coro, loop=loop, **kwargs)
            self.tasks.append(task)
            return task

        loop.set_task_factory(factory)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None:
            self._loop.set_task_factory(self._previous)
            self._loop = None

    async def settle(
        self,
        *,
        max_wait: float = 5.0,
        ignore: Callable[[asyncio.Task[Any]], bool] | None = None,
        reraise: bool = True,
    ) -> None:
        """Wait until the recorded tasks (and the tasks they create) are done.

        View/modal timeout watchers and ``tasks.loop`` loops are skipped; ``ignore`` skips more.
        On timeout the stragglers are cancelled and ``TimeoutError`` names them. With
        ``reraise``, the first exception that escaped a recorded task is raised here (discord.py
        catches and logs the ones in its own handlers; those never get here: check ``caplog``).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max_wait
        while True:
            await asyncio.sleep(0)
            pending = {
                t
                for t in self.tasks
                if not t.done() and not _is_long_lived(t) and not (ignore is not None and ignore(t))
            }
            if not pending:
                break
            remaining = deadline - loop.time()
            if remaining <= 0:
                names = sorted(t.get_name() for t in pending)
                for t in pending:
                    t.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
                raise TimeoutError(
                    f"tasks still running after {max_wait}s: {names}; "
                    "pass ignore=... for tasks meant to outlive the interaction"
                )
            await asyncio.wait(pending, timeout=remaining)
        if reraise:
            for t in self.tasks:
                if t.done() and not t.cancelled() and t.exception() is not None:
                    raise cast(BaseException, t.exception())


@contextlib.asynccontextmanager
async def settled(
    *,
    max_wait: float = 5.0,
    ignore: Callable[[asyncio.Task[Any]], bool] | None = None,
    reraise: bool = True,
) -> AsyncIterator[TaskTracker]:
    """Run the body, then wait for every task it started (see :meth:`TaskTracker.settle`).

    For flows other than interactions: ``async with settled(): bot.dispatch("my_event")``.
    """
    with TaskTracker() as tracker:
        yield tracker
        await tracker.settle(max_wait=max_wait, ignore=ignore, reraise=reraise)


async def dispatch(
    bot: discord.Client,
    payload: dict[str, Any],
    *,
    max_wait: float = 5.0,
    ignore: Callable[[asyncio.Task[Any]], bool] | None = None,
    reraise: bool = True,
) -> list[Call]:
    """Feed an INTERACTION_CREATE payload to ``bot`` and wait for everything it started
    (``CommandTree-invoker``, ``discord-ui-*`` dispatch tasks, their children).

    Returns the calls recorded while handling it.
    """
    fake = FakeDiscord.active()
    if fake is None:
        raise RuntimeError("no FakeDiscord installed")
    fake.register_interaction(payload)
    start = len(fake.calls)
    async with settled(max_wait=max_wait, ignore=ignore, reraise=reraise):
        bot._connection.parsers["INTERACTION_CREATE"](payload)
    return fake.calls[start:]


async def guild_available(
    bot: discord.Client, guild_id: int = GUILD_ID, *, preferred_locale: str = "en-US"
) -> None:
    """Feed a GUILD_CREATE for ``guild_id`` (as the gateway sends one per server at start), so
    that ``bot.get_guild()`` knows it and its language."""
    payload = {
        "id": str(guild_id), "name": "Test server", "owner_id": str(OWNER_ID), "icon": None,
        "preferred_locale": preferred_locale, "features": [], "roles": [], "emojis": [],
        "stickers": [], "channels": [], "threads": [], "members": [], "voice_states": [],
        "presences": [], "stage_instances": [], "guild_scheduled_events": [],
        "soundboard_sounds": [], "member_count": 2, "large": False, "unavailable": False,
        "joined_at": "2024-01-01T00:00:00+00:00", "mfa_level": 0, "nsfw_level": 0,
        "premium_tier": 0, "system_channel_flags": 0, "verification_level": 0,
        "default_message_notifications": 0, "explicit_content_filter": 0,
    }  # fmt: skip
    async with settled():
        bot._connection.parsers["GUILD_CREATE"](payload)


# --------------------------------------------------------------------------------------------
# Payload builders (shapes as the gateway sends them)
# --------------------------------------------------------------------------------------------


def _token() -> str:
    return f"fake-interaction-token-{snowflake()}"


def user_payload(
    user_id: int = USER_ID,
    *,
    username: str | None = None,
    global_name: str | None = None,
    bot: bool = False,
) -> dict[str, Any]:
    return {
        "id": str(user_id),
        "username": username or f"user{user_id % 10000}",
        "discriminator": "0",
        "global_name": global_name,
        "avatar": None,
        "bot": bot,
        "public_flags": 0,
    }


def member_payload(
    user_id: int = USER_ID,
    *,
    roles: Sequence[int] = (),
    permissions: int | None = None,
    nick: str | None = None,
    username: str | None = None,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "user": user_payload(user_id, username=username),
        "roles": [str(r) for r in roles],
        "nick": nick,
        "avatar": None,
        "joined_at": "2024-01-01T00:00:00+00:00",
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "pending": False,
        "flags": 0,
        "communication_disabled_until": None,
    }
    if permissions is not None:
        data["permissions"] = str(permissions)
    return data


def channel_payload(
    channel_id: int = CHANNEL_ID,
    *,
    guild_id: int | None = GUILD_ID,
    name: str = "general",
    type: int = 0,
    position: int = 0,
    permissions: int | None = None,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(channel_id),
        "type": type,
        "name": name,
        "position": position,
        "nsfw": False,
        "topic": None,
        "parent_id": None,
        "rate_limit_per_user": 0,
        "last_message_id": None,
        "permission_overwrites": [],
        "flags": 0,
    }
    if guild_id is not None:
        data["guild_id"] = str(guild_id)
    if permissions is not None:
        data["permissions"] = str(permissions)
    return data


def message_payload(
    *,
    channel_id: int = CHANNEL_ID,
    content: str = "",
    components: list[dict[str, Any]] | None = None,
    embeds: list[dict[str, Any]] | None = None,
    message_id: int | None = None,
    author: dict[str, Any] | None = None,
    flags: int = 0,
    application_id: int = APPLICATION_ID,
) -> dict[str, Any]:
    """A message as Discord delivers it, e.g. one the bot posted in an earlier process.

    ``author`` defaults to the bot user. For messages the fake created use
    ``fake.api_message(message_id)`` instead.
    """
    return {
        "id": str(message_id or snowflake()),
        "channel_id": str(channel_id),
        "author": author
        or {
            "id": str(application_id),
            "username": "TestBot",
            "discriminator": "0",
            "avatar": None,
            "bot": True,
        },
        "content": content,
        "timestamp": _now_iso(),
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": embeds or [],
        "components": components or [],
        "pinned": False,
        "type": 0,
        "flags": flags,
    }


def attachment(
    id: int | None = None,
    filename: str = "image.png",
    size: int = 1024,
    content_type: str | None = "image/png",
    url: str | None = None,
    *,
    width: int | None = 512,
    height: int | None = 512,
) -> dict[str, Any]:
    """A resolved attachment object (``data.resolved.attachments[id]``)."""
    aid = id or snowflake()
    url = url or f"https://cdn.discordapp.com/ephemeral-attachments/1/{aid}/{filename}"
    data: dict[str, Any] = {
        "id": str(aid),
        "filename": filename,
        "size": size,
        "url": url,
        "proxy_url": url.replace("cdn.discordapp.com", "media.discordapp.net"),
        "ephemeral": True,
    }
    if content_type is not None:
        data["content_type"] = content_type
    if width is not None and height is not None:
        data["width"] = width
        data["height"] = height
    return data


def option(name: str, value: Any, type: int | None = None) -> dict[str, Any]:
    """A command option. ``type`` is inferred for bool (5), int (4), float (10) and str (3).

    Other types: 6 user, 7 channel, 8 role, 9 mentionable, 11 attachment (value = the id; users,
    channels and roles are resolved automatically by ``slash_command``; attachments need
    ``attachments=`` or use :func:`attachment_option`).
    """
    if type is None:
        if isinstance(value, bool):
            type = 5
        elif isinstance(value, int):
            type = 4
        elif isinstance(value, float):
            type = 10
        elif isinstance(value, str):
            type = 3
        else:
            raise TypeError(f"cannot infer the option type of {value!r}; pass type=")
    if type in (6, 7, 8, 9, 11):
        value = str(value)
    return {"name": name, "type": type, "value": value}


def attachment_option(name: str, att: Mapping[str, Any]) -> dict[str, Any]:
    """An attachment option; ``slash_command`` adds ``att`` to ``data.resolved.attachments``."""
    opt = option(name, att["id"], 11)
    opt["_attachment"] = dict(att)
    return opt


def focused(name: str, value: Any = "", type: int = 3) -> dict[str, Any]:
    """The option being typed in an autocomplete request (value is the partial input)."""
    return {"name": name, "type": type, "value": value, "focused": True}


def subcommand(name: str, options: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"name": name, "type": 1, "options": options or []}


def subcommand_group(name: str, subcommands: list[dict[str, Any]]) -> dict[str, Any]:
    return {"name": name, "type": 2, "options": subcommands}


def _walk_options(options: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for opt in options:
        yield opt
        if opt.get("type") in (1, 2):
            yield from _walk_options(opt.get("options") or [])


def _resolve(
    options: list[dict[str, Any]],
    guild_id: int | None,
    resolved: dict[str, Any],
) -> None:
    for opt in _walk_options(options):
        att = opt.pop("_attachment", None)
        if att is not None:
            resolved.setdefault("attachments", {})[str(att["id"])] = att
        kind, value = opt.get("type"), opt.get("value")
        if value is None or opt.get("focused"):
            continue
        if kind in (6, 9):
            resolved.setdefault("users", {}).setdefault(str(value), user_payload(int(value)))
            if guild_id is not None:
                member = member_payload(int(value))
                del member["user"]
                resolved.setdefault("members", {}).setdefault(str(value), member)
        elif kind == 7:
            resolved.setdefault("channels", {}).setdefault(
                str(value),
                {
                    "id": str(value),
                    "name": f"channel-{int(value) % 10000}",
                    "type": 0,
                    "permissions": str(APP_PERMISSIONS),
                },
            )
        elif kind == 8:
            resolved.setdefault("roles", {}).setdefault(
                str(value),
                {"id": str(value), "name": f"role-{int(value) % 10000}", "permissions": "0"},
            )


def _base_interaction(
    itype: int,
    data: dict[str, Any],
    *,
    user_id: int,
    guild_id: int | None,
    channel_id: int,
    permissions: int,
    locale: str,
    roles: Sequence[int],
    interaction_id: int | None,
    application_id: int,
    app_permissions: int,
    guild_locale: str,
    username: str | None,
    attachment_size_limit: int,
    message: dict[str, Any] | None = None,
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": str(interaction_id or snowflake()),
        "application_id": str(application_id),
        "type": itype,
        "data": data,
        "token": _token(),
        "version": 1,
        "locale": locale,
        "attachment_size_limit": attachment_size_limit,
        "app_permissions": str(app_permissions),
        "entitlements": [],
        "entitlement_sku_ids": [],
        "channel_id": str(channel_id),
    }
    if guild_id is not None:
        payload.update(
            guild_id=str(guild_id),
            guild_locale=guild_locale,
            guild={"id": str(guild_id), "locale": guild_locale, "features": []},
            member=member_payload(user_id, roles=roles, permissions=permissions, username=username),
            channel=channel_payload(channel_id, guild_id=guild_id, permissions=permissions),
            authorizing_integration_owners={"0": str(guild_id)},
            context=0,
        )
    else:
        user = user_payload(user_id, username=username)
        payload.update(
            user=user,
            channel={
                "id": str(channel_id),
                "type": 1,
                "last_message_id": None,
                "flags": 0,
                "recipients": [user],
            },
            authorizing_integration_owners={"0": "0"},
            context=1,
        )
    if message is not None:
        payload["message"] = message
    return payload


def slash_command(
    name: str,
    options: list[dict[str, Any]] | None = None,
    *,
    user_id: int = USER_ID,
    guild_id: int | None = GUILD_ID,
    channel_id: int = CHANNEL_ID,
    permissions: int = MEMBER_PERMISSIONS,
    locale: str = "en-US",
    guild_locale: str = "en-US",
    attachments: Mapping[str, dict[str, Any]] | None = None,
    resolved: Mapping[str, Any] | None = None,
    roles: Sequence[int] = (),
    interaction_id: int | None = None,
    application_id: int = APPLICATION_ID,
    command_id: int | None = None,
    command_guild_id: int | None = None,
    app_permissions: int = APP_PERMISSIONS,
    username: str | None = None,
    attachment_size_limit: int = DEFAULT_ATTACHMENT_SIZE_LIMIT,
    _interaction_type: int = 2,
) -> dict[str, Any]:
    """An APPLICATION_COMMAND (type 2) INTERACTION_CREATE payload.

    ``guild_id=None`` makes it a DM with the bot (``user`` instead of ``member``).
    ``command_guild_id`` must be set for commands registered to one guild only
    (``@app_commands.guilds(...)`` / ``tree.add_command(..., guild=...)``).
    """
    opts = copy.deepcopy(options or [])
    res: dict[str, Any] = copy.deepcopy(dict(resolved or {}))
    if attachments:
        res.setdefault("attachments", {}).update(copy.deepcopy(dict(attachments)))
    _resolve(opts, guild_id, res)
    data: dict[str, Any] = {
        "id": str(command_id or snowflake()),
        "name": name,
        "type": 1,
        "options": opts,
    }
    if res:
        data["resolved"] = res
    if command_guild_id is not None:
        data["guild_id"] = str(command_guild_id)
    return _base_interaction(
        _interaction_type,
        data,
        user_id=user_id,
        guild_id=guild_id,
        channel_id=channel_id,
        permissions=permissions,
        locale=locale,
        roles=roles,
        interaction_id=interaction_id,
        application_id=application_id,
        app_permissions=app_permissions,
        guild_locale=guild_locale,
        username=username,
        attachment_size_limit=attachment_size_limit,
    )


def autocomplete(name: str, options: list[dict[str, Any]], **kwargs: Any) -> dict[str, Any]:
    """An APPLICATION_COMMAND_AUTOCOMPLETE (type 4) payload; exactly one option must be
    :func:`focused` (possibly inside :func:`subcommand`). Keyword arguments as ``slash_command``.
    """
    if sum(1 for o in _walk_options(options) if o.get("focused")) != 1:
        raise ValueError("autocomplete needs exactly one focused option")
    return slash_command(name, options, _interaction_type=4, **kwargs)


def _component_interaction(
    itype: int,
    data: dict[str, Any],
    *,
    message: dict[str, Any] | None,
    user_id: int,
    guild_id: int | None,
    channel_id: int | None,
    permissions: int,
    locale: str,
    roles: Sequence[int],
    interaction_id: int | None,
    application_id: int,
    app_permissions: int,
    guild_locale: str,
    username: str | None,
    attachment_size_limit: int,
) -> dict[str, Any]:
    if channel_id is None:
        channel_id = int(message["channel_id"]) if message is not None else CHANNEL_ID
    return _base_interaction(
        itype,
        data,
        user_id=user_id,
        guild_id=guild_id,
        channel_id=channel_id,
        permissions=permissions,
        locale=locale,
        roles=roles,
        interaction_id=interaction_id,
        application_id=application_id,
        app_permissions=app_permissions,
        guild_locale=guild_locale,
        username=username,
        attachment_size_limit=attachment_size_limit,
        message=copy.deepcopy(message) if message is not None else None,
    )


def button_press(
    custom_id: str,
    *,
    message: dict[str, Any],
    component_type: int = 2,
    values: list[str] | None = None,
    user_id: int = USER_ID,
    guild_id: int | None = GUILD_ID,
    channel_id: int | None = None,
    permissions: int = MEMBER_PERMISSIONS,
    locale: str = "en-US",
    guild_locale: str = "en-US",
    roles: Sequence[int] = (),
    interaction_id: int | None = None,
    application_id: int = APPLICATION_ID,
    app_permissions: int = APP_PERMISSIONS,
    username: str | None = None,
    attachment_size_limit: int = DEFAULT_ATTACHMENT_SIZE_LIMIT,
) -> dict[str, Any]:
    """A MESSAGE_COMPONENT (type 3) payload for a button (or, with ``component_type``/``values``,
    a select) on ``message`` (``fake.api_message(id)`` or :func:`message_payload`).
    ``channel_id`` defaults to the message's channel.
    """
    data: dict[str, Any] = {"custom_id": custom_id, "component_type": component_type}
    if values is not None:
        data["values"] = values
    return _component_interaction(
        3,
        data,
        message=message,
        user_id=user_id,
        guild_id=guild_id,
        channel_id=channel_id,
        permissions=permissions,
        locale=locale,
        roles=roles,
        interaction_id=interaction_id,
        application_id=application_id,
        app_permissions=app_permissions,
        guild_locale=guild_locale,
        username=username,
        attachment_size_limit=attachment_size_limit,
    )


def select_choice(
    custom_id: str, values: list[str], *, message: dict[str, Any], **kwargs: Any
) -> dict[str, Any]:
    """A string-select (component type 3) interaction choosing ``values``."""
    return button_press(custom_id, message=message, component_type=3, values=values, **kwargs)


def modal_submit(
    custom_id: str,
    fields: Mapping[str, str | list[str]],
    *,
    message: dict[str, Any] | None = None,
    user_id: int = USER_ID,
    guild_id: int | None = GUILD_ID,
    channel_id: int | None = None,
    permissions: int = MEMBER_PERMISSIONS,
    locale: str = "en-US",
    guild_locale: str = "en-US",
    roles: Sequence[int] = (),
    interaction_id: int | None = None,
    application_id: int = APPLICATION_ID,
    app_permissions: int = APP_PERMISSIONS,
    username: str | None = None,
    attachment_size_limit: int = DEFAULT_ATTACHMENT_SIZE_LIMIT,
) -> dict[str, Any]:
    """A MODAL_SUBMIT (type 5) payload. ``fields`` maps a text input's custom_id to its value
    (a list of strings for a select inside the modal).
    """
    rows: list[dict[str, Any]] = []
    for cid, value in fields.items():
        if isinstance(value, list):
            comp: dict[str, Any] = {"type": 3, "custom_id": cid, "values": value}
        else:
            comp = {"type": 4, "custom_id": cid, "value": value}
        rows.append({"type": 1, "components": [comp]})
    return _component_interaction(
        5,
        {"custom_id": custom_id, "components": rows},
        message=message,
        user_id=user_id,
        guild_id=guild_id,
        channel_id=channel_id,
        permissions=permissions,
        locale=locale,
        roles=roles,
        interaction_id=interaction_id,
        application_id=application_id,
        app_permissions=app_permissions,
        guild_locale=guild_locale,
        username=username,
        attachment_size_limit=attachment_size_limit,
    )


def modal_text_inputs(modal: Mapping[str, Any]) -> dict[str, str]:
    """``{label: custom_id}`` of the text inputs of a sent modal (``fake.modal_sent(iid)``);
    handles both action-row and ``discord.ui.Label`` layouts.
    """
    out: dict[str, str] = {}

    def walk(components: Iterable[Mapping[str, Any]], label: str | None) -> None:
        for comp in components:
            if comp.get("type") == 18:
                walk([comp["component"]], comp.get("label"))
            elif comp.get("type") == 1:
                walk(comp.get("components") or [], None)
            elif comp.get("type") == 4:
                out[str(label or comp.get("label"))] = comp["custom_id"]

    walk(modal.get("components") or [], None)
    return out


def modal_submit_for(
    modal: Mapping[str, Any], values: Mapping[str, str], **kwargs: Any
) -> dict[str, Any]:
    """A submit of a sent modal; ``values`` is keyed by text-input label or custom_id."""
    by_label = modal_text_inputs(modal)
    fields: dict[str, str | list[str]] = {}
    for key, value in values.items():
        fields[by_label.get(key, key)] = value
    return modal_submit(str(modal["custom_id"]), fields, **kwargs)
