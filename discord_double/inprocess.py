"""The in-process transport: discord.py's network choke points, answered by the model.

Everything except the network is real discord.py: the command tree, transformers, checks, error
routing, views, modals, dynamic items and serialisation. Only three methods are replaced while a
:class:`FakeDiscord` is installed:

* ``discord.http.HTTPClient.request`` (bot-token REST: login, ``channel.send``, ``tree.sync`` ...),
* ``discord.webhook.async_.AsyncWebhookAdapter.request`` (interaction callbacks, follow-ups,
  ``@original`` edits, ``Webhook.partial``),
* ``discord.http.HTTPClient.get_from_cdn`` (``Attachment.read()``; serve bytes with
  :meth:`FakeDiscord.serve`).

Each request becomes a :class:`~discord_double.records.Call` that the model
(discord_double/model.py) records and answers; what Discord would refuse is raised as the
exception discord.py raises for that status (403 ``Forbidden``, 404 ``NotFound``, >= 500
``DiscordServerError`` at once, without discord.py's retry sleeps, anything else a plain
``HTTPException`` with ``.status``, ``.code`` and ``.text``).

What works without a READY event (nothing is cached; ``bot.is_ready()`` is False):

* ``interaction.channel`` is a real ``TextChannel`` (or ``DMChannel``) built from the payload's
  ``channel`` object, so ``interaction.channel_id`` and ``interaction.channel.send()`` work.
* ``interaction.guild`` is a partial guild built from the payload's ``guild`` object;
  ``interaction.user`` (a ``Member`` with ``guild_permissions`` from ``permissions``),
  ``interaction.permissions`` and ``interaction.app_permissions`` all work.
* ``bot.get_channel()``, ``bot.get_guild()``, ``bot.get_user()`` return ``None``; use
  ``bot.get_partial_messageable(channel_id)`` or ``await bot.fetch_user(id)``
  (``guild_available`` feeds a GUILD_CREATE).

Unknown routes are recorded in ``unhandled`` and answered ``{}`` (which may make discord.py fail
to parse the answer); ``FakeDiscord(strict=True)`` raises :class:`UnhandledRequest` instead.
"""

from __future__ import annotations

import copy
import http
import json
import re
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar, cast

import discord
from discord.http import HTTPClient, Route
from discord.webhook.async_ import AsyncWebhookAdapter

from discord_double.ids import APPLICATION_ID, GUILD_ID, OWNER_ID
from discord_double.model import DiscordModel
from discord_double.records import Call, DiscordError, UnknownRoute
from discord_double.routes import match_template

__all__ = ["FakeDiscord", "UnhandledRequest", "make_http_exception"]


class UnhandledRequest(AssertionError):
    """Raised in strict mode for a route the model does not know."""


class _FakeResponse:
    """Just enough of ``aiohttp.ClientResponse`` for ``discord.HTTPException``."""

    def __init__(self, status: int, method: str, url: str) -> None:
        self.status = status
        try:
            self.reason = http.HTTPStatus(status).phrase
        except ValueError:
            self.reason = "Unknown"
        self.headers: dict[str, str] = {}
        self.method = method
        self.url = url


def make_http_exception(
    status: int, code: int = 0, message: str = "", *, method: str = "GET", url: str = ""
) -> discord.HTTPException:
    """Exactly the exception discord.py raises for this status and JSON error body."""
    response = cast(Any, _FakeResponse(status, method, url))
    body = {"code": code, "message": message or response.reason}
    if status == 403:
        return discord.Forbidden(response, body)
    if status == 404:
        return discord.NotFound(response, body)
    if status >= 500:
        return discord.DiscordServerError(response, body)
    return discord.HTTPException(response, body)


def _path_of(route: Route) -> str:
    url = route.url
    if url.startswith(Route.BASE):
        return url[len(Route.BASE) :]
    path = urllib.parse.urlsplit(url).path
    return re.sub(r"^/api(/v\d+)?", "", path)


def _read_files(files: Sequence[discord.File] | None) -> list[tuple[str, bytes]]:
    out: list[tuple[str, bytes]] = []
    for f in files or ():
        f.reset()
        data = f.fp.read()
        f.reset()
        out.append((f.filename, bytes(data)))
    return out


def _payload_json(parts: Iterable[Mapping[str, Any]] | None) -> Any:
    for part in parts or ():
        if part.get("name") == "payload_json":
            value = part["value"]
            return json.loads(value if isinstance(value, str) else bytes(value).decode())
    return None


