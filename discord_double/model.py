"""One model of Discord for both transports: every request, whichever way it came, is recorded
and answered here, the way Discord answers it.

Each request passes, in order: the bot token (when :attr:`DiscordModel.token` is set: 401), an
expired interaction token (401, code 50027), a failure a test injected (:meth:`fail`), the upload
limit (413, code 40005), Discord's size rules for what a bot sends (discord_double/rules.py: 400,
code 50035, also listed in :attr:`refused`), and then the route. A route the model does not know
is recorded in :attr:`unhandled`. Answers a test holds back (:meth:`hold_answers`) wait for it.

The in-process transport (discord_double/inprocess.py) turns refusals into the exceptions
discord.py raises; the HTTP transport (discord_double/server.py) into the statuses and JSON
bodies Discord sends. A change to what Discord does is made here once.
"""

from __future__ import annotations

import asyncio
import copy
from typing import Any, cast

from discord_double.ids import APPLICATION_ID, DEFAULT_UPLOAD_LIMIT, GUILD_ID, OWNER_ID
from discord_double.messages import EPHEMERAL
from discord_double.records import (
    Call,
    DiscordError,
    Failure,
    Hold,
    MessageRecord,
    UnknownRoute,
)
from discord_double.routes import CALLBACK, ORIGINAL, RestModel
from discord_double.rules import payload_problems

__all__ = ["DiscordModel"]


