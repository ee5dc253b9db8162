"""Fetches a finished video so it can be attached: streamed, size-capped, time-limited.

EvoLink's result links expire after 24 hours; an attached file plays inline and stays. Any
failure (too big, too slow, an error, an address we will not fetch) returns None, and the caller
posts the link instead.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import tempfile
from typing import IO
from urllib.parse import urlsplit

import httpx

log = logging.getLogger(__name__)

SPOOL_IN_MEMORY = 8 * 1024 * 1024  # bigger files go to a temporary file on disk


def fetchable(url: str, trusted_host: str | None = None) -> bool:
    """Only http(s) links to public hosts, or to the API's own host (the simulator serves its
    files from the same loopback address as its API)."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not host:
        return False
    if trusted_host is not None and host == trusted_host.lower():
        return True
    if parts.scheme != "https" or host == "localhost" or host.endswith(".localhost"):
        return False
    try:
        return ipaddress.ip_address(host).is_global
    except ValueError:
        return True  # a DNS name


async def download(
    http: httpx.AsyncClient, url: str, *, max_bytes: int, max_seconds: float
) -> IO[bytes] | None:
    """The file, rewound, if it is at most `max_bytes`; else None. The caller closes it."""
    spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)
    try:
        async with asyncio.timeout(max_seconds), http.stream("GET", url) as response:
            if response.status_code != 200:
                log.info("video download answered HTTP %s", response.status_code)
                spool.close()
                return None
            declared = response.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > max_bytes:
                spool.close()
                return None
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    spool.close()
                    return None
                spool.write(chunk)
    except (httpx.HTTPError, OSError, TimeoutError) as exc:
        log.info("video download failed: %s", exc)
        spool.close()
        return None
    if size == 0:
        spool.close()
        return None
    spool.seek(0)
    return spool
