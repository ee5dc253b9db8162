"""The invite link, with exactly the permissions the bot uses (logged at start, printed by
python -m bot --check; the README lists the same)."""

from __future__ import annotations

import discord

SCOPES = ("bot", "applications.commands")


def required_permissions() -> discord.Permissions:
    return discord.Permissions(
        view_channel=True,  # see the channel /video was used in
        send_messages=True,  # post the finished video there
        send_messages_in_threads=True,  # ... also when /video was used in a thread
        embed_links=True,  # the status and result embeds
        attach_files=True,  # the video itself, so it plays inline
        read_message_history=True,  # find a follow-up posted before a restart
    )


def invite_url(client_id: int) -> str:
    return discord.utils.oauth_url(client_id, permissions=required_permissions(), scopes=SCOPES)
