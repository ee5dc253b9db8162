"""Each server sees each command once. Without DISCORD_GUILD_ID the commands are registered
everywhere; with it, in that server only (they appear there at once), and nowhere else. The bot
remembers where it registered them, so that changing or unsetting the setting removes the copies
it left in a server."""

from __future__ import annotations

import pytest

from bot.ui.client import VideoBot
from discord_double import GUILD_ID, FakeDiscord, running_bot
from tests.conftest import BotFactory

OTHER_GUILD = GUILD_ID + 1
NAMES = ["video", "videomod", "videos", "credits", "videohelp"]


def names(fake: FakeDiscord, guild_id: int | None) -> list[str]:
    return [c["name"] for c in fake.commands.get(guild_id, [])]


async def start(fake: FakeDiscord, make_bot: BotFactory, guild_id: int | None) -> None:
    async with running_bot(make_bot(discord_guild_id=guild_id), fake):
        pass


async def test_without_the_setting_the_commands_are_everywhere_once(
    fake_discord: FakeDiscord, make_bot: BotFactory
) -> None:
    await start(fake_discord, make_bot, None)
    assert sorted(names(fake_discord, None)) == sorted(NAMES)
    assert fake_discord.calls_to("PUT", "/guilds/") == []


async def test_with_the_setting_the_server_sees_each_command_once(
    fake_discord: FakeDiscord, make_bot: BotFactory
) -> None:
    await start(fake_discord, make_bot, GUILD_ID)
    assert sorted(names(fake_discord, GUILD_ID)) == sorted(NAMES)
    assert names(fake_discord, None) == [], "no global copy beside the server's"


async def test_unsetting_it_removes_the_server_s_copies(
    fake_discord: FakeDiscord, make_bot: BotFactory
) -> None:
    await start(fake_discord, make_bot, GUILD_ID)
    await start(fake_discord, make_bot, None)
    assert sorted(names(fake_discord, None)) == sorted(NAMES)
    assert names(fake_discord, GUILD_ID) == []
    cleared = len(fake_discord.calls_to("PUT", f"/guilds/{GUILD_ID}/commands"))
    await start(fake_discord, make_bot, None)  # done once: not asked again at every start
    assert len(fake_discord.calls_to("PUT", f"/guilds/{GUILD_ID}/commands")) == cleared


async def test_moving_it_to_another_server_moves_the_commands(
    fake_discord: FakeDiscord, make_bot: BotFactory
) -> None:
    await start(fake_discord, make_bot, GUILD_ID)
    await start(fake_discord, make_bot, OTHER_GUILD)
    assert names(fake_discord, GUILD_ID) == [] and names(fake_discord, None) == []
    assert sorted(names(fake_discord, OTHER_GUILD)) == sorted(NAMES)


async def test_a_server_the_bot_has_left_is_forgotten(
    fake_discord: FakeDiscord, make_bot: BotFactory, caplog: pytest.LogCaptureFixture
) -> None:
    await start(fake_discord, make_bot, GUILD_ID)
    fake_discord.fail(method="PUT", path_contains=f"/guilds/{GUILD_ID}/", status=403, code=50001)
    await start(fake_discord, make_bot, None)
    assert sorted(names(fake_discord, None)) == sorted(NAMES)
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
    await start(fake_discord, make_bot, None)
    assert len(fake_discord.calls_to("PUT", f"/guilds/{GUILD_ID}/commands")) == 2  # not again


@pytest.mark.parametrize("tampered", ["not a number", "", "-5", "１２３", "9" * 30])
async def test_a_remembered_server_that_is_no_server_id_is_forgotten_and_the_bot_starts(
    fake_discord: FakeDiscord,
    make_bot: BotFactory,
    caplog: pytest.LogCaptureFixture,
    tampered: str,
) -> None:
    """The remembered server is the bot's own note in its database; edited by hand or damaged,
    it must not keep the bot from starting nor from registering its commands."""
    async with running_bot(make_bot(discord_guild_id=GUILD_ID), fake_discord) as first:
        assert isinstance(first, VideoBot)
        await first.store.state.put("commands_guild", tampered)
    async with running_bot(make_bot(discord_guild_id=None), fake_discord) as second:
        assert isinstance(second, VideoBot)
        assert await second.store.state.get("commands_guild") is None
    assert sorted(names(fake_discord, None)) == sorted(NAMES)
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
    assert "it is no server id" in caplog.text
