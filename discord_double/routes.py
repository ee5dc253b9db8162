"""Discord's REST routes as the model answers them: login, commands, channels, DMs, messages,
interaction callbacks, follow-ups, ``@original`` and webhooks. Templates use discord.py's names,
so a test can match a call by the route discord.py used."""

from __future__ import annotations

import copy
import re
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

from discord_double.ids import snowflake
from discord_double.messages import EPHEMERAL, LOADING, MessageStore
from discord_double.payloads import (
    application_payload,
    channel_payload,
    dm_channel_payload,
    member_payload,
    user_payload,
)
from discord_double.records import Call, DiscordError, InteractionState, MessageRecord

__all__ = [
    "CALLBACK",
    "CHANNEL_MESSAGE",
    "CHANNEL_MESSAGES",
    "ORIGINAL",
    "WEBHOOK",
    "WEBHOOK_MESSAGE",
    "RestModel",
    "match_template",
]

CALLBACK = "/interactions/{webhook_id}/{webhook_token}/callback"
WEBHOOK = "/webhooks/{webhook_id}/{webhook_token}"
ORIGINAL = "/webhooks/{webhook_id}/{webhook_token}/messages/@original"
WEBHOOK_MESSAGE = "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}"
CHANNEL_MESSAGES = "/channels/{channel_id}/messages"
CHANNEL_MESSAGE = "/channels/{channel_id}/messages/{message_id}"
_REACTION = "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me"
_COMMANDS = "/applications/{application_id}/commands"
_GUILD_COMMANDS = "/applications/{application_id}/guilds/{guild_id}/commands"
_COMMAND_PERMISSIONS = "/applications/{application_id}/guilds/{guild_id}/commands/permissions"

_Handler = Callable[[Call], Any]
_patterns: dict[str, re.Pattern[str]] = {}


def match_template(template: str, path: str) -> dict[str, str] | None:
    """The placeholder values of ``template`` in ``path`` (URL-decoded), or None."""
    pattern = _patterns.get(template)
    if pattern is None:
        parts = re.split(r"\{(\w+)\}", template)
        regex = "".join(
            re.escape(part) if i % 2 == 0 else f"(?P<{part}>[^/]+)" for i, part in enumerate(parts)
        )
        pattern = _patterns[template] = re.compile(regex + r"\Z")
    found = pattern.match(path)
    if found is None:
        return None
    return {k: urllib.parse.unquote(v) for k, v in found.groupdict().items()}


