"""Both ends of every range a member or a moderator can set, typed where they would type it
(/video, /videomod) and, where cheaper, at the rule itself: the last value inside is accepted, the
first outside refused with the reason. A limit or cap of exactly 0 means zero, never unlimited."""

from __future__ import annotations

from typing import Any

import pytest

from bot.moderation import MAX_REASON_LENGTH, MAX_RULES
from bot.request import DURATION, NEGATIVE_PROMPT, PROMPT, SEED
from bot.settings import load_settings
from bot.simulator import Simulator
from bot.ui.client import VideoBot
from bot.validation import validate_video_request
from discord_double import (
    GUILD_ID,
    USER_ID,
    FakeDiscord,
    dispatch,
    option,
    running_bot,
    slash_command,
)
from tests.conftest import BotFactory, FakeClock
from tests.test_moderation_cog import ALICE, MODERATOR, answer, user_option, videomod

DURATION_MIN, DURATION_MAX = DURATION.minimum, DURATION.maximum
SEED_MIN, SEED_MAX = SEED.minimum, SEED.maximum
PROMPT_MAX, NEGATIVE_PROMPT_MAX = PROMPT.max_length, NEGATIVE_PROMPT.max_length

EPHEMERAL = 64
ROLE = 5555


def creates(sim: Simulator) -> list[dict[str, Any]]:
    return [r.json for r in sim.requests if r.path == "/v1/videos/generations"]


async def video(bot: VideoBot, fake: FakeDiscord, user_id: int = USER_ID, **opts: Any) -> str:
    """/video with these options: "" when it was started or queued, else what the member read."""
    opts.setdefault("prompt", "a lighthouse at dawn")
    payload = slash_command(
        "video", [option(k, v) for k, v in opts.items()], user_id=user_id, roles=[ROLE]
    )
    await dispatch(bot, payload)
    body = fake.interaction_response(int(payload["id"]))
    assert body["data"]["flags"] & EPHEMERAL  # whatever the answer, it starts privately
    said = fake.original(int(payload["id"]))
    if said is None:  # accepted: the private "thinking…" made way for the public status
        return ""
    assert said["flags"] & EPHEMERAL
    return str(said["content"])


@pytest.fixture
async def free_bot(fake_discord: FakeDiscord, make_bot: BotFactory) -> Any:
    """Unlimited credits and room to run, so only the range under test can refuse."""
    bot = make_bot(default_user_credits=None, max_running_per_user=50)
    async with running_bot(bot, fake_discord) as running:
        yield running


# --- /video options ---------------------------------------------------------------------------

INSIDE = [
    ("duration", DURATION_MIN),
    ("duration", DURATION_MAX),
    ("seed", SEED_MIN),
    ("seed", SEED_MAX),
    ("prompt", "p" * PROMPT_MAX),
    ("negative_prompt", "n" * NEGATIVE_PROMPT_MAX),
]
OUTSIDE = [
    ("duration", DURATION_MIN - 1, "`duration` must be a whole number of seconds from 2 to 15."),
    ("duration", DURATION_MAX + 1, "`duration` must be a whole number of seconds from 2 to 15."),
    ("seed", SEED_MIN - 1, "`seed` must be a whole number from 1 to 2,147,483,647."),
    ("seed", SEED_MAX + 1, "`seed` must be a whole number from 1 to 2,147,483,647."),
    ("prompt", "p" * (PROMPT_MAX + 1), "`prompt` is 5,001 characters long; the limit is 5,000."),
    (
        "negative_prompt",
        "n" * (NEGATIVE_PROMPT_MAX + 1),
        "`negative_prompt` is 501 characters long; the limit is 500.",
    ),
]


async def test_discord_shows_the_same_ranges_as_the_api_documents(
    fake_discord: FakeDiscord, bot: VideoBot
) -> None:
    [sync] = fake_discord.calls_to("PUT", "/applications/{application_id}/commands")
    [command] = [c for c in sync.json if c["name"] == "video"]
    shown = {o["name"]: o for o in command["options"]}
    ranges = {
        name: (shown[name]["min_value"], shown[name]["max_value"]) for name in ("duration", "seed")
    }
    assert ranges == {"duration": (2, 15), "seed": (1, 2_147_483_647)}
    assert ranges == {"duration": (DURATION_MIN, DURATION_MAX), "seed": (SEED_MIN, SEED_MAX)}
    lengths = {name: shown[name]["max_length"] for name in ("prompt", "negative_prompt")}
    assert lengths == {"prompt": 5000, "negative_prompt": 500}
    assert lengths == {"prompt": PROMPT_MAX, "negative_prompt": NEGATIVE_PROMPT_MAX}


