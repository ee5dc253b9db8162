"""A Discord test double: one model of Discord's state, reached in-process or over loopback HTTP.

* ``model.py`` (with ``routes.py``, ``messages.py``, ``records.py``): Discord's state (users,
  channels, DMs, messages and their edits and deletes, attachments and their CDN bytes,
  interactions and their callbacks, follow-ups and ``@original``, webhooks, registered commands)
  and how Discord answers each REST request, injected failures, held answers, token checks, the
  upload limit and the payload limits of ``rules.py`` included.
* ``inprocess.py``: :class:`FakeDiscord`, the model behind discord.py's own network choke points,
  with ``driving.py`` to log a bot in and feed it gateway payloads in the test's process.
* ``server.py``: :class:`DiscordStandIn`, the model as a REST API, CDN and gateway
  (``gateway.py``) on loopback, for the real bot process.
* ``payloads.py`` and ``interactions.py``: Discord's objects and INTERACTION_CREATE payloads.

Typical test::

    from discord_double import FakeDiscord, dispatch, running_bot, slash_command

    async def test_balance(fake_discord: FakeDiscord) -> None:
        async with running_bot(make_bot(), fake_discord) as bot:
            payload = slash_command("balance")
            await dispatch(bot, payload)
        body = fake_discord.interaction_response(int(payload["id"]))
        assert body["type"] == 4 and body["data"]["flags"] == 64

Not part of the bot (the bot's package is ``bot``/``cogs`` only); the tests and the benchmark
import it from the repository root.
"""

from discord_double.driving import (
    TaskTracker,
    dispatch,
    guild_available,
    permissions_changed,
    running_bot,
    settled,
    start_bot,
)
from discord_double.gateway import GatewayConnection
from discord_double.ids import (
    ADMIN_PERMISSIONS,
    APP_PERMISSIONS,
    APPLICATION_ID,
    CHANNEL_ID,
    DEFAULT_ATTACHMENT_SIZE_LIMIT,
    GUILD_ID,
    MEMBER_PERMISSIONS,
    OWNER_ID,
    USER_ID,
    snowflake,
)
from discord_double.inprocess import FakeDiscord, UnhandledRequest, make_http_exception
from discord_double.interactions import (
    attachment_option,
    autocomplete,
    button_press,
    focused,
    modal_submit,
    modal_submit_for,
    modal_text_inputs,
    option,
    select_choice,
    slash_command,
    subcommand,
    subcommand_group,
)
from discord_double.model import DiscordModel
from discord_double.payloads import (
    attachment,
    channel_payload,
    guild_payload,
    member_payload,
    message_payload,
    user_payload,
)
from discord_double.polling import wait_until
from discord_double.records import Call, DiscordError, Hold, MessageRecord
from discord_double.rules import payload_problems
from discord_double.server import API_PREFIX, DiscordStandIn

__all__ = [
    "ADMIN_PERMISSIONS",
    "API_PREFIX",
    "APPLICATION_ID",
    "APP_PERMISSIONS",
    "CHANNEL_ID",
    "DEFAULT_ATTACHMENT_SIZE_LIMIT",
    "GUILD_ID",
    "MEMBER_PERMISSIONS",
    "OWNER_ID",
    "USER_ID",
    "Call",
    "DiscordError",
    "DiscordModel",
    "DiscordStandIn",
    "FakeDiscord",
    "GatewayConnection",
    "Hold",
    "MessageRecord",
    "TaskTracker",
    "UnhandledRequest",
    "attachment",
    "attachment_option",
    "autocomplete",
    "button_press",
    "channel_payload",
    "dispatch",
    "focused",
    "guild_available",
    "guild_payload",
    "make_http_exception",
    "member_payload",
    "message_payload",
    "modal_submit",
    "modal_submit_for",
    "modal_text_inputs",
    "option",
    "payload_problems",
    "permissions_changed",
    "running_bot",
    "select_choice",
    "settled",
    "slash_command",
    "snowflake",
    "start_bot",
    "subcommand",
    "subcommand_group",
    "user_payload",
    "wait_until",
]
