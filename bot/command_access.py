"""Who may use a command in a server, as the server's own command permissions say.

A server's admins can give a command to other roles, members and channels (Server Settings →
Integrations), or take it away. Discord applies those overrides in its clients; the bot checks
them again when a command runs, the same way (Discord's current rules):

1. Channels: the command's own override for the channel (or, in a thread, its parent), else for
   all channels, else the app's (all its commands') for the channel, else for all channels. One
   that forbids it ends there.
2. The member: the command's own override for them, else for any of their roles (one that allows
   wins over one that forbids), else for everyone. One of these decides, whatever the command's
   default permission.
3. Else the app's overrides, in the same order: one that forbids it ends there; one that allows
   it still leaves the command's default permission to decide (as nothing would).

`decide` answers True (an override lets them), False (one forbids it) or None (none speaks: the
command's default permission decides). Administrators may use every command: the caller checks.
Nothing here talks to Discord (bot/ui/command_permissions.py fetches and keeps the overrides).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

ROLE, USER, CHANNEL = 1, 2, 3  # Discord's kinds of override


@dataclass(frozen=True)
class Override:
    target_id: int
    kind: int  # ROLE, USER or CHANNEL
    allowed: bool


@dataclass(frozen=True)
class Asker:
    """Who runs the command, and where."""

    guild_id: int
    user_id: int
    role_ids: Collection[int]
    channel_ids: Sequence[int]  # the channel, then its parent (a thread's channel), if any


def decide(command: Sequence[Override], app: Sequence[Override], asker: Asker) -> bool | None:
    """Whether the overrides (the command's own, then the app's) let `asker` use the command:
    True, False, or None when none of them speaks (see the module doc)."""
    for level in (command, app):
        channel = _channel(level, asker)
        if channel is not None:
            if not channel:
                return False
            break
    own = _member(command, asker)
    if own is not None:
        return own
    if _member(app, asker) is False:
        return False
    return None


def _channel(overrides: Sequence[Override], asker: Asker) -> bool | None:
    channels = {o.target_id: o.allowed for o in overrides if o.kind == CHANNEL}
    for channel_id in (*asker.channel_ids, asker.guild_id - 1):  # guild_id - 1: all channels
        if channel_id in channels:
            return channels[channel_id]
    return None


def _member(overrides: Sequence[Override], asker: Asker) -> bool | None:
    for o in overrides:
        if o.kind == USER and o.target_id == asker.user_id:
            return o.allowed
    roles = [o.allowed for o in overrides if o.kind == ROLE and o.target_id in asker.role_ids]
    if roles:
        return any(roles)
    for o in overrides:
        if o.kind == ROLE and o.target_id == asker.guild_id:  # @everyone
            return o.allowed
    return None