@pytest.mark.parametrize(("name", "value"), INSIDE, ids=lambda v: str(v)[:12])
def test_the_last_value_inside_each_range_is_accepted(name: str, value: Any) -> None:
    request = validate_video_request(**{"prompt": "a cat", name: value})
    assert request.to_json()[name] == value


@pytest.mark.parametrize(("name", "value"), INSIDE, ids=lambda v: str(v)[:12])
async def test_video_at_the_edge_of_each_range_is_made_with_that_value(
    fake_discord: FakeDiscord, free_bot: VideoBot, simulator: Simulator, name: str, value: Any
) -> None:
    assert await video(free_bot, fake_discord, **{name: value}) == ""
    [body] = creates(simulator)
    assert body[name] == value


@pytest.mark.parametrize(("name", "value", "reason"), OUTSIDE, ids=lambda v: str(v)[:12])
async def test_video_just_outside_each_range_is_refused_and_nothing_is_made(
    fake_discord: FakeDiscord,
    free_bot: VideoBot,
    simulator: Simulator,
    name: str,
    value: Any,
    reason: str,
) -> None:
    said = await video(free_bot, fake_discord, **{name: value})
    assert reason in said, said
    assert creates(simulator) == []
    assert await free_bot.store.fetchall("SELECT id FROM generations") == []


# --- /videomod limits -------------------------------------------------------------------------

FIELD = {
    "default_credits": "Credits per member",
    "guild_cap": "Server cap per period",
    "max_running": "In progress per member",
    "max_queued": "Waiting per member",
    "cooldown": "Cooldown",
}
LIMITS_INSIDE = [
    ("max_running", 1, "1"),
    ("max_running", 50, "50"),
    ("max_queued", 0, "0"),
    ("max_queued", 50, "50"),
    ("cooldown", 0, "0 s"),
    ("cooldown", 86400, "86,400 s"),
    ("default_credits", "0", "0"),
    ("default_credits", "1000000000", "1,000,000,000"),
    ("guild_cap", "0", "0"),
    ("guild_cap", "1000000000", "1,000,000,000"),
]
LIMITS_OUTSIDE = [
    ("max_running", 0, "`max_running` must be a whole number from 1 to 50."),
    ("max_running", 51, "`max_running` must be a whole number from 1 to 50."),
    ("max_queued", -1, "`max_queued` must be a whole number from 0 to 50."),
    ("max_queued", 51, "`max_queued` must be a whole number from 0 to 50."),
    ("cooldown", -1, "`cooldown` must be a whole number from 0 to 86400."),
    ("cooldown", 86401, "`cooldown` must be a whole number from 0 to 86400."),
    ("default_credits", "-0.01", "`default_credits` must be between 0 and 1,000,000,000."),
    ("default_credits", "1000000001", "`default_credits` must be between 0 and 1,000,000,000."),
    ("guild_cap", "-0.01", "`guild_cap` must be between 0 and 1,000,000,000."),
    ("guild_cap", "1000000001", "`guild_cap` must be between 0 and 1,000,000,000."),
]


@pytest.mark.parametrize(("name", "value", "shown"), LIMITS_INSIDE)
async def test_limits_at_the_edge_of_each_range_are_saved(
    fake_discord: FakeDiscord, bot: VideoBot, name: str, value: Any, shown: str
) -> None:
    data = await answer(bot, fake_discord, videomod("limits", [option(name, value)]))
    assert data["content"] == "Saved. These limits apply from the next request."
    fields = {f["name"]: f["value"] for f in data["embeds"][0]["fields"]}
    assert fields[FIELD[name]] == shown


@pytest.mark.parametrize(("name", "value", "reason"), LIMITS_OUTSIDE)
async def test_limits_just_outside_each_range_are_refused_and_nothing_changes(
    fake_discord: FakeDiscord, bot: VideoBot, name: str, value: Any, reason: str
) -> None:
    before = await bot.credits.limits(GUILD_ID)
    data = await answer(bot, fake_discord, videomod("limits", [option(name, value)]))
    assert data["content"] == reason
    assert await bot.credits.limits(GUILD_ID) == before
    assert await bot.store.fetchall("SELECT * FROM audit_log") == []


# --- zero means zero --------------------------------------------------------------------------

NO_CREDITS_LEFT = "This video would cost 5 credits and you have 0 left."
SERVER_CAP = "This server has used all the video credits it may spend for now."
BOT_CAP = "The bot has used all the video credits it may spend for now."
BUSY = "You already have 1 video in progress. Try again when one is done."


