"""The HTTP transport: the model as Discord's REST API, CDN and gateway on one loopback server.

A bot running in *another process* talks to it the way it talks to Discord: point it at
:attr:`DiscordStandIn.api_base` (``discord.http.Route.BASE``; the bot reads
``DISCORD_API_BASE_URL``) and make discord.py's websocket connect to
:attr:`DiscordStandIn.gateway_url` (discord_double/gateway.py).

REST lives under ``/api/v10`` (any ``/api/v<n>`` is accepted); every request becomes a
:class:`~discord_double.records.Call` that the model (discord_double/model.py) records and
answers, so the routes, messages, failures, holds, limits and refusals are exactly the in-process
transport's. Answers carry ``Content-Type: application/json`` exactly (discord.py decodes nothing
else); refusals are Discord's JSON error bodies; an unknown route is a 404 (code 0). Attachments
of the messages the bot sends are served back under ``/attachments/``.

Use in a test::

    async with DiscordStandIn() as discord_api:
        ...start the bot with DISCORD_API_BASE_URL=discord_api.api_base...
        await discord_api.wait_for_ready()
        await discord_api.send_interaction(slash_command("video", [option("prompt", "a fox")]))

or by hand: ``python -m discord_double --port 8790``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import mimetypes
import re
import socket
from typing import Any

from aiohttp import BodyPartReader, web

from discord_double.gateway import GatewayServer
from discord_double.ids import APPLICATION_ID, DEFAULT_UPLOAD_LIMIT
from discord_double.records import Call, DiscordError, UnknownRoute

__all__ = ["API_PREFIX", "DiscordStandIn"]

API_PREFIX = "/api/v10"

_API_PATH = re.compile(r"^/api/v\d+(/.*)$")
_CDN_PATHS = ("/attachments/", "/ephemeral-attachments/")
_JSON = "application/json"
_NOT_FOUND = DiscordError(404, 0, "404: Not Found")


def _json_response(data: Any, status: int = 200) -> web.Response:
    # Exactly "application/json": discord.py decodes nothing else (json_response adds a charset).
    return web.Response(
        status=status, body=json.dumps(data).encode(), headers={"Content-Type": _JSON}
    )


def _error_response(exc: DiscordError) -> web.Response:
    return _json_response(exc.body(), exc.status)


async def _read_body(request: web.Request) -> tuple[Any, list[tuple[str, bytes]]]:
    """The JSON body (or the ``payload_json`` part of a multipart body) and the file parts."""
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


class DiscordStandIn(GatewayServer):
    """Discord's REST API, CDN and gateway on ``127.0.0.1``, recording everything."""

    def __init__(
        self,
        *,
        token: str | None = None,
        application_id: int = APPLICATION_ID,
        bot_name: str = "StandInBot",
        heartbeat_interval_ms: int = 5000,
        unavailable_guild_id: int | None = None,
        upload_limit: int = DEFAULT_UPLOAD_LIMIT,
    ) -> None:
        """``token``: when set, REST calls with another bot token answer 401 and an IDENTIFY
        with another token is closed with 4004 (Authentication failed), as Discord does.
        ``unavailable_guild_id``: READY lists this guild as unavailable and a GUILD_CREATE
        for it follows (otherwise READY has ``guilds: []``). ``upload_limit``: a request whose
        files add up to more bytes is refused with 413, code 40005, as Discord does."""
        super().__init__(
            heartbeat_interval_ms=heartbeat_interval_ms,
            unavailable_guild_id=unavailable_guild_id,
            token=token,
            application_id=application_id,
            bot_name=bot_name,
            upload_limit=upload_limit,
        )
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        # (method, part of the path) -> seconds a matching REST call takes before its answer
        self.slow: dict[tuple[str, str], float] = {}

    # ---- lifecycle ------------------------------------------------------------------------

    async def start(self, port: int = 0) -> str:
        """Listen on ``127.0.0.1:port`` (0: a free port); returns :attr:`api_base`."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_route("*", "/{tail:.*}", self._http)
        self._runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0
        )
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        self._port = sock.getsockname()[1]
        self.cdn_base = self.base_url
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

    # ---- queries under the names the process tests use ------------------------------------

    @property
    def requests(self) -> list[Call]:
        """Every request, in order (the model's :attr:`calls`)."""
        return self.calls

    def requests_to(self, method: str | None, path_contains: str) -> list[Call]:
        wanted = method.upper() if method else None
        return [
            c
            for c in self.calls
            if (wanted is None or c.method == wanted) and path_contains in c.path
        ]

    def interaction_callbacks(self, interaction_id: int) -> list[Call]:
        return self.interaction_responses(interaction_id)

    # ---- HTTP -----------------------------------------------------------------------------

    async def _http(self, request: web.Request) -> web.StreamResponse:
        found = _API_PATH.match(request.path)
        if found is not None:
            return await self._rest(request, found.group(1))
        if request.method == "GET" and request.path.startswith(_CDN_PATHS):
            return await self._cdn(request)
        self.calls.append(Call(method=request.method, path=request.path, status=404))
        return _error_response(_NOT_FOUND)

    async def _rest(self, request: web.Request, path: str) -> web.StreamResponse:
        body, files = await _read_body(request)
        call = Call(
            method=request.method,
            path=path,
            json=body,
            files=files,
            params=dict(request.query),
            via="webhook" if path.startswith(("/interactions/", "/webhooks/")) else "bot",
        )
        for (method, part), seconds in self.slow.items():
            if request.method == method and part in path:
                await asyncio.sleep(seconds)
        try:
            answer = await self.answer(call, auth=request.headers.get("Authorization"))
        except DiscordError as exc:
            return _error_response(exc)
        except UnknownRoute:
            call.status = _NOT_FOUND.status
            return _error_response(_NOT_FOUND)
        if answer is None:
            return web.Response(status=204)
        return _json_response(answer)

    async def _cdn(self, request: web.Request) -> web.StreamResponse:
        try:
            data = await self.cdn_get(self.base_url + request.path)
        except DiscordError as exc:
            return _error_response(exc)
        kind = mimetypes.guess_type(request.path)[0] or "application/octet-stream"
        return web.Response(body=data, headers={"Content-Type": kind})


# --------------------------------------------------------------------------------------------
# By hand: python -m discord_double --port 8790
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
    parser = argparse.ArgumentParser(prog="python -m discord_double")
    parser.add_argument("--port", type=int, default=8790)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.port))
