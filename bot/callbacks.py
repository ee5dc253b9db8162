"""Receives EvoLink's task callbacks (optional: on when CALLBACK_PUBLIC_URL is set).

A callback is only a hint. Its URL carries the task's own secret; a call that does not match a
task waiting for news is ignored, and a matching one just brings the task's next query forward:
the tracker asks EvoLink itself before anything is recorded, delivered or charged. Polling goes
on at a slow pace as a safety net for callbacks that never come.

The receiver faces the internet, so it is a small HTTP/1.1 server of its own with hard limits
(aiohttp's server waits for a request's headers without end, and a few hundred stalled
connections would take the file descriptors the rest of the bot needs): one request per
connection, headers and body each within a deadline, sizes capped, and a fixed number of
connections. At that cap the oldest connection still sending its request makes room for the
newcomer: a real callback sends its request at once, a stalled one is the likeliest abuse.
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

from bot.store import Store

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
MAX_CONNECTIONS = 128
_TOKEN = r"[A-Za-z0-9_-]{16,128}"  # the shape of secrets.token_urlsafe: others never reach the DB
_REQUEST_LINE = re.compile(r"([A-Z]{1,16}) (\S+) HTTP/1\.[01]")
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


class _Refused(Exception):
    """The request cannot be served; answered with this status, then the connection closes."""

    def __init__(self, status: HTTPStatus) -> None:
        super().__init__(status.phrase)
        self.status = status


@dataclass(frozen=True)
class _Request:
    method: str
    path: str
    headers: dict[str, list[str]]


class CallbackServer:
    def __init__(
        self,
        store: Store,
        on_hint: Callable[[], None],
        path_prefix: str = "",
        limits: ReceiverLimits | None = None,
    ) -> None:
        self._route = re.compile(re.escape(path_prefix.rstrip("/")) + rf"/(\d{{1,18}})/({_TOKEN})")
        self._store = store
        self._on_hint = on_hint
        self.limits = limits or ReceiverLimits()
        self._server: asyncio.Server | None = None
        self._receiving: dict[asyncio.StreamWriter, None] = {}  # oldest first: may make room
        self._answering: set[asyncio.StreamWriter] = set()  # waiting on the database
        self._handlers: set[asyncio.Task[None]] = set()
        self.port: int | None = None

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(
            self._serve, host, port, limit=self.limits.max_header_bytes
        )
        self.port = int(self._server.sockets[0].getsockname()[1])
        log.info("listening for EvoLink callbacks on %s:%s", host, self.port)

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        self._server = None
        for writer in [*self._receiving, *self._answering]:
            writer.transport.abort()  # each handler then ends by itself, at most after its read
        await asyncio.gather(*self._handlers, return_exceptions=True)

    @property
    def open_connections(self) -> int:
        return len(self._receiving) + len(self._answering)

    @property
    def answering(self) -> int:
        """Connections whose request is complete and waits on the database."""
        return len(self._answering)

    def _admit(self, writer: asyncio.StreamWriter) -> bool:
        if self.open_connections >= self.limits.max_connections:
            if not self._receiving:
                return False  # every place is being answered: they end without the client
            oldest = next(iter(self._receiving))
            del self._receiving[oldest]
            oldest.transport.abort()
            log.debug("callback receiver full: dropped its oldest unfinished request")
        self._receiving[writer] = None
        return True

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._admit(writer):
            log.debug("callback receiver full: refused a connection")
            writer.transport.abort()
            return
        handler = asyncio.current_task()
        if handler is not None:
            self._handlers.add(handler)
        try:
            status = await self._exchange(reader, writer)
            if status is not None:
                writer.write(_response(status))
                await writer.drain()
                await self._linger(reader, writer)
        except TimeoutError:  # before OSError, of which it is a kind
            log.debug("callback connection too slow: closed")
        except (OSError, asyncio.IncompleteReadError) as exc:
            log.debug("callback connection ended early: %s", type(exc).__name__)
        finally:
            self._receiving.pop(writer, None)
            self._answering.discard(writer)
            writer.transport.abort()  # one request per connection
            if handler is not None:
                self._handlers.discard(handler)

    async def _exchange(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> HTTPStatus | None:
        """Read one request within the limits and answer it; None when dropped meanwhile."""
        try:
            async with asyncio.timeout(self.limits.header_timeout):
                head = await reader.readuntil(b"\r\n\r\n")
            request = _parse_head(head)
            length = self._body_length(request)
            if length and request.headers.get("expect", [""])[0].lower() == "100-continue":
                writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            async with asyncio.timeout(self.limits.body_timeout):
                await reader.readexactly(length)  # drained, not read: the body is never trusted
        except asyncio.LimitOverrunError:
            return HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE
        except _Refused as refused:
            return refused.status
        if writer not in self._receiving:
            return None  # dropped for a newer connection while its last bytes arrived
        del self._receiving[writer]
        self._answering.add(writer)
        return await self._hint(request)

    def _body_length(self, request: _Request) -> int:
        if "transfer-encoding" in request.headers:
            raise _Refused(HTTPStatus.LENGTH_REQUIRED)  # a callback is small: Content-Length
        values = request.headers.get("content-length", ["0"])
        if len(values) != 1 or not _DIGITS.fullmatch(values[0]):
            raise _Refused(HTTPStatus.BAD_REQUEST)
        if len(values[0]) > 18 or int(values[0]) > self.limits.max_body_bytes:
            raise _Refused(HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
        return int(values[0])

    async def _linger(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Say that nothing more comes, then let the client read the answer and close: closing
        on bytes it is still sending (a body refused unread) would reset the connection and could
        lose the answer. Bounded in time and bytes, and the connection may make room meanwhile."""
        if writer.transport.is_closing() or not writer.can_write_eof():
            return
        writer.write_eof()
        self._answering.discard(writer)
        self._receiving[writer] = None
        unread = self.limits.max_body_bytes
        async with asyncio.timeout(self.limits.linger_timeout):
            while unread > 0 and (chunk := await reader.read(unread)):
                unread -= len(chunk)

    async def _hint(self, request: _Request) -> HTTPStatus:
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


def _parse_head(head: bytes) -> _Request:
    """The request line and headers (ending in CRLF CRLF), strictly: anything odd is a 400."""
    lines = head[:-4].decode("latin-1").split("\r\n")
    request_line = _REQUEST_LINE.fullmatch(lines[0])
    if request_line is None:
        raise _Refused(HTTPStatus.BAD_REQUEST)
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            raise _Refused(HTTPStatus.BAD_REQUEST)  # no name, or obsolete line folding
        headers.setdefault(name.lower(), []).append(value.strip())
    return _Request(request_line[1], request_line[2].partition("?")[0], headers)


def _response(status: HTTPStatus) -> bytes:
    body = json.dumps({"ok": status == HTTPStatus.OK}).encode()
    allow = "Allow: POST\r\n" if status == HTTPStatus.METHOD_NOT_ALLOWED else ""
    return (
        f"HTTP/1.1 {status.value} {status.phrase}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n{allow}"
        "Connection: close\r\n\r\n"
    ).encode() + body
