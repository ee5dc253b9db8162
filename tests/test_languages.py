"""English and Simplified Chinese as members meet them: the commands Discord shows, /video's
status, refusals and deliveries, the buttons, /credits, /videos and /videohelp, each in the
member's Discord language (and English for every other language)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import discord
import pytest

from bot.credits import MemberCredits, Prices
from bot.simulator import Simulator
from bot.ui.client import VideoBot
from cogs.help import help_embed
from discord_double import (
    CHANNEL_ID,
    MEMBER_PERMISSIONS,
    USER_ID,
    FakeDiscord,
    button_press,
    dispatch,
    option,
    running_bot,
    slash_command,
    subcommand,
)
from tests.conftest import BotFactory, FakeClock, SpeakFrom
from tests.test_video_flow import status_for

EPHEMERAL = 64
ZH = "zh-CN"
MOD_PERMISSIONS = MEMBER_PERMISSIONS | discord.Permissions(manage_guild=True).value
MODERATOR = USER_ID + 1000


def video(prompt: str = "一只小猫在月光下奔跑", locale: str = ZH, **opts: Any) -> dict[str, Any]:
    options = [option("prompt", prompt)] + [option(k, v) for k, v in opts.items()]
    return slash_command("video", options, locale=locale)


def fields(embed: dict[str, Any]) -> dict[str, str]:
    return {f["name"]: f["value"] for f in embed["fields"]}


def buttons(message: dict[str, Any]) -> dict[str, str]:
    return {b["label"]: b["custom_id"] for row in message["components"] for b in row["components"]}


def deliveries(fake: FakeDiscord, status_id: int) -> list[dict[str, Any]]:
    """The messages posted in the channel for the requester (not the status, not a refusal)."""
    return [
        m
        for m in fake.channel_messages(CHANNEL_ID)
        if m["id"] != status_id and m["content"].startswith(f"<@{USER_ID}>")
    ]


async def requested(bot: VideoBot, fake: FakeDiscord, payload: dict[str, Any]) -> dict[str, Any]:
    """Dispatch a /video and return its status message (posted in the channel)."""
    await dispatch(bot, payload)
    status = status_for(fake, payload)
    assert status is not None
    return status


async def private_answer(bot: VideoBot, fake: FakeDiscord, payload: dict[str, Any]) -> Any:
    await dispatch(bot, payload)
    answer = fake.interaction_response(int(payload["id"]))
    assert answer["type"] == 4 and answer["data"]["flags"] == EPHEMERAL
    return answer["data"]


# --- what Discord shows ------------------------------------------------------------------------


async def test_the_registered_commands_carry_chinese_names_descriptions_and_choices(
    fake_discord: FakeDiscord, bot: VideoBot
) -> None:
    [sync] = fake_discord.calls_to("PUT", "/applications/{application_id}/commands")
    commands = {c["name"]: c for c in sync.json}
    command = commands["video"]
    assert command["name_localizations"] == {ZH: "视频"}
    assert command["description_localizations"] == {ZH: "根据文字提示词生成一段短视频"}
    options = {o["name"]: o for o in command["options"]}
    assert options["quality"]["name_localizations"] == {ZH: "画质"}
    assert options["prompt"]["description_localizations"][ZH].startswith("视频里要发生什么")
    for name, o in options.items():
        assert set(o["name_localizations"]) == {ZH}, name
        assert set(o["description_localizations"]) == {ZH}, name
    quality = [c["name_localizations"] for c in options["quality"]["choices"]]
    assert quality == [{ZH: "720p（默认）"}, {ZH: "1080p（更清晰，费用更高）"}]
    ratios = options["aspect_ratio"]["choices"]
    assert ratios[1]["name_localizations"][ZH].startswith("9:16 竖屏")
    assert [c["value"] for c in ratios] == ["16:9", "9:16", "1:1", "4:3", "3:4"]  # unchanged
    assert command["name"] == "video" and options["quality"]["name"] == "quality"  # still English
    help_command = commands["videohelp"]
    assert help_command["name_localizations"] == {ZH: "视频帮助"}
    assert help_command["description"] == "How to make videos, and what each option does"
    assert help_command["description_localizations"] == {ZH: "如何生成视频，以及每个选项的作用"}
    assert help_command["dm_permission"] is False
    for name in ("videos", "credits", "videomod"):
        assert set(commands[name]["name_localizations"]) == {ZH}, name


# --- /video in Chinese -------------------------------------------------------------------------


async def test_a_chinese_member_follows_the_video_in_chinese(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    status = await requested(bot, fake_discord, video(seed=77, negative_prompt="模糊"))
    [embed] = status["embeds"]
    assert embed["title"] == "🎬 正在生成你的视频"
    shown = fields(embed)
    assert list(shown) == ["状态", "提示词", "反向提示词", "设置", "费用"]
    assert shown["状态"].startswith("在 EvoLink 排队中\n`") and "已用时 0 秒" in shown["状态"]
    assert shown["设置"] == "720p · 16:9 (1280×720) · 5 秒 · 种子 77"
    assert shown["费用"] == "5 积分"
    assert embed["footer"]["text"].startswith("任务 ")
    row = await bot.store.generations.get(1)
    assert row is not None and row.locale == ZH  # kept for what the tracker sends later

    clock.advance(30)
    await bot.tracker.run_once()
    edited = fake_discord.messages[status["id"]]["embeds"][0]
    assert fields(edited)["状态"].startswith("渲染中\n`")

    clock.advance(61)
    await bot.tracker.run_once()
    [delivery] = deliveries(fake_discord, status["id"])
    assert delivery["content"] == f"<@{USER_ID}> 你的视频已生成。"
    assert delivery["allowed_mentions"]["users"] == [USER_ID]
    shown = fields(delivery["embeds"][0])
    assert list(shown) == ["反向提示词", "设置", "耗时", "费用"]
    assert shown["费用"] == "5 积分" and shown["耗时"].endswith("秒")
    assert buttons(delivery) == {  # labels translated, custom ids as they always were
        "🔁 重新生成": "video:again:1",
        "🌱 使用此种子": "video:seed:1",
        "✏️ 修改后重试": "video:edit:1",
    }
    assert status["id"] in fake_discord.deleted_messages  # one message per video


async def test_a_video_too_big_to_upload_is_linked_with_its_expiry_in_chinese(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    payload = slash_command(
        "video", [option("prompt", "大视频")], locale=ZH, attachment_size_limit=100_000
    )
    status = await requested(bot, fake_discord, payload)
    clock.advance(61)
    await bot.tracker.run_once()
    [delivery] = deliveries(fake_discord, status["id"])
    row = await bot.store.generations.get(1)
    assert row is not None and row.result_url and row.finished_at
    expires = int(row.finished_at + 24 * 3600)
    assert delivery["content"] == (
        f"<@{USER_ID}> 你的视频已生成：{row.result_url}\n"
        f"-# 链接会在生成 24 小时后失效（<t:{expires}:R>），如需保留请下载视频。"
    )


async def test_a_failure_is_explained_in_chinese(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    payload = video("雨夜 [[fail:content_policy_violation]]")
    status = await requested(bot, fake_discord, payload)
    clock.advance(61)
    await bot.tracker.run_once()
    [notice] = fake_discord.followups(int(payload["id"]))  # privately
    assert notice["flags"] == EPHEMERAL and notice["content"] == (
        "你的视频未能生成。"
        "EvoLink 的安全过滤器拦截了这个视频。请换一种方式描述画面。本次没有扣除任何积分。"
    )
    assert buttons(notice) == {"✏️ 修改后重试": "video:edit:1"}  # not the same prompt again
    assert status["id"] in fake_discord.deleted_messages


async def test_bad_input_is_refused_in_chinese_with_chinese_option_names(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator
) -> None:
    payload = slash_command(
        "video",
        [option("prompt", "x" * 5001), option("quality", "4k"), option("duration", 99)],
        locale=ZH,
    )
    data = await private_answer(bot, fake_discord, payload)
    assert data["content"] == (
        "暂时无法开始生成这个视频：\n"
        "• `提示词` 有 5,001 个字符，超过了 5,000 个字符的上限。请缩短。\n"
        "• `画质` 只能是以下之一：720p, 1080p。\n"
        "• `时长` 必须是 2 到 15 之间的整数秒。\n"
        "请求未发送，也没有扣除任何积分。"
    )
    assert simulator.tasks == {}


async def test_a_refusal_for_credits_is_in_chinese(
    fake_discord: FakeDiscord, make_bot: BotFactory, simulator: Simulator
) -> None:
    async with running_bot(make_bot(default_user_credits=3.0), fake_discord) as bot:
        assert isinstance(bot, VideoBot)
        payload = video()
        await dispatch(bot, payload)
    refusal = fake_discord.private_reply(int(payload["id"]))
    assert refusal["flags"] & EPHEMERAL
    said = refusal["content"]
    assert said.startswith("这个视频需要 5 积分，而你只剩 3 积分。3 秒的视频只需 3 积分。")
    assert said.endswith("重置。本次没有扣除任何积分。")
    assert simulator.tasks == {}


async def test_a_blocked_prompt_is_refused_in_chinese(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator
) -> None:
    payload = video("一只狐狸")
    guild_id = int(payload["guild_id"])
    await bot.moderation.blocklist_add(guild_id, "狐狸", 1)
    await dispatch(bot, payload)
    refusal = fake_discord.private_reply(int(payload["id"]))
    assert refusal["content"].startswith("这个提示词包含本服务器不允许的词语")
    assert simulator.tasks == {}


async def test_the_buttons_answer_in_the_presser_s_language(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    status = await requested(bot, fake_discord, video())  # no seed: Use seed is not offered
    clock.advance(61)
    await bot.tracker.run_once()
    [delivery] = deliveries(fake_discord, status["id"])
    message = fake_discord.api_message(delivery["id"])
    crafted_message = copy.deepcopy(message)  # as if a Use seed button were under it
    seed_button = {"type": 2, "style": 2, "label": "🌱", "custom_id": "video:seed:1"}
    crafted_message["components"][0]["components"].append(seed_button)
    crafted = button_press("video:seed:1", message=crafted_message, locale=ZH)
    data = await private_answer(bot, fake_discord, crafted)
    assert data["content"].startswith("这个视频使用的是随机种子")
    stranger = button_press("video:again:1", message=message, user_id=USER_ID + 1, locale=ZH)
    data = await private_answer(bot, fake_discord, stranger)
    assert data["content"] == (
        "只有发起这个视频请求的成员才能使用这些按钮。你也可以自己试试 `/视频`！"
    )
    edit = button_press("video:edit:1", message=message, locale=ZH)
    await dispatch(bot, edit)
    modal = fake_discord.modal_sent(int(edit["id"]))
    labels = [c["components"][0]["label"] for c in modal["components"]]
    assert modal["title"] == "修改后重试" and labels == ["提示词", "反向提示词（可选）"]


# --- English stays English ---------------------------------------------------------------------


async def test_an_english_member_reads_exactly_the_english_texts(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    bad = slash_command("video", [option("prompt", "a cat"), option("quality", "4k")])
    data = await private_answer(bot, fake_discord, bad)
    assert data["content"] == (
        "I can't start this video yet:\n"
        "• `quality` must be one of 720p, 1080p.\n"
        "Nothing was sent, and you were not charged."
    )
    status = await requested(bot, fake_discord, video("a cat", locale="en-US", seed=7))
    [embed] = status["embeds"]
    assert embed["title"] == "🎬 Making your video"
    shown = fields(embed)
    assert list(shown) == ["Status", "Prompt", "Settings", "Cost"]
    assert shown["Settings"] == "720p · 16:9 (1280×720) · 5 s · seed 7"
    assert shown["Cost"] == "5 credits" and "Elapsed 0s" in shown["Status"]
    clock.advance(61)
    await bot.tracker.run_once()
    [delivery] = deliveries(fake_discord, status["id"])
    assert delivery["content"] == f"<@{USER_ID}> your video is ready."
    assert list(buttons(delivery)) == ["🔁 Regenerate", "🌱 Use seed", "✏️ Edit & retry"]
    assert list(fields(delivery["embeds"][0])) == ["Settings", "Took", "Cost"]


async def test_other_languages_fall_back_to_english(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator
) -> None:
    status = await requested(bot, fake_discord, video("un chat", locale="fr"))
    assert status["embeds"][0]["title"] == "🎬 Making your video"
    data = await private_answer(bot, fake_discord, slash_command("videohelp", locale="fr"))
    assert data["embeds"][0]["title"] == "🎬 How to make videos"
    taiwan = slash_command("video", [option("prompt", "貓"), option("seed", 0)], locale="zh-TW")
    data = await private_answer(bot, fake_discord, taiwan)
    assert data["content"].startswith("I can't start this video yet:\n• `seed` must be")


# --- /credits and /videos ----------------------------------------------------------------------


async def test_credits_and_history_in_chinese(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator
) -> None:
    await dispatch(bot, video(duration=10))
    data = await private_answer(bot, fake_discord, slash_command("credits", locale=ZH))
    [embed] = data["embeds"]
    assert embed["title"] == "你的视频积分"
    shown = fields(embed)
    assert shown["剩余"] == "**40** / 50（每天）" and shown["生成中的视频占用"] == "10"
    assert shown["最近的视频和变动"].startswith("视频 #1 · 生成期间占用 10 · <t:")
    assert embed["footer"]["text"].startswith("5 秒视频在 720p 下需 5 积分，1080p 下需 10 积分")

    data = await private_answer(bot, fake_discord, slash_command("videos", locale=ZH))
    [embed] = data["embeds"]
    assert embed["title"] == "你的视频" and embed["description"].startswith("只有你能看到")
    [entry] = embed["fields"]
    assert "⏳ 在 EvoLink 排队中" in entry["value"] and "10 积分（预留中）" in entry["value"]
    assert "10 秒 · 随机种子" in entry["value"] and "\n任务 `" in entry["value"]
    assert embed["footer"]["text"] == "第 1 页 · 最新的在前"


# --- /videohelp --------------------------------------------------------------------------------


async def test_videohelp_in_english_shows_options_prices_and_my_credits(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator
) -> None:
    await dispatch(bot, video(locale="en-US"))  # 5 credits held
    data = await private_answer(bot, fake_discord, slash_command("videohelp"))
    [embed] = data["embeds"]
    assert embed["title"] == "🎬 How to make videos"
    for fragment in (
        "`prompt` (required)",
        "up to 5,000 characters",
        "`negative_prompt`: what must not appear, up to 500 characters",
        "`duration`: 2 to 15 seconds",
        "`seed`: a number from 1 to 2,147,483,647",
        "`prompt_extend`",
        "`audio` or `audio_url`",
        "16:9, 9:16, 1:1, 4:3, 3:4",
    ):
        assert fragment in embed["description"], fragment
    shown = fields(embed)
    assert shown["Prices"].startswith(
        "720p: 1 credit per second; a 5 s video costs 5\n"
        "1080p: 2 credits per second; a 5 s video costs 10\n"
    )
    assert shown["Your credits"].startswith(
        "**45** of 50 per day\n5 held by videos in progress\nYour credits renew <t:"
    )
    shots = shown["One shot or several"]
    assert "generate a single-shot video" in shots and "generate a multi-shot video" in shots
    assert "`Shot 1 [0-3s]" in shots
    tips = shown["Better results"]
    assert "`negative_prompt`" in tips and "`seed`" in tips and "`prompt_extend`" in tips
    assert "English and Chinese" in tips


async def test_videohelp_in_chinese_shows_options_prices_and_my_credits(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator
) -> None:
    data = await private_answer(bot, fake_discord, slash_command("videohelp", locale=ZH))
    [embed] = data["embeds"]
    assert embed["title"] == "🎬 如何生成视频"
    for fragment in ("`提示词`（必填）", "`反向提示词`", "`宽高比`：16:9、9:16、1:1、4:3、3:4",
                     "`种子`", "`提示词扩展`", "`音频` 或 `音频链接`"):  # fmt: skip
        assert fragment in embed["description"], fragment
    shown = fields(embed)
    assert shown["价格"].startswith(
        "720p：每秒 1 积分，5 秒视频需 5 积分\n1080p：每秒 2 积分，5 秒视频需 10 积分\n"
    )
    assert shown["你的积分"].startswith("**50** / 50（每天）\n你的积分将在 <t:")
    assert "生成中的视频占用" not in shown["你的积分"]  # nothing held
    assert "生成单镜头视频" in shown["单镜头还是多镜头"]
    assert "`第 1 个镜头 [0-3 秒]" in shown["单镜头还是多镜头"]


async def test_videohelp_shows_a_role_s_allowance_and_unlimited(
    fake_discord: FakeDiscord, bot: VideoBot
) -> None:
    async with bot.store.transaction() as tx:
        await bot.credits.set_allowance(tx, 0, "role", 555, None, 1)  # another server: ignored
    payload = slash_command("videohelp", roles=[555])
    guild_id = int(payload["guild_id"])
    async with bot.store.transaction() as tx:
        await bot.credits.set_allowance(tx, guild_id, "role", 555, None, 1)
    data = await private_answer(bot, fake_discord, payload)
    assert fields(data["embeds"][0])["Your credits"] == (
        "Unlimited\n`/credits` lists your recent charges."
    )


@pytest.mark.parametrize("locale", ["en-US", ZH])
@pytest.mark.parametrize(
    "credits",
    [
        None,
        MemberCredits(None, None, 0.0, None, "once", []),
        MemberCredits(1e9, 123456789.25, 987654.5, 1.9e9, "monthly", []),
        MemberCredits(20.0, 0.0, 0.0, None, "once", []),
    ],
)
def test_videohelp_fits_discords_embed_limits(locale: str, credits: MemberCredits | None) -> None:
    prices = Prices({"720p": 1234.5678, "1080p": 99999.99})
    embed = help_embed(prices, credits, locale)
    assert len(embed) <= 6000 and len(embed.fields) <= 25
    assert embed.title is not None and len(embed.title) <= 256
    assert embed.description is not None and len(embed.description) <= 4096
    for field in embed.fields:
        assert field.name and len(field.name) <= 256
        assert field.value and len(field.value) <= 1024
    assert embed.footer.text is not None and len(embed.footer.text) <= 2048
    assert isinstance(embed, discord.Embed)


# --- moderators --------------------------------------------------------------------------------


def videomod(name: str, *options: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("user_id", MODERATOR)
    kwargs.setdefault("permissions", MOD_PERMISSIONS)
    return slash_command("videomod", [subcommand(name, list(options))], **kwargs)


async def test_moderators_are_answered_in_their_language(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator
) -> None:
    member = await private_answer(
        bot, fake_discord, videomod("log", locale=ZH, permissions=MEMBER_PERMISSIONS)
    )
    assert member["content"].startswith("只有拥有 **管理服务器** 权限的成员，或服务器管理员授权")

    banned = option("user", USER_ID, type=6)
    data = await private_answer(
        bot, fake_discord, videomod("ban", banned, option("reason", "spam"), locale=ZH)
    )
    assert (
        data["content"]
        == f"🔨 <@{USER_ID}> 已无法在这里生成视频。对方会收到礼貌的提示，不会看到你的名字。"
    )
    payload = video()
    await dispatch(bot, payload)  # the banned member is told in their own language
    refusal = fake_discord.private_reply(int(payload["id"]))
    assert refusal["content"].startswith("你目前无法在本服务器生成视频。")

    data = await private_answer(
        bot, fake_discord, videomod("log", option("since", "soon"), locale=ZH)
    )
    assert data["content"].startswith("无法识别 `起始时间: soon`。")  # as Discord names `since`

    data = await private_answer(bot, fake_discord, videomod("audit", locale=ZH))
    [embed] = data["embeds"]
    assert embed["title"] == "管理操作" and embed["description"] == "全部操作记录"
    assert (
        "🔨 封禁了" in embed["fields"][0]["value"] and "原因：spam" in embed["fields"][0]["value"]
    )

    data = await private_answer(bot, fake_discord, videomod("limits", locale=ZH))
    [embed] = data["embeds"]
    assert embed["title"] == "本服务器的视频限制"
    assert fields(embed)["周期"] == "每天" and fields(embed)["冷却时间"] == "0 秒"

    english = await private_answer(bot, fake_discord, videomod("audit"))
    assert english["embeds"][0]["title"] == "Moderator actions"
    assert english["embeds"][0]["description"] == "Every recorded action"


async def test_one_video_in_full_for_a_chinese_moderator(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator
) -> None:
    await dispatch(bot, video(locale="en-US"))  # the member's language does not matter here
    task_id = next(iter(simulator.tasks))
    data = await private_answer(
        bot, fake_discord, videomod("show", option("task_id", task_id), locale=ZH)
    )
    [embed] = data["embeds"]
    assert embed["title"] == "视频 #1"
    shown = fields(embed)
    assert list(shown) == ["成员", "状态", "积分", "参数", "时间线"]
    assert shown["状态"] == "⏳ 在 EvoLink 排队中 (0%)" and shown["积分"] == "预留 5"
    assert shown["参数"].split("\n") == [
        "画质 720p（默认）",
        "宽高比 16:9（默认）",
        "时长 5 秒（默认）",
        "种子 随机",
        "提示词扩展：关",
    ]
    assert embed["footer"]["text"] == f"任务 {task_id} · 视频 #1"


# --- a third language --------------------------------------------------------------------------

FRENCH = """msgid ""
msgstr ""
"Language: fr\\n"
"Content-Type: text/plain; charset=UTF-8\\n"
"Plural-Forms: nplurals=2; plural=(n > 1);\\n"