async def limits(bot: VideoBot, fake: FakeDiscord, **values: Any) -> dict[str, str]:
    data = await answer(bot, fake, videomod("limits", [option(k, v) for k, v in values.items()]))
    assert data["content"].startswith("Saved."), data["content"]
    return {f["name"]: f["value"] for f in data["embeds"][0]["fields"]}


async def test_default_credits_of_zero_refuses_every_video(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator
) -> None:
    fields = await limits(bot, fake_discord, default_credits="0")
    assert fields["Credits per member"] == "0"
    assert NO_CREDITS_LEFT in await video(bot, fake_discord)
    assert creates(simulator) == []


async def test_a_server_cap_of_zero_refuses_every_video(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator
) -> None:
    fields = await limits(bot, fake_discord, guild_cap="0")
    assert fields["Server cap per period"] == "0"
    assert SERVER_CAP in await video(bot, fake_discord)
    assert creates(simulator) == []


async def test_a_queue_of_zero_refuses_instead_of_queueing(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator
) -> None:
    await limits(bot, fake_discord, max_running=1, max_queued=0)
    assert await video(bot, fake_discord, prompt="first") == ""
    assert BUSY in await video(bot, fake_discord, prompt="second")
    rows = await bot.store.fetchall("SELECT status FROM generations")
    assert [r[0] for r in rows] == ["submitted"]  # nothing waits in the queue
    assert len(creates(simulator)) == 1


@pytest.mark.parametrize("target", ["member", "role"])
async def test_an_allowance_of_zero_refuses_every_video(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, target: str
) -> None:
    who = user_option("member", ALICE) if target == "member" else option("role", ROLE, type=8)
    data = await answer(
        bot,
        fake_discord,
        videomod("allowance", [who, option("amount", "0")], group="credits"),
    )
    assert "now gets 0 credits per period" in data["content"]
    assert NO_CREDITS_LEFT in await video(bot, fake_discord, user_id=ALICE)
    assert creates(simulator) == []


ZERO_SETTINGS = [
    ("DEFAULT_USER_CREDITS", "default_user_credits", NO_CREDITS_LEFT),
    ("GUILD_CREDIT_CAP", "guild_credit_cap", SERVER_CAP),
    ("GLOBAL_CREDIT_CAP", "global_credit_cap", BOT_CAP),
    ("MAX_QUEUED_PER_USER", "max_queued_per_user", BUSY),
]


@pytest.mark.parametrize(("variable", "field", "refusal"), ZERO_SETTINGS)
async def test_a_setting_of_zero_in_env_means_zero(
    fake_discord: FakeDiscord,
    make_bot: BotFactory,
    simulator: Simulator,
    variable: str,
    field: str,
    refusal: str,
) -> None:
    env = {"DISCORD_TOKEN": "t", "EVOLINK_API_KEY": "k", variable: "0"}
    if variable == "MAX_QUEUED_PER_USER":
        env["MAX_RUNNING_PER_USER"] = "1"
    settings = load_settings(env)
    assert getattr(settings, field) == 0 and getattr(settings, field) is not None
    overrides = {field: getattr(settings, field)}
    overrides["max_running_per_user"] = settings.max_running_per_user
    async with running_bot(make_bot(**overrides), fake_discord) as bot:
        assert isinstance(bot, VideoBot)
        if variable == "MAX_QUEUED_PER_USER":
            assert await video(bot, fake_discord, prompt="first") == ""
        assert refusal in await video(bot, fake_discord)
    assert len(creates(simulator)) == (1 if variable == "MAX_QUEUED_PER_USER" else 0)


async def test_a_cooldown_of_zero_lets_requests_follow_at_once(
    fake_discord: FakeDiscord, make_bot: BotFactory, simulator: Simulator
) -> None:
    settings = load_settings(
        {"DISCORD_TOKEN": "t", "EVOLINK_API_KEY": "k", "COOLDOWN_SECONDS": "0"}
    )
    async with running_bot(
        make_bot(cooldown_seconds=settings.cooldown_seconds), fake_discord
    ) as bot:
        assert isinstance(bot, VideoBot)
        assert await video(bot, fake_discord, prompt="first") == ""
        assert await video(bot, fake_discord, prompt="second") == ""
    assert len(creates(simulator)) == 2


# --- the blocklist's size and moderators' reasons ---------------------------------------------


