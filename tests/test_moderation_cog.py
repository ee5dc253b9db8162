"""/videomod and /videos through discord.py's real code paths: raw interaction payloads in,
recorded Discord calls out. Also the mod-log poster (bot/ui/modlog.py) as moderators see it."""

from __future__ import annotations

import csv
import gzip
import io
import uuid
from typing import Any

import discord
from discord import app_commands

from bot.store import Generation, NewGeneration
from bot.ui.client import VideoBot
from cogs.moderation import UPLOAD_MARGIN
from cogs.shared import ModeratorCog, moderator_group
from discord_double import (
    ADMIN_PERMISSIONS,
    CHANNEL_ID,
    GUILD_ID,
    MEMBER_PERMISSIONS,
    USER_ID,
    FakeDiscord,
    autocomplete,
    button_press,
    dispatch,
    focused,
    option,
    slash_command,
    subcommand,
    subcommand_group,
)
from tests.conftest import FakeClock

EPHEMERAL = 64
MOD_PERMISSIONS = MEMBER_PERMISSIONS | discord.Permissions(manage_guild=True).value
MODERATOR = USER_ID + 1000
ALICE, BOB = USER_ID + 1, USER_ID + 2
LOG_CHANNEL = CHANNEL_ID + 77
OTHER_GUILD = GUILD_ID + 5


def videomod(
    name: str,
    options: list[dict[str, Any]] | None = None,
    *,
    group: str | None = None,
    user_id: int = MODERATOR,
    permissions: int = MOD_PERMISSIONS,
    **kwargs: Any,
) -> dict[str, Any]:
    sub = subcommand(name, options)
    return slash_command(
        "videomod",
        [subcommand_group(group, [sub]) if group else sub],
        user_id=user_id,
        permissions=permissions,
        **kwargs,
    )


def user_option(name: str, user_id: int) -> dict[str, Any]:
    return option(name, user_id, type=6)


async def answer(bot: VideoBot, fake: FakeDiscord, payload: dict[str, Any]) -> dict[str, Any]:
    """The interaction's direct answer (type 4), checked to be private."""
    await dispatch(bot, payload)
    body = fake.interaction_response(int(payload["id"]))
    assert body["type"] == 4, body
    assert body["data"]["flags"] & EPHEMERAL
    assert body["data"]["allowed_mentions"]["parse"] == []
    return dict(body["data"])


async def add(
    bot: VideoBot,
    clock: FakeClock,
    *,
    user: int = ALICE,
    guild: int = GUILD_ID,
    status: str = "completed",
    prompt: str = "a cat",
    negative_prompt: str | None = None,
    error: tuple[str, str] | None = None,
) -> Generation:
    clock.advance(60)
    g = await bot.store.generations.add(
        NewGeneration(
            guild_id=guild, channel_id=CHANNEL_ID, user_id=user, locale="en-US", prompt=prompt,
            negative_prompt=negative_prompt, quality="1080p", aspect_ratio="9:16", duration=6,
            seed=42, prompt_extend=True, audio_url=None, idempotency_key=str(uuid.uuid4()),
            next_poll_at=0,
        )
    )  # fmt: skip
    await bot.store.execute(
        """UPDATE generations SET status = ?, task_id = ?, credits_reserved = 12,
           credits_used = CASE WHEN ? = 'completed' THEN 12 END, error_code = ?, error_message = ?,
           result_url = CASE WHEN ? = 'completed' THEN 'https://cdn.example/v' || id || '.mp4' END,
           submitted_at = requested_at, finished_at = requested_at + 50 WHERE id = ?""",
        status, f"task-{g.id:04d}", status, *(error or (None, None)), status, g.id,
    )  # fmt: skip
    got = await bot.store.generations.get(g.id)
    assert got is not None
    return got


def buttons(message: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["label"]: c for row in message["components"] for c in row["components"]}


def fields(embed: dict[str, Any]) -> dict[str, str]:
    return {f["name"]: f["value"] for f in embed.get("fields", [])}


async def press(
    bot: VideoBot, fake: FakeDiscord, message_id: int, label: str, user_id: int
) -> dict[str, Any]:
    message = fake.api_message(message_id)
    custom_id = buttons(fake.messages[message_id])[label]["custom_id"]
    payload = button_press(custom_id, message=message, user_id=user_id, permissions=MOD_PERMISSIONS)
    await dispatch(bot, payload)
    return fake.interaction_response(int(payload["id"]))


