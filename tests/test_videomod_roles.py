"""/videomod for the roles a server chooses: the server's command permission overrides (Server
Settings → Integrations, read from Discord and kept current by its updates) are honoured when a
command runs, as Discord applies them; anyone allowed neither by Manage Server nor by an override
is still refused."""

from __future__ import annotations

from typing import Any

from bot.ui.client import VideoBot
from bot.ui.command_permissions import RETRY
from discord_double import (
    APPLICATION_ID,
    CHANNEL_ID,
    GUILD_ID,
    MEMBER_PERMISSIONS,
    USER_ID,
    FakeDiscord,
    autocomplete,
    dispatch,
    focused,
    permissions_changed,
    subcommand,
)
from tests.conftest import FakeClock
from tests.test_moderation_cog import MOD_PERMISSIONS, videomod

HELPERS = 7777  # a role the server gives /videomod to
ROLE, USER, CHANNEL = 1, 2, 3
ALLOWED = "Nobody is banned"  # /videomod bans in a server without bans
REFUSED = "Only members with the **Manage Server** permission, or those"


def videomod_id(fake: FakeDiscord) -> int:
    [command] = [c for c in fake.commands[None] if c["name"] == "videomod"]
    return int(command["id"])


async def bans(
    bot: VideoBot,
    fake: FakeDiscord,
    *,
    roles: tuple[int, ...] = (),
    permissions: int = 0,
    **kw: Any,
) -> str:
    payload = videomod(
        "bans",
        user_id=USER_ID,
        roles=roles,
        permissions=permissions or MEMBER_PERMISSIONS,
        command_id=videomod_id(fake),
        **kw,
    )
    await dispatch(bot, payload)
    data = fake.interaction_response(int(payload["id"]))["data"]
    return str(data.get("content") or data["embeds"][0].get("description"))


def allow(fake: FakeDiscord, *overrides: tuple[int, int, bool], target: int = 0) -> Any:
    return fake.set_command_permissions(
        GUILD_ID,
        target or videomod_id(fake),
        [{"id": i, "type": kind, "permission": allowed} for i, kind, allowed in overrides],
    )


async def test_without_overrides_manage_server_decides(
    fake_discord: FakeDiscord, bot: VideoBot
) -> None:
    assert (await bans(bot, fake_discord, roles=(HELPERS,))).startswith(REFUSED)
    assert ALLOWED in await bans(bot, fake_discord, permissions=MOD_PERMISSIONS)


async def test_a_role_the_server_gave_videomod_to_may_use_it(
    fake_discord: FakeDiscord, bot: VideoBot
) -> None:
    allow(fake_discord, (HELPERS, ROLE, True))
    assert ALLOWED in await bans(bot, fake_discord, roles=(HELPERS,))
    assert (await bans(bot, fake_discord, roles=(HELPERS + 1,))).startswith(REFUSED)
    assert ALLOWED in await bans(bot, fake_discord, permissions=MOD_PERMISSIONS)
    fetched = fake_discord.calls_to("GET", "/commands/permissions")
    assert len(fetched) == 1, "read once, then kept"


async def test_a_change_discord_announces_applies_at_once(
    fake_discord: FakeDiscord, bot: VideoBot
) -> None:
    allow(fake_discord, (HELPERS, ROLE, True))
    assert ALLOWED in await bans(bot, fake_discord, roles=(HELPERS,))
    await permissions_changed(bot, allow(fake_discord))  # the admins took it back
    assert (await bans(bot, fake_discord, roles=(HELPERS,))).startswith(REFUSED)
    await permissions_changed(bot, allow(fake_discord, (USER_ID, USER, True)))
    assert ALLOWED in await bans(bot, fake_discord)  # given to the member themselves


async def test_an_override_that_forbids_it_is_honoured_too(
    fake_discord: FakeDiscord, bot: VideoBot
) -> None:
    """The admins gave it to one role and took it from everyone else: Manage Server alone no
    longer opens it (as in Discord's own client); Administrators still may."""
    allow(fake_discord, (HELPERS, ROLE, True), (GUILD_ID, ROLE, False))
    assert (await bans(bot, fake_discord, permissions=MOD_PERMISSIONS)).startswith(REFUSED)
    assert ALLOWED in await bans(bot, fake_discord, roles=(HELPERS,))
    admin = MEMBER_PERMISSIONS | 0x8
    assert ALLOWED in await bans(bot, fake_discord, permissions=admin)


