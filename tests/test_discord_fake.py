"""Self-test of the in-process Discord double (discord_double/), with a throwaway bot."""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import discord
import pytest
from discord import app_commands
from discord.ext import commands
from discord.http import Route

from discord_double import (
    ADMIN_PERMISSIONS,
    APPLICATION_ID,
    CHANNEL_ID,
    GUILD_ID,
    USER_ID,
    FakeDiscord,
    UnhandledRequest,
    attachment,
    attachment_option,
    autocomplete,
    button_press,
    dispatch,
    focused,
    make_http_exception,
    message_payload,
    modal_submit_for,
    option,
    payload_problems,
    running_bot,
    select_choice,
    settled,
    slash_command,
    subcommand,
    subcommand_group,
)

STYLES = ["cinematic", "anime", "documentary", "claymation"]
IMAGE_BYTES = b"\x89PNG fake image bytes"


# ---- the throwaway bot ----------------------------------------------------------------------


class GenButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=r"gen:(?P<gen_id>[0-9]+)",
):
    def __init__(self, gen_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Regenerate", style=discord.ButtonStyle.primary, custom_id=f"gen:{gen_id}"
            )
        )
        self.gen_id = gen_id

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
    ) -> GenButton:
        return cls(int(match["gen_id"]))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        await interaction.response.edit_message(content=f"regenerating {self.gen_id}", view=None)


class FeedbackModal(discord.ui.Modal, title="Feedback"):
    text: discord.ui.TextInput[FeedbackModal] = discord.ui.TextInput(
        label="Your feedback", max_length=100
    )

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        await interaction.response.send_message(f"thanks: {self.text.value}", ephemeral=True)


class StyleView(discord.ui.View):
    """An ordinary (non-persistent) view with the default 180 s timeout."""

    def __init__(self, style: str) -> None:
        super().__init__()
        self.style = style

    @discord.ui.button(label="Confirm", custom_id="style:confirm")
    async def confirm(
        self, interaction: discord.Interaction[Any], button: discord.ui.Button[StyleView]
    ) -> None:
        await interaction.response.send_message(f"confirmed {self.style}", ephemeral=True)

    @discord.ui.select(
        custom_id="style:speed",
        options=[discord.SelectOption(label="Slow"), discord.SelectOption(label="Fast")],
    )
    async def speed(
        self, interaction: discord.Interaction[Any], select: discord.ui.Select[StyleView]
    ) -> None:
        await interaction.response.edit_message(content=f"{self.style} at {select.values[0]}")


class RecordingTree(app_commands.CommandTree[commands.Bot]):
    def __init__(self, client: commands.Bot, **kwargs: Any) -> None:
        super().__init__(client, **kwargs)
        self.errors: list[app_commands.AppCommandError] = []

    async def on_error(
        self, interaction: discord.Interaction[Any], error: app_commands.AppCommandError
    ) -> None:
        self.errors.append(error)


