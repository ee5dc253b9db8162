"""Discord's rules for a server's command permission overrides, without Discord."""

from __future__ import annotations

from bot.command_access import CHANNEL, ROLE, USER, Asker, Override, decide

GUILD, MEMBER, MODS, HELPERS, HERE, THREAD = 100, 5, 7, 8, 40, 41
ASKER = Asker(GUILD, MEMBER, role_ids={MODS, HELPERS}, channel_ids=[THREAD, HERE])


def test_nothing_set_leaves_it_to_the_default_permission() -> None:
    assert decide([], [], ASKER) is None


def test_the_member_s_own_override_comes_before_their_roles() -> None:
    command = [Override(MODS, ROLE, True), Override(MEMBER, USER, False)]
    assert decide(command, [], ASKER) is False


def test_one_role_allowed_is_enough() -> None:
    command = [Override(MODS, ROLE, False), Override(HELPERS, ROLE, True)]
    assert decide(command, [], ASKER) is True


def test_everyone_counts_only_when_no_role_of_theirs_is_named() -> None:
    assert decide([Override(GUILD, ROLE, False)], [], ASKER) is False
    assert decide([Override(GUILD, ROLE, False), Override(MODS, ROLE, True)], [], ASKER) is True


def test_a_thread_follows_its_channel_and_all_channels_come_last() -> None:
    off_here = [Override(HERE, CHANNEL, False), Override(MODS, ROLE, True)]
    assert decide(off_here, [], ASKER) is False
    on_here = [Override(GUILD - 1, CHANNEL, False), Override(HERE, CHANNEL, True)]
    assert decide([*on_here, Override(MODS, ROLE, True)], [], ASKER) is True


def test_the_command_s_channel_setting_comes_before_the_app_s() -> None:
    app = [Override(HERE, CHANNEL, False)]
    assert decide([Override(GUILD - 1, CHANNEL, True), Override(MODS, ROLE, True)], app, ASKER)
    assert decide([Override(MODS, ROLE, True)], app, ASKER) is False


def test_the_app_s_overrides_forbid_but_never_grant_beyond_the_default() -> None:
    assert decide([], [Override(MODS, ROLE, True)], ASKER) is None
    assert decide([], [Override(MODS, ROLE, False)], ASKER) is False
    assert decide([Override(MODS, ROLE, True)], [Override(MODS, ROLE, False)], ASKER) is True
