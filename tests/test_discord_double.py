"""The Discord double's two transports answer alike: the same REST calls, made by discord.py's own
HTTP client and webhook adapter, once in-process (FakeDiscord) and once over loopback HTTP
(DiscordStandIn), get the same answers, the same errors for the same injected failures, and leave
the same calls and messages recorded. Ids, times and the CDN's host differ between runs and are
compared by position.

Not compared: an unknown route (in-process it answers ``{}`` unless strict, over HTTP 404) and
5xx errors (discord.py retries those over HTTP, with sleeps)."""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import aiohttp
import discord
import pytest
from discord.http import HTTPClient, Route, handle_message_parameters
from discord.webhook.async_ import AsyncWebhookAdapter, interaction_response_params

from discord_double import (
    APPLICATION_ID,
    CHANNEL_ID,
    GUILD_ID,
    USER_ID,
    DiscordModel,
    DiscordStandIn,
    FakeDiscord,
    button_press,
    message_payload,
    option,
    slash_command,
)

OTHER_CHANNEL = CHANNEL_ID + 100
COMMANDS = [
    {
        "name": "video",
        "description": "Make a video",
        "type": 1,
        "options": [{"name": "prompt", "description": "What to film", "type": 3}],
        "default_member_permissions": 32,
    },
    {"name": "Report", "type": 3},
]

Outcomes = list[tuple[str, Any]]