class DemoCog(commands.Cog):
    admin = app_commands.Group(
        name="admin",
        description="Admin tools",
        default_permissions=discord.Permissions(manage_guild=True),
        guild_only=True,
    )
    credits = app_commands.Group(name="credits", description="Credit tools", parent=admin)

    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot
        self.announced_ids: list[int] = []
        self.original_content: str | None = None
        self.last_interaction: discord.Interaction[Any] | None = None
        self.job: asyncio.Task[None] | None = None

    @app_commands.command(name="make", description="Make a video")
    @app_commands.describe(prompt="What to film", duration="Seconds")
    @app_commands.choices(
        quality=[
            app_commands.Choice(name="Low", value="low"),
            app_commands.Choice(name="High", value="high"),
        ]
    )
    async def make(
        self,
        interaction: discord.Interaction[Any],
        prompt: app_commands.Range[str, 1, 200],
        duration: app_commands.Range[int, 2, 15],
        quality: app_commands.Choice[str],
        image: discord.Attachment,
        loud: bool = False,
    ) -> None:
        await interaction.response.defer(thinking=True)
        data = await image.read()
        embed = discord.Embed(title="Video ready", description=prompt)
        embed.add_field(name="duration", value=str(duration))
        embed.add_field(name="quality", value=quality.value)
        embed.add_field(name="loud", value=str(loud))
        view = discord.ui.View(timeout=None)
        view.add_item(GenButton(42))
        try:
            await interaction.followup.send(
                embed=embed, file=discord.File(io.BytesIO(data), filename="result.png"), view=view
            )
        except discord.HTTPException as exc:
            if exc.status == 401 and exc.code == 50027:
                assert interaction.channel_id is not None
                channel = self.bot.get_partial_messageable(interaction.channel_id)
                await channel.send(f"token expired ({type(exc).__name__})")
                return
            raise
        await interaction.edit_original_response(content="done")

    @app_commands.command(name="balance", description="Your credits")
    async def balance(self, interaction: discord.Interaction[Any]) -> None:
        self.last_interaction = interaction
        await interaction.response.send_message("You have 5 credits", ephemeral=True)
        self.original_content = (await interaction.original_response()).content

    @app_commands.command(name="announce", description="Post in the channel")
    async def announce(self, interaction: discord.Interaction[Any], text: str) -> None:
        channel = interaction.channel
        assert isinstance(channel, discord.TextChannel)
        mentions = discord.AllowedMentions(everyone=False, users=[interaction.user], roles=False)
        try:
            first = await channel.send(text, allowed_mentions=mentions, nonce="gen-42")
            again = await channel.send(text, allowed_mentions=mentions, nonce="gen-42")
        except discord.HTTPException as exc:  # Forbidden, or a payload over the limits
            await interaction.response.send_message(
                f"I cannot post here ({exc.code}).", ephemeral=True
            )
            return
        self.announced_ids = [first.id, again.id]
        await interaction.response.send_message("posted", ephemeral=True)

    @app_commands.command(name="feedback", description="Send feedback")
    async def feedback(self, interaction: discord.Interaction[Any]) -> None:
        await interaction.response.send_modal(FeedbackModal())

    @app_commands.command(name="style", description="Pick a style")
    async def style(self, interaction: discord.Interaction[Any], name: str) -> None:
        await interaction.response.send_message(f"style {name}", view=StyleView(name))

    @style.autocomplete("name")
    async def style_autocomplete(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=s, value=s) for s in STYLES if current.lower() in s]

    @app_commands.command(name="dm", description="DM me")
    async def dm(self, interaction: discord.Interaction[Any]) -> None:
        await interaction.user.send("hello in private")
        await interaction.response.send_message("check your DMs", ephemeral=True)

    @app_commands.command(name="spawn", description="Starts a task that fails")
    async def spawn(self, interaction: discord.Interaction[Any]) -> None:
        async def job() -> None:
            await asyncio.sleep(0)
            raise RuntimeError("background job failed")

        self.job = asyncio.create_task(job())
        await interaction.response.send_message("started", ephemeral=True)

    @app_commands.command(name="hang", description="Never finishes")
    async def hang(self, interaction: discord.Interaction[Any]) -> None:
        await asyncio.Event().wait()

    @credits.command(name="grant", description="Grant credits")
    async def grant(
        self,
        interaction: discord.Interaction[Any],
        user: discord.User,
        amount: app_commands.Range[int, 1, 1000],
    ) -> None:
        perms = interaction.permissions.manage_guild
        await interaction.response.send_message(
            f"granted {amount} to {user.id} (manage_guild={perms})", ephemeral=True
        )


class DemoBot(commands.Bot):
    def __init__(self) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=discord.Intents.none(),
            tree_cls=RecordingTree,
        )

    async def setup_hook(self) -> None:
        await self.add_cog(DemoCog(self))
        self.add_dynamic_items(GenButton)


# ---- fixtures -------------------------------------------------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeDiscord]:
    with FakeDiscord() as f:
        yield f


@pytest.fixture
async def bot(fake: FakeDiscord) -> AsyncIterator[DemoBot]:
    demo = DemoBot()
    async with running_bot(demo, fake):
        yield demo
    assert isinstance(demo.tree, RecordingTree)
    assert demo.tree.errors == [], demo.tree.errors


def cog_of(bot: commands.Bot) -> DemoCog:
    cog = bot.get_cog("DemoCog")
    assert isinstance(cog, DemoCog)
    return cog


# ---- tests ----------------------------------------------------------------------------------