# --- registration and permissions -------------------------------------------------------------


async def test_registered_schema_is_for_server_managers_and_guild_only(
    fake_discord: FakeDiscord, bot: VideoBot
) -> None:
    [sync] = fake_discord.calls_to("PUT", "/applications/{application_id}/commands")
    commands_by_name = {c["name"]: c for c in sync.json}
    mod = commands_by_name["videomod"]
    assert str(mod["default_member_permissions"]) == "32"  # Manage Server
    assert mod["dm_permission"] is False
    subs = {o["name"]: o for o in mod["options"]}
    assert set(subs) == {
        "log", "show", "export", "audit", "ban", "unban", "bans", "config", "blocklist",
        "credits", "limits", "balance",
    }  # fmt: skip
    assert [o["name"] for o in subs["credits"]["options"]] == [
        "show", "grant", "take", "allowance", "refund",
    ]  # fmt: skip
    assert [o["name"] for o in subs["config"]["options"]] == ["log_channel"]
    assert [o["name"] for o in subs["blocklist"]["options"]] == ["add", "remove", "list"]
    log_options = {o["name"]: o for o in subs["log"]["options"]}
    assert log_options["user"]["type"] == 6 and log_options["since"]["max_length"] == 40
    assert [c["value"] for c in log_options["status"]["choices"]] == [
        "completed", "failed", "expired", "in_progress", "cancelled"
    ]  # fmt: skip
    assert subs["show"]["options"][0]["autocomplete"] is True
    channel = subs["config"]["options"][0]["options"][0]
    assert (
        channel["type"] == 7 and 0 in channel["channel_types"] and 4 not in channel["channel_types"]
    )
    videos = commands_by_name["videos"]
    assert videos["default_member_permissions"] is None and videos["dm_permission"] is False


async def test_a_member_without_manage_server_is_refused_even_if_the_command_is_shown(
    fake_discord: FakeDiscord, bot: VideoBot, clock: FakeClock
) -> None:
    await add(bot, clock)
    attempts = [
        videomod("log"),
        videomod("show", [option("task_id", "task-0001")]),
        videomod("export"),
        videomod("audit"),
        videomod("ban", [user_option("user", ALICE), option("reason", "x")]),
        videomod("unban", [user_option("user", ALICE)]),
        videomod("log_channel", [option("channel", LOG_CHANNEL, type=7)], group="config"),
        videomod("add", [option("pattern", "cat")], group="blocklist"),
        videomod("list", group="blocklist"),
    ]
    for payload in attempts:
        payload["member"]["permissions"] = str(MEMBER_PERMISSIONS)
        data = await answer(bot, fake_discord, payload)
        assert "Manage Server" in data["content"], payload["data"]["options"]
        assert "embeds" not in data or not data["embeds"]
    assert not await bot.moderation.is_banned(GUILD_ID, ALICE)
    assert await bot.moderation.blocklist(GUILD_ID) == []
    assert await bot.moderation.log_channel(GUILD_ID) is None
    assert fake_discord.channel_messages(LOG_CHANNEL) == []

    peek = autocomplete(
        "videomod", [subcommand("show", [focused("task_id", "task")])],
        permissions=MEMBER_PERMISSIONS,
    )  # fmt: skip
    await dispatch(bot, peek)
    assert fake_discord.interaction_response(int(peek["id"])) == {
        "type": 8, "data": {"choices": []}
    }  # fmt: skip

    admin = videomod("log", permissions=ADMIN_PERMISSIONS)
    data = await answer(bot, fake_discord, admin)
    assert data["embeds"][0]["title"] == "Video log"


# --- log, show, export ------------------------------------------------------------------------


