"""A member or a moderator whose Discord is in Simplified Chinese reads Chinese everywhere.

Every view is driven through the fake Discord in zh-CN, in a server whose language is Chinese
too (its mod-log channel is written in it): /video from request to delivery or failure (every
failure code), every refusal, the buttons, /credits, /videos, /videohelp, every /videomod
command and every mod-log post. Every text the bot sends (message texts, embeds, buttons, forms,
autocomplete choices) is then read for English: a run of three or more Latin letters that is not
a name or a token that stays Latin in Chinese (EvoLink, Discord, UTC, CSV, a task id, a link, a
mention...). Member input and EvoLink's own words (quoted error details) are data, not text, and
the test's input is Chinese so that any English found is the bot's own. The catalogue itself is
read the same way, entry by entry.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import discord
import pytest
from babel.messages.pofile import read_po
from discord.utils import escape_markdown, escape_mentions

from bot.simulator import TASK_ERROR_MESSAGES, Simulator
from bot.ui import i18n
from bot.ui.client import VideoBot
from bot.ui.render import TASK_FAILURES
from discord_double import (
    CHANNEL_ID,
    GUILD_ID,
    MEMBER_PERMISSIONS,
    USER_ID,
    Call,
    FakeDiscord,
    attachment,
    attachment_option,
    autocomplete,
    button_press,
    dispatch,
    focused,
    guild_available,
    modal_submit_for,
    option,
    running_bot,
    settled,
    slash_command,
    subcommand,
    subcommand_group,
)
from tests.conftest import BotFactory, FakeClock
from tests.test_video_flow import status_for

ZH = "zh-CN"
EPHEMERAL = 64
MOD_PERMISSIONS = MEMBER_PERMISSIONS | discord.Permissions(manage_guild=True).value
MODERATOR = USER_ID + 1000
ALICE = USER_ID + 1
LOG_CHANNEL = CHANNEL_ID + 77

#: Latin words a Chinese reader legitimately meets: names, units, formats and what they type.
ALLOWED = frozenset(
    {
        "EvoLink",  # the service's name
        "API",  # "API 密钥": the key of the EvoLink API
        "Discord",
        "UTC",
        "CSV",
        "gzip",
        "https",  # "a link starting with https://"
        "wav",  # .wav and .mp3 files
        "unlimited",  # what a moderator types for no limit (parse_credits)
        "true",  # what a boolean option holds (only a crafted request sends anything else)
        "false",
    }
)
#: Tokens removed before reading: links, Discord's markup, task ids, setting names.
NOT_TEXT = re.compile(
    r"https?://\S+"
    r"|<(?:[@#][!&]?\d+|t:\d+(?::[tTdDfFR])?|a?:\w+:\d+)>"
    r"|task-[\w-]+"
    r"|EVOLINK_API_KEY|\.env\b"
)
WORD = re.compile(r"[A-Za-z]{3,}")
PLACEHOLDER = re.compile(r"\{\w+(?:[:!][^{}]*)?\}")  # {name}, {count:,} in a catalogue text
VISIBLE = frozenset({"content", "title", "description", "name", "value", "text", "label",
                     "placeholder"})  # fmt: skip


def english_words(text: str, data: Iterator[str] | tuple[str, ...] = ()) -> list[str]:
    """The English a reader of `text` would meet, apart from `data` (input, EvoLink's words)."""
    for quoted in data:
        text = text.replace(quoted, " ")
    text = NOT_TEXT.sub(" ", text)
    return [w for w in WORD.findall(text) if w not in ALLOWED]


def visible_texts(value: Any, key: str | None = None) -> Iterator[str]:
    """Every string of a request body that Discord shows someone."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from visible_texts(v, k)
    elif isinstance(value, list):
        for item in value:
            yield from visible_texts(item, key)
    elif isinstance(value, str) and key in VISIBLE:
        yield value


def sent_texts(calls: list[Call]) -> Iterator[tuple[str, str]]:
    """(where, text) for every message, embed, button, form and choice the bot sent."""
    for call in calls:
        if call.method not in ("POST", "PATCH") or call.json is None:
            continue
        where = f"{call.method} {call.route_template}"
        for text in visible_texts(call.json):
            yield where, text


def leaks(fake: FakeDiscord, data: tuple[str, ...] = ()) -> list[tuple[str, str, list[str]]]:
    found = []
    for where, text in sent_texts(fake.calls):
        words = english_words(text, data)
        if words:
            found.append((where, text[:300], words))
    return found


# --- the catalogue ----------------------------------------------------------------------------


def chinese_catalogue() -> list[tuple[str, str]]:
    with (i18n.LOCALES_DIR / "zh_CN.po").open("rb") as po:
        catalog = read_po(po)
    entries = []
    for message in catalog:
        if not message.id:
            continue
        msgid = message.id if isinstance(message.id, str) else message.id[0]
        texts = message.string if isinstance(message.string, tuple) else (message.string,)
        entries += [(f"{message.context or ''}|{msgid}", text) for text in texts]
    return entries


def test_the_scanner_finds_english_and_spares_what_stays_latin() -> None:
    assert english_words("Error: `task-unified-1-ab12` 失败") == ["Error"]
    assert english_words("EvoLink 在 <t:1800000000:R> 于 https://x.example/a_b 完成") == []
    assert english_words("<@123> 720p · 16:9 (1280×720) · 5 秒 · ID") == []
    assert english_words("用 `since` 或 `user` 缩小范围") == ["since", "user"]
    assert english_words("提示词：a cat", data=("a cat",)) == []


@pytest.mark.parametrize(("where", "text"), chinese_catalogue())
def test_no_chinese_catalogue_entry_says_anything_in_english(where: str, text: str) -> None:
    assert english_words(PLACEHOLDER.sub(" ", text)) == [], where


# --- driving the views ------------------------------------------------------------------------


def video(
    prompt: str = "一只小猫在月光下奔跑", user_id: int = USER_ID, **opts: Any
) -> dict[str, Any]:
    options = [option("prompt", prompt)] + [option(k, v) for k, v in opts.items()]
    return slash_command("video", options, user_id=user_id, locale=ZH, guild_locale=ZH)


def videomod(
    name: str, *options: dict[str, Any], group: str | None = None, **kwargs: Any
) -> dict[str, Any]:
    sub = subcommand(name, list(options))
    kwargs.setdefault("user_id", MODERATOR)
    kwargs.setdefault("permissions", MOD_PERMISSIONS)
    return slash_command(
        "videomod", [subcommand_group(group, [sub]) if group else sub],
        locale=ZH, guild_locale=ZH, **kwargs,
    )  # fmt: skip


def press(custom_id: str, message: dict[str, Any], user_id: int = USER_ID) -> dict[str, Any]:
    return button_press(custom_id, message=message, user_id=user_id, locale=ZH, guild_locale=ZH)


def user(name: str, user_id: int) -> dict[str, Any]:
    return option(name, user_id, type=6)


async def chinese_server(bot: VideoBot) -> None:
    """The server's language is Chinese, and it has a mod-log channel."""
    await guild_available(bot, preferred_locale=ZH)
    channel = option("channel", LOG_CHANNEL, type=7)
    await dispatch(bot, videomod("log_channel", channel, group="config"))


async def evolink_said(bot: VideoBot) -> tuple[str, ...]:
    """What EvoLink (or the tracker, about EvoLink's answer) recorded about failures: quoted to
    moderators as it is."""
    rows = await bot.store.fetchall(
        "SELECT error_code, error_message FROM generations WHERE error_code IS NOT NULL"
    )
    said = {f"`{row[0]}`" for row in rows} | {row[1] for row in rows if row[1]}
    said |= set(TASK_ERROR_MESSAGES.values())
    said |= {escape_markdown(escape_mentions(text)) for text in said}  # as embeds quote them
    return tuple(sorted(said, key=len, reverse=True))


def assert_no_english(fake: FakeDiscord, data: tuple[str, ...] = ()) -> None:
    found = leaks(fake, data)
    assert found == [], "\n".join(f"{where}: {words} in {text!r}" for where, text, words in found)


def status_of(fake: FakeDiscord, payload: dict[str, Any]) -> dict[str, Any]:
    status = status_for(fake, payload)
    assert status is not None
    return status


async def test_a_member_s_videos_from_request_to_delivery(
    fake_discord: FakeDiscord, make_bot: BotFactory, simulator: Simulator, clock: FakeClock
) -> None:
    async with running_bot(make_bot(max_running_per_user=1), fake_discord) as bot:
        assert isinstance(bot, VideoBot)
        await chinese_server(bot)
        first = video(
            "雨夜的城市街道", negative_prompt="模糊", quality="1080p", aspect_ratio="9:16",
            duration=10, seed=77, prompt_extend=True, audio_url="https://cdn.example.com/a.mp3",
        )  # fmt: skip
        second, third = video("第二个"), video("第三个")
        for payload in (first, second, third):
            await dispatch(bot, payload)  # the second and third wait in the queue
        waiting = fake_discord.api_message(status_of(fake_discord, third)["id"])
        await dispatch(bot, press("video:cancel:3", waiting, user_id=ALICE))  # not theirs
        await dispatch(bot, press("video:cancel:3", waiting))
        await dispatch(bot, press("video:cancel:3", waiting))  # already cancelled
        clock.advance(30)
        await bot.tracker.run_once()  # rendering, with the time it usually takes
        clock.advance(61)
        await bot.tracker.run_once()  # delivered; the second starts
        started = fake_discord.api_message(status_of(fake_discord, second)["id"])
        await dispatch(bot, press("video:cancel:2", started))  # too late to cancel
        [delivery] = [
            m
            for m in fake_discord.channel_messages(CHANNEL_ID)
            if m["kind"] == "channel" and m["content"].startswith(f"<@{USER_ID}>")
        ]
        message = fake_discord.api_message(delivery["id"])
        await dispatch(bot, press("video:again:1", message, user_id=ALICE))  # not theirs
        edit = press("video:edit:1", message)
        await dispatch(bot, edit)
        form = fake_discord.modal_sent(int(edit["id"]))
        await dispatch(bot, modal_submit_for(form, {"提示词": "雨夜的乡村小路"}, locale=ZH))
        await dispatch(bot, press("video:seed:1", message))
        for view in ("credits", "videos", "videohelp"):
            await dispatch(bot, slash_command(view, locale=ZH, guild_locale=ZH))
        big = slash_command("video", [option("prompt", "大视频")], locale=ZH, guild_locale=ZH,
                            attachment_size_limit=100, user_id=ALICE)  # fmt: skip
        await dispatch(bot, big)
        clock.advance(61)
        async with settled():
            await bot.tracker.run_once()
        for _ in range(3):
            clock.advance(61)
            await bot.tracker.run_once()
        assert_no_english(fake_discord, await evolink_said(bot))


async def test_every_failure_in_chinese(
    fake_discord: FakeDiscord, make_bot: BotFactory, simulator: Simulator, clock: FakeClock
) -> None:
    """Every failure code with a text of its own and two unknown ones (quoting EvoLink's
    words), then a video that takes too long: the status, the member's note, the mod-log's
    outcome post, /credits and /videos."""
    codes = [*sorted(TASK_FAILURES), "unknown_error", "odd_failure"]
    bot_settings = {"max_running_per_user": len(codes), "default_user_credits": 1000.0}
    async with running_bot(make_bot(**bot_settings), fake_discord) as bot:
        assert isinstance(bot, VideoBot)
        await chinese_server(bot)
        for n, _ in enumerate(codes):
            await dispatch(bot, video(f"第 {n} 个视频"))
        for task_id, failure in zip(simulator.tasks, codes, strict=True):
            simulator.fail_now(task_id, failure)  # with EvoLink's usual words, in English
        clock.advance(10)
        async with settled():
            await bot.tracker.run_once()
        await dispatch(bot, video("会超时的视频", user_id=ALICE))
        clock.advance(bot.settings.task_timeout + 61)
        async with settled():
            await bot.tracker.run_once()
        for view in ("credits", "videos"):
            await dispatch(bot, slash_command(view, locale=ZH, guild_locale=ZH))
        assert_no_english(fake_discord, await evolink_said(bot))


def crafted(*options: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    return slash_command("video", list(options), locale=ZH, guild_locale=ZH, **kwargs)


def audio_file(filename: str, size: int, content_type: str) -> dict[str, Any]:
    return attachment(filename=filename, size=size, content_type=content_type, width=None,
                      height=None)  # fmt: skip


REFUSED_REQUESTS = [
    crafted(
        option("prompt", "猫" * 5001), option("negative_prompt", "狗" * 501),
        option("quality", "4k"), option("aspect_ratio", "2:1"), option("duration", 99),
        option("seed", 0), option("audio_url", "https://cdn.example.com/" + "a" * 3000),
    ),
    crafted(option("prompt", "   ")),
    crafted(option("prompt", "猫\x00")),
    crafted(option("prompt", "猫\ud800")),
    crafted({"name": "prompt", "type": 3, "value": 12}),
    crafted(option("prompt", "猫"), {"name": "duration", "type": 4, "value": "十"}),
    crafted(option("prompt", "猫"), {"name": "prompt_extend", "type": 5, "value": "是"}),
    crafted(option("prompt", "猫"), {"name": "audio", "type": 11, "value": "999"}),
    crafted(),
    crafted(
        option("prompt", "猫"),
        attachment_option("audio", audio_file("声音.txt", 10, "text/plain")),
        option("audio_url", "https://cdn.example.com/声音.mp3"),
    ),
    crafted(option("prompt", "猫"),
            attachment_option("audio", audio_file("声音.mp3", 40 * 2**20, "audio/mpeg"))),
    *(
        crafted(option("prompt", "猫"), option("audio_url", url))
        for url in ("http://cdn.example.com/a.mp3", "https://cdn.example.com/a b.mp3",
                    "https://名:密@cdn.example.com/a.mp3", "https://127.0.0.1/a.mp3",
                    "https://[::1")
    ),
    crafted(option("prompt", "猫"), guild_id=None),  # in a direct message
]  # fmt: skip


async def test_every_refusal_of_a_request_in_chinese(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator
) -> None:
    await chinese_server(bot)
    for payload in REFUSED_REQUESTS:
        await dispatch(bot, payload)
    await dispatch(bot, videomod("log", user_id=ALICE, permissions=MEMBER_PERMISSIONS))
    await dispatch(bot, videomod("add", option("pattern", "狐狸"), group="blocklist"))
    await dispatch(bot, video("一只狐狸"))
    await dispatch(bot, videomod("ban", user("user", ALICE), option("reason", "刷屏")))
    await dispatch(bot, video("一只猫", user_id=ALICE))
    for status in (400, 401, 402, 503):
        simulator.faults.add(route="create", status=status)
        await dispatch(bot, video("一只鸟"))
        simulator.faults.clear()
    simulator.faults.add(route="create", status=500, always=True)
    await dispatch(bot, video("一只鱼"))  # EvoLink never says whether it started
    simulator.faults.clear()
    simulator.faults.add(route="create", status=429, retry_after="1")
    await dispatch(bot, video("一只鹤"))  # EvoLink is busy: it waits in line
    bot.closing = True
    await dispatch(bot, video("一只狗"))
    bot.closing = False
    said = (await evolink_said(bot)) + ("Invalid request",)  # EvoLink's reason, quoted
    assert_no_english(fake_discord, said)


@pytest.mark.parametrize(
    "limits",
    [
        {"default_user_credits": 7.0},
        {"default_user_credits": 7.0, "credit_period": "once"},
        {"guild_credit_cap": 7.0},
        {"guild_credit_cap": 7.0, "credit_period": "once"},
        {"global_credit_cap": 7.0},
        {"global_credit_cap": 7.0, "credit_period": "once"},
        {"max_running_per_user": 1, "max_queued_per_user": 0},
        {"max_running_per_user": 1, "max_queued_per_user": 1},
        {"max_running_per_user": 2, "max_queued_per_user": 0},
        {"cooldown_seconds": 60.0},
    ],
)
async def test_every_refusal_for_credits_and_limits_in_chinese(
    fake_discord: FakeDiscord, make_bot: BotFactory, simulator: Simulator, limits: dict[str, Any]
) -> None:
    async with running_bot(make_bot(**limits), fake_discord) as bot:
        assert isinstance(bot, VideoBot)
        await chinese_server(bot)
        for n in range(4):
            await dispatch(bot, video(f"第 {n} 个视频"))
        refusals = [m for m in fake_discord.messages.values() if "本次没有扣除" in m["content"]]
        assert refusals, "a refusal was sent"
        assert_no_english(fake_discord)


async def test_every_moderator_view_and_mod_log_post_in_chinese(
    fake_discord: FakeDiscord, make_bot: BotFactory, simulator: Simulator, clock: FakeClock
) -> None:
    simulator.credits_used_mode = "absurd"  # every finished video: a charge the bot rejects
    async with running_bot(make_bot(max_running_per_user=3), fake_discord) as bot:
        assert isinstance(bot, VideoBot)
        await chinese_server(bot)  # the audit trail and the mod-log get their first action
        channel = option("channel", LOG_CHANNEL, type=7)
        await dispatch(bot, videomod("log_channel", channel, group="config"))  # already
        for n in range(8):  # the log has two pages
            await dispatch(bot, video(f"第 {n} 个视频", user_id=ALICE + n % 2, duration=6))
            if n == 3:
                clock.advance(61)
                async with settled():
                    await bot.tracker.run_once()
        failed = list(simulator.tasks)[4]
        simulator.fail_now(failed, "content_policy_violation")
        fake_discord.fail(method="POST", path_contains=f"/channels/{CHANNEL_ID}/messages",
                          status=403, code=50013, times=1000)  # fmt: skip
        fake_discord.fail(method="POST", path_contains="/users/@me/channels",
                          status=403, code=50007, times=1000)  # fmt: skip
        for _ in range(12):  # delivery retries until the bot gives up on one
            clock.advance(3600)
            async with settled():
                await bot.tracker.run_once()
        fake_discord.clear_failures()
        done = [t for t in simulator.tasks if simulator.tasks[t].status == "completed"]
        views = [
            videomod("log"),
            videomod("log", user("user", ALICE), option("status", "failed"), option("since", "7d")),
            videomod("log", option("since", "下周二")),
            videomod("log", option("since", "99999w")),
            videomod("log", option("status", "最好的")),
            videomod("show", option("task_id", done[0])),
            videomod("show", option("task_id", failed)),
            videomod("show", option("task_id", "不存在的任务")),
            videomod("export"),
            videomod("export", option("since", "1m")),
            videomod("bans"),
            videomod("ban", user("user", ALICE), option("reason", "刷屏")),
            videomod("ban", user("user", ALICE), option("reason", "又刷屏")),
            videomod("bans"),
            videomod("unban", user("user", ALICE + 1)),
            videomod("unban", user("user", ALICE), option("reason", "道歉了")),
            videomod("list", group="blocklist"),
            videomod("add", option("pattern", "狐狸"), option("reason", "不许"), group="blocklist"),
            videomod("add", option("pattern", "狐狸"), group="blocklist"),
            videomod("add", option("pattern", "/猫+/"), group="blocklist"),
            videomod("add", option("pattern", "/(猫/"), group="blocklist"),
            videomod("add", option("pattern", "/猫(?=狗)/"), group="blocklist"),
            videomod("add", option("pattern", "/.*/"), group="blocklist"),
            videomod("add", option("pattern", "/" + "猫" * 201 + "/"), group="blocklist"),
            videomod("add", option("pattern", "猫" * 101), group="blocklist"),
            videomod("add", option("pattern", "   "), group="blocklist"),
            videomod("list", group="blocklist"),
            videomod("remove", option("pattern", "老虎"), group="blocklist"),
            videomod("remove", option("pattern", "狐狸"), group="blocklist"),
            videomod("show", user("member", ALICE + 1), group="credits"),
            videomod(
                "grant",
                user("member", ALICE + 1),
                option("amount", 1.0),
                option("reason", "奖励"),
                group="credits",
            ),
            videomod(
                "take",
                user("member", ALICE + 1),
                option("amount", 2.5),
                option("reason", "扣除"),
                group="credits",
            ),
            videomod(
                "grant",
                user("member", ALICE + 1),
                option("amount", 99e9),
                option("reason", "太多"),
                group="credits",
            ),
            videomod(
                "allowance", user("member", ALICE + 1), option("amount", "80"), group="credits"
            ),
            videomod(
                "allowance",
                user("member", ALICE + 1),
                option("amount", "unlimited"),
                group="credits",
            ),
            videomod(
                "allowance", user("member", ALICE + 1), option("amount", "很多"), group="credits"
            ),
            videomod("allowance", user("member", ALICE + 1), group="credits"),
            videomod("allowance", user("member", ALICE + 1), group="credits"),
            videomod("allowance", group="credits"),
            videomod(
                "refund", option("task_id", done[0]), option("reason", "补偿"), group="credits"
            ),
            videomod(
                "refund", option("task_id", done[0]), option("reason", "补偿"), group="credits"
            ),
            videomod(
                "refund", option("task_id", failed), option("reason", "补偿"), group="credits"
            ),
            videomod(
                "refund",
                option("task_id", "不存在的任务"),
                option("reason", "补偿"),
                group="credits",
            ),
            videomod("show", user("member", ALICE + 1), group="credits"),
            videomod("limits"),
            videomod(
                "limits",
                option("default_credits", "30"),
                option("period", "weekly"),
                option("max_running", 3),
                option("max_queued", 2),
                option("cooldown", 10),
                option("guild_cap", "unlimited"),
            ),
            videomod("limits", option("max_running", 99)),
            videomod("limits", option("period", "每年")),
            videomod("limits", option("guild_cap", "很多")),
            videomod("limits"),
            videomod("limits", option("reset", True)),
            videomod("balance"),
            videomod("audit"),
            videomod("audit", user("moderator", MODERATOR), user("user", ALICE + 1)),
            videomod("log_channel", group="config"),
            videomod("log_channel", group="config"),
        ]
        for view in views:
            await dispatch(bot, view)
        await bot.store.execute(
            """INSERT INTO blocklist (guild_id, pattern, is_regex, added_by, added_at)
               VALUES (?, '猫(?!狗)', 1, ?, 1.0), (?, '(((a{11}){11}){11}){11}', 1, ?, 1.0)""",
            GUILD_ID, MODERATOR, GUILD_ID, MODERATOR,
        )  # fmt: skip
        await dispatch(bot, videomod("list", group="blocklist"))
        simulator.faults.add(route="credits", status=401)
        await dispatch(bot, videomod("balance"))
        simulator.faults.add(route="credits", status=503, always=True)
        await dispatch(bot, videomod("balance"))
        simulator.faults.clear()
        peek = autocomplete(
            "videomod", [subcommand("show", [focused("task_id", "task")])], user_id=MODERATOR,
            permissions=MOD_PERMISSIONS, locale=ZH, guild_locale=ZH,
        )  # fmt: skip
        await dispatch(bot, peek)
        page = fake_discord.original(int(views[0]["id"]))
        assert page is not None and page["components"], "the log has pages"
        message = fake_discord.api_message(page["id"])
        [turn] = [b["custom_id"] for row in page["components"] for b in row["components"]
                  if not b.get("disabled")]  # fmt: skip
        for presser in (MODERATOR + 1, MODERATOR):
            await dispatch(bot, press(turn, message, user_id=presser))
        try:
            re.compile("(猫")
        except re.error as exc:  # the regex engine's own words, quoted after the Chinese
            engine = str(exc)
        names = tuple(f"user{n % 10000}" for n in (ALICE, ALICE + 1))  # the fake's members
        said = (*await evolink_said(bot), engine, *names)
        undelivered = [f["value"] for m in fake_discord.channel_messages(LOG_CHANNEL)
                       for e in m["embeds"] for f in e.get("fields", [])
                       if f["name"] == "最后一次错误"]  # fmt: skip
        assert undelivered, "the bot gave up on a delivery"
        assert_no_english(fake_discord, (*said, *undelivered))
