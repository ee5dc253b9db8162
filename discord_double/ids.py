"""The ids, permissions and times the double hands out, the same whichever transport is used."""

from __future__ import annotations

import datetime
import itertools
import time

import discord

__all__ = [
    "ADMIN_PERMISSIONS",
    "APPLICATION_ID",
    "APP_PERMISSIONS",
    "CHANNEL_ID",
    "DEFAULT_ATTACHMENT_SIZE_LIMIT",
    "DEFAULT_UPLOAD_LIMIT",
    "DISCORD_EPOCH_MS",
    "GUILD_ID",
    "MEMBER_PERMISSIONS",
    "OWNER_ID",
    "USER_ID",
    "now_iso",
    "snowflake",
]

DISCORD_EPOCH_MS = 1420070400000

APPLICATION_ID = 1100000000000000001
"""Application id, also the bot user's id."""
OWNER_ID = 1100000000000000002
GUILD_ID = 1100000000000000003
CHANNEL_ID = 1100000000000000004
USER_ID = 1100000000000000005
DEFAULT_ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024
"""``attachment_size_limit`` sent with every interaction."""
DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024
"""A request whose files add up to more bytes is refused with 413, code 40005."""

MEMBER_PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    read_message_history=True,
    embed_links=True,
    attach_files=True,
    add_reactions=True,
    use_application_commands=True,
    use_external_emojis=True,
).value
"""``permissions`` of an ordinary member (no Manage Server, no Administrator)."""
ADMIN_PERMISSIONS = discord.Permissions.all().value
APP_PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    send_messages_in_threads=True,
    read_message_history=True,
    embed_links=True,
    attach_files=True,
    add_reactions=True,
    use_external_emojis=True,
).value
"""``app_permissions`` (what the bot may do in the channel) sent with every interaction."""

_sequence = itertools.count()
_last = 0


def snowflake() -> int:
    """A fresh Discord snowflake; strictly increasing within the process."""
    global _last
    now_ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
    candidate = (now_ms << 22) | (next(_sequence) & 0xFFF)
    _last = max(candidate, _last + 1)
    return _last


def now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat()