class FakeDiscord(DiscordModel):
    """Records and answers every REST request of every discord.py client in the process.

    Install with :meth:`install` / :meth:`uninstall` or ``with FakeDiscord() as fake:`` (the
    tests' ``fake_discord`` fixture does). Only one instance can be installed at a time.
    """

    _active: ClassVar[FakeDiscord | None] = None

    def __init__(
        self,
        *,
        strict: bool = False,
        application_id: int = APPLICATION_ID,
        bot_name: str = "TestBot",
        owner_id: int = OWNER_ID,
        default_guild_id: int = GUILD_ID,
    ) -> None:
        super().__init__(
            application_id=application_id,
            bot_name=bot_name,
            owner_id=owner_id,
            default_guild_id=default_guild_id,
        )
        self.strict = strict
        self._saved: tuple[Any, Any, Any] | None = None

    @classmethod
    def active(cls) -> FakeDiscord | None:
        """The installed instance, if any."""
        return cls._active

    def install(self) -> None:
        if FakeDiscord._active is not None:
            raise RuntimeError("another FakeDiscord is already installed")
        self._saved = (HTTPClient.request, AsyncWebhookAdapter.request, HTTPClient.get_from_cdn)
        fake = self

        async def http_request(
            http_self: HTTPClient,
            route: Route,
            *,
            files: Sequence[discord.File] | None = None,
            form: Iterable[dict[str, Any]] | None = None,
            **kwargs: Any,
        ) -> Any:
            body = kwargs.get("json")
            if body is None and form is not None:
                body = _payload_json(form)
            return await fake._handle(
                "bot",
                route,
                body=copy.deepcopy(body),
                files=_read_files(files),
                params=kwargs.get("params"),
                reason=kwargs.get("reason"),
                auth=f"Bot {http_self.token}" if http_self.token is not None else None,
            )

        async def webhook_request(
            adapter_self: AsyncWebhookAdapter,
            route: Route,
            session: Any = None,
            *,
            payload: dict[str, Any] | None = None,
            multipart: list[dict[str, Any]] | None = None,
            proxy: str | None = None,
            proxy_auth: Any = None,
            files: Sequence[discord.File] | None = None,
            reason: str | None = None,
            auth_token: str | None = None,
            params: dict[str, Any] | None = None,
        ) -> Any:
            body: Any = payload
            if body is None and multipart is not None:
                body = _payload_json(multipart)
            return await fake._handle(
                "webhook",
                route,
                body=copy.deepcopy(body),
                files=_read_files(files),
                params=params,
                reason=reason,
                auth=f"Bot {auth_token}" if auth_token is not None else None,
            )

        async def get_from_cdn(http_self: HTTPClient, url: str) -> bytes:
            return await fake._cdn_get(url)

        setattr(HTTPClient, "request", http_request)  # noqa: B010
        setattr(AsyncWebhookAdapter, "request", webhook_request)  # noqa: B010
        setattr(HTTPClient, "get_from_cdn", get_from_cdn)  # noqa: B010
        FakeDiscord._active = self

    def uninstall(self) -> None:
        if self._saved is not None:
            http_request, webhook_request, cdn = self._saved
            setattr(HTTPClient, "request", http_request)  # noqa: B010
            setattr(AsyncWebhookAdapter, "request", webhook_request)  # noqa: B010
            setattr(HTTPClient, "get_from_cdn", cdn)  # noqa: B010
            self._saved = None
        if FakeDiscord._active is self:
            FakeDiscord._active = None

    def __enter__(self) -> FakeDiscord:
        self.install()
        return self

    def __exit__(self, *exc: object) -> None:
        self.uninstall()

    async def _handle(
        self,
        via: str,
        route: Route,
        *,
        body: Any,
        files: list[tuple[str, bytes]],
        params: dict[str, Any] | None,
        reason: str | None,
        auth: str | None = None,
    ) -> Any:
        """Answer one request that reached a choke point (the seam a subclass may wrap)."""
        path = _path_of(route)
        call = Call(
            method=route.method,
            path=path,
            route_template=route.path,
            json=body,
            files=files,
            params=dict(params) if params is not None else None,
            route_params=match_template(route.path, path) or {},
            via=via,
            reason=reason,
        )
        try:
            answer = await self.answer(call, auth=auth)
        except DiscordError as exc:
            raise make_http_exception(
                exc.status, exc.code, exc.message, method=call.method, url=call.path
            ) from None
        except UnknownRoute:
            if self.strict:
                raise UnhandledRequest(
                    f"FakeDiscord has no answer for {call.method} {call.path}"
                ) from None
            return {}
        # discord.py reads a 204's empty body as text: "", not None
        return "" if answer is None else answer

    async def _cdn_get(self, url: str) -> bytes:
        try:
            return await self.cdn_get(url)
        except DiscordError as exc:
            raise make_http_exception(exc.status, exc.code, exc.message, url=url) from None
