"""Receives EvoLink's task callbacks (optional: on when CALLBACK_PUBLIC_URL is set).

A callback is only a hint. Its URL carries the task's own secret; a call that does not match a
task waiting for news is ignored, and a matching one just brings the task's next query forward:
the tracker asks EvoLink itself before anything is recorded, delivered or charged. Polling goes
on at a slow pace as a safety net for callbacks that never come.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable

from aiohttp import web

from bot.store import Store

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024


class CallbackServer:
    def __init__(self, store: Store, on_hint: Callable[[], None], path_prefix: str = "") -> None:
        self._prefix = path_prefix.rstrip("/")
        self._store = store
        self._on_hint = on_hint
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_post(self._prefix + "/{generation_id:\\d{1,18}}/{token}", self._receive)
        return app

    async def start(self, host: str, port: int) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        log.info("listening for EvoLink callbacks on %s:%s", host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _receive(self, request: web.Request) -> web.Response:
        try:
            await request.read()  # drain within the size limit; the body itself is not trusted
        except web.HTTPRequestEntityTooLarge:
            return web.json_response({"ok": False}, status=413)
        generation_id = int(request.match_info["generation_id"])
        token = request.match_info["token"]
        row = await self._store.fetchone(
            "SELECT callback_token FROM generations WHERE id = ?", generation_id
        )
        expected = row[0] if row is not None else None
        if expected is None or not hmac.compare_digest(expected.encode(), token.encode()):
            log.warning("ignored a callback for generation %s: wrong or no token", generation_id)
            return web.json_response({"ok": False}, status=404)
        if await self._store.poll_soon(generation_id, self._store.clock()):
            self._on_hint()
        return web.json_response({"ok": True})