async def test_log_pages_with_buttons_only_the_asker_can_press(
    fake_discord: FakeDiscord, bot: VideoBot, clock: FakeClock
) -> None:
    made = [await add(bot, clock, user=(ALICE, BOB)[n % 3 == 2], prompt=f"scene {n} **bold**",
                      status=("completed", "failed")[n % 2]) for n in range(8)]  # fmt: skip
    await add(bot, clock, guild=OTHER_GUILD, prompt="not from here")

    payload = videomod("log")
    data = await answer(bot, fake_discord, payload)
    [embed] = data["embeds"]
    assert [f["name"] for f in embed["fields"]] == [f"#{g.id}" for g in reversed(made)][:6]
    newest = embed["fields"][0]["value"]
    assert f"<@{made[7].user_id}>" in newest and "scene 7 \\*\\*bold\\*\\*" in newest
    assert "1080p · 9:16 (1080×1920) · 6 s · seed 42" in newest and "task-0008" in newest
    assert "❌ failed" in newest and "<t:" in newest
    assert "12 credits refunded" in newest  # a failed video costs nothing
    assert "[Open the video](https://cdn.example/v7.mp4)" in embed["fields"][1]["value"]
    assert "12 credits" in embed["fields"][1]["value"]
    page = buttons(data)
    assert page["Previous"]["disabled"] is True and not page["Next"].get("disabled")

    message_id = fake_discord.original(int(payload["id"]))["id"]  # type: ignore[index]
    stranger = await press(bot, fake_discord, message_id, "Next", user_id=MODERATOR + 1)
    assert stranger["type"] == 4 and stranger["data"]["flags"] == EPHEMERAL
    assert "Only the moderator who asked" in stranger["data"]["content"]

    turned = await press(bot, fake_discord, message_id, "Next", user_id=MODERATOR)
    assert turned["type"] == 7
    assert [f["name"] for f in turned["data"]["embeds"][0]["fields"]] == ["#2", "#1"]
    assert turned["data"]["embeds"][0]["footer"]["text"].startswith("Page 2")
    after = buttons(fake_discord.messages[message_id])
    assert after["Next"]["disabled"] is True and not after["Previous"].get("disabled")

    back = await press(bot, fake_discord, message_id, "Previous", user_id=MODERATOR)
    assert back["data"]["embeds"][0]["fields"][0]["name"] == f"#{made[-1].id}"

    filtered = await answer(bot, fake_discord, videomod(
        "log", [user_option("user", BOB), option("status", "failed"), option("since", "7h")]
    ))  # fmt: skip
    [embed] = filtered["embeds"]
    expected = [g for g in reversed(made) if g.user_id == BOB and g.status == "failed"
                and g.requested_at >= clock.now - 7 * 3600]  # fmt: skip
    assert [f["name"] for f in embed["fields"]] == [f"#{g.id}" for g in expected]
    assert f"member <@{BOB}>" in embed["description"] and "status failed" in embed["description"]
    assert "components" not in filtered or filtered["components"] == []  # one page: no buttons

    bad = await answer(bot, fake_discord, videomod("log", [option("since", "last tuesday")]))
    assert "`24h`" in bad["content"] and "2026-11-01" in bad["content"]


async def test_show_gives_one_generation_in_full_and_autocompletes(
    fake_discord: FakeDiscord, bot: VideoBot, clock: FakeClock
) -> None:
    long_prompt = "A very long scene. " * 250  # 4750 characters
    g = await add(
        bot, clock, prompt=long_prompt, negative_prompt="blurry @everyone", status="failed",
        error=("content_policy_violation", "blocked by filter"),
    )  # fmt: skip
    done = await add(bot, clock, prompt="a red fox in the snow")
    hidden = await add(bot, clock, guild=OTHER_GUILD, prompt="a red fox elsewhere")

    payload = videomod("show", [option("task_id", g.task_id)])
    await dispatch(bot, payload)
    body = fake_discord.interaction_response(int(payload["id"]))
    assert body["data"]["flags"] == EPHEMERAL
    [embed] = body["data"]["embeds"]
    shown = fields(embed)
    assert embed["description"].startswith("A very long scene.")
    assert shown["Negative prompt"] == "blurry @\u200beveryone"
    assert "quality 1080p" in shown["Parameters"] and "seed 42" in shown["Parameters"]
    assert "prompt extend on" in shown["Parameters"]
    assert "`content_policy_violation` blocked by filter" in shown["Error"]
    assert shown["Credits"] == "12 refunded" and shown["Timeline"].count("<t:") >= 3
    [call] = fake_discord.interaction_responses(int(payload["id"]))
    assert call.files == [(f"prompt-{g.id}.txt", long_prompt.encode())]  # the whole prompt

    data = await answer(bot, fake_discord, videomod("show", [option("task_id", done.task_id)]))
    video = fields(data["embeds"][0])["Video"]
    assert video.startswith(f"[Open the video]({done.result_url}) · the link expires <t:")

    missing = await answer(bot, fake_discord, videomod("show", [option("task_id", hidden.task_id)]))
    assert "can't find" in missing["content"]

    typed = autocomplete(
        "videomod", [subcommand("show", [focused("task_id", "fox")])], user_id=MODERATOR,
        permissions=MOD_PERMISSIONS,
    )  # fmt: skip
    await dispatch(bot, typed)
    choices = fake_discord.interaction_response(int(typed["id"]))["data"]["choices"]
    assert [c["value"] for c in choices] == [done.task_id]
    assert "a red fox in the snow" in choices[0]["name"]


