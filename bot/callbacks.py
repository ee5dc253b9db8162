"""Receives EvoLink's task callbacks (optional: on when CALLBACK_PUBLIC_URL is set).

A callback is only a hint. Its URL carries the task's own secret; a call that does not match a
task waiting for news is ignored, and a matching one just brings the task's next query forward:
the tracker asks EvoLink itself before anything is recorded, delivered or charged. Polling goes
on at a slow pace as a safety net for callbacks that never come.

The receiver faces the internet, so it is a bounded server (bot/bounded_http.py): one request
per connection, headers and body each within a deadline, sizes capped, and a fixed number of
connections, the oldest still sending its request making room for a newcomer.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus

from bot.bounded_http import Answer, BoundedServer, Refused, Request
from bot.store import Store

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
MAX_CONNECTIONS = 128
_TOKEN = r"[A-Za-z0-9_-]{16,128}"  # the shape of secrets.token_urlsafe: others never reach the DB
_DIGITS = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class ReceiverLimits:
    max_connections: int = MAX_CONNECTIONS
    header_timeout: float = 10.0  # from the connection to the end of the headers
    body_timeout: float = 10.0
    max_header_bytes: int = 8 * 1024  # request line and headers (a callback URL is < 2 KiB)
    max_body_bytes: int = MAX_BODY
    linger_timeout: float = 2.0  # after the answer, for the client to stop sending and close

    @classmethod
    def within(cls, open_files: int) -> ReceiverLimits:
        """Limits that leave at least three quarters of the process's file descriptors to the
        rest of the bot (Discord, EvoLink, the database), however hard the receiver is hit."""
        return cls(max_connections=max(1, min(MAX_CONNECTIONS, open_files // 4)))


class CallbackServer(BoundedServer):
    name = "callback"

    def __init__(
        self,
        store: Store,
        on_hint: Callable[[], None],
        path_prefix: str = "",
        limits: ReceiverLimits | None = None,
    ) -> None:
        self.limits = limits or ReceiverLimits()
        super().__init__(
            max_connections=self.limits.max_connections,
            header_timeout=self.limits.header_timeout,
            max_header_bytes=self.limits.max_header_bytes,
        )
        self._route = re.compile(re.escape(path_prefix.rstrip("/")) + rf"/(\d{{1,18}})/({_TOKEN})")
        self._store = store
        self._on_hint = on_hint

    async def start(self, host: str, port: int) -> None:
        await super().start(host, port)
        log.info("listening for EvoLink callbacks on %s:%s", host, self.port)

    def refusal(self, status: HTTPStatus) -> Answer:
        body = json.dumps({"ok": status == HTTPStatus.OK}).encode()
        allow = "POST" if status == HTTPStatus.METHOD_NOT_ALLOWED else None
        return Answer(status, "application/json", body, allow)

    async def exchange(
        self, request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> Answer | None:
        length = self._body_length(request)
        if length and request.headers.get("expect", [""])[0].lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        async with asyncio.timeout(self.limits.body_timeout):
            await reader.readexactly(length)  # drained, not read: the body is never trusted
        if not self.begin_answer(writer):
            return None  # dropped for a newer connection while its last bytes arrived
        return self.refusal(await self._hint(request))

    def _body_length(self, request: Request) -> int:
        if "transfer-encoding" in request.headers:
            raise Refused(HTTPStatus.LENGTH_REQUIRED)  # a callback is small: Content-Length
        values = request.headers.get("content-length", ["0"])
        if len(values) != 1 or not _DIGITS.fullmatch(values[0]):
            raise Refused(HTTPStatus.BAD_REQUEST)
        if len(values[0]) > 18 or int(values[0]) > self.limits.max_body_bytes:
            raise Refused(HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
        return int(values[0])

    async def after_answer(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Say that nothing more comes, then let the client read the answer and close: closing
        on bytes it is still sending (a body refused unread) would reset the connection and could
        lose the answer. Bounded in time and bytes, and the connection may make room meanwhile."""
        if writer.transport.is_closing() or not writer.can_write_eof():
            return
        writer.write_eof()
        self.receiving_again(writer)
        unread = self.limits.max_body_bytes
        async with asyncio.timeout(self.limits.linger_timeout):
            while unread > 0 and (chunk := await reader.read(unread)):
                unread -= len(chunk)

    async def _hint(self, request: Request) -> HTTPStatus:
        route = self._route.fullmatch(request.path)
        if route is None:
            return HTTPStatus.NOT_FOUND
        if request.method != "POST":
            return HTTPStatus.METHOD_NOT_ALLOWED
        generation_id, token = int(route[1]), route[2]
        expected = await self._store.generations.callback_token(generation_id)
        if expected is None or not hmac.compare_digest(expected.encode(), token.encode()):
            log.debug("ignored a callback for generation %s: wrong or no token", generation_id)
            return HTTPStatus.NOT_FOUND
        if await self._store.generations.poll_soon(generation_id, self._store.clock()):
            self._on_hint()
        return HTTPStatus.OK
