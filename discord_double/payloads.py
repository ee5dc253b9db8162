"""Discord's objects as the API and the gateway send them: users, members, channels, guilds,
messages, attachments, the bot's own user and application. One builder per object, used by the
model's answers and by the tests' payloads alike."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from discord_double.ids import (
    APPLICATION_ID,
    CHANNEL_ID,
    GUILD_ID,
    OWNER_ID,
    USER_ID,
    now_iso,
    snowflake,
)

__all__ = [
    "application_payload",
    "attachment",
    "bot_user_payload",
    "channel_payload",
    "dm_channel_payload",
    "guild_payload",
    "member_payload",
    "message_payload",
    "user_payload",
]


def user_payload(
    user_id: int = USER_ID,
    *,
    username: str | None = None,
    global_name: str | None = None,
    bot: bool = False,
) -> dict[str, Any]:
    return {
        "id": str(user_id),
        "username": username or f"user{user_id % 10000}",
        "discriminator": "0",
        "global_name": global_name,
        "avatar": None,
        "bot": bot,
        "public_flags": 0,
    }


def bot_user_payload(application_id: int, bot_name: str) -> dict[str, Any]:
    """``GET /users/@me``: the bot's own user (its id is the application's)."""
    return {
        **user_payload(application_id, username=bot_name, bot=True),
        "flags": 0,
        "verified": True,
        "mfa_enabled": False,
    }


def application_payload(application_id: int, bot_name: str, owner_id: int) -> dict[str, Any]:
    """``GET /oauth2/applications/@me``."""
    return {
        "id": str(application_id),
        "name": bot_name,
        "icon": None,
        "description": "",
        "summary": "",
        "bot_public": True,
        "bot_require_code_grant": False,
        "owner": user_payload(owner_id, username="owner"),
        "verify_key": "0" * 64,
        "flags": 0,
        "team": None,
        "rpc_origins": [],
        "bot": bot_user_payload(application_id, bot_name),
    }


def member_payload(
    user_id: int = USER_ID,
    *,
    roles: Sequence[int] = (),
    permissions: int | None = None,
    nick: str | None = None,
    username: str | None = None,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "user": user_payload(user_id, username=username),
        "roles": [str(r) for r in roles],
        "nick": nick,
        "avatar": None,
        "joined_at": "2024-01-01T00:00:00+00:00",
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "pending": False,
        "flags": 0,
        "communication_disabled_until": None,
    }
    if permissions is not None:
        data["permissions"] = str(permissions)
    return data


def channel_payload(
    channel_id: int = CHANNEL_ID,
    *,
    guild_id: int | None = GUILD_ID,
    name: str = "general",
    type: int = 0,
    position: int = 0,
    permissions: int | None = None,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(channel_id),
        "type": type,
        "name": name,
        "position": position,
        "nsfw": False,
        "topic": None,
        "parent_id": None,
        "rate_limit_per_user": 0,
        "last_message_id": None,
        "permission_overwrites": [],
        "flags": 0,
    }
    if guild_id is not None:
        data["guild_id"] = str(guild_id)
    if permissions is not None:
        data["permissions"] = str(permissions)
    return data


def dm_channel_payload(channel_id: int, recipient: dict[str, Any]) -> dict[str, Any]:
    """A private channel between the bot and ``recipient`` (a :func:`user_payload`)."""
    return {
        "id": str(channel_id),
        "type": 1,
        "last_message_id": None,
        "flags": 0,
        "recipients": [recipient],
    }


def guild_payload(
    guild_id: int = GUILD_ID,
    *,
    name: str = "Test server",
    preferred_locale: str = "en-US",
    channels: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """A GUILD_CREATE, as the gateway sends one per server after READY."""
    return {
        "id": str(guild_id),
        "name": name,
        "icon": None,
        "owner_id": str(OWNER_ID),
        "afk_channel_id": None,
        "afk_timeout": 300,
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "roles": [
            {
                "id": str(guild_id),
                "name": "@everyone",
                "permissions": "0",
                "position": 0,
                "color": 0,
                "hoist": False,
                "managed": False,
                "mentionable": False,
            }
        ],
        "emojis": [],
        "stickers": [],
        "features": [],
        "mfa_level": 0,
        "system_channel_id": None,
        "system_channel_flags": 0,
        "rules_channel_id": None,
        "vanity_url_code": None,
        "description": None,
        "banner": None,
        "premium_tier": 0,
        "preferred_locale": preferred_locale,
        "public_updates_channel_id": None,
        "nsfw_level": 0,
        "premium_progress_bar_enabled": False,
        "unavailable": False,
        "member_count": 2,
        "large": False,
        "joined_at": "2024-01-01T00:00:00+00:00",
        "members": [],
        "channels": list(channels),
        "threads": [],
        "voice_states": [],
        "presences": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
    }


def message_payload(
    *,
    channel_id: int = CHANNEL_ID,
    content: str = "",
    components: list[dict[str, Any]] | None = None,
    embeds: list[dict[str, Any]] | None = None,
    message_id: int | None = None,
    author: dict[str, Any] | None = None,
    flags: int = 0,
    application_id: int = APPLICATION_ID,
) -> dict[str, Any]:
    """A message as Discord delivers it, e.g. one the bot posted in an earlier process.

    ``author`` defaults to the bot user. For messages the double created use
    ``double.api_message(message_id)`` instead.
    """
    return {
        "id": str(message_id or snowflake()),
        "channel_id": str(channel_id),
        "author": author
        or {
            "id": str(application_id),
            "username": "TestBot",
            "discriminator": "0",
            "avatar": None,
            "bot": True,
        },
        "content": content,
        "timestamp": now_iso(),
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": embeds or [],
        "components": components or [],
        "pinned": False,
        "type": 0,
        "flags": flags,
    }


def attachment(
    id: int | None = None,
    filename: str = "image.png",
    size: int = 1024,
    content_type: str | None = "image/png",
    url: str | None = None,
    *,
    width: int | None = 512,
    height: int | None = 512,
) -> dict[str, Any]:
    """A resolved attachment object (``data.resolved.attachments[id]``)."""
    aid = id or snowflake()
    url = url or f"https://cdn.discordapp.com/ephemeral-attachments/1/{aid}/{filename}"
    data: dict[str, Any] = {
        "id": str(aid),
        "filename": filename,
        "size": size,
        "url": url,
        "proxy_url": url.replace("cdn.discordapp.com", "media.discordapp.net"),
        "ephemeral": True,
    }
    if content_type is not None:
        data["content_type"] = content_type
    if width is not None and height is not None:
        data["width"] = width
        data["height"] = height
    return data
