"""A crafted interaction can carry a lone surrogate (`"\\ud800"` in its JSON), which neither
SQLite nor Discord can take as UTF-8: every text input refuses it with the option named, before
anything is stored, charged or logged as an error."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from bot.simulator import Simulator
from bot.ui.client import VideoBot
from discord_double import (
    CHANNEL_ID,
    FakeDiscord,
    autocomplete,
    button_press,
    dispatch,
    focused,
    modal_submit_for,
    option,
    slash_command,
    subcommand,
)
from tests.conftest import FakeClock
from tests.test_moderation_cog import MOD_PERMISSIONS, MODERATOR, user_option, videomod

LONE = "a fox \ud800 in snow"
EPHEMERAL = 64


def refusal(fake: FakeDiscord, payload: dict[str, Any]) -> str:
    body = fake.interaction_response(int(payload["id"]))
    assert body["type"] == 4 and body["data"]["flags"] & EPHEMERAL, body
    return str(body["data"]["content"])


async def rows(bot: VideoBot, table: str) -> int:
    row = await bot.store.fetchone(f"SELECT COUNT(*) FROM {table}")
    assert row is not None
    return int(row[0])


VIDEO_OPTIONS = {
    "prompt": [option("prompt", LONE)],
    "negative_prompt": [option("prompt", "a fox"), option("negative_prompt", LONE)],
    "audio_url": [option("prompt", "a fox"), option("audio_url", "https://cdn.example/\ud800.mp3")],
}


@pytest.mark.parametrize("name", VIDEO_OPTIONS)
async def test_a_video_option_with_a_lone_surrogate_is_refused_by_name(
    fake_discord: FakeDiscord,
    bot: VideoBot,
    simulator: Simulator,
    name: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    payload = slash_command("video", VIDEO_OPTIONS[name])
    with caplog.at_level(logging.WARNING):
        await dispatch(bot, payload)
    text = refusal(fake_discord, payload)
    assert text == (
        f"`{name}` contains a character that cannot be sent. Nothing was done, and you were not "
        "charged."
    )
    assert await rows(bot, "generations") == 0
    assert not [r for r in simulator.requests if r.path == "/v1/videos/generations"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_the_refusal_names_the_option_as_a_chinese_member_sees_it(
    fake_discord: FakeDiscord, bot: VideoBot
) -> None:
    payload = slash_command("video", [option("prompt", LONE)], locale="zh-CN")
    await dispatch(bot, payload)
    text = refusal(fake_discord, payload)
    assert "包含无法发送的字符" in text and "没有扣除任何积分" in text
    assert "contains" not in text and "`prompt`" not in text


async def test_an_edit_and_retry_form_with_a_lone_surrogate_is_refused(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    await dispatch(bot, slash_command("video", [option("prompt", "a paper boat")]))
    clock.advance(61)
    await bot.tracker.run_once()
    [message] = [m for m in fake_discord.channel_messages(CHANNEL_ID) if "ready" in m["content"]]
    press = button_press("video:edit:1", message=fake_discord.api_message(message["id"]))
    await dispatch(bot, press)
    submit = modal_submit_for(fake_discord.modal_sent(int(press["id"])), {"Prompt": LONE})
    await dispatch(bot, submit)
    text = refusal(fake_discord, submit)
    assert "`prompt` contains a character that cannot be sent." in text
    assert "not charged" in text
    assert await rows(bot, "generations") == 1


MODERATOR_TEXTS = {
    "ban reason": ("reason", videomod("ban", [user_option("user", 42), option("reason", LONE)])),
    "blocklist pattern": (
        "pattern",
        videomod("add", [option("pattern", LONE)], group="blocklist"),
    ),
    "blocklist reason": (
        "reason",
        videomod("add", [option("pattern", "gun"), option("reason", LONE)], group="blocklist"),
    ),
    "log since": ("since", videomod("log", [option("since", "7d\ud800")])),
    "show task id": ("task_id", videomod("show", [option("task_id", "task-\ud800")])),
    "refund reason": (
        "reason",
        videomod("refund", [option("task_id", "task-1"), option("reason", LONE)], group="credits"),
    ),
}


@pytest.mark.parametrize("case", MODERATOR_TEXTS)
async def test_a_moderator_text_with_a_lone_surrogate_is_refused_by_name(
    fake_discord: FakeDiscord, bot: VideoBot, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    name, payload = MODERATOR_TEXTS[case]
    with caplog.at_level(logging.WARNING):
        await dispatch(bot, payload)
    assert refusal(fake_discord, payload).startswith(
        f"`{name}` contains a character that cannot be sent. Nothing was done"
    )
    assert await rows(bot, "audit_log") == 0 and await rows(bot, "bans") == 0
    assert await rows(bot, "blocklist") == 0
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_an_autocomplete_with_a_lone_surrogate_offers_nothing_and_logs_no_error(
    fake_discord: FakeDiscord, bot: VideoBot, caplog: pytest.LogCaptureFixture
) -> None:
    typed = autocomplete(
        "videomod", [subcommand("show", [focused("task_id", "fox\ud800")])], user_id=MODERATOR,
        permissions=MOD_PERMISSIONS,
    )  # fmt: skip
    with caplog.at_level(logging.WARNING):
        await dispatch(bot, typed)
    assert fake_discord.interaction_response(int(typed["id"])) == {
        "type": 8,
        "data": {"choices": []},
    }
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