async def test_login_and_sync_schema(bot: DemoBot, fake: FakeDiscord) -> None:
    assert [c.path for c in fake.calls[:2]] == ["/users/@me", "/oauth2/applications/@me"]
    assert bot.user is not None and bot.user.id == APPLICATION_ID
    assert not bot.is_ready()

    synced = await bot.tree.sync()
    assert {c.name for c in synced} == {"make", "balance", "announce", "feedback", "style"} | {
        "dm",
        "hang",
        "spawn",
        "admin",
    }
    (put,) = fake.calls_to("PUT", "/applications/{application_id}/commands")
    schema = {cmd["name"]: cmd for cmd in put.json}
    make = {o["name"]: o for o in schema["make"]["options"]}
    assert make["prompt"]["type"] == 3
    assert (make["prompt"]["min_length"], make["prompt"]["max_length"]) == (1, 200)
    assert (make["duration"]["min_value"], make["duration"]["max_value"]) == (2, 15)
    assert make["quality"]["choices"] == [
        {"name": "Low", "value": "low"},
        {"name": "High", "value": "high"},
    ]
    assert make["image"]["type"] == 11 and make["image"]["required"] is True
    assert make["loud"]["type"] == 5 and make["loud"]["required"] is False
    assert schema["style"]["options"][0]["autocomplete"] is True
    admin = schema["admin"]
    # discord.py sends an int here (Discord answers with a string).
    assert admin["default_member_permissions"] == discord.Permissions(manage_guild=True).value
    assert admin["dm_permission"] is False  # guild_only=True; "contexts" stays null
    grant = admin["options"][0]["options"][0]
    assert (admin["options"][0]["type"], grant["type"], grant["name"]) == (2, 1, "grant")
    assert schema["balance"]["default_member_permissions"] is None

    # Guild sync echoes too, and ids are stable across syncs.
    guild = discord.Object(id=GUILD_ID)
    bot.tree.copy_global_to(guild=guild)
    again = await bot.tree.sync(guild=guild)
    assert fake.calls_to("PUT", f"/applications/{APPLICATION_ID}/guilds/{GUILD_ID}/commands")
    assert {c.guild_id for c in again} == {GUILD_ID}
    assert [c.id for c in await bot.tree.fetch_commands()] == [c.id for c in synced]


async def test_make_defers_then_follows_up_with_file_embed_and_button(
    bot: DemoBot, fake: FakeDiscord
) -> None:
    image = attachment(filename="cat.png", size=len(IMAGE_BYTES))
    fake.serve(image["url"], IMAGE_BYTES)
    payload = slash_command(
        "make",
        [
            option("prompt", "a cat surfing"),
            option("duration", 5),
            option("quality", "high"),
            attachment_option("image", image),
            option("loud", True),
        ],
    )
    iid = int(payload["id"])
    calls = await dispatch(bot, payload)

    assert fake.interaction_response(iid) == {"type": 5}
    assert [c.via for c in calls] == ["webhook", "cdn", "webhook", "webhook"]
    (followup_call,) = fake.calls_to("POST", "/webhooks/{webhook_id}/{webhook_token}")
    assert followup_call.files == [("result.png", IMAGE_BYTES)]
    body = followup_call.json
    assert body["embeds"][0]["title"] == "Video ready"
    assert body["embeds"][0]["description"] == "a cat surfing"
    assert {f["name"]: f["value"] for f in body["embeds"][0]["fields"]} == {
        "duration": "5",
        "quality": "high",
        "loud": "True",
    }
    assert body["attachments"] == [{"id": 0, "filename": "result.png"}]
    button = body["components"][0]["components"][0]
    assert (button["custom_id"], button["label"]) == ("gen:42", "Regenerate")

    (followup,) = fake.followups(iid)
    assert followup["attachments"] == ["result.png"] and followup["kind"] == "followup"
    original = fake.original(iid)
    assert original is not None
    assert (original["content"], original["flags"]) == ("done", 0)  # loading flag cleared
    assert [m["kind"] for m in fake.channel_messages(CHANNEL_ID)] == ["original", "followup"]

    # The persistent button on that follow-up, pressed later.
    press = button_press("gen:42", message=fake.api_message(followup["id"]))
    await dispatch(bot, press)
    response = fake.interaction_response(int(press["id"]))
    assert response["type"] == 7
    assert response["data"]["content"] == "regenerating 42"
    assert response["data"]["components"] == []
    assert fake.messages[followup["id"]]["content"] == "regenerating 42"


