"""Fetches a finished video so it can be attached: checked, streamed, size- and time-capped.

EvoLink's result links expire after 24 hours; an attached file plays inline and stays. The link
comes from outside, so every hop is held to bot/addresses.py's policy: https only, every address
its name resolves to must be public (checked with the event loop's getaddrinfo), and the
connection goes to exactly the addresses checked, so DNS cannot change in between. Redirects are
followed by hand, each one checked again. The one exception is the exact origin (scheme, host and
port) of a loopback EvoLink base URL: the simulator serves its files there.

Only a video is kept: the file's own first bytes must say MP4/MOV (an `ftyp` box) or
WebM/Matroska (EBML), and they name it; the Content-Type can only refuse (a type that is neither
a video nor a generic binary), never vouch for a body on its own. Any failure or refusal returns
None, and the caller posts the link instead.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import tempfile
from dataclasses import dataclass
from typing import IO
from urllib.parse import urljoin

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from bot import addresses

log = logging.getLogger(__name__)

MAX_REDIRECTS = 3
SPOOL_IN_MEMORY = 8 * 1024 * 1024  # bigger files go to a temporary file on disk
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 30.0
CHUNK = 64 * 1024
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
SIGNATURE_LENGTH = 64  # enough for the ftyp brand and the EBML DocType
EBML_MAGIC = b"\x1a\x45\xdf\xa3"  # WebM and Matroska
# Content-Types a video may come with besides video/*: a server that does not say what it is
GENERIC_TYPES = frozenset({"application/octet-stream", "binary/octet-stream", "application/mp4"})


class Refused(Exception):
    """A link or an answer we will not fetch or keep (the reason goes to the log)."""


@dataclass(frozen=True)
class Video:
    """A downloaded video, rewound, and the file name extension its first bytes give it."""

    file: IO[bytes]
    extension: str

    def close(self) -> None:
        self.file.close()


def video_extension(head: bytes) -> str | None:
    """What a file starting with `head` is, by its own signature: `.mov` (an `ftyp` box of
    brand `qt  `), `.mp4` (any other `ftyp`), `.webm` or `.mkv` (EBML, by its DocType); None
    for anything else."""
    if head[4:8] == b"ftyp":
        return ".mov" if head[8:12] == b"qt  " else ".mp4"
    if head[:4] == EBML_MAGIC:
        return ".webm" if b"webm" in head else ".mkv"
    return None


def is_video_signature(head: bytes) -> bool:
    """Whether a file starting with `head` is an MP4/MOV (an `ftyp` box first) or WebM/MKV."""
    return video_extension(head) is not None


class VideoDownloader:
    def __init__(self, evolink_base_url: str | None = None) -> None:
        self._trusted = addresses.loopback_origin(evolink_base_url) if evolink_base_url else None

    async def download(self, url: str, *, max_bytes: int, max_seconds: float) -> Video | None:
        """The video, rewound, if it is at most `max_bytes`; else None. The caller closes it."""
        resolver = _CheckedResolver()
        connector = aiohttp.TCPConnector(resolver=resolver, use_dns_cache=False)
        timeout = aiohttp.ClientTimeout(sock_connect=CONNECT_TIMEOUT, sock_read=READ_TIMEOUT)
        try:
            async with (
                asyncio.timeout(max_seconds),
                aiohttp.ClientSession(
                    connector=connector, timeout=timeout, auto_decompress=False, trust_env=False
                ) as session,
            ):
                return await self._follow(session, resolver, url, max_bytes)
        except Refused as exc:
            log.warning("not downloading a video: %s", exc)
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
            log.info("video download failed: %s", exc)
        return None

    async def _follow(
        self, session: aiohttp.ClientSession, resolver: _CheckedResolver, url: str, max_bytes: int
    ) -> Video | None:
        for _ in range(MAX_REDIRECTS + 1):
            target = await self._check(url, resolver)
            async with session.get(
                str(target), allow_redirects=False, headers={"Accept-Encoding": "identity"}
            ) as response:
                if response.status in REDIRECT_STATUSES and "Location" in response.headers:
                    url = urljoin(str(target), response.headers["Location"])
                    continue
                if response.status != 200:
                    log.info("video download answered HTTP %s", response.status)
                    return None
                return await _read_video(response, max_bytes)
        raise Refused(f"more than {MAX_REDIRECTS} redirects")

    async def _check(self, url: str, resolver: _CheckedResolver) -> addresses.Url:
        """The link as it will be fetched, once every address it leads to is allowed."""
        try:
            target = addresses.parse_url(url)
        except addresses.BadUrl as exc:
            raise Refused(f"a link that is {exc}") from None
        trusted = target.origin == self._trusted
        if not trusted:
            if target.scheme != "https":
                raise Refused(f"{target.scheme}:// to {target.host} (https only)")
            if target.address is None and addresses.is_local_name(target.host):
                raise Refused(f"a local name, {target.host}")
        found = (
            [target.address]
            if target.address is not None
            else await _lookup(target.host, target.port)
        )
        allowed = _is_loopback if trusted else addresses.is_public_address
        refused = [str(address) for address in found if not allowed(address)]
        if refused or not found:
            raise Refused(f"{target.host} leads to {', '.join(refused) or 'no address'}")
        resolver.checked[target.host] = found
        return target


def _is_loopback(address: addresses.IPAddress) -> bool:
    return address.is_loopback


async def _lookup(host: str, port: int) -> list[addresses.IPAddress]:
    """Every address `host` resolves to, looked up off the event loop."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: list[addresses.IPAddress] = []
    for *_, sockaddr in infos:
        address = addresses.parse_ip(str(sockaddr[0]))
        if address not in found:
            found.append(address)
    return found


class _CheckedResolver(AbstractResolver):
    """Answers aiohttp with the addresses already checked for a name, and nothing else: the
    connection goes where the check said it may, whatever DNS answers a moment later."""

    def __init__(self) -> None:
        self.checked: dict[str, list[addresses.IPAddress]] = {}

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = self.checked.get(host.rstrip(".").lower())
        if not found:
            raise OSError(f"{host} was not checked before connecting")
        return [
            ResolveResult(
                hostname=host,
                host=str(address),
                port=port,
                family=socket.AF_INET6 if address.version == 6 else socket.AF_INET,
                proto=socket.IPPROTO_TCP,
                flags=socket.AI_NUMERICHOST,
            )
            for address in found
        ]

    async def close(self) -> None:
        return None


async def _read_video(response: aiohttp.ClientResponse, max_bytes: int) -> Video | None:
    """The body in a spooled file, if it is a video of at most `max_bytes`."""
    if response.content_length is not None and response.content_length > max_bytes:
        return None
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise Refused(f"a body encoded as {encoding}")
    content_type = response.content_type.lower()
    if not content_type.startswith("video/") and content_type not in GENERIC_TYPES:
        raise Refused(f"a body of type {content_type}")
    spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)
    try:
        size, head = 0, b""
        async for chunk in response.content.iter_chunked(CHUNK):
            size += len(chunk)
            if size > max_bytes:
                spool.close()
                return None
            spool.write(chunk)
            if len(head) < SIGNATURE_LENGTH:
                head += chunk[: SIGNATURE_LENGTH - len(head)]
                if len(head) >= 8:  # the signatures are in the first 8 bytes: refuse early
                    _require_video(head, content_type)
        if size == 0:
            spool.close()
            return None
        extension = _require_video(head, content_type)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return Video(spool, extension)


def _require_video(head: bytes, content_type: str) -> str:
    extension = video_extension(head)
    if extension is None:
        raise Refused(f"a body that is not a video ({content_type})")
    return extension
