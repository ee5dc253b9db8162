"""Several real bot processes (``python -m bot``) on one PostgreSQL database, each running one
shard of the stand-in Discord's gateway, against the EvoLink simulator: the way an operator
scales the bot out (README, Several processes). Members talk to the process of their shard;
the background work is shared through the database, and a process that is SIGKILLed leaves its
work to the others within one lease."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from discord_double import (
    APPLICATION_ID,
    DiscordStandIn,
    button_press,
    option,
    slash_command,
    wait_until,
)
from tests.backends import Backend, read_rows
from tests.test_process import (
    CHANNEL_ID,
    GUILD_ID,
    STARTUP,
    STEP,
    Bot,
    Cluster,
    Simulator,
    assert_clean_log,
    assert_one_charge_per_video,
    deliveries,
    distinctive,
    free_port,
    start_bot,
    start_simulator,
    stop_bot,
)

pytestmark = pytest.mark.postgres_only("processes share work through one PostgreSQL database")

PROCESSES = 3
MEMBERS_PER_PROCESS = 4
LEASE = 4.0
TASK_SECONDS = 3.0


@pytest.fixture
async def cluster(tmp_path: Path, backend: Backend) -> AsyncIterator[Cluster]:
    c = Cluster(tmp_path, backend=backend)
    try:
        yield c
    finally:
        await c.close()


@pytest.fixture
async def discord_api() -> AsyncIterator[DiscordStandIn]:
    async with DiscordStandIn() as standin:
        yield standin


def member(shard: int, number: int) -> int:
    return 1200000000000000100 + 10 * shard + number


def video_of(user_id: int) -> dict[str, Any]:
    return slash_command(
        "video", [option("prompt", f"a kite over the sea, for {user_id}")], user_id=user_id,
        guild_id=GUILD_ID, channel_id=CHANNEL_ID, application_id=APPLICATION_ID,
    )  # fmt: skip


async def start_processes(
    cluster: Cluster,
    discord_api: DiscordStandIn,
    sim: Simulator,
    *,
    ports: Sequence[str] = ("", "", ""),
    **settings: str,
) -> list[Bot]:
    """PROCESSES bots with one token and one database, process i running shard i (and its
    callback receiver on `ports[i]`)."""
    token = distinctive("discord-token")
    options = {"LEASE_SECONDS": str(LEASE), "MAX_RUNNING_PER_USER": "5", **settings}
    bots = []
    for shard in range(PROCESSES):
        bot = await start_bot(
            cluster, discord_api, sim, token=token, name=f"bot-shard{shard}",
            SHARD_COUNT=str(PROCESSES), SHARD_IDS=str(shard), CALLBACK_PORT=ports[shard],
            **options,
        )  # fmt: skip
        bots.append(bot)

    def every_shard_identified() -> bool:
        return all(discord_api.shard_connection(s) is not None for s in range(PROCESSES))

    await wait_until(
        every_shard_identified, within=STARTUP, what="every shard's READY",
        details=lambda: discord_api.describe() + "".join(b.proc.tail() for b in bots),
    )  # fmt: skip
    return bots


def delivery_posts(discord_api: DiscordStandIn, user_id: int) -> int:
    """How many times a process sent `user_id`'s video: to the channel, or as a follow-up of
    the member's interaction (Discord would drop a repeat to the channel carrying the same
    nonce: the count is of the attempts)."""
    posts = discord_api.requests_to("POST", "")
    return sum(
        1
        for call in posts
        if isinstance(call.json, dict)
        and f"<@{user_id}>" in str(call.json.get("content"))
        and "your video is ready" in str(call.json.get("content"))
    )


def rows_claimed_by(bot: Bot) -> int:
    """Rows the process (by its pid, part of its claimant name) has claimed."""
    pid = int(bot.proc.process.pid)
    [(count,)] = read_rows(
        bot.db, f"SELECT count(*) FROM generations WHERE claimed_by LIKE '%:{pid}:%'"
    )
    return int(count)


async def test_a_process_killed_mid_run_leaves_every_video_delivered_once_by_the_others(
    cluster: Cluster, discord_api: DiscordStandIn
) -> None:
    sim = await start_simulator(cluster, task_seconds=TASK_SECONDS, pending_seconds=0.5)
    # a delivery takes a while: every process sees the video due meanwhile
    discord_api.slow[("POST", f"/channels/{CHANNEL_ID}/messages")] = 1.5
    bots = await start_processes(cluster, discord_api, sim)
    members = {s: [member(s, n) for n in range(MEMBERS_PER_PROCESS)] for s in range(PROCESSES)}
    for shard, users in members.items():
        connection = discord_api.shard_connection(shard)
        for user in users:
            await discord_api.send_interaction(video_of(user), connection=connection)
    everyone = [u for users in members.values() for u in users]

    async def all_created() -> bool:
        return len(await sim.tasks()) == len(everyone)

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while not await all_created():
        assert loop.time() < deadline, "".join(b.proc.tail() for b in bots)
        await asyncio.sleep(0.05)

    victim = bots[1]  # not shard 0's process: the one that registers the commands
    assert rows_claimed_by(victim) > 0  # it holds work: its members' videos
    victim.proc.signal(signal.SIGKILL)
    killed_at = loop.time()
    assert await victim.proc.wait_exit() == -signal.SIGKILL
    survivors = [bots[0], bots[2]]

    def victims_served() -> bool:
        return all(deliveries(discord_api, user) for user in members[1])

    await wait_until(
        victims_served, within=60.0, what="the killed process's videos delivered by the others",
        details=lambda: discord_api.describe() + "".join(b.proc.tail() for b in survivors),
    )  # fmt: skip
    taken_over_in = loop.time() - killed_at
    await wait_until(
        lambda: all(deliveries(discord_api, user) for user in everyone),
        within=60.0, what="every video delivered", details=discord_api.describe,
    )  # fmt: skip
    await asyncio.sleep(LEASE + 1)  # a second delivery would come within a lease

    # every member sees their video once, sent once; every task was made once and charged once
    assert {user: len(deliveries(discord_api, user)) for user in everyone} == dict.fromkeys(
        everyone, 1
    )
    assert {user: delivery_posts(discord_api, user) for user in everyone} == dict.fromkeys(
        everyone, 1
    )
    tasks = await sim.tasks()
    assert len(tasks) == len(everyone)
    [(delivered,)] = read_rows(
        victim.db, "SELECT count(*) FROM generations WHERE delivered_at IS NOT NULL"
    )
    assert delivered == len(everyone)
    assert_one_charge_per_video(victim.db, tasks)
    assert rows_claimed_by(victim) == 0  # nothing left to the dead process
    # its work was taken over within one lease (and the rest of a video's making, and the
    # moment a look and a delivery take: far less than the 30 s a process otherwise sleeps)
    assert taken_over_in < LEASE + TASK_SECONDS + 10, f"took {taken_over_in:.1f}s"

    # one process (shard 0's) registered the commands; the others left it to that one
    assert len(discord_api.requests_to("PUT", f"/applications/{APPLICATION_ID}/commands")) == 1
    assert "registered by the process that runs shard 0" in bots[2].proc.stderr()
    for bot in survivors:
        assert await stop_bot(bot) == 0
        assert_clean_log(bot)


def said_to(discord_api: DiscordStandIn, interaction_id: int) -> str:
    """Everything the bot answered an interaction: its response, `@original` edits and
    follow-ups."""
    calls = [
        *discord_api.interaction_responses(interaction_id),
        *discord_api.original_edits(interaction_id),
    ]
    followups = discord_api.followups(interaction_id)
    return " ".join([*(str(c.json) for c in calls), *(str(f) for f in followups)])


async def test_two_processes_admitting_one_member_at_once_spend_no_more_than_the_limit(
    cluster: Cluster, discord_api: DiscordStandIn
) -> None:
    """20 credits, 5 a video: of eight requests fired at once, four through each of two
    processes, exactly four are admitted (none refused that fits) and the others are told why."""
    sim = await start_simulator(cluster, task_seconds=30.0)
    bots = await start_processes(
        cluster, discord_api, sim, DEFAULT_USER_CREDITS="20", MAX_RUNNING_PER_USER="8",
        MAX_QUEUED_PER_USER="8",
    )  # fmt: skip
    user = member(0, 0)
    payloads = [video_of(user) | {"id": str(9100 + n)} for n in range(8)]
    await asyncio.gather(
        *(
            discord_api.send_interaction(p, connection=discord_api.shard_connection(n % 2))
            for n, p in enumerate(payloads)
        )
    )
    refused = "would cost 5 credits and you have 0 left"

    def everyone_answered() -> bool:
        told = sum(refused in said_to(discord_api, int(p["id"])) for p in payloads)
        [(admitted,)] = read_rows(bots[0].db, "SELECT count(*) FROM generations")
        return told + int(admitted) == len(payloads)

    await wait_until(
        everyone_answered, within=STEP, what="an answer to each request",
        details=lambda: discord_api.describe() + "".join(b.proc.tail() for b in bots),
    )  # fmt: skip
    texts = [said_to(discord_api, int(p["id"])) for p in payloads]
    assert sum(refused in t for t in texts) == 4
    assert len(await sim.tasks()) == 4
    [(reserved, videos)] = read_rows(
        bots[0].db,
        "SELECT -SUM(amount), COUNT(DISTINCT generation_id) FROM credit_ledger "
        "WHERE kind = 'reserve'",
    )
    assert (float(reserved), videos) == (20.0, 4)
    for bot in bots:
        assert await stop_bot(bot) == 0
        assert_clean_log(bot)


async def test_a_callback_received_by_another_process_settles_the_video(
    cluster: Cluster, discord_api: DiscordStandIn
) -> None:
    """EvoLink calls the one public address, here the receiver of shard 1's process; the video
    asked for through shard 0's process is looked at and delivered at once, not at the next
    safety-net check five minutes later."""
    sim = await start_simulator(cluster, task_seconds=1.0, extra=["--allow-insecure-callbacks"])
    public = free_port()
    bots = await start_processes(
        cluster, discord_api, sim, CALLBACK_PUBLIC_URL=f"http://127.0.0.1:{public}/evolink",
        CALLBACK_SAFETY_POLL_SECONDS="300",
        ports=[str(free_port()), str(public), str(free_port())],
    )  # fmt: skip
    user = member(0, 1)
    await discord_api.send_interaction(video_of(user), connection=discord_api.shard_connection(0))
    await wait_until(
        lambda: deliveries(discord_api, user), within=STEP, what="the delivery",
        details=lambda: discord_api.describe() + "".join(b.proc.tail() for b in bots),
    )  # fmt: skip
    [task] = await sim.tasks()
    assert task["status"] == "completed"
    assert len(deliveries(discord_api, user)) == 1
    for bot in bots:
        assert await stop_bot(bot) == 0
        assert_clean_log(bot)


def custom_ids(message: dict[str, Any]) -> list[str]:
    return [
        str(item.get("custom_id"))
        for row in message.get("components") or []
        for item in row.get("components") or []
    ]


async def test_a_button_is_answered_by_whichever_process_receives_it(
    cluster: Cluster, discord_api: DiscordStandIn
) -> None:
    """EvoLink is busy: the video asked for through shard 0's process waits in line. Its
    member presses Cancel on the status message, and the press reaches shard 1's process, which
    knows nothing of the request but what the database holds: it cancels, gives the credits
    back and says so."""
    sim = await start_simulator(cluster, task_seconds=5.0)
    await sim.add_fault({"route": "create", "status": 429, "retry_after": "60", "count": None})
    bots = await start_processes(cluster, discord_api, sim)
    user = member(0, 2)
    await discord_api.send_interaction(video_of(user), connection=discord_api.shard_connection(0))

    def waiting_status() -> dict[str, Any] | None:
        for message in discord_api.channel_messages(CHANNEL_ID):
            if any(i.startswith("video:cancel:") for i in custom_ids(dict(message))):
                return discord_api.api_message(message["id"])
        return None

    status = await wait_until(
        waiting_status, within=STEP, what="the status of the waiting request",
        details=lambda: discord_api.describe() + "".join(b.proc.tail() for b in bots),
    )  # fmt: skip
    [cancel] = [i for i in custom_ids(status) if i.startswith("video:cancel:")]
    press = button_press(cancel, message=status, user_id=user, channel_id=CHANNEL_ID)
    await discord_api.send_interaction(press, connection=discord_api.shard_connection(1))
    await wait_until(
        lambda: "given back" in said_to(discord_api, int(press["id"])), within=STEP,
        what="the answer to the press", details=discord_api.describe,
    )  # fmt: skip
    [(kinds,)] = read_rows(
        bots[0].db, "SELECT string_agg(kind, ',' ORDER BY id) FROM credit_ledger"
    )
    assert kinds == "reserve,refund"
    [(status_now,)] = read_rows(bots[0].db, "SELECT status FROM generations")
    assert status_now == "cancelled" and await sim.tasks() == []
    for bot in bots:
        assert await stop_bot(bot) == 0
        assert_clean_log(bot)


@pytest.mark.parametrize("sharded", [False, True], ids=["one-connection", "sharded"])
async def test_a_gateway_that_requires_sharding_stops_the_bot_with_the_fix(
    cluster: Cluster, discord_api: DiscordStandIn, sharded: bool
) -> None:
    """Past 2,500 servers Discord closes an unsharded connection with 4011 (and a wrong shard
    with 4010): the bot must not log "stopped cleanly" and exit 0 (a supervisor would not
    restart it, and nobody would know why), but say what to set and exit with a failure."""
    sim = await start_simulator(cluster, task_seconds=1.0)
    discord_api.refuse_identify = (4011, "Sharding required.")
    shards = {"SHARD_COUNT": "2"} if sharded else {}
    bot = await start_bot(cluster, discord_api, sim, **shards)
    assert await bot.proc.wait_exit(within=STARTUP) == 1
    err = bot.proc.stderr()
    assert "stopped cleanly" not in err
    assert "Discord requires sharding" in err and "SHARD_COUNT" in err, bot.proc.tail()