async def test_a_channel_it_is_switched_off_in_refuses_it(
    fake_discord: FakeDiscord, bot: VideoBot
) -> None:
    allow(fake_discord, (HELPERS, ROLE, True), (CHANNEL_ID, CHANNEL, False))
    assert (await bans(bot, fake_discord, roles=(HELPERS,))).startswith(REFUSED)
    assert ALLOWED in await bans(bot, fake_discord, roles=(HELPERS,), channel_id=CHANNEL_ID + 1)


async def test_the_app_wide_permission_alone_does_not_lift_manage_server(
    fake_discord: FakeDiscord, bot: VideoBot
) -> None:
    """Allowed for all of the bot's commands, a role still needs what /videomod asks by default
    (Discord's rule); a command's own override is what gives it to them."""
    allow(fake_discord, (HELPERS, ROLE, True), target=APPLICATION_ID)
    assert (await bans(bot, fake_discord, roles=(HELPERS,))).startswith(REFUSED)
    await permissions_changed(
        bot, allow(fake_discord, (GUILD_ID, ROLE, False), target=APPLICATION_ID)
    )
    assert (await bans(bot, fake_discord, permissions=MOD_PERMISSIONS)).startswith(REFUSED)


async def test_autocomplete_follows_the_same_permissions(
    fake_discord: FakeDiscord, bot: VideoBot
) -> None:
    allow(fake_discord, (HELPERS, ROLE, True))
    await bot.moderation.blocklist_add(GUILD_ID, "gore", USER_ID)
    for roles, expected in (((HELPERS,), ["gore"]), ((), [])):
        payload = autocomplete(
            "videomod",
            [{"name": "blocklist", "type": 2,
              "options": [subcommand("remove", [focused("pattern", "")])]}],
            roles=roles, permissions=MEMBER_PERMISSIONS, command_id=videomod_id(fake_discord),
        )  # fmt: skip
        await dispatch(bot, payload)
        choices = fake_discord.interaction_response(int(payload["id"]))["data"]["choices"]
        assert [c["value"] for c in choices] == expected


async def test_a_malformed_answer_from_discord_leaves_manage_server_to_decide(
    fake_discord: FakeDiscord, bot: VideoBot
) -> None:
    garbage = [{"id": "not a number", "type": "role"}, {"permission": True}]
    fake_discord.command_permissions.setdefault(GUILD_ID, {})[videomod_id(fake_discord)] = garbage
    assert (await bans(bot, fake_discord, roles=(HELPERS,))).startswith(REFUSED)
    assert ALLOWED in await bans(bot, fake_discord, permissions=MOD_PERMISSIONS)


async def test_an_update_about_another_app_changes_nothing_here(
    fake_discord: FakeDiscord, bot: VideoBot
) -> None:
    """Discord tells of other apps' command permissions too (or a buggy gateway names the wrong
    app): only this bot's own overrides decide who may use /videomod."""
    allow(fake_discord, (HELPERS, ROLE, True))
    assert ALLOWED in await bans(bot, fake_discord, roles=(HELPERS,))
    for target in (videomod_id(fake_discord), APPLICATION_ID):
        event = {
            "id": str(target),
            "application_id": str(APPLICATION_ID + 1),
            "guild_id": str(GUILD_ID),
            "permissions": [{"id": str(GUILD_ID), "type": ROLE, "permission": False}],
        }
        await permissions_changed(bot, event)
    assert ALLOWED in await bans(bot, fake_discord, roles=(HELPERS,))
    assert ALLOWED in await bans(bot, fake_discord, permissions=MOD_PERMISSIONS)


async def test_an_update_after_a_failed_read_does_not_stand_for_the_whole_server(
    fake_discord: FakeDiscord, bot: VideoBot, clock: FakeClock
) -> None:
    """Discord did not answer when the overrides were read; an update about another command
    then came. The server's other overrides are still unknown: they are read again soon, not
    taken as none for the ten minutes an answer from Discord is trusted."""
    allow(fake_discord, (HELPERS, ROLE, False))  # /videomod taken from a role of moderators
    fake_discord.fail(method="GET", path_contains="/commands/permissions", status=500)
    assert ALLOWED in await bans(bot, fake_discord, roles=(HELPERS,), permissions=MOD_PERMISSIONS)
    await permissions_changed(
        bot, allow(fake_discord, (GUILD_ID, ROLE, True), target=APPLICATION_ID)
    )
    clock.advance(RETRY + 1)
    refused = await bans(bot, fake_discord, roles=(HELPERS,), permissions=MOD_PERMISSIONS)
    assert refused.startswith(REFUSED)