class Script:
    """One run of the calls, recording what each one answered."""

    def __init__(self, double: DiscordModel, http: HTTPClient, session: Any) -> None:
        self.double, self.http, self.session = double, http, session
        self.webhooks = AsyncWebhookAdapter()
        self.outcomes: Outcomes = []

    async def call(self, what: str, request: Awaitable[Any]) -> Any:
        try:
            result = await request
        except discord.HTTPException as exc:
            result = ("raised", type(exc).__name__, exc.status, exc.code, exc.text)
        self.outcomes.append((what, result))
        return result

    def channel(self, method: str, channel_id: int, tail: str = "", **ids: int) -> Route:
        return Route(method, "/channels/{channel_id}/messages" + tail, channel_id=channel_id, **ids)

    async def run(self) -> None:
        await self.bot_token_routes()
        await self.failures_and_limits()
        await self.interaction_routes()
        await self.webhook_routes()

    async def bot_token_routes(self) -> None:
        http, call = self.http, self.call
        await call("application", http.application_info())
        await call("sync", http.bulk_upsert_global_commands(APPLICATION_ID, COMMANDS))
        await call("sync again", http.bulk_upsert_global_commands(APPLICATION_ID, COMMANDS))
        await call("commands", http.get_global_commands(APPLICATION_ID))
        post = self.channel("POST", CHANNEL_ID)
        body = {
            "content": "hi <@1> <@2> @everyone",
            "nonce": "n-1",
            "enforce_nonce": True,
            "allowed_mentions": {"parse": [], "users": ["2"]},
        }
        first = await call("send", http.request(post, json=body))
        await call("same nonce", http.request(self.channel("POST", CHANNEL_ID), json=body))
        await call(
            "no nonce", http.request(self.channel("POST", CHANNEL_ID), json={"content": "x"})
        )
        file = discord.File(io.BytesIO(b"RIFF"), filename="a.wav")
        upload = handle_message_parameters(content="with file", file=file)
        with_file = await call("send file", http.send_message(CHANNEL_ID, params=upload))
        url = with_file["attachments"][0]["url"]
        await call("cdn", http.get_from_cdn(url))
        await call("cdn missing", http.get_from_cdn(url.replace("a.wav", "b.wav")))
        mid = int(first["id"])
        edit = handle_message_parameters(content="edited <@2>")
        await call("edit", http.edit_message(CHANNEL_ID, mid, params=edit))
        await call("get", http.get_message(CHANNEL_ID, mid))
        await call("get elsewhere", http.get_message(OTHER_CHANNEL, mid))
        await call("history", http.logs_from(CHANNEL_ID, 2))
        await call("delete", http.delete_message(CHANNEL_ID, mid))
        await call("edit deleted", http.edit_message(CHANNEL_ID, mid, params=edit))
        dm = await call("open DM", http.start_private_message(USER_ID))
        await call("open DM again", http.start_private_message(USER_ID))
        await call(
            "DM", http.request(self.channel("POST", int(dm["id"])), json={"content": "psst"})
        )
        await call("unknown channel", http.get_channel(OTHER_CHANNEL))
        self.double.add_channel(OTHER_CHANNEL, name="elsewhere")
        await call("known channel", http.get_channel(OTHER_CHANNEL))
        await call("user", http.get_user(USER_ID))
        await call("member", http.get_member(GUILD_ID, USER_ID))
        await call("no overrides", http.get_guild_application_command_permissions(
            APPLICATION_ID, GUILD_ID))  # fmt: skip
        self.double.set_command_permissions(GUILD_ID, 77, [{"id": 5, "type": 1,
                                                            "permission": True}])  # fmt: skip
        await call("overrides", http.get_guild_application_command_permissions(
            APPLICATION_ID, GUILD_ID))  # fmt: skip

    async def failures_and_limits(self) -> None:
        http, call, double = self.http, self.call, self.double
        double.fail(
            method="POST", path_contains="/messages", status=403, code=50013, message="Missing"
        )
        await call(
            "forbidden", http.request(self.channel("POST", CHANNEL_ID), json={"content": "a"})
        )
        double.fail(path_contains="/channels/{channel_id}", status=400, code=50001, times=2)
        await call("by template", http.get_channel(CHANNEL_ID))
        await call("again", http.request(self.channel("POST", CHANNEL_ID), json={"content": "b"}))
        await call("through", http.request(self.channel("POST", CHANNEL_ID), json={"content": "c"}))
        too_long = {"content": "x" * 2001, "embeds": [{"title": "t" * 257}]}
        await call("too long", http.request(self.channel("POST", CHANNEL_ID), json=too_long))
        double.upload_limit = 10
        big = discord.File(io.BytesIO(b"x" * 11), filename="big.mp4")
        upload = handle_message_parameters(content="big", file=big)
        await call("too big", http.send_message(CHANNEL_ID, params=upload))
        double.upload_limit = 10 * 1024 * 1024

    async def respond(self, what: str, payload: dict[str, Any], kind: int, **data: Any) -> Any:
        params = interaction_response_params(kind, data or None)
        return await self.call(
            what,
            self.webhooks.create_interaction_response(
                int(payload["id"]), payload["token"], session=self.session, params=params
            ),
        )

    async def interaction_routes(self) -> None:
        call, hooks, session = self.call, self.webhooks, self.session
        payload = slash_command("video", [option("prompt", "a fox")])
        self.double.register_interaction(payload)
        token = payload["token"]
        await self.respond("defer", payload, 5)
        await self.respond("defer twice", payload, 5)
        await call(
            "original",
            hooks.get_original_interaction_response(APPLICATION_ID, token, session=session),
        )
        status = {"embeds": [{"title": "Making your video"}], "allowed_mentions": {"parse": []}}
        await call(
            "edit original",
            hooks.edit_original_interaction_response(
                APPLICATION_ID, token, session=session, payload=status
            ),
        )
        file = discord.File(io.BytesIO(b"\x00\x00\x00 ftyp"), filename="video.mp4")
        upload = handle_message_parameters(content="<@1> ready", file=file)
        followup = await call(
            "follow-up",
            hooks.execute_webhook(
                APPLICATION_ID,
                token,
                session=session,
                payload=upload.payload,
                multipart=upload.multipart,
                files=upload.files,
                wait=True,
            ),
        )
        await call(
            "follow-up unawaited",
            hooks.execute_webhook(
                APPLICATION_ID, token, session=session, payload={"content": "x"}, wait=False
            ),
        )
        mid = int(followup["id"])
        edited = {"content": "done", "attachments": []}
        await call(
            "edit follow-up",
            hooks.edit_webhook_message(APPLICATION_ID, token, mid, session=session, payload=edited),
        )
        sent = await self.http.request(self.channel("POST", CHANNEL_ID), json={"content": "y"})
        await call(
            "not this interaction's",
            hooks.get_webhook_message(APPLICATION_ID, token, int(sent["id"]), session=session),
        )
        await call(
            "delete follow-up",
            hooks.delete_webhook_message(APPLICATION_ID, token, mid, session=session),
        )
        self.double.fail(path_contains="/messages/@original", status=404, code=10008)
        await call(
            "original lost",
            hooks.get_original_interaction_response(APPLICATION_ID, token, session=session),
        )
        self.double.expire_interaction(int(payload["id"]))
        await call(
            "expired",
            hooks.execute_webhook(
                APPLICATION_ID, token, session=session, payload={"content": "late"}, wait=True
            ),
        )

    async def webhook_routes(self) -> None:
        call, hooks, session = self.call, self.webhooks, self.session
        unknown = slash_command("video", [option("prompt", "never registered")])
        await self.respond("unknown interaction", unknown, 5)
        await call(
            "unknown webhook",
            hooks.execute_webhook(1, "nope", session=session, payload={"content": "x"}, wait=True),
        )
        old = message_payload(content="from an earlier process", message_id=CHANNEL_ID + 7)
        press = button_press("video:cancel:1", message=old)
        self.double.register_interaction(press)
        await self.respond("update the message", press, 7, content="cancelled", components=[])
        self.double.add_webhook(77, "hook-token", CHANNEL_ID)
        await call(
            "channel webhook",
            hooks.execute_webhook(
                77, "hook-token", session=session, payload={"content": "news"}, wait=True
            ),
        )
        feedback = slash_command("feedback")
        self.double.register_interaction(feedback)
        modal = {"title": "t" * 46, "custom_id": "m", "components": []}
        await self.respond("modal over the limit", feedback, 9, **modal)
        await self.respond("modal", feedback, 9, **{**modal, "title": "Feedback"})