async def test_button_on_message_from_an_earlier_process(bot: DemoBot, fake: FakeDiscord) -> None:
    old = message_payload(
        content="your video",
        components=[
            {"type": 1, "components": [{"type": 2, "style": 1, "label": "R", "custom_id": "gen:7"}]}
        ],
    )
    press = button_press("gen:7", message=old)
    await dispatch(bot, press)
    assert fake.interaction_response(int(press["id"]))["data"]["content"] == "regenerating 7"
    assert fake.messages[int(old["id"])]["content"] == "regenerating 7"


async def test_ephemeral_answer_and_original_response(bot: DemoBot, fake: FakeDiscord) -> None:
    payload = slash_command("balance")
    await dispatch(bot, payload)
    iid = int(payload["id"])
    assert fake.interaction_response(iid) == {
        "type": 4,
        "data": {"tts": False, "content": "You have 5 credits", "flags": 64},
    }
    assert cog_of(bot).original_content == "You have 5 credits"
    assert fake.calls_to("GET", "/messages/@original")
    original = fake.original(iid)
    assert original is not None and original["flags"] == 64

    # A token older than 15 minutes: follow-ups fail with 401 / 50027.
    interaction = cog_of(bot).last_interaction
    assert interaction is not None
    fake.expire_interaction(iid)
    with pytest.raises(discord.HTTPException) as info:
        await interaction.followup.send("late")
    assert (type(info.value), info.value.status, info.value.code) == (
        discord.HTTPException,
        401,
        50027,
    )


async def test_channel_message_nonce_and_allowed_mentions(bot: DemoBot, fake: FakeDiscord) -> None:
    payload = slash_command("announce", [option("text", "Video for <@1> is ready")])
    await dispatch(bot, payload)
    posts = fake.calls_to("POST", f"/channels/{CHANNEL_ID}/messages")
    assert len(posts) == 2
    assert posts[0].json["allowed_mentions"] == {
        "parse": [],
        "users": [USER_ID],
        "replied_user": True,
    }
    assert (posts[0].json["nonce"], posts[0].json["enforce_nonce"]) == ("gen-42", True)
    first, again = cog_of(bot).announced_ids
    assert first == again
    (msg,) = fake.channel_messages(CHANNEL_ID)[:1]
    assert msg["kind"] == "channel" and msg["content"] == "Video for <@1> is ready"
    assert len([m for m in fake.channel_messages(CHANNEL_ID) if m["kind"] == "channel"]) == 1
    assert fake.interaction_response(int(payload["id"]))["data"]["flags"] == 64


async def test_injected_403_surfaces_as_forbidden(bot: DemoBot, fake: FakeDiscord) -> None:
    fake.fail(
        method="POST",
        path_contains=f"/channels/{CHANNEL_ID}/messages",
        status=403,
        code=50013,
        message="Missing Permissions",
    )
    payload = slash_command("announce", [option("text", "hi")])
    await dispatch(bot, payload)
    body = fake.interaction_response(int(payload["id"]))
    assert body["data"]["content"] == "I cannot post here (50013)."
    assert [c.status for c in fake.calls_to("POST", "/channels/")] == [403]
    assert fake.channel_messages(CHANNEL_ID)[0]["kind"] == "original"


async def test_injected_401_invalid_token_is_plain_http_exception(
    bot: DemoBot, fake: FakeDiscord
) -> None:
    image = attachment()
    fake.serve(image["url"], IMAGE_BYTES)
    fake.fail(method="POST", path_contains="/webhooks/", status=401, code=50027)
    payload = slash_command(
        "make",
        [
            option("prompt", "x"),
            option("duration", 3),
            option("quality", "low"),
            attachment_option("image", image),
        ],
    )
    await dispatch(bot, payload)
    contents = [m["content"] for m in fake.channel_messages(CHANNEL_ID) if m["kind"] == "channel"]
    assert contents == ["token expired (HTTPException)"]
    assert fake.followups(int(payload["id"])) == []


async def test_modal_round_trip(bot: DemoBot, fake: FakeDiscord) -> None:
    payload = slash_command("feedback")
    await dispatch(bot, payload)
    modal = fake.modal_sent(int(payload["id"]))
    assert modal["title"] == "Feedback"
    submit = modal_submit_for(modal, {"Your feedback": "great bot"})
    await dispatch(bot, submit)
    body = fake.interaction_response(int(submit["id"]))
    assert (body["type"], body["data"]["content"], body["data"]["flags"]) == (
        4,
        "thanks: great bot",
        64,
    )


