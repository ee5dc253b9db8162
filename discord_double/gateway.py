"""Discord's gateway over a websocket, for a bot running in another process.

HELLO, heartbeat ACKs, READY on IDENTIFY (one session per IDENTIFY, ``guilds: []`` or one
unavailable guild followed by its GUILD_CREATE), RESUMED on a RESUME of a known session (else op 9,
invalid session), op 7 (RECONNECT) on request, and dispatches with increasing sequence numbers,
e.g. an INTERACTION_CREATE the model also registers (:meth:`GatewayServer.send_interaction`).
``GET /gateway`` and ``GET /gateway/bot`` point the bot here.
Frames are plain JSON text: discord.py decompresses only binary frames, so
``compress=zlib-stream`` in the URL is ignored.
"""

from __future__ import annotations

import copy
import itertools
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from discord_double.model import DiscordModel
from discord_double.payloads import guild_payload
from discord_double.polling import wait_until
from discord_double.records import Call

__all__ = ["GatewayConnection", "GatewayServer", "Session"]


@dataclass
class Session:
    id: str
    seq: int = 0
    identify: dict[str, Any] = field(default_factory=dict)


@dataclass
class GatewayConnection:
    """One websocket connection to the gateway."""

    id: int
    ws: web.WebSocketResponse
    query: dict[str, str]
    received: list[dict[str, Any]] = field(default_factory=list)
    """Every payload the client sent, in order (IDENTIFY includes the client's token)."""
    session: Session | None = None
    closed: bool = False
    close_code: int | None = None

    @property
    def ops(self) -> list[int]:
        return [int(p.get("op", -1)) for p in self.received]


class GatewayServer(DiscordModel):
    """The model plus a gateway; a subclass serves :meth:`_gateway` at :attr:`gateway_url`."""

    def __init__(
        self,
        *,
        heartbeat_interval_ms: int = 5000,
        unavailable_guild_id: int | None = None,
        **model: Any,
    ) -> None:
        super().__init__(**model)
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.unavailable_guild_id = unavailable_guild_id
        self.connections: list[GatewayConnection] = []
        self.sessions: dict[str, Session] = {}
        # (code, reason) every IDENTIFY is closed with, e.g. (4011, "Sharding required.")
        self.refuse_identify: tuple[int, str] | None = None
        self._conn_ids = itertools.count(1)
        self._routes += [
            ("GET", "/gateway", lambda call: {"url": self.gateway_url}),
            ("GET", "/gateway/bot", self._gateway_bot),
        ]

    @property
    def gateway_url(self) -> str:
        raise NotImplementedError

    # ---- controls and queries -------------------------------------------------------------

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

    def shard_connection(self, shard_id: int) -> GatewayConnection | None:
        """The newest open connection whose IDENTIFY named shard `shard_id` (a sharded bot)."""
        for conn in reversed(self.connections):
            if conn.closed or conn.session is None:
                continue
            shard = conn.session.identify.get("shard")
            if isinstance(shard, list) and shard and shard[0] == shard_id:
                return conn
        return None

    async def dispatch(
        self, event: str, data: Mapping[str, Any], *, connection: GatewayConnection | None = None
    ) -> int:
        """Send a DISPATCH (op 0) to `connection` (default: the live connection); returns its
        sequence number."""
        conn = connection or self.live_connection
        if conn is None or conn.session is None:
            raise RuntimeError("no identified gateway connection to dispatch to")
        conn.session.seq += 1
        seq = conn.session.seq
        await self._send(conn, {"op": 0, "t": event, "s": seq, "d": data})
        return seq

    async def send_interaction(
        self, payload: Mapping[str, Any], *, connection: GatewayConnection | None = None
    ) -> int:
        """Push an INTERACTION_CREATE (e.g. ``slash_command(...)``) and register it with the
        model for callbacks, follow-ups and ``@original``; down `connection` (e.g. a shard's,
        default the live one). Returns the sequence number."""
        data = copy.deepcopy(dict(payload))
        self.register_interaction(data)
        return await self.dispatch("INTERACTION_CREATE", data, connection=connection)

    async def request_reconnect(self) -> None:
        """Send op 7 (RECONNECT): the client closes and resumes on a new connection."""
        conn = self.live_connection
        if conn is None:
            raise RuntimeError("no live gateway connection")
        await self._send(conn, {"op": 7, "d": None})

    def describe(self, last: int = 15) -> str:
        """A short account of what happened, for assertion messages."""
        lines = [f"gateway connections: {len(self.connections)}"]
        for conn in self.connections:
            lines.append(
                f"  #{conn.id} ops received {conn.ops[:12]} session "
                f"{conn.session.id if conn.session else None} closed={conn.closed} "
                f"code={conn.close_code}"
            )
        lines.append(f"REST requests: {len(self.calls)} (last {last}):")
        lines += [f"  {c.status} {c.method} {c.path}" for c in self.calls[-last:]]
        return "\n".join(lines)

    def _gateway_bot(self, call: Call) -> dict[str, Any]:
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

    # ---- the websocket --------------------------------------------------------------------

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
        op, data = payload.get("op"), payload.get("d") or {}
        if op == 1:  # HEARTBEAT
            await self._send(conn, {"op": 11, "s": None, "t": None, "d": None})
        elif op == 2:  # IDENTIFY
            await self._identify(conn, data)
        elif op == 6:  # RESUME
            known = self.sessions.get(str(data.get("session_id")))
            token_ok = self.token is None or data.get("token") == self.token
            if known is None or not token_ok:
                await self._send(conn, {"op": 9, "s": None, "t": None, "d": False})
                return
            conn.session = known
            await self.dispatch("RESUMED", {"_trace": ["standin"]})
        # op 3 (presence), 4 (voice), 8 (request members): recorded, not answered.

    async def _identify(self, conn: GatewayConnection, data: dict[str, Any]) -> None:
        if conn.session is not None:
            await conn.ws.close(code=4005, message=b"Already authenticated.")
            return
        if self.token is not None and data.get("token") != self.token:
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return
        if self.refuse_identify is not None:
            code, reason = self.refuse_identify
            await conn.ws.close(code=code, message=reason.encode())
            return
        session = Session(id=secrets.token_hex(16), identify=copy.deepcopy(data))
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
                **({"shard": data["shard"]} if "shard" in data else {}),  # as a sharded bot sent
            },
        )
        if self.unavailable_guild_id is not None:
            guild_id = self.unavailable_guild_id
            channels = [c for c in self.channels.values() if c.get("guild_id") == str(guild_id)]
            await self.dispatch("GUILD_CREATE", guild_payload(guild_id, channels=channels))