# ---- normalising what differs between runs ------------------------------------------------

_TIME = re.compile(r"\d{4}-\d\d-\d\dT[\d:.]+\+00:00")
_ID = re.compile(r"\d{15,20}")
_HOST = re.compile(
    r"https://cdn\.discordapp\.com|https://media\.discordapp\.net|http://127\.0\.0\.1:\d+"
)


def normalised(value: Any) -> Any:
    """``value`` with ids numbered by first appearance, times and CDN hosts masked."""
    ids: dict[str, str] = {}

    def number(found: re.Match[str]) -> str:
        return ids.setdefault(found[0], f"<id{len(ids)}>")

    def walk(item: Any) -> Any:
        if isinstance(item, dict):
            return {str(walk(k)): walk(v) for k, v in item.items()}
        if isinstance(item, list | tuple):
            return [walk(v) for v in item]
        if isinstance(item, bool) or item is None:
            return item
        if isinstance(item, int) and item >= 10**14:
            return "int:" + ids.setdefault(str(item), f"<id{len(ids)}>")
        if isinstance(item, str):
            return _ID.sub(number, _HOST.sub("<cdn>", _TIME.sub("<time>", item)))
        if isinstance(item, bytes):
            return item.decode("latin-1")
        return item

    return walk(value)


def recorded(double: DiscordModel) -> dict[str, Any]:
    calls = [
        (c.method, c.route_template, c.status, c.via, c.bot_auth, c.json, c.file_names)
        for c in double.calls
        if c.via != "cdn"
    ]
    cdn = [(c.method, c.status) for c in double.calls if c.via == "cdn"]
    return {
        "calls": calls,
        "cdn": cdn,
        "messages": sorted(double.messages.values(), key=lambda m: m["id"]),
        "deleted": sorted(double.deleted_messages.values(), key=lambda m: m["id"]),
        "refused": [problems for _, problems in double.refused],
        "unhandled": [c.path for c in double.unhandled],
    }


# ---- the two runs ---------------------------------------------------------------------------


