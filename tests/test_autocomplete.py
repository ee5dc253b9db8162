"""Autocomplete of moderator commands offers server data (task ids, prompts, blocklist entries):
a member without Manage Server gets no suggestion at all. Autocomplete skips the group's
permission check, so every one of them must check for itself; this walks the registered tree, so
an autocomplete added later is covered too."""

from __future__ import annotations

from typing import Any

import discord
import pytest

from bot.ui.client import VideoBot
from discord_double import (
    ADMIN_PERMISSIONS,
    GUILD_ID,
    MEMBER_PERMISSIONS,
    FakeDiscord,
    autocomplete,
    dispatch,
    focused,
    subcommand,
    subcommand_group,
)
from tests.conftest import FakeClock
from tests.test_moderation_cog import MOD_PERMISSIONS, MODERATOR, add

TYPED = "fox"
NOT_A_MODERATOR = [
    pytest.param({"permissions": MEMBER_PERMISSIONS}, id="member"),
    pytest.param(
        {"permissions": MEMBER_PERMISSIONS | discord.Permissions(manage_messages=True).value},
        id="message-manager",
    ),
    pytest.param({"guild_id": None}, id="direct-message"),
]


def moderator_autocompletes(bot: VideoBot) -> list[tuple[list[str], str]]:
    """(command path, option name) of every autocomplete under /videomod."""
    found = []
    for command in bot.tree.walk_commands():
        if not isinstance(command, discord.app_commands.Command):
            continue
        path = command.qualified_name.split()
        if path[0] != "videomod":
            continue
        for param in command.parameters:
            if param.autocomplete:
                found.append((path, param.name))
    return found


def typing_in(path: list[str], option: str, **kwargs: Any) -> dict[str, Any]:
    *groups, name = path[1:]
    options = [subcommand(name, [focused(option, TYPED)])]
    for group in reversed(groups):
        options = [subcommand_group(group, options)]
    return autocomplete(path[0], options, user_id=MODERATOR, **kwargs)


async def server_data(bot: VideoBot, clock: FakeClock) -> None:
    await add(bot, clock, prompt="a red fox in the snow")
    await bot.moderation.blocklist_add(GUILD_ID, "fox hunting", MODERATOR)


async def suggestions(bot: VideoBot, fake: FakeDiscord, payload: dict[str, Any]) -> Any:
    await dispatch(bot, payload)
    answer = fake.interaction_response(int(payload["id"]))
    assert answer["type"] == 8
    return answer["data"]["choices"]


async def test_the_walk_finds_the_moderator_autocompletes(bot: VideoBot) -> None:
    found = moderator_autocompletes(bot)
    assert (["videomod", "show"], "task_id") in found
    assert (["videomod", "blocklist", "remove"], "pattern") in found


@pytest.mark.parametrize("who", [MOD_PERMISSIONS, ADMIN_PERMISSIONS], ids=["manager", "admin"])
async def test_moderators_get_suggestions_from_this_server(
    fake_discord: FakeDiscord, bot: VideoBot, clock: FakeClock, who: int
) -> None:
    await server_data(bot, clock)
    for path, option in moderator_autocompletes(bot):
        choices = await suggestions(bot, fake_discord, typing_in(path, option, permissions=who))
        assert choices and all(TYPED in c["name"] for c in choices), (path, choices)


@pytest.mark.parametrize("who", NOT_A_MODERATOR)
async def test_anyone_else_gets_no_suggestion_at_all(
    fake_discord: FakeDiscord, bot: VideoBot, clock: FakeClock, who: dict[str, Any]
) -> None:
    await server_data(bot, clock)
    for path, option in moderator_autocompletes(bot):
        assert await suggestions(bot, fake_discord, typing_in(path, option, **who)) == [], path
