"""A process-level stand-in for Discord: REST API and gateway on one loopback aiohttp server.

Unlike ``tests/discord_fake.py`` (which patches discord.py inside the test process), this is a
real server that a bot running in *another process* talks to over HTTP and a websocket, the way
it talks to Discord. Point the bot at it with ``discord.http.Route.BASE = standin.api_base``
(the bot does this from ``DISCORD_API_BASE_URL``) and make discord.py's websocket connect to
:attr:`DiscordStandIn.gateway_url`.

REST (under ``/api/v10``, any ``/api/v<n>`` is accepted) answers as Discord does, closely enough
for discord.py's parsers, always with ``Content-Type: application/json`` exactly:

* ``GET /users/@me``, ``GET /oauth2/applications/@me``, ``GET /gateway``, ``GET /gateway/bot``
* ``PUT``/``GET /applications/{app}/commands`` and ``/applications/{app}/guilds/{g}/commands``
* ``POST /interactions/{id}/{token}/callback`` (types 4, 5, 6, 7, 8, 9)
* ``POST /webhooks/{app}/{token}`` (follow-ups), ``GET``/``PATCH``/``DELETE``
  ``/webhooks/{app}/{token}/messages/@original`` and ``.../messages/{id}``
* ``POST``/``GET /channels/{id}/messages``, ``GET``/``PATCH``/``DELETE
  /channels/{id}/messages/{mid}`` (``nonce`` + ``enforce_nonce``: a repeated nonce in a channel
  returns the message that nonce already made), ``GET /channels/{id}``
* ``POST /users/@me/channels`` (DM channels), ``GET /users/{id}``

Files above :attr:`DiscordStandIn.upload_limit` are refused with 413 (code 40005), and a payload
over one of Discord's size limits (discord_double/rules.py) with 400 (code 50035).

Every request is recorded as a :class:`Request` (method, path, query, JSON body or the
``payload_json`` part of a multipart body, file parts, answered status). Messages are kept per
channel in :attr:`DiscordStandIn.messages`; each record also keeps the ``allowed_mentions`` and
``nonce`` it was sent with and the users Discord would actually ping (``mentions``).

Gateway (``ws://127.0.0.1:PORT/gateway``): HELLO, heartbeat ACKs, READY on IDENTIFY (one session
per IDENTIFY, ``guilds: []`` or one unavailable guild followed by GUILD_CREATE), RESUMED on a
RESUME of a known session (else op 9, invalid session), and :meth:`DiscordStandIn.send_interaction`
to push an ``INTERACTION_CREATE`` with the next sequence number. Frames are plain JSON text:
discord.py decompresses only binary frames, so ``compress=zlib-stream`` in the URL is ignored.

Use in a test::

    async with DiscordStandIn() as discord_api:
        ...start the bot with DISCORD_API_BASE_URL=discord_api.api_base...
        await discord_api.wait_for_ready()
        await discord_api.send_interaction(slash_command("video", [option("prompt", "a fox")]))

or by hand: ``python -m tests.discord_standin --port 8790``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import datetime
import itertools
import json
import logging
import re
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, WSMsgType, web

from discord_double.rules import payload_problems

__all__ = [
    "API_PREFIX",
    "APPLICATION_ID",
    "DiscordStandIn",
    "GatewayConnection",
    "Hold",
    "Request",
    "wait_until",
]

log = logging.getLogger(__name__)

API_PREFIX = "/api/v10"
APPLICATION_ID = 1100000000000000001
"""Application id, also the bot user's id (the same as tests/discord_fake.py)."""
OWNER_ID = 1100000000000000002
DISCORD_EPOCH_MS = 1420070400000

_API_PATH = re.compile(r"^/api/v\d+(/.*)$")
_USER_MENTION = re.compile(r"<@!?(\d+)>")
_JSON = "application/json"


# --------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------


@dataclass
class Request:
    """One REST request the stand-in received."""

    method: str
    path: str
    """Relative to the API prefix, e.g. ``/channels/123/messages``."""
    query: dict[str, str]
    json: Any
    """The JSON body, or the ``payload_json`` part of a multipart body; None without a body."""
    files: list[tuple[str, bytes]] = field(default_factory=list)
    bot_auth: bool = False
    """Whether it carried an ``Authorization: Bot ...`` header (the token itself is not kept)."""
    status: int = 0
    """The status the stand-in answered with."""


@dataclass
class _Interaction:
    id: int
    token: str
    payload: dict[str, Any]
    channel_id: int | None
    responded: bool = False
    response_type: int | None = None
    original_id: int | None = None


@dataclass
class _Session:
    id: str
    seq: int = 0
    identify: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Failure:
    method: str | None
    path_contains: str | None
    status: int
    code: int
    message: str
    times: int