async def export_file(
    bot: VideoBot, fake: FakeDiscord, payload: dict[str, Any]
) -> tuple[str, str, bytes]:
    calls = await dispatch(bot, payload)
    iid = int(payload["id"])
    assert fake.interaction_response(iid) == {"type": 5, "data": {"flags": EPHEMERAL}}
    [message] = fake.followups(iid)
    assert message["flags"] & EPHEMERAL
    sends = [c for c in calls if c.files]
    name, content = sends[-1].files[0] if sends else ("", b"")
    return message["content"], name, content


async def test_export_sends_a_csv_attachment_with_the_same_filters(
    fake_discord: FakeDiscord, bot: VideoBot, clock: FakeClock
) -> None:
    for n in range(30):
        await add(bot, clock, user=(ALICE, BOB)[n % 2], prompt=f"scene {n}, 一只猫")
    text, name, content = await export_file(bot, fake_discord, videomod("export"))
    assert "30 videos" in text and name.startswith(f"videos-{GUILD_ID}-") and name.endswith(".csv")
    assert content.startswith(b"\xef\xbb\xbf")  # UTF-8 with a BOM, for spreadsheet apps
    rows = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))
    assert len(rows) == 30 and rows[0]["Prompt"] == "scene 29, 一只猫"
    assert rows[0]["Member ID"] == f'="{BOB}"' and rows[0]["Status"] == "✅ completed"

    _, _, only_alice = await export_file(
        bot, fake_discord, videomod("export", [user_option("user", ALICE)])
    )
    assert len(list(csv.DictReader(io.StringIO(only_alice.decode("utf-8-sig"))))) == 15

    text, _, nothing = await export_file(
        bot, fake_discord, videomod("export", [option("status", "expired")])
    )
    assert text == "No videos match these filters." and nothing == b""


async def test_an_export_too_big_for_discord_is_compressed_or_refused(
    fake_discord: FakeDiscord, bot: VideoBot, clock: FakeClock
) -> None:
    for n in range(40):
        await add(bot, clock, prompt=f"scene {n} " + "with many repeated words " * 20)
    small = UPLOAD_MARGIN + 8000
    text, name, content = await export_file(
        bot, fake_discord, videomod("export", attachment_size_limit=small)
    )
    assert name.endswith(".csv.gz") and "gzip" in text and len(content) < 8000
    rows = list(csv.DictReader(io.StringIO(gzip.decompress(content).decode("utf-8-sig"))))
    assert len(rows) == 40

    text, name, _ = await export_file(
        bot, fake_discord, videomod("export", attachment_size_limit=UPLOAD_MARGIN + 100)
    )
    assert name == "" and "too large" in text and "since" in text


# --- mod-log channel --------------------------------------------------------------------------


async def set_log_channel(bot: VideoBot, fake: FakeDiscord) -> None:
    payload = videomod("log_channel", [option("channel", LOG_CHANNEL, type=7)], group="config")
    await dispatch(bot, payload)
    [done] = fake.followups(int(payload["id"]))
    assert done["flags"] & EPHEMERAL and "is now the mod-log channel" in done["content"]