class DiscordModel(RestModel):
    """Discord's state (see the module doc); a transport feeds it :class:`Call` records."""

    def __init__(
        self,
        *,
        application_id: int = APPLICATION_ID,
        bot_name: str = "TestBot",
        owner_id: int = OWNER_ID,
        default_guild_id: int = GUILD_ID,
        token: str | None = None,
        upload_limit: int = DEFAULT_UPLOAD_LIMIT,
    ) -> None:
        """``token``: when set, bot-token requests with another token answer 401.
        ``upload_limit``: a request whose files add up to more bytes is refused with 413."""
        super().__init__(
            application_id=application_id,
            bot_name=bot_name,
            owner_id=owner_id,
            default_guild_id=default_guild_id,
        )
        self.token = token
        self.upload_limit = upload_limit
        self.calls: list[Call] = []
        """Every request, in order (including the ones answered with an error)."""
        self.unhandled: list[Call] = []
        self.refused: list[tuple[Call, list[str]]] = []
        """Requests answered 400 (50035 Invalid Form Body) for breaking Discord's size rules,
        with what was wrong."""
        self._failures: list[Failure] = []
        self._holds: list[Hold] = []

    # ---- answering ------------------------------------------------------------------------

    async def answer(self, call: Call, *, auth: str | None = None) -> Any:
        """Record ``call`` and answer it: the JSON Discord sends back (None: 204 No Content).

        Raises :class:`DiscordError` for what Discord refuses and :class:`UnknownRoute` for a
        route the model does not know. ``auth`` is the ``Authorization`` header, if any.
        """
        found = self.route(call.method, call.path)
        if found is not None:
            call.route_template, call.route_params, _ = found
        elif not call.route_template:
            call.route_template = call.path
        call.bot_auth = (auth or "").startswith("Bot ")
        self.calls.append(call)
        await asyncio.sleep(0)  # let other tasks run, as a real request would
        try:
            self._refuse(call, auth)
            if found is None:
                self.unhandled.append(call)
                raise UnknownRoute(f"{call.method} {call.path}")
            result = copy.deepcopy(found[2](call))
        except DiscordError as exc:
            call.status = exc.status
            raise
        call.status = 200 if result is not None else 204
        for hold in self._holds:
            if hold.matches(call):
                hold.held.append(call)
                await hold.released.wait()
        return result

    def _refuse(self, call: Call, auth: str | None) -> None:
        """Raise what Discord answers before it looks at the route (see the module doc)."""
        if self.token is not None and call.bot_auth and auth != f"Bot {self.token}":
            raise DiscordError(401, 0, "401: Unauthorized")
        if call.route_params.get("webhook_token") in self._expired_tokens:
            raise DiscordError(401, 50027, "Invalid Webhook Token")
        self._raise_injected(call)
        if sum(len(data) for _, data in call.files) > self.upload_limit:
            raise DiscordError(413, 40005, "Request entity too large")
        problems = payload_problems(call.method, call.path, call.json)
        if problems:
            self.refused.append((call, problems))
            raise DiscordError(400, 50035, "Invalid Form Body: " + "; ".join(problems))

    def _raise_injected(self, call: Call) -> None:
        for failure in self._failures:
            if failure.matches(call):
                failure.times -= 1
                if failure.times <= 0:
                    self._failures.remove(failure)
                raise DiscordError(failure.status, failure.code, failure.message)

    async def cdn_get(self, url: str) -> bytes:
        """The bytes behind an attachment URL (``Attachment.read()``), recorded as a call."""
        call = Call(method="GET", path=url, route_template="<cdn>", via="cdn")
        self.calls.append(call)
        await asyncio.sleep(0)
        try:
            self._raise_injected(call)
            if url not in self.cdn:
                raise DiscordError(404, 0, "asset not found")
        except DiscordError as exc:
            call.status = exc.status
            raise
        return self.cdn[url]

    # ---- test controls --------------------------------------------------------------------

    def fail(
        self,
        *,
        method: str | None = None,
        path_contains: str | None = None,
        status: int,
        code: int = 0,
        message: str = "",
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` matching requests with this error, e.g.
        ``fail(method="POST", path_contains=f"/channels/{cid}/messages", status=403,
        code=50013)``. ``path_contains`` is looked for in the concrete path and in the route
        template (``"/callback"``, ``"/messages/@original"``, ``"/webhooks/"``)."""
        if times < 1:
            raise ValueError("times must be >= 1")
        self._failures.append(Failure(method, path_contains, status, code, message, times))

    def clear_failures(self) -> None:
        self._failures.clear()

    def hold_answers(self, *, method: str | None = None, path_contains: str | None = None) -> Hold:
        """From now on, matching requests are carried out (a message is stored) but answered
        only after ``hold.release()``: the way to lose an answer, e.g. to kill a bot between
        Discord creating its message and the bot hearing about it."""
        hold = Hold(method.upper() if method else None, path_contains)
        self._holds.append(hold)
        return hold

    # ---- queries --------------------------------------------------------------------------

    def calls_to(self, method: str | None, template_or_substring: str) -> list[Call]:
        """Calls whose template equals, or whose path or template contains, the given string."""
        wanted = method.upper() if method is not None else None
        return [
            c
            for c in self.calls
            if (wanted is None or c.method == wanted)
            and (
                c.route_template == template_or_substring
                or template_or_substring in c.path
                or template_or_substring in c.route_template
            )
        ]

    def interaction_responses(self, interaction_id: int) -> list[Call]:
        """The ``POST /interactions/{id}/{token}/callback`` calls for this interaction."""
        return [
            c
            for c in self.calls
            if c.route_template == CALLBACK
            and c.route_params.get("webhook_id") == str(interaction_id)
        ]

    def interaction_response(self, interaction_id: int) -> dict[str, Any]:
        """The JSON body of the (single, successful) callback of this interaction."""
        ok = [c for c in self.interaction_responses(interaction_id) if c.status < 300]
        if len(ok) != 1:
            raise AssertionError(
                f"interaction {interaction_id} got {len(ok)} successful callbacks, expected 1"
            )
        return cast(dict[str, Any], ok[0].json)

    def modal_sent(self, interaction_id: int) -> dict[str, Any]:
        """The modal (``data`` of the type-9 callback) sent in answer to this interaction."""
        body = self.interaction_response(interaction_id)
        if body.get("type") != 9:
            raise AssertionError(f"interaction {interaction_id} answered type {body.get('type')}")
        return cast(dict[str, Any], body["data"])

    def original_edits(self, interaction_id: int) -> list[Call]:
        """Successful ``PATCH .../messages/@original`` requests of this interaction."""
        state = self._interactions.get(interaction_id)
        if state is None:
            return []
        return [
            c
            for c in self.calls
            if c.method == "PATCH"
            and c.route_template == ORIGINAL
            and c.route_params.get("webhook_token") == state.token
            and c.status < 300
        ]

    def interaction_messages(self, interaction_id: int) -> list[MessageRecord]:
        """Live messages created through this interaction (original first, then follow-ups)."""
        return sorted(
            (m for m in self.messages.values() if m["interaction_id"] == interaction_id),
            key=lambda m: (m["kind"] != "original", m["id"]),
        )

    def original(self, interaction_id: int) -> MessageRecord | None:
        state = self._interactions.get(interaction_id)
        if state is None or state.original_id is None:
            return None
        return self.messages.get(state.original_id)

    def private_reply(self, interaction_id: int) -> MessageRecord:
        """The interaction's own message where only the member sees it: an ephemeral answer,
        or a private "thinking…" edited into one (AssertionError when there is none)."""
        message = self.original(interaction_id)
        if message is None or not message["flags"] & EPHEMERAL:
            raise AssertionError(f"interaction {interaction_id} has no private reply: {message}")
        return message

    def followups(self, interaction_id: int) -> list[MessageRecord]:
        return [m for m in self.interaction_messages(interaction_id) if m["kind"] == "followup"]

    def refusals(self) -> str:
        """What :attr:`refused` holds, one line per request (empty when nothing was)."""
        return "\n".join(
            f"{call.method} {call.route_template}: {'; '.join(problems)}"
            for call, problems in self.refused
        )