@dataclass
class Hold:
    """Matching requests take effect at once but get no answer until :meth:`release`: a client
    that dies meanwhile never learns that its request succeeded."""

    method: str | None
    path_contains: str | None
    held: list[Request] = field(default_factory=list)
    released: asyncio.Event = field(default_factory=asyncio.Event)

    def matches(self, rec: Request) -> bool:
        return (self.method is None or self.method == rec.method) and (
            self.path_contains is None or self.path_contains in rec.path
        )

    def release(self) -> None:
        self.released.set()


class _HTTPError(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class GatewayConnection:
    """One websocket connection to the gateway."""

    id: int
    ws: web.WebSocketResponse
    query: dict[str, str]
    received: list[dict[str, Any]] = field(default_factory=list)
    """Every payload the client sent, in order (IDENTIFY includes the client's token)."""
    session: _Session | None = None
    closed: bool = False
    close_code: int | None = None

    @property
    def ops(self) -> list[int]:
        return [int(p.get("op", -1)) for p in self.received]


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------

_snowflake_seq = itertools.count()
_last_snowflake = 0


def snowflake() -> int:
    """A fresh snowflake, strictly increasing within this process."""
    global _last_snowflake
    candidate = ((int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22) | (
        next(_snowflake_seq) & 0xFFF
    )
    _last_snowflake = max(candidate, _last_snowflake + 1)
    return _last_snowflake


def _now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat()


def _json_response(data: Any, status: int = 200) -> web.Response:
    # Exactly "application/json": discord.py decodes nothing else (json_response adds a charset).
    return web.Response(
        status=status, body=json.dumps(data).encode(), headers={"Content-Type": _JSON}
    )


def _user(user_id: int, *, username: str | None = None, bot: bool = False) -> dict[str, Any]:
    return {
        "id": str(user_id),
        "username": username or f"user{user_id % 10000}",
        "discriminator": "0",
        "global_name": None,
        "avatar": None,
        "bot": bot,
        "public_flags": 0,
    }


async def wait_until(
    predicate: Callable[[], Any],
    *,
    within: float,
    what: str,
    interval: float = 0.05,
    details: Callable[[], str] | None = None,
) -> Any:
    """Poll ``predicate`` until it returns something truthy (returned) or ``within`` seconds pass
    (AssertionError naming ``what``, plus ``details()`` to explain the state)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        result = predicate()
        if result:
            return result
        if loop.time() >= deadline:
            extra = f"\n{details()}" if details is not None else ""
            raise AssertionError(f"timed out after {within:.0f}s waiting for {what}{extra}")
        await asyncio.sleep(interval)


# --------------------------------------------------------------------------------------------
# The stand-in
# --------------------------------------------------------------------------------------------

_Handler = Callable[[Request, dict[str, str]], Any]


class DiscordStandIn:
    """Discord's REST API and gateway on ``127.0.0.1``, recording everything (see module doc)."""

    def __init__(
        self,
        *,
        token: str | None = None,
        application_id: int = APPLICATION_ID,
        bot_name: str = "StandInBot",
        heartbeat_interval_ms: int = 5000,
        unavailable_guild_id: int | None = None,
        upload_limit: int = 10 * 1024 * 1024,
    ) -> None:
        """``token``: when set, REST calls with another bot token answer 401 and an IDENTIFY
        with another token is closed with 4004 (Authentication failed), as Discord does.
        ``unavailable_guild_id``: READY lists this guild as unavailable and a GUILD_CREATE
        for it follows (otherwise READY has ``guilds: []``). ``upload_limit``: a request whose
        files add up to more bytes is refused with 413, code 40005, as Discord does."""
        self.token = token
        self.application_id = application_id
        self.bot_name = bot_name
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.unavailable_guild_id = unavailable_guild_id
        self.upload_limit = upload_limit

        self.requests: list[Request] = []
        self.messages: dict[int, dict[str, Any]] = {}
        """Live messages by id (API shape plus ``allowed_mentions``, ``nonce``, ``kind``,
        ``interaction_id``); deleted ones move to :attr:`deleted_messages`."""
        self.deleted_messages: dict[int, dict[str, Any]] = {}
        self.channels: dict[int, dict[str, Any]] = {}
        self.commands: dict[int | None, list[dict[str, Any]]] = {}
        self.connections: list[GatewayConnection] = []
        self.sessions: dict[str, _Session] = {}

        self._interactions: dict[int, _Interaction] = {}
        self._tokens: dict[str, int] = {}
        self._expired_tokens: set[str] = set()
        self._nonces: dict[tuple[int, str], int] = {}
        self._dm_channels: dict[int, int] = {}
        self._failures: list[_Failure] = []
        self._holds: list[Hold] = []
        self._conn_ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._routes: list[tuple[str, re.Pattern[str], _Handler]] = []
        self._add_routes()

    # ---- lifecycle ------------------------------------------------------------------------

    async def start(self, port: int = 0) -> str:
        """Listen on ``127.0.0.1:port`` (0: a free port); returns :attr:`api_base`."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_route("*", "/{tail:.*}", self._rest)
        self._runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0
        )
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        self._port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        return self.api_base

    async def stop(self) -> None:
        for conn in self.connections:
            if not conn.ws.closed:
                with contextlib.suppress(Exception):
                    await conn.ws.close(code=1001)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> DiscordStandIn:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the stand-in is not started")
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        """What ``discord.http.Route.BASE`` (``DISCORD_API_BASE_URL``) should be."""
        return self.base_url + API_PREFIX

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    # ---- test controls --------------------------------------------------------------------

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
        """Answer the next ``times`` matching REST requests with an error, e.g.
        ``fail(method="POST", path_contains=f"/channels/{cid}/messages", status=403,
        code=50013)``."""
        self._failures.append(
            _Failure(
                method.upper() if method else None,
                path_contains,
                status,
                code,
                message or f"{status}: error",
                times,
            )
        )

    def hold_answers(self, *, method: str | None = None, path_contains: str | None = None) -> Hold:
        """From now on, matching requests are carried out (a message is stored) but answered
        only after ``hold.release()``: the way to lose an answer, e.g. to kill a bot between
        Discord creating its message and the bot hearing about it."""
        hold = Hold(method.upper() if method else None, path_contains)
        self._holds.append(hold)
        return hold

    def expire_interaction(self, interaction_id: int) -> None:
        """From now on, this interaction's webhook routes answer 401, code 50027."""
        self._expired_tokens.add(self._interactions[interaction_id].token)

    def add_channel(self, channel_id: int, *, guild_id: int, name: str = "general") -> None:
        self.channels[channel_id] = {
            "id": str(channel_id),
            "type": 0,
            "guild_id": str(guild_id),
            "name": name,
            "position": 0,
            "permission_overwrites": [],
            "nsfw": False,
            "parent_id": None,
            "topic": None,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "flags": 0,
        }

    # ---- gateway controls -----------------------------------------------------------------

    @property
    def live_connection(self) -> GatewayConnection | None:
        """The newest open connection with a session (identified or resumed)."""
        for conn in reversed(self.connections):
            if not conn.closed and conn.session is not None:
                return conn
        return None

    def identify_count(self) -> int:
        return sum(1 for c in self.connections for p in c.received if p.get("op") == 2)

    async def wait_for_ready(self, count: int = 1, *, within: float = 30.0) -> GatewayConnection:
        """Wait until READY was sent on ``count`` IDENTIFYs in total and a session is live."""

        def ready() -> GatewayConnection | None:
            sessions = sum(1 for c in self.connections if c.session is not None)
            return self.live_connection if sessions >= count else None

        conn = await wait_until(
            ready, within=within, what=f"READY number {count}", details=self.describe
        )
        assert isinstance(conn, GatewayConnection)
        return conn

    async def dispatch(self, event: str, data: Mapping[str, Any]) -> int:
        """Send a DISPATCH (op 0) to the live connection; returns its sequence number."""
        conn = self.live_connection
        if conn is None or conn.session is None:
            raise RuntimeError("no identified gateway connection to dispatch to")
        conn.session.seq += 1
        seq = conn.session.seq
        await self._send(conn, {"op": 0, "t": event, "s": seq, "d": data})
        return seq

    async def send_interaction(self, payload: Mapping[str, Any]) -> int:
        """Push an INTERACTION_CREATE (e.g. ``discord_fake.slash_command(...)``) and remember
        its token for callbacks, follow-ups and ``@original``. Returns the sequence number."""
        data = copy.deepcopy(dict(payload))
        iid, token = int(data["id"]), str(data["token"])
        channel = data.get("channel") or {}
        channel_id = channel.get("id") or data.get("channel_id")
        self._interactions[iid] = _Interaction(
            id=iid,
            token=token,
            payload=data,
            channel_id=int(channel_id) if channel_id is not None else None,
        )
        self._tokens[token] = iid
        if channel.get("id") is not None and data.get("guild_id") is not None:
            cid = int(channel["id"])
            if cid not in self.channels:
                self.add_channel(cid, guild_id=int(data["guild_id"]), name=channel.get("name", ""))
        return await self.dispatch("INTERACTION_CREATE", data)

    async def request_reconnect(self) -> None:
        """Send op 7 (RECONNECT): the client closes and resumes on a new connection."""
        conn = self.live_connection
        if conn is None:
            raise RuntimeError("no live gateway connection")
        await self._send(conn, {"op": 7, "d": None})

    # ---- queries --------------------------------------------------------------------------

    def requests_to(self, method: str | None, path_contains: str) -> list[Request]:
        wanted = method.upper() if method else None
        return [
            r
            for r in self.requests
            if (wanted is None or r.method == wanted) and path_contains in r.path
        ]

    def channel_messages(self, channel_id: int) -> list[dict[str, Any]]:
        """Live messages in a channel, oldest first."""
        return sorted(
            (m for m in self.messages.values() if int(m["channel_id"]) == channel_id),
            key=lambda m: int(m["id"]),
        )

    def interaction_callbacks(self, interaction_id: int) -> list[Request]:
        return [
            r
            for r in self.requests
            if r.method == "POST"
            and r.path.startswith(f"/interactions/{interaction_id}/")
            and r.path.endswith("/callback")
        ]

    def original_edits(self, interaction_id: int) -> list[Request]:
        """Successful ``PATCH .../messages/@original`` requests of this interaction."""
        state = self._interactions.get(interaction_id)
        if state is None:
            return []
        suffix = f"/{state.token}/messages/@original"
        return [
            r
            for r in self.requests
            if r.method == "PATCH" and r.path.endswith(suffix) and r.status < 300
        ]

    def original(self, interaction_id: int) -> dict[str, Any] | None:
        state = self._interactions.get(interaction_id)
        if state is None or state.original_id is None:
            return None
        return self.messages.get(state.original_id)

    def describe(self, last: int = 15) -> str:
        """A short account of what happened, for assertion messages."""
        lines = [f"gateway connections: {len(self.connections)}"]
        for conn in self.connections:
            lines.append(
                f"  #{conn.id} ops received {conn.ops[:12]} session "
                f"{conn.session.id if conn.session else None} closed={conn.closed} "
                f"code={conn.close_code}"
            )
        lines.append(f"REST requests: {len(self.requests)} (last {last}):")
        lines += [f"  {r.status} {r.method} {r.path}" for r in self.requests[-last:]]
        return "\n".join(lines)

    def bot_user(self) -> dict[str, Any]:
        return {
            **_user(self.application_id, username=self.bot_name, bot=True),
            "flags": 0,
            "verified": True,
            "mfa_enabled": False,
        }

    # ---- gateway --------------------------------------------------------------------------

    async def _send(self, conn: GatewayConnection, payload: Mapping[str, Any]) -> None:
        await conn.ws.send_str(json.dumps(payload))

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True, max_msg_size=0)
        await ws.prepare(request)
        conn = GatewayConnection(id=next(self._conn_ids), ws=ws, query=dict(request.query))
        self.connections.append(conn)
        try:
            hello = {"heartbeat_interval": self.heartbeat_interval_ms}
            await self._send(conn, {"op": 10, "s": None, "t": None, "d": hello})
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    continue
                try:
                    payload = json.loads(msg.data)
                except ValueError:
                    await ws.close(code=4002, message=b"Error while decoding payload.")
                    break
                conn.received.append(payload)
                await self._on_gateway_payload(conn, payload)
        finally:
            conn.closed = True
            conn.close_code = ws.close_code
        return ws

    async def _on_gateway_payload(self, conn: GatewayConnection, payload: dict[str, Any]) -> None:
        op, data = payload.get("op"), payload.get("d")
        if op == 1:  # HEARTBEAT
            await self._send(conn, {"op": 11, "s": None, "t": None, "d": None})
        elif op == 2:  # IDENTIFY
            if conn.session is not None:
                await conn.ws.close(code=4005, message=b"Already authenticated.")
                return
            if self.token is not None and (data or {}).get("token") != self.token:
                await conn.ws.close(code=4004, message=b"Authentication failed.")
                return
            session = _Session(id=secrets.token_hex(16), identify=copy.deepcopy(data or {}))
            self.sessions[session.id] = session
            conn.session = session
            guilds = []
            if self.unavailable_guild_id is not None:
                guilds = [{"id": str(self.unavailable_guild_id), "unavailable": True}]
            await self.dispatch(
                "READY",
                {
                    "v": 10,
                    "user": self.bot_user(),
                    "guilds": guilds,
                    "session_id": session.id,
                    "resume_gateway_url": self.gateway_url,
                    "application": {"id": str(self.application_id), "flags": 0},
                    "user_settings": {},
                    "relationships": [],
                    "private_channels": [],
                    "presences": [],
                    "guild_join_requests": [],
                    "geo_ordered_rtc_regions": [],
                    "_trace": ["standin"],
                },
            )
            if self.unavailable_guild_id is not None:
                await self.dispatch("GUILD_CREATE", self._guild(self.unavailable_guild_id))
        elif op == 6:  # RESUME
            known = self.sessions.get(str((data or {}).get("session_id")))
            token_ok = self.token is None or (data or {}).get("token") == self.token
            if known is None or not token_ok:
                await self._send(conn, {"op": 9, "s": None, "t": None, "d": False})
                return
            conn.session = known
            await self.dispatch("RESUMED", {"_trace": ["standin"]})
        # op 3 (presence), 4 (voice), 8 (request members): recorded, not answered.

    def _guild(self, guild_id: int) -> dict[str, Any]:
        return {
            "id": str(guild_id),
            "name": "Stand-in guild",
            "icon": None,
            "owner_id": str(OWNER_ID),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": [
                {
                    "id": str(guild_id),
                    "name": "@everyone",
                    "permissions": "0",
                    "position": 0,
                    "color": 0,
                    "hoist": False,
                    "managed": False,
                    "mentionable": False,
                }
            ],
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "vanity_url_code": None,
            "description": None,
            "banner": None,
            "premium_tier": 0,
            "preferred_locale": "en-US",
            "public_updates_channel_id": None,
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
            "unavailable": False,
            "member_count": 2,
            "large": False,
            "joined_at": "2024-01-01T00:00:00+00:00",
            "members": [],
            "channels": [c for c in self.channels.values() if c.get("guild_id") == str(guild_id)],
            "threads": [],
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }

    # ---- REST core ------------------------------------------------------------------------

    def _route(self, method: str, template: str, handler: _Handler) -> None:
        parts = [
            f"(?P<{seg[1:-1]}>[^/]+)" if seg.startswith("{") else re.escape(seg)
            for seg in template.split("/")
        ]
        self._routes.append((method, re.compile("^" + "/".join(parts) + "$"), handler))

    def _add_routes(self) -> None:
        r = self._route
        r("GET", "/users/@me", lambda req, p: self.bot_user())
        r("GET", "/oauth2/applications/@me", self._application)
        r("GET", "/gateway", lambda req, p: {"url": self.gateway_url})
        r("GET", "/gateway/bot", self._gateway_bot)
        r("PUT", "/applications/{app}/commands", self._put_commands)
        r("PUT", "/applications/{app}/guilds/{guild_id}/commands", self._put_commands)
        r("GET", "/applications/{app}/commands", self._get_commands)
        r("GET", "/applications/{app}/guilds/{guild_id}/commands", self._get_commands)
        r("POST", "/interactions/{iid}/{token}/callback", self._callback)
        r("POST", "/webhooks/{app}/{token}", self._webhook_execute)
        r("GET", "/webhooks/{app}/{token}/messages/{mid}", self._webhook_get)
        r("PATCH", "/webhooks/{app}/{token}/messages/{mid}", self._webhook_edit)
        r("DELETE", "/webhooks/{app}/{token}/messages/{mid}", self._webhook_delete)
        r("POST", "/channels/{channel_id}/messages", self._channel_send)
        r("GET", "/channels/{channel_id}/messages", self._channel_history)
        r("GET", "/channels/{channel_id}/messages/{mid}", self._channel_get_message)
        r("PATCH", "/channels/{channel_id}/messages/{mid}", self._channel_edit_message)
        r("DELETE", "/channels/{channel_id}/messages/{mid}", self._channel_delete_message)
        r("GET", "/channels/{channel_id}", self._get_channel)
        r("POST", "/users/@me/channels", self._create_dm)
        r("GET", "/users/{user_id}", lambda req, p: _user(int(p["user_id"])))

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        match = _API_PATH.match(request.path)
        path = match.group(1) if match else request.path
        body, files = await self._read_body(request)
        auth = request.headers.get("Authorization", "")
        rec = Request(
            method=request.method,
            path=path,
            query=dict(request.query),
            json=body,
            files=files,
            bot_auth=auth.startswith("Bot "),
        )
        self.requests.append(rec)
        try:
            if match is None:
                raise _HTTPError(404, 0, "404: Not Found")
            if self.token is not None and rec.bot_auth and auth != f"Bot {self.token}":
                raise _HTTPError(401, 0, "401: Unauthorized")
            self._raise_injected(rec)
            if sum(len(data) for _, data in rec.files) > self.upload_limit:
                raise _HTTPError(413, 40005, "Request entity too large")
            problems = payload_problems(request.method, path, body)
            if problems:
                raise _HTTPError(400, 50035, "Invalid Form Body: " + "; ".join(problems))
            for method, pattern, handler in self._routes:
                found = pattern.match(path)
                if method == request.method and found:
                    answer = handler(rec, found.groupdict())
                    if isinstance(answer, Awaitable):
                        answer = await answer
                    break
            else:
                raise _HTTPError(404, 0, "404: Not Found")
        except _HTTPError as exc:
            rec.status = exc.status
            return _json_response({"message": exc.message, "code": exc.code}, exc.status)
        rec.status = 200 if answer is not None else 204
        for hold in self._holds:
            if hold.matches(rec):
                hold.held.append(rec)
                await hold.released.wait()
        if answer is None:
            return web.Response(status=204)
        return _json_response(answer)

    async def _read_body(self, request: web.Request) -> tuple[Any, list[tuple[str, bytes]]]:
        if not request.body_exists:
            return None, []
        if request.content_type.startswith("multipart/"):
            body: Any = None
            files: list[tuple[str, bytes]] = []
            reader = await request.multipart()
            while True:
                part = await reader.next()
                if part is None:
                    break
                if not isinstance(part, BodyPartReader):
                    continue  # a nested multipart: discord.py never sends one
                data = await part.read()
                if part.name == "payload_json":
                    body = json.loads(data)
                elif part.filename is not None:
                    files.append((part.filename, bytes(data)))
            return body, files
        raw = await request.read()
        if not raw:
            return None, []
        try:
            return json.loads(raw), []
        except ValueError:
            return raw.decode("utf-8", "replace"), []

    def _raise_injected(self, rec: Request) -> None:
        for failure in self._failures:
            if (failure.method is None or failure.method == rec.method) and (
                failure.path_contains is None or failure.path_contains in rec.path
            ):
                failure.times -= 1
                if failure.times <= 0:
                    self._failures.remove(failure)
                raise _HTTPError(failure.status, failure.code, failure.message)

    # ---- message store --------------------------------------------------------------------

    def _mentions(self, content: str, allowed: Any) -> tuple[list[dict[str, Any]], bool]:
        """Who Discord would ping for ``content`` under ``allowed_mentions``."""
        ids = list(dict.fromkeys(_USER_MENTION.findall(content)))
        everyone = "@everyone" in content or "@here" in content
        if not isinstance(allowed, Mapping):
            return [_user(int(i)) for i in ids], everyone
        parse = allowed.get("parse") or []
        if "users" not in parse:
            permitted = {str(u) for u in allowed.get("users") or []}
            ids = [i for i in ids if i in permitted]
        return [_user(int(i)) for i in ids], everyone and "everyone" in parse

    def _create_message(
        self,
        channel_id: int,
        payload: Mapping[str, Any],
        *,
        kind: str,
        files: list[tuple[str, bytes]] | None = None,
        interaction_id: int | None = None,
        extra_flags: int = 0,
        message_type: int = 0,
    ) -> dict[str, Any]:
        content = str(payload.get("content") or "")
        mentions, everyone = self._mentions(content, payload.get("allowed_mentions"))
        mid = snowflake()
        msg: dict[str, Any] = {
            "id": str(mid),
            "channel_id": str(channel_id),
            "author": self.bot_user(),
            "content": content,
            "timestamp": _now_iso(),
            "edited_timestamp": None,
            "tts": bool(payload.get("tts", False)),
            "mention_everyone": everyone,
            "mentions": mentions,
            "mention_roles": [],
            "attachments": [
                {
                    "id": str(snowflake()),
                    "filename": name,
                    "size": len(data),
                    "url": f"{self.base_url}/attachments/{channel_id}/{mid}/{name}",
                    "proxy_url": f"{self.base_url}/attachments/{channel_id}/{mid}/{name}",
                }
                for name, data in files or []
            ],
            "embeds": list(payload.get("embeds") or []),
            "components": list(payload.get("components") or []),
            "pinned": False,
            "type": message_type,
            "flags": int(payload.get("flags") or 0) | extra_flags,
            # stand-in bookkeeping (not sent back)
            "allowed_mentions": payload.get("allowed_mentions"),
            "nonce": payload.get("nonce"),
            "kind": kind,
            "interaction_id": interaction_id,
        }
        if kind != "channel":
            msg["webhook_id"] = str(self.application_id)
            msg["application_id"] = str(self.application_id)
        self.messages[mid] = msg
        return msg

    @staticmethod
    def _api(msg: Mapping[str, Any]) -> dict[str, Any]:
        out = {
            k: copy.deepcopy(v)
            for k, v in msg.items()
            if k not in ("allowed_mentions", "kind", "interaction_id")
        }
        if out.get("nonce") is None:
            out.pop("nonce", None)
        return out

    def _edit(self, msg: dict[str, Any], payload: Any) -> dict[str, Any]:
        payload = payload if isinstance(payload, Mapping) else {}
        if "content" in payload:
            msg["content"] = str(payload["content"] or "")
        for key in ("embeds", "components"):
            if key in payload:
                msg[key] = list(payload[key] or [])
        if "allowed_mentions" in payload:
            msg["allowed_mentions"] = payload["allowed_mentions"]
        if "flags" in payload:
            msg["flags"] = (int(payload["flags"] or 0) & ~(64 | 128)) | (msg["flags"] & 64)
        else:
            msg["flags"] &= ~128  # an edit always ends "thinking"
        msg["mentions"], msg["mention_everyone"] = self._mentions(
            msg["content"], msg.get("allowed_mentions")
        )
        msg["edited_timestamp"] = _now_iso()
        return self._api(msg)

    def _message(self, mid: str | int) -> dict[str, Any]:
        try:
            return self.messages[int(mid)]
        except (KeyError, ValueError):
            raise _HTTPError(404, 10008, "Unknown Message") from None

    def _delete(self, mid: int) -> None:
        msg = self.messages.pop(mid, None)
        if msg is not None:
            self.deleted_messages[mid] = msg

    # ---- handlers: application, commands --------------------------------------------------

    def _application(self, req: Request, p: dict[str, str]) -> dict[str, Any]:
        return {
            "id": str(self.application_id),
            "name": self.bot_name,
            "icon": None,
            "description": "",
            "summary": "",
            "bot_public": True,
            "bot_require_code_grant": False,
            "owner": _user(OWNER_ID, username="owner"),
            "verify_key": "0" * 64,
            "flags": 0,
            "team": None,
            "rpc_origins": [],
            "bot": self.bot_user(),
        }

    def _gateway_bot(self, req: Request, p: dict[str, str]) -> dict[str, Any]:
        return {
            "url": self.gateway_url,
            "shards": 1,
            "session_start_limit": {
                "total": 1000,
                "remaining": 1000,
                "reset_after": 0,
                "max_concurrency": 1,
            },
        }

    def _put_commands(self, req: Request, p: dict[str, str]) -> list[dict[str, Any]]:
        guild_id = int(p["guild_id"]) if "guild_id" in p else None
        previous = {c["name"]: c for c in self.commands.get(guild_id, [])}
        out = []
        for cmd in req.json or []:
            echoed = copy.deepcopy(cmd)
            echoed.setdefault("type", 1)
            old = previous.get(echoed["name"])
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

    def _get_commands(self, req: Request, p: dict[str, str]) -> list[dict[str, Any]]:
        return self.commands.get(int(p["guild_id"]) if "guild_id" in p else None, [])

    # ---- handlers: channels and DMs -------------------------------------------------------

    def _channel_send(self, req: Request, p: dict[str, str]) -> dict[str, Any]:
        channel_id = int(p["channel_id"])
        payload = req.json if isinstance(req.json, Mapping) else {}
        nonce = payload.get("nonce")
        if nonce is not None and payload.get("enforce_nonce"):
            existing = self._nonces.get((channel_id, str(nonce)))
            if existing is not None and existing in self.messages:
                return self._api(self.messages[existing])
        reply = payload.get("message_reference") is not None
        msg = self._create_message(
            channel_id, payload, kind="channel", files=req.files, message_type=19 if reply else 0
        )
        if nonce is not None:
            self._nonces[(channel_id, str(nonce))] = int(msg["id"])
        return self._api(msg)

    def _channel_history(self, req: Request, p: dict[str, str]) -> list[dict[str, Any]]:
        limit = int(req.query.get("limit", "50"))
        newest_first = list(reversed(self.channel_messages(int(p["channel_id"]))))
        return [self._api(m) for m in newest_first[:limit]]

    def _channel_message(self, p: dict[str, str]) -> dict[str, Any]:
        msg = self._message(p["mid"])
        if msg["channel_id"] != p["channel_id"]:
            raise _HTTPError(404, 10008, "Unknown Message")
        return msg

    def _channel_get_message(self, req: Request, p: dict[str, str]) -> dict[str, Any]:
        return self._api(self._channel_message(p))

    def _channel_edit_message(self, req: Request, p: dict[str, str]) -> dict[str, Any]:
        return self._edit(self._channel_message(p), req.json)

    def _channel_delete_message(self, req: Request, p: dict[str, str]) -> None:
        self._delete(int(self._channel_message(p)["id"]))

    def _get_channel(self, req: Request, p: dict[str, str]) -> dict[str, Any]:
        channel = self.channels.get(int(p["channel_id"]))
        if channel is None:
            raise _HTTPError(404, 10003, "Unknown Channel")
        return channel

    def _create_dm(self, req: Request, p: dict[str, str]) -> dict[str, Any]:
        recipient = int((req.json or {})["recipient_id"])
        channel_id = self._dm_channels.get(recipient)
        if channel_id is None:
            channel_id = self._dm_channels[recipient] = snowflake()
            self.channels[channel_id] = {
                "id": str(channel_id),
                "type": 1,
                "last_message_id": None,
                "flags": 0,
                "recipients": [_user(recipient)],
            }
        return self.channels[channel_id]

    def dm_channel_id(self, user_id: int) -> int | None:
        return self._dm_channels.get(user_id)

    # ---- handlers: interactions and webhooks ----------------------------------------------

    def _interaction_for(self, token: str) -> _Interaction:
        if token in self._expired_tokens:
            raise _HTTPError(401, 50027, "Invalid Webhook Token")
        iid = self._tokens.get(token)
        if iid is None:
            raise _HTTPError(404, 10015, "Unknown Webhook")
        return self._interactions[iid]

    def _callback(self, req: Request, p: dict[str, str]) -> dict[str, Any]:
        state = self._interactions.get(int(p["iid"]))
        if state is None or state.token != p["token"]:
            raise _HTTPError(404, 10062, "Unknown interaction")
        if state.responded:
            raise _HTTPError(400, 40060, "Interaction has already been acknowledged.")
        body = req.json if isinstance(req.json, Mapping) else {}
        rtype = int(body.get("type", 0))
        data: Mapping[str, Any] = body.get("data") or {}
        state.responded, state.response_type = True, rtype
        itype = int(state.payload.get("type", 2))
        message: dict[str, Any] | None = None
        if rtype in (4, 5):
            message = self._create_message(
                state.channel_id or 0,
                data if rtype == 4 else {"flags": int(data.get("flags") or 0) & 64},
                kind="original",
                files=req.files if rtype == 4 else [],
                interaction_id=state.id,
                extra_flags=128 if rtype == 5 else 0,
                message_type=20 if itype == 2 else 0,
            )
            state.original_id = int(message["id"])
        elif rtype in (6, 7) and state.payload.get("message") is not None:
            source = state.payload["message"]
            state.original_id = int(source["id"])
            message = self.messages.get(state.original_id)
            if message is not None and rtype == 7:
                self._edit(message, data)
        answer: dict[str, Any] = {
            "interaction": {
                "id": str(state.id),
                "type": itype,
                "response_message_loading": rtype == 5,
                "response_message_ephemeral": bool(int(data.get("flags") or 0) & 64),
            }
        }
        if message is not None:
            answer["interaction"]["response_message_id"] = message["id"]
            answer["resource"] = {"type": rtype, "message": self._api(message)}
        return answer

    def _webhook_execute(self, req: Request, p: dict[str, str]) -> dict[str, Any] | None:
        state = self._interaction_for(p["token"])
        if not state.responded:
            raise _HTTPError(404, 10015, "Unknown Webhook")
        payload = req.json if isinstance(req.json, Mapping) else {}
        msg = self._create_message(
            state.channel_id or 0,
            payload,
            kind="followup",
            files=req.files,
            interaction_id=state.id,
            message_type=20 if state.payload.get("type") == 2 else 0,
        )
        if req.query.get("wait", "").lower() not in ("1", "true"):
            return None
        return self._api(msg)

    def _webhook_message(self, p: dict[str, str]) -> dict[str, Any]:
        state = self._interaction_for(p["token"])
        if p["mid"] == "@original":
            if state.original_id is None:
                raise _HTTPError(404, 10008, "Unknown Message")
            return self._message(state.original_id)
        msg = self._message(p["mid"])
        if msg.get("interaction_id") != state.id:
            raise _HTTPError(404, 10008, "Unknown Message")
        return msg

    def _webhook_get(self, req: Request, p: dict[str, str]) -> dict[str, Any]:
        return self._api(self._webhook_message(p))

    def _webhook_edit(self, req: Request, p: dict[str, str]) -> dict[str, Any]:
        return self._edit(self._webhook_message(p), req.json)

    def _webhook_delete(self, req: Request, p: dict[str, str]) -> None:
        self._delete(int(self._webhook_message(p)["id"]))


# --------------------------------------------------------------------------------------------
# By hand: python -m tests.discord_standin --port 8790
# --------------------------------------------------------------------------------------------


async def _serve(port: int) -> None:
    standin = DiscordStandIn()
    await standin.start(port)
    print(f"Discord stand-in: DISCORD_API_BASE_URL={standin.api_base}", flush=True)
    print(f"gateway: {standin.gateway_url}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await standin.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.discord_standin")
    parser.add_argument("--port", type=int, default=8790)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.port))


if __name__ == "__main__":
    main()