async def run_in_process() -> tuple[Outcomes, dict[str, Any]]:
    with FakeDiscord() as fake:
        http = HTTPClient(asyncio.get_running_loop())
        try:
            await http.static_login("bot-token")
            script = Script(fake, http, None)
            await script.run()
        finally:
            await http.close()
    return script.outcomes, recorded(fake)


@pytest.fixture
async def standin() -> AsyncIterator[DiscordStandIn]:
    async with DiscordStandIn(bot_name="TestBot") as double:
        yield double


async def run_over_http(
    standin: DiscordStandIn, monkeypatch: pytest.MonkeyPatch
) -> tuple[Outcomes, dict[str, Any]]:
    monkeypatch.setattr(Route, "BASE", standin.api_base)
    http = HTTPClient(asyncio.get_running_loop())
    try:
        async with aiohttp.ClientSession() as session:
            await http.static_login("bot-token")
            script = Script(standin, http, session)
            await script.run()
    finally:
        await http.close()
    return script.outcomes, recorded(standin)


async def test_both_transports_answer_the_same_calls_alike(
    standin: DiscordStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    local_outcomes, local_state = await run_in_process()
    remote_outcomes, remote_state = await run_over_http(standin, monkeypatch)

    local, remote = normalised(local_outcomes), normalised(remote_outcomes)
    assert [what for what, _ in local] == [what for what, _ in remote]
    for (what, mine), (_, theirs) in zip(local, remote, strict=True):
        assert mine == theirs, what
    assert normalised(local_state) == normalised(remote_state)


async def test_the_script_reaches_every_kind_of_answer(
    standin: DiscordStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the comparison covers: a sample of the answers, as Discord gives them."""
    outcomes, state = await run_over_http(standin, monkeypatch)
    answers = dict(outcomes)
    assert answers["send"]["id"] == answers["same nonce"]["id"] != answers["no nonce"]["id"]
    assert [u["id"] for u in answers["send"]["mentions"]] == ["2"]
    assert answers["send"]["mention_everyone"] is False
    assert answers["cdn"] == b"RIFF"
    assert answers["cdn missing"] == ("raised", "NotFound", 404, 0, "asset not found")
    assert answers["get elsewhere"] == ("raised", "NotFound", 404, 10008, "Unknown Message")
    assert answers["delete"] == ""
    assert answers["open DM"]["id"] == answers["open DM again"]["id"]
    assert answers["unknown channel"][:4] == ("raised", "NotFound", 404, 10003)
    assert answers["forbidden"] == ("raised", "Forbidden", 403, 50013, "Missing")
    assert answers["by template"] == ("raised", "HTTPException", 400, 50001, "Bad Request")
    assert answers["again"][3] == 50001 and "id" in answers["through"]
    assert answers["too long"][2:4] == (400, 50035)
    assert answers["too big"][2:4] == (413, 40005)
    assert answers["defer"]["resource"]["message"]["flags"] == 128
    assert answers["defer twice"][2:4] == (400, 40060)
    assert answers["edit original"]["flags"] == 0
    assert answers["follow-up"]["attachments"][0]["filename"] == "video.mp4"
    assert answers["follow-up unawaited"] == ""
    assert answers["edit follow-up"]["attachments"] == []
    assert answers["not this interaction's"][2:4] == (404, 10008)
    assert answers["original lost"][2:4] == (404, 10008)
    assert answers["expired"][2:4] == (401, 50027)
    assert answers["unknown interaction"][2:4] == (404, 10062)
    assert answers["unknown webhook"][2:4] == (404, 10015)
    assert answers["update the message"]["resource"]["message"]["content"] == "cancelled"
    assert answers["channel webhook"]["webhook_id"] == "77"
    assert answers["modal over the limit"][2:4] == (400, 50035)
    assert answers["modal"]["resource"] == {"type": 9}
    assert state["refused"][0] == [
        "content: Must be 2000 or fewer in length (2001)",
        "embeds.0.title: Must be 256 or fewer in length (257)",
    ]