async def test_log_channel_is_checked_then_gets_requests_outcomes_and_blocks(
    fake_discord: FakeDiscord, bot: VideoBot, clock: FakeClock
) -> None:
    fake_discord.fail(method="POST", path_contains=f"/channels/{LOG_CHANNEL}/messages",
                      status=403, code=50013)  # fmt: skip
    refused = videomod("log_channel", [option("channel", LOG_CHANNEL, type=7)], group="config")
    await dispatch(bot, refused)
    [text] = fake_discord.followups(int(refused["id"]))
    assert "can't post in" in text["content"] and "Nothing was changed" in text["content"]
    assert await bot.moderation.log_channel(GUILD_ID) is None

    await set_log_channel(bot, fake_discord)
    [hello] = fake_discord.channel_messages(LOG_CHANNEL)
    assert "Video mod-log" in hello["embeds"][0]["title"]
    [entry] = (await bot.moderation.audit_page(GUILD_ID)).items
    assert (entry.moderator_id, entry.action, entry.details["new"]) == (
        MODERATOR,
        "config",
        LOG_CHANNEL,
    )

    # the hooks the /video flow and the delivery call, each checked for what it posts
    async def posted(hook: Any) -> dict[str, Any]:
        before = len(fake_discord.channel_messages(LOG_CHANNEL))
        message = await hook
        [post] = fake_discord.channel_messages(LOG_CHANNEL)[before:]
        assert message is not None and message.id == post["id"]
        assert post["allowed_mentions"] == {"parse": []}
        return dict(post["embeds"][0])

    g = await add(bot, clock, status="running", prompt="@everyone a **fox**")
    finished = await add(bot, clock, status="completed")
    failed = await add(bot, clock, status="failed", error=("content_policy_violation", "no"))

    request = await posted(bot.modlog.post_request(g))
    assert request["title"] == "🎬 Video requested"
    assert request["description"] == "@\u200beveryone a \\*\\*fox\\*\\*"
    assert fields(request)["Member"] == f"<@{ALICE}> in <#{CHANNEL_ID}>"
    assert fields(request)["Cost"] == "12 credits (held)" and g.task_id in request["footer"]["text"]
    assert fields(request)["Settings"].startswith("1080p · 9:16 (1080×1920) · 6 s · seed 42")

    outcome = await posted(bot.modlog.post_outcome(finished))
    assert outcome["title"] == "✅ Video ready" and fields(outcome)["Video"] == finished.result_url
    assert "Withheld" not in fields(outcome)
    withheld = await posted(bot.modlog.post_outcome(finished, withheld=True))
    assert "banned" in fields(withheld)["Withheld"]
    error = await posted(bot.modlog.post_outcome(failed))
    assert fields(error)["Error"] == "`content_policy_violation` no"

    blocked = await posted(
        bot.modlog.post_blocked(GUILD_ID, BOB, "a <@&123456789012345678> gun", "gun", "blurry")
    )
    assert fields(blocked)["Matched"] == "`gun`" and fields(blocked)["Member"] == f"<@{BOB}>"
    assert "<@\u200b&123456789012345678>" in blocked["description"]
    warning = await posted(bot.modlog.warn(GUILD_ID, "EvoLink refused the API key."))
    assert warning["description"] == "EvoLink refused the API key."

    fake_discord.fail(method="POST", path_contains=f"/channels/{LOG_CHANNEL}/messages", status=500)
    assert await bot.modlog.post_request(g) is None  # logged and swallowed
    calls = len(fake_discord.calls)
    other = await add(bot, clock, guild=OTHER_GUILD)
    assert await bot.modlog.post_outcome(other) is None  # no channel set there: nothing sent
    assert len(fake_discord.calls) == calls

    off = await answer(bot, fake_discord, videomod("log_channel", group="config"))
    assert off["content"] == "Mod-log posting is off."
    assert await bot.moderation.log_channel(GUILD_ID) is None


# --- bans, blocklist, audit -------------------------------------------------------------------


async def test_ban_and_unban_are_recorded_and_posted(
    fake_discord: FakeDiscord, bot: VideoBot, clock: FakeClock
) -> None:
    await add(bot, clock, user=ALICE, status="running")
    ban = videomod("ban", [user_option("user", ALICE), option("reason", "spamming gore")])
    data = await answer(bot, fake_discord, ban)
    assert f"<@{ALICE}> can no longer make videos" in data["content"]
    assert "1 unfinished video will finish" in data["content"]
    assert "No mod-log channel is set" in data["content"]
    assert await bot.moderation.is_banned(GUILD_ID, ALICE)

    again = await answer(bot, fake_discord, ban | {"id": str(int(ban["id"]) + 1), "token": "t2"})
    assert "already banned" in again["content"]
    listed = (await answer(bot, fake_discord, videomod("bans")))["embeds"][0]
    assert listed["title"] == "Banned from making videos"
    assert listed["description"].startswith(f"<@{ALICE}> · by <@{MODERATOR}> <t:")
    assert listed["description"].endswith("· `spamming gore`")

    await set_log_channel(bot, fake_discord)
    unban = [user_option("user", ALICE), option("reason", "appeal accepted")]
    await answer(bot, fake_discord, videomod("unban", unban))
    assert not await bot.moderation.is_banned(GUILD_ID, ALICE)
    not_banned = await answer(bot, fake_discord, videomod("unban", [user_option("user", ALICE)]))
    assert "is not banned" in not_banned["content"]
    nobody = (await answer(bot, fake_discord, videomod("bans")))["embeds"][0]
    assert nobody["description"] == "Nobody is banned here. Ban a member with `/videomod ban`."

    entries = (await bot.moderation.audit_page(GUILD_ID)).items
    assert [(e.action, e.moderator_id, e.target_user_id, e.reason) for e in entries] == [
        ("unban", MODERATOR, ALICE, "appeal accepted"),
        ("config", MODERATOR, None, None),
        ("ban", MODERATOR, ALICE, "spamming gore"),
    ]
    assert all(e.created_at > 0 for e in entries)
    [posted] = fake_discord.channel_messages(LOG_CHANNEL)[1:]
    assert "🕊️ unbanned" in posted["embeds"][0]["description"]
    assert "appeal accepted" in posted["embeds"][0]["description"]