async def test_the_blocklist_takes_its_last_entry_and_refuses_one_more(
    fake_discord: FakeDiscord, bot: VideoBot
) -> None:
    for n in range(MAX_RULES - 1):
        await bot.moderation.blocklist_add(GUILD_ID, f"word{n}", MODERATOR)
    last = await answer(
        bot, fake_discord, videomod("add", [option("pattern", "last")], group="blocklist")
    )
    assert last["content"].startswith("Added `last`")
    assert len(await bot.moderation.blocklist(GUILD_ID)) == MAX_RULES
    more = await answer(
        bot, fake_discord, videomod("add", [option("pattern", "more")], group="blocklist")
    )
    assert more["content"] == "The blocklist already has 200 entries; remove some first."
    rules = await bot.moderation.blocklist(GUILD_ID)
    assert len(rules) == MAX_RULES and "more" not in {r.pattern for r in rules}


async def reasoned(bot: VideoBot, command: str, reason: str) -> dict[str, Any]:
    """A moderator command that takes a reason, with what it acts on already in place."""
    member, amount = user_option("member", ALICE), option("amount", 5.0)
    if command == "unban":
        await bot.moderation.ban(GUILD_ID, ALICE, MODERATOR, "spam")
        return videomod("unban", [user_option("user", ALICE), option("reason", reason)])
    if command == "ban":
        return videomod("ban", [user_option("user", ALICE), option("reason", reason)])
    if command == "blocklist remove":
        await bot.moderation.blocklist_add(GUILD_ID, "gun", MODERATOR)
    if command.startswith("blocklist"):
        name = command.split()[1]
        return videomod(
            name, [option("pattern", "gun"), option("reason", reason)], group="blocklist"
        )
    if command == "credits refund":
        await video(bot, FakeDiscord.active(), user_id=ALICE)  # type: ignore[arg-type]
        clock = bot.clock
        assert isinstance(clock, FakeClock)
        clock.advance(61)
        await bot.tracker.run_once()
        [task] = await bot.store.fetchall(
            "SELECT task_id FROM generations WHERE status = 'completed'"
        )
        return videomod(
            "refund", [option("task_id", task[0]), option("reason", reason)], group="credits"
        )
    name = command.split()[1]  # credits grant, credits take
    return videomod(name, [member, amount, option("reason", reason)], group="credits")


REASONED = [
    "ban", "unban", "blocklist add", "blocklist remove", "credits grant", "credits take",
    "credits refund",
]  # fmt: skip


async def moderation_state(bot: VideoBot) -> tuple[Any, ...]:
    audit = await bot.store.fetchall("SELECT id FROM audit_log")
    ledger = await bot.store.fetchall("SELECT id FROM credit_ledger")
    rules = await bot.moderation.blocklist(GUILD_ID)
    return len(audit), len(ledger), await bot.moderation.is_banned(GUILD_ID, ALICE), len(rules)


@pytest.mark.parametrize("command", REASONED)
async def test_a_reason_of_the_longest_length_is_kept_whole(
    fake_discord: FakeDiscord, bot: VideoBot, command: str
) -> None:
    reason = "r" * MAX_REASON_LENGTH
    payload = await reasoned(bot, command, reason)
    data = await answer(bot, fake_discord, payload)
    assert "at most" not in data["content"], data["content"]
    [row] = await bot.store.fetchall("SELECT reason FROM audit_log ORDER BY id DESC LIMIT 1")
    assert row[0] == reason


@pytest.mark.parametrize("command", REASONED)
async def test_a_reason_one_character_too_long_is_refused_and_nothing_is_done(
    fake_discord: FakeDiscord, bot: VideoBot, command: str
) -> None:
    payload = await reasoned(bot, command, "r" * (MAX_REASON_LENGTH + 1))
    before = await moderation_state(bot)
    data = await answer(bot, fake_discord, payload)
    assert data["content"] == "A reason can be at most 500 characters."
    assert await moderation_state(bot) == before


async def test_credits_with_the_longest_reasons_still_fit_discords_embed_limits(
    fake_discord: FakeDiscord, bot: VideoBot
) -> None:
    for n in range(5):
        payload = await reasoned(bot, "credits grant", f"{n}" * MAX_REASON_LENGTH)
        await answer(bot, fake_discord, payload)
    payload = slash_command("credits", user_id=ALICE)
    await dispatch(bot, payload)
    [embed] = fake_discord.interaction_response(int(payload["id"]))["data"]["embeds"]
    recent = {f["name"]: f["value"] for f in embed["fields"]}["Latest videos and changes"]
    assert len(recent) <= 1024  # Discord refuses the whole answer otherwise
    assert recent.count("granted") == 5 and "4444" in recent