msgctxt "command name"
msgid "video"
msgstr "vidéo"

msgctxt "command text"
msgid "Make a short video from a text prompt"
msgstr "Crée une courte vidéo à partir d'un texte"

msgid "status.title.working"
msgstr "🎬 Votre vidéo est en préparation"

msgid "status.cost"
msgid_plural "status.cost"
msgstr[0] "{credits} crédit"
msgstr[1] "{credits} crédits"
"""


async def test_a_new_language_is_a_new_file_and_nothing_else(
    fake_discord: FakeDiscord,
    make_bot: BotFactory,
    simulator: Simulator,
    locales_dir: Path,
    speak_from: SpeakFrom,
) -> None:
    (locales_dir / "fr.po").write_text(FRENCH, encoding="utf-8")
    speak_from(locales_dir)
    async with running_bot(make_bot(), fake_discord) as bot:
        assert isinstance(bot, VideoBot)
        [sync] = fake_discord.calls_to("PUT", "/applications/{application_id}/commands")
        command = {c["name"]: c for c in sync.json}["video"]
        assert command["name_localizations"] == {ZH: "视频", "fr": "vidéo"}
        assert command["description_localizations"] == {
            ZH: "根据文字提示词生成一段短视频",
            "fr": "Crée une courte vidéo à partir d'un texte",
        }
        quality = {o["name"]: o for o in command["options"]}["quality"]
        assert quality["name_localizations"] == {ZH: "画质"}  # not translated: Discord's English

        status = await requested(bot, fake_discord, video("un chat", locale="fr"))
    [embed] = status["embeds"]
    assert embed["title"] == "🎬 Votre vidéo est en préparation"
    shown = fields(embed)
    assert shown["Cost"] == "5 crédits"  # the French text, under an English field name
    assert list(shown) == ["Status", "Prompt", "Settings", "Cost"]
