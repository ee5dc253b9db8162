"""The cogs are extensions the client loads from one list: each area's module has `setup(bot)`,
and the commands Discord is given do not depend on the order they load in."""

from __future__ import annotations

import ast
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bot.simulator import Simulator
from bot.ui.client import EXTENSIONS, VideoBot
from discord_double import (
    MEMBER_PERMISSIONS,
    FakeDiscord,
    dispatch,
    running_bot,
    slash_command,
    subcommand,
)
from tests.conftest import FakeClock, make_settings, no_sleep

ROOT = Path(__file__).resolve().parent.parent
SUBCOMMAND, SUBCOMMAND_GROUP = 1, 2


def by_name(entries: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Commands, and the subcommands of a group, by name: Discord lists a group's subcommands in
    the order they joined it, which follows the order the cogs loaded in. A command's own options
    keep their order (it is the order Discord asks for them in)."""
    named = {}
    for entry in entries:
        options = entry.get("options") or []
        if options and all(o["type"] in (SUBCOMMAND, SUBCOMMAND_GROUP) for o in options):
            entry = {**entry, "options": by_name(options)}
        named[entry["name"]] = entry
    return named


def synced(fake: FakeDiscord) -> dict[str, dict[str, Any]]:
    return by_name(fake.calls_to("PUT", "/applications/{application_id}/commands")[-1].json)


async def commands_loaded_in(
    order: Sequence[str], tmp_path: Path, simulator: Simulator, clock: FakeClock
) -> dict[str, dict[str, Any]]:
    settings = make_settings(tmp_path, simulator.base_url)
    bot = VideoBot(
        settings, clock=clock, evolink_sleep=no_sleep, start_tracker=False, extensions=order
    )
    with FakeDiscord() as fake:
        async with running_bot(bot, fake):
            limits = slash_command(
                "videomod", [subcommand("limits")], permissions=MEMBER_PERMISSIONS
            )
            await dispatch(bot, limits)
            refused = fake.interaction_response(int(limits["id"]))["data"]["content"]
            assert "Manage Server" in refused  # the credits cog's command has the group's check
        return synced(fake)


async def test_the_cogs_give_discord_the_same_commands_in_whatever_order_they_load(
    tmp_path: Path, simulator: Simulator, clock: FakeClock
) -> None:
    usual = await commands_loaded_in(EXTENSIONS, tmp_path / "usual", simulator, clock)
    reversed_order = tuple(reversed(EXTENSIONS))
    assert await commands_loaded_in(reversed_order, tmp_path / "reversed", simulator, clock) == (
        usual
    )
    assert set(usual) == {"video", "videos", "credits", "videohelp", "videomod"}
    assert set(usual["videomod"]["options"]) == {
        "log", "show", "export", "audit", "ban", "unban", "bans", "config", "blocklist",
        "credits", "limits", "balance",
    }  # fmt: skip


async def test_a_moderator_cog_reloaded_gives_back_the_same_commands(
    fake_discord: FakeDiscord, bot: VideoBot
) -> None:
    before = synced(fake_discord)
    await bot.reload_extension("cogs.moderation")
    await bot.tree.sync()
    assert synced(fake_discord) == before


def test_every_cog_module_is_an_extension_the_client_loads() -> None:
    areas = {
        f"cogs.{path.stem}"
        for path in (ROOT / "cogs").glob("*.py")
        if path.stem not in ("__init__", "shared")
    }
    assert set(EXTENSIONS) == areas
    for name in EXTENSIONS:
        tree = ast.parse((ROOT / f"{name.replace('.', '/')}.py").read_text())
        setups = [
            node
            for node in tree.body
            if isinstance(node, ast.AsyncFunctionDef) and node.name == "setup"
        ]
        assert setups, f"{name} has no async def setup(bot)"