async def test_autocomplete(bot: DemoBot, fake: FakeDiscord) -> None:
    payload = autocomplete("style", [focused("name", "ani")])
    await dispatch(bot, payload)
    assert fake.interaction_response(int(payload["id"])) == {
        "type": 8,
        "data": {"choices": [{"name": "anime", "value": "anime"}]},
    }


async def test_subcommand_group(bot: DemoBot, fake: FakeDiscord) -> None:
    target = 1234567890123
    payload = slash_command(
        "admin",
        [
            subcommand_group(
                "credits", [subcommand("grant", [option("user", target, 6), option("amount", 50)])]
            )
        ],
        permissions=ADMIN_PERMISSIONS,
    )
    await dispatch(bot, payload)
    body = fake.interaction_response(int(payload["id"]))
    assert body["data"]["content"] == f"granted 50 to {target} (manage_guild=True)"


async def test_direct_message(bot: DemoBot, fake: FakeDiscord) -> None:
    await dispatch(bot, slash_command("dm"))
    (open_dm,) = fake.calls_to("POST", "/users/@me/channels")
    assert open_dm.json == {"recipient_id": USER_ID}
    dm_id = fake.dm_channel_id(USER_ID)
    assert dm_id is not None
    assert [m["content"] for m in fake.channel_messages(dm_id)] == ["hello in private"]


async def test_dispatch_times_out_instead_of_hanging(bot: DemoBot, fake: FakeDiscord) -> None:
    with pytest.raises(TimeoutError, match="CommandTree-invoker"):
        await dispatch(bot, slash_command("hang"), max_wait=0.2)


async def test_dispatch_reraises_errors_of_spawned_tasks(bot: DemoBot, fake: FakeDiscord) -> None:
    with pytest.raises(RuntimeError, match="background job failed"):
        await dispatch(bot, slash_command("spawn"))


async def test_settled_waits_for_other_flows(bot: DemoBot, fake: FakeDiscord) -> None:
    seen: list[str] = []

    async def on_video_ready(text: str) -> None:
        await asyncio.sleep(0.01)
        await bot.get_partial_messageable(CHANNEL_ID).send(text)
        seen.append(text)

    bot.add_listener(on_video_ready)
    async with settled():
        bot.dispatch("video_ready", "your video")
    assert seen == ["your video"]
    assert fake.channel_messages(CHANNEL_ID)[0]["content"] == "your video"


async def test_unknown_routes_and_strict_mode(bot: DemoBot, fake: FakeDiscord) -> None:
    route = Route("GET", "/guilds/{guild_id}/roles", guild_id=GUILD_ID)
    assert await bot.http.request(route) == {}
    assert [c.path for c in fake.unhandled] == [f"/guilds/{GUILD_ID}/roles"]
    fake.strict = True
    with pytest.raises(UnhandledRequest):
        await bot.http.request(route)


async def test_partial_messageable_edit_and_missing_message(
    bot: DemoBot, fake: FakeDiscord
) -> None:
    channel = bot.get_partial_messageable(CHANNEL_ID)
    sent = await channel.send("progress 10%")
    await channel.get_partial_message(sent.id).edit(content="progress 100%")
    assert fake.messages[sent.id]["content"] == "progress 100%"
    assert (await channel.fetch_message(sent.id)).content == "progress 100%"
    with pytest.raises(discord.NotFound):
        await channel.fetch_message(1)
    fake.fail(path_contains="/messages", status=502, times=1)
    with pytest.raises(discord.DiscordServerError):
        await channel.send("x")


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, discord.HTTPException),
        (401, discord.HTTPException),
        (403, discord.Forbidden),
        (404, discord.NotFound),
        (500, discord.DiscordServerError),
    ],
)
def test_error_mapping(status: int, expected: type[discord.HTTPException]) -> None:
    exc = make_http_exception(status, 123, "boom")
    assert type(exc) is expected
    assert (exc.status, exc.code, exc.text) == (status, 123, "boom")


async def test_exported_fixture(fake_discord: FakeDiscord) -> None:
    assert FakeDiscord.active() is fake_discord
    demo = DemoBot()
    async with running_bot(demo, fake_discord):
        await dispatch(demo, slash_command("balance", guild_id=None))
    assert fake_discord.calls_to("POST", "/callback")
    assert FakeDiscord.active() is fake_discord


