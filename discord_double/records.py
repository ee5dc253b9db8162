"""What the model records and keeps: each request (:class:`Call`), each message
(:class:`MessageRecord`), each interaction, and the errors and holds a test injects."""

from __future__ import annotations

import asyncio
import http
from dataclasses import dataclass, field
from typing import Any, TypedDict

__all__ = [
    "Call",
    "DiscordError",
    "Failure",
    "Hold",
    "InteractionState",
    "MessageRecord",
    "UnknownRoute",
]


@dataclass
class Call:
    """One request the bot made, whichever transport carried it."""

    method: str
    path: str
    """The concrete path without the API prefix, e.g. ``/channels/123/messages`` (for
    ``via='cdn'``: the full URL)."""
    route_template: str = ""
    """The route's template, e.g. ``/channels/{channel_id}/messages`` (discord.py's names)."""
    json: Any = None
    """The JSON body: ``json=`` or the ``payload_json`` part of a multipart request."""
    files: list[tuple[str, bytes]] = field(default_factory=list)
    params: dict[str, Any] | None = None
    """Query parameters (over HTTP their string values)."""
    route_params: dict[str, str] = field(default_factory=dict)
    """Values of the template's placeholders, e.g. ``{"channel_id": "123"}``."""
    via: str = "bot"
    """``'bot'`` (bot-token REST), ``'webhook'`` (interactions and webhooks) or ``'cdn'``."""
    reason: str | None = None
    bot_auth: bool = False
    """Whether it carried an ``Authorization: Bot ...`` header (the token itself is not kept)."""
    status: int = 200
    """The status it was answered with (an error status when a failure was injected)."""

    @property
    def file_names(self) -> list[str]:
        return [name for name, _ in self.files]


class DiscordError(Exception):
    """Discord's answer to a request it refuses: HTTP status, JSON error code and message."""

    def __init__(self, status: int, code: int = 0, message: str = "") -> None:
        if not message:
            try:
                message = http.HTTPStatus(status).phrase
            except ValueError:
                message = "Unknown"
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def body(self) -> dict[str, Any]:
        return {"message": self.message, "code": self.code}


def _matches(method: str | None, path_contains: str | None, call: Call) -> bool:
    """``path_contains`` is looked for in the concrete path and in the route template, e.g.
    ``"/callback"``, ``"/messages/@original"`` or ``f"/channels/{cid}/"``."""
    if method is not None and method.upper() != call.method:
        return False
    return path_contains is None or (
        path_contains in call.path or path_contains in call.route_template
    )


class UnknownRoute(Exception):
    """A request for a route the model does not know (recorded in ``unhandled``)."""


@dataclass
class Failure:
    method: str | None
    path_contains: str | None
    status: int
    code: int
    message: str
    times: int

    def matches(self, call: Call) -> bool:
        return _matches(self.method, self.path_contains, call)


@dataclass
class Hold:
    """Matching requests take effect at once but get no answer until :meth:`release`: a client
    that dies meanwhile never learns that its request succeeded."""

    method: str | None
    path_contains: str | None
    held: list[Call] = field(default_factory=list)
    released: asyncio.Event = field(default_factory=asyncio.Event)

    def matches(self, call: Call) -> bool:
        return _matches(self.method, self.path_contains, call)

    def release(self) -> None:
        self.released.set()


@dataclass
class InteractionState:
    id: int
    token: str
    payload: dict[str, Any]
    channel_id: int | None = None
    responded: bool = False
    response_type: int | None = None
    original_id: int | None = None

    @property
    def type(self) -> int:
        return int(self.payload.get("type", 2))


class MessageRecord(TypedDict):
    """A live message as the model keeps it (``api_message(id)`` gives the shape Discord
    sends)."""

    id: int
    channel_id: int
    kind: str
    """``'channel'`` (bot token), ``'original'``, ``'followup'`` or ``'webhook'``."""
    content: str
    embeds: list[Any]
    components: list[Any]
    allowed_mentions: Any
    """As the bot sent it (Discord does not send it back)."""
    mentions: list[dict[str, Any]]
    """The users Discord would actually ping under ``allowed_mentions``."""
    mention_everyone: bool
    attachments: list[str]
    """File names; the attachment objects are in ``attachment_objects``."""
    attachment_objects: list[dict[str, Any]]
    flags: int
    nonce: Any
    tts: bool
    message_reference: Any
    interaction_id: int | None
    webhook_id: int | None
    type: int
    timestamp: str
    edited_timestamp: str | None