class RestModel(MessageStore):
    """The state behind the REST routes and the handler of each."""

    def __init__(
        self, *, application_id: int, bot_name: str, owner_id: int, default_guild_id: int
    ) -> None:
        super().__init__(application_id=application_id, bot_name=bot_name, owner_id=owner_id)
        self.default_guild_id = default_guild_id
        self.channels: dict[int, dict[str, Any]] = {}
        """Channel objects answered by ``GET /channels/{id}``; filled from interaction payloads,
        :meth:`add_channel` and DMs the bot opens."""
        self.commands: dict[int | None, list[dict[str, Any]]] = {}
        """Registered commands as ``tree.sync()`` left them; key ``None`` = global."""
        self.command_permissions: dict[int, dict[int, list[dict[str, Any]]]] = {}
        """A server's command permission overrides (Server Settings → Integrations): guild id
        -> command id (or the application's id: all its commands) -> overrides; see
        :meth:`set_command_permissions`."""
        self.webhooks: dict[int, tuple[str, int]] = {}
        """Webhooks other than interactions': id -> (token, channel id)."""
        self._interactions: dict[int, InteractionState] = {}
        self._tokens: dict[str, int] = {}
        self._expired_tokens: set[str] = set()
        self._nonces: dict[tuple[int, str], int] = {}
        self._dm_channels: dict[int, int] = {}
        # literal routes first: "/users/@me" before "/users/{user_id}", "@original" before ids
        self._routes: list[tuple[str, str, _Handler]] = [
            ("GET", "/users/@me", lambda call: self.bot_user()),
            ("GET", "/oauth2/applications/@me", self._get_application),
            ("GET", "/users/{user_id}", self._get_user),
            ("POST", "/users/@me/channels", self._create_dm),
            ("GET", "/guilds/{guild_id}/members/{user_id}", self._get_member),
            ("GET", "/channels/{channel_id}", self._get_channel),
            ("POST", CHANNEL_MESSAGES, self._channel_send),
            ("GET", CHANNEL_MESSAGES, self._channel_history),
            ("GET", CHANNEL_MESSAGE, self._channel_get_message),
            ("PATCH", CHANNEL_MESSAGE, self._channel_edit_message),
            ("DELETE", CHANNEL_MESSAGE, self._channel_delete_message),
            ("POST", "/channels/{channel_id}/typing", self._no_content),
            ("PUT", _REACTION, self._no_content),
            ("DELETE", _REACTION, self._no_content),
            ("PUT", "/channels/{channel_id}/pins/{message_id}", self._no_content),
            ("DELETE", "/channels/{channel_id}/pins/{message_id}", self._no_content),
            ("PUT", _COMMANDS, self._sync_commands),
            ("PUT", _GUILD_COMMANDS, self._sync_commands),
            ("GET", _COMMANDS, self._get_commands),
            ("GET", _GUILD_COMMANDS, self._get_commands),
            ("GET", _COMMAND_PERMISSIONS, self._get_command_permissions),
            ("POST", CALLBACK, self._interaction_callback),
            ("POST", WEBHOOK, self._webhook_execute),
            ("GET", ORIGINAL, self._webhook_get_message),
            ("PATCH", ORIGINAL, self._webhook_edit_message),
            ("DELETE", ORIGINAL, self._webhook_delete_message),
            ("GET", WEBHOOK_MESSAGE, self._webhook_get_message),
            ("PATCH", WEBHOOK_MESSAGE, self._webhook_edit_message),
            ("DELETE", WEBHOOK_MESSAGE, self._webhook_delete_message),
        ]

    def route(self, method: str, path: str) -> tuple[str, dict[str, str], _Handler] | None:
        """The template, its values and the handler that answer ``method path``."""
        for wanted, template, handler in self._routes:
            if wanted == method:
                found = match_template(template, path)
                if found is not None:
                    return template, found, handler
        return None

    # ---- state a test sets up -------------------------------------------------------------

    def add_channel(
        self, channel_id: int, *, guild_id: int | None = None, name: str = "general", type: int = 0
    ) -> dict[str, Any]:
        """Register a server channel for ``GET /channels/{id}`` (``bot.fetch_channel``)."""
        data = channel_payload(
            channel_id, guild_id=guild_id or self.default_guild_id, name=name, type=type
        )
        self.channels[channel_id] = data
        return data

    def add_webhook(self, webhook_id: int, token: str, channel_id: int) -> None:
        """A channel webhook (``Webhook.partial(id, token)``) that posts into ``channel_id``."""
        self.webhooks[webhook_id] = (token, channel_id)

    def register_interaction(self, payload: Mapping[str, Any]) -> None:
        """Remember an INTERACTION_CREATE payload: its token, channel and message. The same
        payload again is a gateway replay: Discord remembers that it was answered."""
        iid = int(payload["id"])
        if iid in self._interactions:
            return
        raw_channel = payload.get("channel") or {}
        channel_id = raw_channel.get("id") or payload.get("channel_id")
        state = InteractionState(
            id=iid,
            token=str(payload["token"]),
            payload=copy.deepcopy(dict(payload)),
            channel_id=int(channel_id) if channel_id is not None else None,
        )
        self._interactions[iid] = state
        self._tokens[state.token] = iid
        if raw_channel.get("id") is not None:
            stored = copy.deepcopy(dict(raw_channel))
            if payload.get("guild_id") is not None:
                stored.setdefault("guild_id", payload["guild_id"])
            self.channels.setdefault(int(raw_channel["id"]), stored)
        msg = payload.get("message")
        if msg is not None and int(msg["id"]) not in self.messages:
            self._adopt_message(msg)

    def set_command_permissions(
        self, guild_id: int, command_id: int, permissions: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """A server's admins set who may use a command (``command_id``; the application's id:
        all of them): ``permissions`` as Discord writes them, ``{"id", "type" (1 role, 2 user,
        3 channel), "permission"}`` (the server's id: @everyone; one less: all channels).
        Returns the APPLICATION_COMMAND_PERMISSIONS_UPDATE event Discord then sends."""
        overrides = [
            {"id": str(p["id"]), "type": int(p["type"]), "permission": bool(p["permission"])}
            for p in permissions
        ]
        self.command_permissions.setdefault(guild_id, {})[command_id] = overrides
        return {
            "id": str(command_id),
            "application_id": str(self.application_id),
            "guild_id": str(guild_id),
            "permissions": copy.deepcopy(overrides),
        }

    def expire_interaction(self, interaction_id: int) -> None:
        """From now on, requests with this interaction's token answer 401, code 50027."""
        state = self._interactions.get(interaction_id)
        if state is None:
            raise KeyError(f"unknown interaction {interaction_id}")
        self._expired_tokens.add(state.token)

    def forget_nonces(self) -> None:
        """Discord holds a nonce for a few minutes only: from now on, a message sent again
        with a nonce seen before is posted again."""
        self._nonces.clear()

    def dm_channel_id(self, user_id: int) -> int | None:
        """The id of the DM channel the bot opened with ``user_id``, if any."""
        return self._dm_channels.get(user_id)

    # ---- helpers --------------------------------------------------------------------------

    def _message_or_404(self, message_id: str | int) -> MessageRecord:
        try:
            return self.messages[int(message_id)]
        except (KeyError, ValueError):
            raise DiscordError(404, 10008, "Unknown Message") from None

    def _channel_message(self, call: Call) -> MessageRecord:
        rec = self._message_or_404(call.route_params["message_id"])
        if rec["channel_id"] != int(call.route_params["channel_id"]):
            raise DiscordError(404, 10008, "Unknown Message")
        return rec

    # ---- handlers: the bot token ----------------------------------------------------------

    def _no_content(self, call: Call) -> None:
        return None

    def _get_application(self, call: Call) -> dict[str, Any]:
        return application_payload(self.application_id, self.bot_name, self.owner_id)

    def _get_user(self, call: Call) -> dict[str, Any]:
        return user_payload(int(call.route_params["user_id"]))

    def _get_member(self, call: Call) -> dict[str, Any]:
        return member_payload(int(call.route_params["user_id"]))

    def _create_dm(self, call: Call) -> dict[str, Any]:
        recipient = int((call.json or {})["recipient_id"])
        channel_id = self._dm_channels.get(recipient)
        if channel_id is None:
            channel_id = self._dm_channels[recipient] = snowflake()
            self.channels[channel_id] = dm_channel_payload(channel_id, user_payload(recipient))
        return self.channels[channel_id]

    def _get_channel(self, call: Call) -> dict[str, Any]:
        channel = self.channels.get(int(call.route_params["channel_id"]))
        if channel is None:
            raise DiscordError(404, 10003, "Unknown Channel")
        return channel

    def _channel_send(self, call: Call) -> dict[str, Any]:
        channel_id = int(call.route_params["channel_id"])
        payload = call.json if isinstance(call.json, Mapping) else {}
        nonce = payload.get("nonce")
        if nonce is not None and payload.get("enforce_nonce"):
            existing = self._nonces.get((channel_id, str(nonce)))
            if existing is not None and existing in self.messages:
                return self.api_message(existing)
        rec = self._create_message(
            channel_id=channel_id,
            payload=payload,
            files=call.files,
            kind="channel",
            message_type=19 if payload.get("message_reference") else 0,
        )
        if nonce is not None:
            self._nonces[(channel_id, str(nonce))] = rec["id"]
        return self.api_message(rec["id"])

    def _channel_history(self, call: Call) -> list[dict[str, Any]]:
        limit = int((call.params or {}).get("limit", 50))
        newest_first = self.channel_messages(int(call.route_params["channel_id"]))[::-1]
        return [self.api_message(m["id"]) for m in newest_first[:limit]]

    def _channel_get_message(self, call: Call) -> dict[str, Any]:
        return self.api_message(self._channel_message(call)["id"])

    def _channel_edit_message(self, call: Call) -> dict[str, Any]:
        rec = self._channel_message(call)
        self._edit_message(rec, call.json, call.files)
        return self.api_message(rec["id"])

    def _channel_delete_message(self, call: Call) -> None:
        self._delete_message(self._channel_message(call)["id"])

    def _sync_commands(self, call: Call) -> list[dict[str, Any]]:
        guild = call.route_params.get("guild_id")
        guild_id = int(guild) if guild is not None else None
        previous = {(c["name"], c.get("type", 1)): c for c in self.commands.get(guild_id, [])}
        out = []
        for cmd in call.json or []:
            echoed = copy.deepcopy(cmd)
            echoed.setdefault("type", 1)
            old = previous.get((echoed["name"], echoed["type"]))
            echoed["id"] = old["id"] if old else str(snowflake())
            echoed["application_id"] = str(self.application_id)
            echoed["version"] = str(snowflake())
            perms = echoed.get("default_member_permissions")
            echoed["default_member_permissions"] = str(perms) if perms is not None else None
            if guild_id is not None:
                echoed["guild_id"] = str(guild_id)
            out.append(echoed)
        self.commands[guild_id] = out
        return out

    def _get_command_permissions(self, call: Call) -> list[dict[str, Any]]:
        guild_id = int(call.route_params["guild_id"])
        return [
            {
                "id": str(command_id),
                "application_id": str(self.application_id),
                "guild_id": str(guild_id),
                "permissions": permissions,
            }
            for command_id, permissions in self.command_permissions.get(guild_id, {}).items()
            if permissions
        ]

    def _get_commands(self, call: Call) -> list[dict[str, Any]]:
        guild = call.route_params.get("guild_id")
        return self.commands.get(int(guild) if guild is not None else None, [])

    # ---- handlers: interactions and webhooks ----------------------------------------------

    def _interaction_callback(self, call: Call) -> dict[str, Any]:
        state = self._interactions.get(int(call.route_params["webhook_id"]))
        if state is None or state.token != call.route_params["webhook_token"]:
            raise DiscordError(404, 10062, "Unknown interaction")
        if state.responded:
            raise DiscordError(400, 40060, "Interaction has already been acknowledged.")
        body = call.json if isinstance(call.json, Mapping) else {}
        rtype = int(body.get("type", 0))
        data: Mapping[str, Any] = body.get("data") or {}
        state.responded, state.response_type = True, rtype
        message_id: int | None = None
        if rtype in (4, 5):
            rec = self._create_message(
                channel_id=state.channel_id or 0,
                payload=data if rtype == 4 else {"flags": int(data.get("flags") or 0) & EPHEMERAL},
                files=call.files if rtype == 4 else [],
                kind="original",
                interaction_id=state.id,
                extra_flags=LOADING if rtype == 5 else 0,
                message_type=20 if state.type == 2 else 0,
                webhook_id=self.application_id,
            )
            message_id = state.original_id = rec["id"]
        elif rtype in (6, 7):
            source = state.payload.get("message")
            if source is not None:
                message_id = int(source["id"])
                rec = self.messages.get(message_id) or self._adopt_message(source)
                if rtype == 7:
                    self._edit_message(rec, data, call.files)
                state.original_id = message_id
        answer: dict[str, Any] = {
            "interaction": {
                "id": str(state.id),
                "type": state.type,
                "response_message_loading": rtype == 5,
                "response_message_ephemeral": bool(int(data.get("flags") or 0) & EPHEMERAL),
            },
            "resource": {"type": rtype},
        }
        if message_id is not None:
            answer["interaction"]["response_message_id"] = str(message_id)
            answer["resource"]["message"] = self.api_message(message_id)
        return answer

    def _token_owner(self, call: Call) -> tuple[InteractionState | None, int]:
        """The interaction (or, None, the channel webhook) behind a webhook route's token, and
        the id messages it makes carry as ``webhook_id``."""
        token = call.route_params["webhook_token"]
        iid = self._tokens.get(token)
        if iid is not None:
            return self._interactions[iid], self.application_id
        webhook_id = int(call.route_params["webhook_id"])
        known = self.webhooks.get(webhook_id)
        if known is None or known[0] != token:
            raise DiscordError(404, 10015, "Unknown Webhook")
        return None, webhook_id

    def _webhook_execute(self, call: Call) -> dict[str, Any] | None:
        state, webhook_id = self._token_owner(call)
        payload = call.json if isinstance(call.json, Mapping) else {}
        if state is None:
            rec = self._create_message(
                channel_id=self.webhooks[webhook_id][1],
                payload=payload,
                files=call.files,
                kind="webhook",
                webhook_id=webhook_id,
            )
        else:
            if not state.responded:
                raise DiscordError(404, 10015, "Unknown Webhook")
            rec = self._create_message(
                channel_id=state.channel_id or 0,
                payload=payload,
                files=call.files,
                kind="followup",
                interaction_id=state.id,
                message_type=20 if state.type == 2 else 0,
                webhook_id=webhook_id,
            )
        if str((call.params or {}).get("wait", "")).lower() not in ("1", "true"):
            return None
        return self.api_message(rec["id"])

    def _webhook_message(self, call: Call) -> MessageRecord:
        state, webhook_id = self._token_owner(call)
        message_id = call.route_params.get("message_id")
        if message_id is None:  # @original
            if state is None or state.original_id is None:
                raise DiscordError(404, 10008, "Unknown Message")
            return self._message_or_404(state.original_id)
        rec = self._message_or_404(message_id)
        mine = (
            rec["interaction_id"] == state.id or rec["id"] == state.original_id
            if state is not None
            else rec["kind"] == "webhook" and rec["webhook_id"] == webhook_id
        )
        if not mine:
            raise DiscordError(404, 10008, "Unknown Message")
        return rec

    def _webhook_get_message(self, call: Call) -> dict[str, Any]:
        return self.api_message(self._webhook_message(call)["id"])

    def _webhook_edit_message(self, call: Call) -> dict[str, Any]:
        rec = self._webhook_message(call)
        self._edit_message(rec, call.json, call.files)
        return self.api_message(rec["id"])

    def _webhook_delete_message(self, call: Call) -> None:
        self._delete_message(self._webhook_message(call)["id"])
