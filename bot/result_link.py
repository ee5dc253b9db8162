"""Whether the link EvoLink gives for a finished video (`results[0]`) is one the bot can hand out.

The link is outside input. It is posted to the member, shown to moderators, downloaded with httpx
over aiohttp (yarl) and read with urllib; a link one of them rejects would fail the delivery again
on every attempt. So a link is usable only if it is an absolute https URL of at most
`MAX_LENGTH` characters written with URI characters alone (RFC 3986: no spaces, no control or
invisible characters, no raw non-ASCII), without a user name or password, and every one of those
libraries reads the same host from it. Plain http is accepted only from the API's own origin
(the simulator serves its files from the loopback address of its API).

No Discord and no message text here: the answer is a short reason for the log and the mod-log.
"""

from __future__ import annotations

import re
from urllib.parse import SplitResult, urlsplit

import httpx
import yarl

MAX_LENGTH = 2048  # the usual bound for a URL, and EvoLink's own bound for callback URLs
_URI_CHARACTERS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")
_BROKEN_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def problem(url: str, api_origin: str | None = None) -> str | None:
    """None if the link is usable, else why not (a short English phrase, for moderators)."""
    if len(url) > MAX_LENGTH:
        return f"longer than {MAX_LENGTH} characters ({len(url)})"
    if not _URI_CHARACTERS.fullmatch(url):
        return "contains characters a URL cannot hold (spaces, control or non-ASCII characters)"
    if _BROKEN_ESCAPE.search(url):
        return "contains a broken %-escape"
    try:
        parts = urlsplit(url)
        port = parts.port
        host = parts.hostname
    except ValueError:
        return "not a readable URL"
    if parts.scheme not in ("https", "http") or not host:
        return "not an absolute https URL"
    if parts.scheme == "http" and not _same_origin(parts, port, api_origin):
        return "plain http, not https"
    if parts.username is not None or parts.password is not None:
        return "carries a user name or password"
    try:
        httpx_host = httpx.URL(url).raw_host.decode("ascii").lower()
        yarl_url = yarl.URL(url)
    except (httpx.InvalidURL, ValueError, TypeError, UnicodeError):
        return "refused by the HTTP libraries"
    if not yarl_url.absolute or {httpx_host, (yarl_url.raw_host or "").lower()} != {host}:
        return "read differently by the HTTP libraries"
    return None


def _same_origin(parts: SplitResult, port: int | None, api_origin: str | None) -> bool:
    if not api_origin:
        return False
    try:
        api = urlsplit(api_origin)
        api_port = api.port
    except ValueError:
        return False
    return (api.scheme, api.hostname, api_port) == (parts.scheme, parts.hostname, port)