async def test_blocklist_commands_add_list_remove_and_refuse_unsupported_patterns(
    fake_discord: FakeDiscord, bot: VideoBot
) -> None:
    def block(name: str, options: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        return videomod(name, options, group="blocklist")

    added = await answer(bot, fake_discord, block("add", [option("pattern", "gun"),
                                                         option("reason", "policy")]))  # fmt: skip
    assert "Added `gun`" in added["content"] and "whole word" in added["content"]
    regex = await answer(bot, fake_discord, block("add", [option("pattern", "n[a4]ked"),
                                                         option("regex", True)]))  # fmt: skip
    assert "Added `/n[a4]ked/`" in regex["content"]
    unsupported = await answer(bot, fake_discord, block("add", [option("pattern", "/(?<!a)b/")]))
    assert "can't use `(?<!...)`" in unsupported["content"]
    assert "Nothing was added" in unsupported["content"]
    duplicate = await answer(bot, fake_discord, block("add", [option("pattern", "GUN ")]))
    assert duplicate["content"] == "That entry is already on the blocklist."

    assert await bot.moderation.match(GUILD_ID, "a big Gun", None) == "gun"
    assert await bot.moderation.match(GUILD_ID, "calm", "N4KED") == "/n[a4]ked/"

    listed = await answer(bot, fake_discord, block("list"))
    description = listed["embeds"][0]["description"]
    assert "`gun` · whole word" in description and "`/n[a4]ked/` · regex" in description

    remove = subcommand("remove", [focused("pattern", "n")])
    typed = autocomplete(
        "videomod", [subcommand_group("blocklist", [remove])],
        user_id=MODERATOR, permissions=MOD_PERMISSIONS,
    )  # fmt: skip
    await dispatch(bot, typed)
    choices = fake_discord.interaction_response(int(typed["id"]))["data"]["choices"]
    assert [c["value"] for c in choices] == ["gun", "/n[a4]ked/"]

    removed = await answer(bot, fake_discord, block("remove", [option("pattern", "/n[a4]ked/")]))
    assert removed["content"] == "Removed `/n[a4]ked/`."
    assert await bot.moderation.match(GUILD_ID, "N4KED") is None
    missing = await answer(bot, fake_discord, block("remove", [option("pattern", "nope")]))
    assert "is not on the blocklist" in missing["content"]

    actions = [(e.action, e.details["pattern"], e.reason)
               for e in (await bot.moderation.audit_page(GUILD_ID)).items]  # fmt: skip
    assert actions == [
        ("blocklist_remove", "/n[a4]ked/", None),
        ("blocklist_add", "/n[a4]ked/", None),
        ("blocklist_add", "gun", "policy"),
    ]


async def test_blocklist_add_explains_every_entry_it_refuses(
    fake_discord: FakeDiscord, bot: VideoBot
) -> None:
    """Entries Python's own regex parser fails on with something other than a regex error, and
    a word that is empty once its invisible characters are gone: each gets its reason, in the
    moderator's language, never "Something went wrong"."""

    async def add_entry(pattern: str, locale: str = "en-US") -> str:
        payload = videomod("add", [option("pattern", pattern)], group="blocklist", locale=locale)
        return str((await answer(bot, fake_discord, payload))["content"])

    incompatible = await add_entry("/(?a)(?u)a/")
    assert "`(?a)(?u)a` is not a valid regular expression" in incompatible
    assert "ASCII and UNICODE flags are incompatible" in incompatible
    huge = await add_entry("/a{4294967295}/")
    assert "`a{4294967295}` is not a valid regular expression" in huge
    assert await add_entry("\u200b") == "The blocklist entry is empty."
    assert "不是有效的正则表达式" in await add_entry("/a{4294967295}/", "zh-CN")
    assert await add_entry("\u200b\u2060", "zh-CN") == "屏蔽条目为空。"
    assert await bot.moderation.blocklist(GUILD_ID) == []


async def test_blocklist_list_tells_moderators_which_stored_regexes_are_checked_differently(
    fake_discord: FakeDiscord, bot: VideoBot
) -> None:
    for pattern, is_regex in (("gun(?!smith)", 1), ("(((a{11}){11}){11}){11}", 1), ("cat", 0)):
        await bot.store.execute(
            """INSERT INTO blocklist (guild_id, pattern, is_regex, added_by, added_at)
               VALUES (?, ?, ?, ?, ?)""",
            GUILD_ID, pattern, is_regex, MODERATOR, 1.0,
        )  # fmt: skip
    listed = await answer(bot, fake_discord, videomod("list", group="blocklist"))
    embed = listed["embeds"][0]
    lines = embed["description"].split("\n")
    assert lines[0].startswith("`/gun(?!smith)/` · regex")
    assert lines[0].endswith("**⚠️ checked more broadly**")
    assert lines[1].endswith("**⛔ not checked**")
    assert lines[2].startswith("`cat` · whole word") and "**" not in lines[2]
    notes = fields(embed)
    assert "still block every prompt they blocked" in notes["⚠️ Checked more broadly"]
    assert "block nothing now" in notes["⛔ Not checked"]

    chinese = videomod("list", group="blocklist", locale="zh-CN")
    listed = await answer(bot, fake_discord, chinese)
    assert "⚠️ 按更宽的范围检查" in listed["embeds"][0]["description"]


async def test_audit_command_pages_through_every_action(
    fake_discord: FakeDiscord, bot: VideoBot, clock: FakeClock
) -> None:
    mod = bot.moderation
    for n in range(9):
        clock.advance(10)
        await mod.record(GUILD_ID, MODERATOR, "grant", ALICE, {"credits": n}, f"gift {n}")
    await mod.ban(GUILD_ID, BOB, MODERATOR + 1, "spam")

    payload = videomod("audit")
    data = await answer(bot, fake_discord, payload)
    [embed] = data["embeds"]
    assert [f["name"] for f in embed["fields"]] == [f"#{n}" for n in range(10, 2, -1)]
    first = embed["fields"][0]["value"]
    assert f"<@{MODERATOR + 1}> 🔨 banned <@{BOB}>" in first and "Reason: spam" in first
    assert "🎁 granted credits" in embed["fields"][1]["value"]
    assert "credits: 8" in embed["fields"][1]["value"]

    message_id = fake_discord.original(int(payload["id"]))["id"]  # type: ignore[index]
    turned = await press(bot, fake_discord, message_id, "Next", user_id=MODERATOR)
    assert [f["name"] for f in turned["data"]["embeds"][0]["fields"]] == ["#2", "#1"]

    by_one = await answer(
        bot, fake_discord, videomod("audit", [user_option("moderator", MODERATOR + 1)])
    )
    assert [f["name"] for f in by_one["embeds"][0]["fields"]] == ["#10"]


# --- members' own history ---------------------------------------------------------------------


async def test_videos_shows_a_member_only_their_own(
    fake_discord: FakeDiscord, bot: VideoBot, clock: FakeClock
) -> None:
    mine = [await add(bot, clock, user=ALICE, prompt=f"alice {n}") for n in range(7)]
    await add(bot, clock, user=BOB, prompt="bob's secret")
    await add(bot, clock, user=ALICE, guild=OTHER_GUILD, prompt="alice elsewhere")
    failed = await add(bot, clock, user=ALICE, status="failed", prompt="alice failed",
                       error=("content_policy_violation", "x"))  # fmt: skip

    payload = slash_command("videos", user_id=ALICE)
    data = await answer(bot, fake_discord, payload)
    [embed] = data["embeds"]
    assert embed["title"] == "Your videos"
    shown = " ".join(f["value"] for f in embed["fields"])
    assert "bob" not in shown and "elsewhere" not in shown and f"<@{ALICE}>" not in shown
    newest_mine = [f"#{g.id}" for g in reversed(mine)]
    assert [f["name"] for f in embed["fields"]] == [f"#{failed.id}", *newest_mine[:5]]
    assert "safety filter" in embed["fields"][0]["value"]  # a member reads why, not a code
    assert "12 credits" in embed["fields"][1]["value"] and "[Open the video]" in shown

    message_id = fake_discord.original(int(payload["id"]))["id"]  # type: ignore[index]
    nosy = await press(bot, fake_discord, message_id, "Next", user_id=BOB)
    assert "Use `/videos` to see your own" in nosy["data"]["content"]
    turned = await press(bot, fake_discord, message_id, "Next", user_id=ALICE)
    assert [f["name"] for f in turned["data"]["embeds"][0]["fields"]] == [
        f"#{mine[1].id}", f"#{mine[0].id}"
    ]  # fmt: skip

    empty = await answer(bot, fake_discord, slash_command("videos", user_id=BOB + 1))
    assert empty["embeds"][0]["fields"][0]["value"] == "No generations match."


# --- other cogs' subcommands ------------------------------------------------------------------


class ExtraModCommands(ModeratorCog):
    """How another cog puts its moderator commands under /videomod."""

    @app_commands.command(name="grant", description="Give a member credits")
    async def grant(
        self, interaction: discord.Interaction[VideoBot], user: discord.User, amount: int
    ) -> None:
        await interaction.response.send_message(f"granted {amount} to {user.id}", ephemeral=True)


async def test_another_cog_can_add_subcommands_that_inherit_the_check(
    fake_discord: FakeDiscord, bot: VideoBot
) -> None:
    await bot.add_cog(ExtraModCommands(bot, moderator_group(bot)), override=True)
    await bot.tree.sync()
    sync = fake_discord.calls_to("PUT", "/applications/{application_id}/commands")[-1]
    names = [c["name"] for c in sync.json]
    assert "grant" not in names  # not a top-level command
    [mod] = [c for c in sync.json if c["name"] == "videomod"]
    assert "grant" in [o["name"] for o in mod["options"]]

    options = [user_option("user", ALICE), option("amount", 5)]
    refused = await answer(bot, fake_discord,
                           videomod("grant", options, permissions=MEMBER_PERMISSIONS))  # fmt: skip
    assert "Manage Server" in refused["content"]
    payload = videomod("grant", options)
    await dispatch(bot, payload)
    assert fake_discord.interaction_response(int(payload["id"]))["data"]["content"] == (
        f"granted 5 to {ALICE}"
    )


async def test_embeds_stay_within_discord_limits_with_the_longest_values(
    bot: VideoBot, clock: FakeClock
) -> None:
    from bot.ui import mod_render, modlog_render

    worst = "*_`|~>@everyone " * 400  # escaping makes member text longer
    items = []
    for _ in range(6):
        g = await add(bot, clock, prompt=worst[:5000], negative_prompt=worst[:500])
        await bot.store.execute(
            "UPDATE generations SET result_url = ?, error_message = ?, audio_url = ? WHERE id = ?",
            "https://cdn.example/" + "a" * 2000, worst[:1000], "https://x.example/" + "b" * 2000,
            g.id,
        )  # fmt: skip
        got = await bot.store.generations.get(g.id)
        assert got is not None
        items.append(got)
    embeds = [
        mod_render.log_embed(items, title="Video log", description="All", page=1, now=clock.now),
        mod_render.log_embed(
            items, title="Yours", description="x", page=1, now=clock.now, with_member=False
        ),
        mod_render.generation_embed(items[0], clock.now)[0],
        modlog_render.request_post(items[0]),
        modlog_render.outcome_post(items[0], withheld=True),
        modlog_render.blocked_post(ALICE, worst, worst[:210], worst[:500], clock.now),
    ]
    mod = bot.moderation
    for n in range(8):
        await mod.record(GUILD_ID, MODERATOR, "grant", ALICE, {f"k{i}": worst for i in range(9)},
                         worst[:500])  # fmt: skip
        await mod.blocklist_add(GUILD_ID, f"/{n}{'x' * 199}/", MODERATOR, reason=worst[:500])
    audit = await mod.audit_page(GUILD_ID)
    embeds.append(mod_render.audit_embed(audit.items, page=1, description="All"))
    rules = await mod.blocklist(GUILD_ID)
    embeds.append(mod_render.blocklist_embed(rules * 2, page=1, pages=1))  # 16 > a page
    for embed in embeds:
        assert len(embed) <= 6000, embed.title
        assert len(embed.description or "") <= 4096
        assert all(len(f.value or "") <= 1024 and len(f.name or "") <= 256 for f in embed.fields)