async def test_regular_view_on_the_original_response(bot: DemoBot, fake: FakeDiscord) -> None:
    payload = slash_command("style", [option("name", "anime")])
    await dispatch(bot, payload)  # returns although the view's 180 s timeout task is pending
    original = fake.original(int(payload["id"]))
    assert original is not None and original["content"] == "style anime"
    buttons = original["components"][0]["components"]
    assert buttons[0]["custom_id"] == "style:confirm"

    press = button_press("style:confirm", message=fake.api_message(original["id"]))
    await dispatch(bot, press)
    assert fake.interaction_response(int(press["id"]))["data"]["content"] == "confirmed anime"

    pick = select_choice("style:speed", ["Fast"], message=fake.api_message(original["id"]))
    await dispatch(bot, pick)
    assert fake.interaction_response(int(pick["id"]))["type"] == 7
    assert fake.messages[original["id"]]["content"] == "anime at Fast"


async def test_a_payload_over_discords_limits_is_refused_as_discord_does(
    bot: DemoBot, fake: FakeDiscord
) -> None:
    payload = slash_command("announce", [option("text", "x" * 2001)])
    await dispatch(bot, payload)
    body = fake.interaction_response(int(payload["id"]))
    assert body["data"]["content"] == "I cannot post here (50035)."
    [(call, problems)] = fake.refused
    assert call.status == 400 and problems == ["content: Must be 2000 or fewer in length (2001)"]
    assert [m["kind"] for m in fake.channel_messages(CHANNEL_ID)] == ["original"]


def embed_payload(**embed: Any) -> dict[str, Any]:
    return {"content": "hi", "embeds": [embed]}


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (embed_payload(title="t" * 257), "embeds.0.title: Must be 256 or fewer"),
        (embed_payload(description="d" * 4097), "embeds.0.description: Must be 4096 or fewer"),
        (
            embed_payload(fields=[{"name": "n", "value": "v" * 1025}]),
            "fields.0.value: Must be 1024",
        ),
        (embed_payload(fields=[{"name": "n", "value": ""}]), "fields.0.value: Must be 1 or more"),
        (embed_payload(fields=[{"name": "n", "value": "v"}] * 26), "fields: Must be 25 or fewer"),
        (embed_payload(footer={"text": "f" * 2049}), "footer.text: Must be 2048 or fewer"),
        (embed_payload(author={"name": "a" * 257}), "author.name: Must be 256 or fewer"),
        (
            {"embeds": [{"description": "d" * 4000}, {"description": "d" * 2001}]},
            "Embed size exceeds maximum size of 6000 (6001)",
        ),
        (
            {
                "content": "x",
                "components": [
                    {
                        "type": 1,
                        "components": [
                            {"type": 2, "style": 1, "label": "l" * 81, "custom_id": "c"}
                        ],
                    }
                ],
            },
            "components.0.components.0.label: Must be 80 or fewer",
        ),
    ],
)
def test_each_size_rule(body: dict[str, Any], problem: str) -> None:
    problems = payload_problems("POST", f"/channels/{CHANNEL_ID}/messages", body)
    assert len(problems) == 1 and problem in problems[0]


def test_interaction_answers_and_the_command_schema_are_checked_too() -> None:
    callback = "/interactions/1/token/callback"
    choices = {"type": 8, "data": {"choices": [{"name": "n" * 101, "value": "v"}]}}
    assert payload_problems("POST", callback, choices) == [
        "data.choices.0.name: Must be 100 or fewer in length (101)"
    ]
    modal = {"type": 9, "data": {"title": "t" * 46, "custom_id": "m", "components": []}}
    assert payload_problems("POST", callback, modal)[0].startswith("data.title: Must be 45")
    command = {
        "name": "video",
        "description": "d",
        "description_localizations": {"zh-CN": "长" * 101},
    }
    commands_path = f"/applications/{APPLICATION_ID}/commands"
    assert payload_problems("PUT", commands_path, [command]) == [
        "0.description_localizations.zh-CN: Must be 100 or fewer in length (101)"
    ]
    assert payload_problems("POST", callback, {"type": 4, "data": {"content": "fine"}}) == []
