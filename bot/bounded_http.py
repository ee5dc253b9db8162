"""A small HTTP/1.1 server with hard limits, for the two the bot may open to the network: the
EvoLink callback receiver (bot/callbacks.py) and the monitoring endpoint (bot/health.py).

aiohttp's server waits for a request's headers without end, so a few hundred stalled connections
would take the file descriptors the rest of the bot needs. Here every connection carries one
request and is closed after its answer; the request line and headers must arrive within a
deadline and a size; and at most a fixed number of connections are open. At that cap the oldest
connection still sending its request makes room for the newcomer: a real client sends its
request at once, a stalled one is the likeliest abuse. Subclasses read the rest of the request
(a body, if any) and compute the answer.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from http import HTTPStatus

log = logging.getLogger(__name__)

_REQUEST_LINE = re.compile(r"([A-Z]{1,16}) (\S{1,2048}) HTTP/1\.[01]")


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # without the query string
    headers: dict[str, list[str]]  # lower-case names


@dataclass(frozen=True)
class Answer:
    status: HTTPStatus
    content_type: str
    body: bytes
    allow: str | None = None  # the methods a 405 names


class Refused(Exception):
    """The request cannot be served; answered with this status, then the connection closes."""

    def __init__(self, status: HTTPStatus) -> None:
        super().__init__(status.phrase)
        self.status = status


def parse_head(head: bytes) -> Request:
    """The request line and headers (ending in CRLF CRLF), strictly: anything odd is a 400."""
    lines = head[:-4].decode("latin-1").split("\r\n")
    request_line = _REQUEST_LINE.fullmatch(lines[0])
    if request_line is None:
        raise Refused(HTTPStatus.BAD_REQUEST)
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            raise Refused(HTTPStatus.BAD_REQUEST)  # no name, or obsolete line folding
        headers.setdefault(name.lower(), []).append(value.strip())
    return Request(request_line[1], request_line[2].partition("?")[0], headers)


def encode(answer: Answer) -> bytes:
    allow = f"Allow: {answer.allow}\r\n" if answer.allow else ""
    return (
        f"HTTP/1.1 {answer.status.value} {answer.status.phrase}\r\n"
        f"Content-Type: {answer.content_type}\r\nContent-Length: {len(answer.body)}\r\n{allow}"
        "Cache-Control: no-store\r\nConnection: close\r\n\r\n"
    ).encode() + answer.body


class BoundedServer:
    """One request per connection, within `header_timeout` and `max_header_bytes`, at most
    `max_connections` open. Subclasses implement `exchange` (after the headers: read what else
    the request holds, then `begin_answer`, then return the answer)."""

    name = "http"  # for the log

    def __init__(self, *, max_connections: int, header_timeout: float, max_header_bytes: int):
        self.max_connections = max_connections
        self.header_timeout = header_timeout
        self.max_header_bytes = max_header_bytes
        self._server: asyncio.Server | None = None
        self._receiving: dict[asyncio.StreamWriter, None] = {}  # oldest first: may make room
        self._answering: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self.port: int | None = None

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(
            self._serve, host, port, limit=self.max_header_bytes
        )
        self.port = int(self._server.sockets[0].getsockname()[1])

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
        """Connections whose request is complete and is being answered."""
        return len(self._answering)

    async def exchange(
        self, request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> Answer | None:
        """The answer to `request`; None when the connection was dropped meanwhile."""
        raise NotImplementedError

    def refusal(self, status: HTTPStatus) -> Answer:
        """How this server words a refusal of the request itself (400, 431, ...)."""
        return Answer(status, "text/plain; charset=utf-8", f"{status.phrase}\n".encode())

    async def after_answer(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Once the answer is sent, before the connection closes."""

    def begin_answer(self, writer: asyncio.StreamWriter) -> bool:
        """The request is complete: its connection no longer makes room for newcomers. False if
        it was dropped for a newer one while its last bytes arrived."""
        if writer not in self._receiving:
            return False
        del self._receiving[writer]
        self._answering.add(writer)
        return True

    def receiving_again(self, writer: asyncio.StreamWriter) -> None:
        """The answer is out; the connection may make room again while it closes."""
        self._answering.discard(writer)
        self._receiving[writer] = None

    def _admit(self, writer: asyncio.StreamWriter) -> bool:
        if self.open_connections >= self.max_connections:
            if not self._receiving:
                return False  # every place is being answered: they end without the client
            oldest = next(iter(self._receiving))
            del self._receiving[oldest]
            oldest.transport.abort()
            log.debug("%s server full: dropped its oldest unfinished request", self.name)
        self._receiving[writer] = None
        return True

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._admit(writer):
            log.debug("%s server full: refused a connection", self.name)
            writer.transport.abort()
            return
        handler = asyncio.current_task()
        if handler is not None:
            self._handlers.add(handler)
        try:
            answer = await self._answer(reader, writer)
            if answer is not None:
                writer.write(encode(answer))
                await writer.drain()
                await self.after_answer(reader, writer)
                writer.close()  # what is still buffered goes out, then the connection closes
        except TimeoutError:  # before OSError, of which it is a kind
            log.debug("%s connection too slow: closed", self.name)
        except (OSError, asyncio.IncompleteReadError) as exc:
            log.debug("%s connection ended early: %s", self.name, type(exc).__name__)
        except Exception:
            log.exception("the %s server failed to answer", self.name)
        finally:
            self._receiving.pop(writer, None)
            self._answering.discard(writer)
            if not writer.transport.is_closing():
                writer.transport.abort()  # one request per connection
            if handler is not None:
                self._handlers.discard(handler)

    async def _answer(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> Answer | None:
        try:
            async with asyncio.timeout(self.header_timeout):
                head = await reader.readuntil(b"\r\n\r\n")
            return await self.exchange(parse_head(head), reader, writer)
        except asyncio.LimitOverrunError:
            return self.refusal(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)
        except Refused as refused:
            return self.refusal(refused.status)
