"""The bot's side of a run: settings, a timestamping FakeDiscord, and plans of active tasks known
to both the simulator and the bot's database (with the rows a running bot would hold)."""

from __future__ import annotations

import asyncio
import json
import math
import random
import re
import secrets
import sqlite3
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from discord.http import Route

from bot.settings import Secret, Settings
from discord_double import Call, FakeDiscord, message_payload
from discord_double.routes import CALLBACK, CHANNEL_MESSAGES

NONCE_PREFIX = "evl-video-"  # bot.ui.delivery.delivery_nonce
_ASKED_BY = re.compile(r"'description': '[^']*<@(\d+)>")  # a status embed names who asked
BENCH_GUILD = 1_300_000_000_000_000_000
BENCH_CHANNEL = 1_310_000_000_000_000_000
BENCH_USER = 1_320_000_000_000_000_000
STATUS_MESSAGE = 1_330_000_000_000_000_000
CALLBACK_SAFETY_POLL = 300.0  # Settings.callback_safety_poll's default


def bench_settings(
    database: Path, base_url: str, *, database_url: str | None = None, **overrides: Any
) -> Settings:
    """Production defaults, with every per-member and server limit lifted: nothing a member is
    entitled to may be refused during a benchmark. Discord's global rate limit for the bot token
    is lifted too: the recorded layer has none, and the sections measure the bot's own pace
    (BENCHMARKS.md says what the limit allows). `database_url`: PostgreSQL, not the file."""
    values: dict[str, Any] = {
        "discord_token": Secret("bench-discord-token-0123456789"),
        "evolink_api_key": Secret("sk-bench-key-0123456789"),
        "evolink_base_url": base_url,
        "database_path": database,
        "database_url": Secret(database_url) if database_url else None,
        "default_user_credits": None,
        "max_running_per_user": 50,
        "max_queued_per_user": 50,
        "cooldown_seconds": 0.0,
        "guild_credit_cap": None,
        "global_credit_cap": None,
        "discord_rate_limit": 1_000_000.0,
    }
    values.update(overrides)
    return Settings(**values)


class _CountOnly(list[Call]):
    """Stands in for FakeDiscord.calls in long runs: counted (BenchFakeDiscord.counts), not kept."""

    def append(self, item: Call) -> None:
        return None


class BenchFakeDiscord(FakeDiscord):
    """discord_double.FakeDiscord that timestamps what a member would see, as each request
    reaches it (before any simulated latency): the acknowledgement of an interaction, the status
    message posted in the channel for each member (by the mention its embed names) and the
    delivery post of each generation.

    `lean=True` keeps no call history, no embeds and no uploaded files: over 10,000 deliveries
    the fake would otherwise hold gigabytes that are Discord's memory, not the bot's.
    """

    def __init__(
        self, *, lean: bool = False, clock: Callable[[], float] = time.time, latency: float = 0.0
    ) -> None:
        super().__init__()
        self.lean = lean
        self.latency = latency  # seconds each REST call takes to answer (0: loopback-instant)
        self.clock = clock
        self.counts: Counter[tuple[str, str]] = Counter()
        self.acks: dict[int, tuple[float, int]] = {}
        self.statuses: dict[int, float] = {}  # member id -> their status message posted
        self.deliveries: dict[int, float] = {}
        self.uploaded_bytes = 0
        self._expected: tuple[set[int], asyncio.Event] | None = None
        if lean:
            self.calls = _CountOnly()

    async def _handle(
        self,
        via: str,
        route: Route,
        *,
        body: Any,
        files: list[tuple[str, bytes]],
        params: dict[str, Any] | None,
        reason: str | None,
        auth: str | None = None,
    ) -> Any:
        now = self.clock()
        method, template = route.method, route.path
        self.counts[(method, template)] += 1
        if method == "POST" and template == CALLBACK:
            kind = int((body or {}).get("type", 0))
            self.acks.setdefault(int(str(route.webhook_id)), (now, kind))
        elif method == "POST" and template == CHANNEL_MESSAGES:
            nonce = str((body or {}).get("nonce") or "")
            asked_by = _ASKED_BY.search(str(((body or {}).get("embeds") or [{}])[0]))
            if asked_by is not None and not nonce.startswith(NONCE_PREFIX):
                self.statuses.setdefault(int(asked_by.group(1)), now)
            if nonce.startswith(NONCE_PREFIX):
                generation_id = int(nonce[len(NONCE_PREFIX) :])
                self.deliveries.setdefault(generation_id, now)
                if self._expected is not None:
                    self._expected[0].discard(generation_id)
                    if not self._expected[0]:
                        self._expected[1].set()
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        return await super()._handle(
            via, route, body=body, files=files, params=params, reason=reason, auth=auth
        )

    def _strip(self, rec: dict[str, Any]) -> dict[str, Any]:
        if self.lean:
            rec["embeds"] = []
            rec["components"] = []
            rec["allowed_mentions"] = None
        return rec

    def _attachment_objects(
        self, channel_id: int, files: list[tuple[str, bytes]]
    ) -> list[dict[str, Any]]:
        objects = super()._attachment_objects(channel_id, files)
        if self.lean:  # the fake serves uploads back from memory: 256 KB per delivered video
            for obj in objects:
                self.cdn.pop(obj["url"], None)
        self.uploaded_bytes += sum(len(content) for _, content in files)
        return objects

    def _create_message(self, **kwargs: Any) -> dict[str, Any]:
        return self._strip(super()._create_message(**kwargs))

    def _edit_message(
        self, rec: dict[str, Any], payload: Any, files: list[tuple[str, bytes]]
    ) -> None:
        super()._edit_message(rec, payload, files)
        self._strip(rec)

    def add_status_messages(self, ids: Sequence[tuple[int, int]]) -> None:
        """Status messages posted by an earlier process: (message id, channel id) pairs."""
        for message_id, channel_id in ids:
            self._strip(
                self._adopt_message(message_payload(message_id=message_id, channel_id=channel_id))
            )

    def delivered(self, generation_ids: set[int]) -> asyncio.Event:
        """An event set once every one of these generations has had its delivery posted."""
        event = asyncio.Event()
        self._expected = (set(generation_ids) - set(self.deliveries), event)
        if not self._expected[0]:
            event.set()
        return event

    def count(self, method: str, template: str) -> int:
        return self.counts[(method, template)]


# --------------------------------------------------------------------------------------------
# Plans: active tasks known to both the simulator and the bot's database
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Planned:
    gen_id: int
    task_id: str
    created_at: float
    length: float
    fail_code: str | None
    guild_id: int
    channel_id: int
    user_id: int
    quality: str
    duration: int
    callback_token: str | None
    arrival: bool = False  # submitted after t0 (keeps the number of active tasks steady)
    estimate: float | None = None  # EvoLink's estimated_time (None: the length, exactly)
    profile: str = "linear"  # how the task reports progress (bot/simulator/profiles.py)

    @property
    def terminal_at(self) -> float:
        return self.created_at + self.length

    @property
    def estimated(self) -> float:
        return self.length if self.estimate is None else self.estimate


@dataclass(frozen=True)
class Behaviour:
    """How planned tasks report progress and how far they stray from their estimate."""

    profiles: tuple[str, ...] = ("linear",)  # each task takes one of these, at random
    spread: tuple[float, float] = (1.0, 1.0)  # real length / estimate, drawn log-uniformly

    def draw(self, rng: random.Random, length: float) -> tuple[float, str]:
        low, high = self.spread
        factor = low if low == high else math.exp(rng.uniform(math.log(low), math.log(high)))
        return length / factor, rng.choice(self.profiles)


def make_plan(
    count: int,
    t0: float,
    *,
    seed: int,
    lengths: tuple[float, float],
    arrivals_for: float = 0.0,
    min_remaining: float = 0.0,
    fail_rate: float = 0.05,
    callbacks: bool = False,
    guilds: int = 100,
    behaviour: Behaviour | None = None,
) -> list[Planned]:
    """`count` tasks running at `t0`, of mixed total lengths, each at a random point of its
    life (at least `min_remaining` s left); then, for `arrivals_for` seconds, new tasks arriving
    (Poisson) at the rate that keeps `count` active: count / mean length. `behaviour`: their
    progress profiles and estimates (default: linear, estimate exact)."""
    rng = random.Random(seed)
    shapes = random.Random(seed + 1)  # its own stream: the same lengths and times whatever it is
    behaviour = behaviour or Behaviour()
    starts: list[tuple[float, float]] = []
    for _ in range(count):
        length = rng.uniform(*lengths)
        age = rng.uniform(0.0, max(0.0, length - min_remaining))
        starts.append((t0 - age, length))
    rate = count / (sum(lengths) / 2)
    at = t0
    while arrivals_for > 0:
        at += rng.expovariate(rate)
        if at >= t0 + arrivals_for:
            break
        starts.append((at, rng.uniform(*lengths)))
    plan = []
    for i, (created_at, length) in enumerate(starts):
        guild = i % guilds
        estimate, profile = behaviour.draw(shapes, length)
        plan.append(
            Planned(
                gen_id=i + 1,
                task_id=f"task-unified-{int(created_at)}-{i:08x}",
                created_at=created_at,
                length=length,
                fail_code="generation_failed_no_content" if rng.random() < fail_rate else None,
                guild_id=BENCH_GUILD + guild,
                channel_id=BENCH_CHANNEL + guild * 3 + rng.randrange(3),
                user_id=BENCH_USER + rng.randrange(count // 2 + 1),
                quality=rng.choice(("720p", "720p", "1080p")),
                duration=rng.choice((5, 5, 5, 10, 15, 2)),
                callback_token=secrets.token_urlsafe(24) if callbacks else None,
                arrival=created_at > t0,
                estimate=estimate,
                profile=profile,
            )
        )
    return plan


def burst_plan(
    count: int, t0: float, *, length: float, behaviour: Behaviour, seed: int, spread_over: float
) -> list[Planned]:
    """`count` tasks of `length` s, all created within `spread_over` s from `t0` (a burst of
    members), each arriving as VideoService.submit leaves it."""
    rng = random.Random(seed)
    plan = []
    for i in range(count):
        created_at = t0 + spread_over * i / max(1, count)
        estimate, profile = behaviour.draw(rng, length)
        plan.append(
            Planned(
                gen_id=i + 1,
                task_id=f"task-unified-{int(created_at)}-{i:08x}",
                created_at=created_at,
                length=length,
                fail_code=None,
                guild_id=BENCH_GUILD,
                channel_id=BENCH_CHANNEL + i % 3,
                user_id=BENCH_USER + i,
                quality="720p",
                duration=5,
                callback_token=None,
                arrival=True,
                estimate=estimate,
                profile=profile,
            )
        )
    return plan


async def load_plan(
    sim_url: str, plan: list[Planned], path: Path, callback_base: str | None
) -> None:
    """Give the simulator the same tasks (through a file: the list is a few MB)."""
    tasks = [
        [
            p.task_id,
            p.created_at,
            p.length,
            p.fail_code,
            f"{callback_base}/{p.gen_id}/{p.callback_token}" if callback_base else None,
            p.estimated,
            p.profile,
            p.quality,
            p.duration,
        ]
        for p in plan
    ]
    await asyncio.to_thread(path.write_text, json.dumps({"tasks": tasks}))
    async with httpx.AsyncClient(timeout=120) as http:
        answer = await http.post(sim_url + "/_bench/plan", json={"path": str(path)})
        answer.raise_for_status()


async def sim_stats(sim_url: str) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=60) as http:
        answer = await http.get(sim_url + "/_bench/stats")
        answer.raise_for_status()
        return dict(answer.json())


_ROW_COLUMNS = (
    "id, guild_id, channel_id, user_id, locale, prompt, quality, aspect_ratio, duration, "
    "idempotency_key, task_id, status, progress, estimated_seconds, credits_reserved, "
    "status_message_id, next_poll_at, poll_count, requested_at, submitted_at, updated_at, "
    "callback_token"
)


def status_message_id(p: Planned) -> int:
    return STATUS_MESSAGE + p.gen_id


def insert_active(
    database: Path | str,
    plan: list[Planned],
    next_poll: Callable[[Planned], float],
    now: float,
) -> None:
    """The rows the bot would hold for these tasks: running, polled before, a status message
    posted, credits reserved in the ledger. Written with plain sqlite3 in one transaction."""
    rows = []
    ledger = []
    for p in plan:
        cost = (2.0 if p.quality == "1080p" else 1.0) * p.duration
        elapsed = max(0.0, now - p.created_at)
        progress = min(99, int(100 * elapsed / p.length))
        status = "running" if elapsed >= 2.0 else "submitted"  # the simulator's pending time
        rows.append(
            (
                p.gen_id, p.guild_id, p.channel_id, p.user_id, "en-US",
                f"benchmark scene {p.gen_id}: a fox crossing a snowy field at dawn", p.quality,
                "16:9", p.duration, str(uuid.uuid4()), p.task_id,
                status, progress, p.estimated, cost, status_message_id(p), next_poll(p),
                int(elapsed / 10), p.created_at - 0.5, p.created_at, now, p.callback_token,
            )
        )  # fmt: skip
        ledger.append(
            (p.guild_id, p.user_id, p.gen_id, "reserve", -cost, p.created_at - 0.5, "estimate",
             p.created_at - 0.5)
        )  # fmt: skip
    if isinstance(database, str):  # a PostgreSQL URL (this runs in a thread of its own)
        asyncio.run(_insert_postgres(database, rows, ledger))
        return
    marks = ", ".join("?" for _ in _ROW_COLUMNS.split(","))
    db = sqlite3.connect(database, isolation_level=None)
    try:
        db.execute("PRAGMA busy_timeout = 10000")
        db.execute("BEGIN IMMEDIATE")
        db.executemany(f"INSERT INTO generations ({_ROW_COLUMNS}) VALUES ({marks})", rows)
        db.executemany(
            """INSERT INTO credit_ledger (guild_id, user_id, generation_id, kind, amount,
               charged_at, reason, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
            ledger,
        )
        db.execute("COMMIT")
    finally:
        db.close()


async def _insert_postgres(
    url: str, rows: list[tuple[Any, ...]], ledger: list[tuple[Any, ...]]
) -> None:
    import asyncpg

    money = _ROW_COLUMNS.replace(" ", "").split(",").index("credits_reserved")
    rows = [(*r[:money], Decimal(repr(r[money])), *r[money + 1 :]) for r in rows]
    ledger = [(*r[:4], Decimal(repr(r[4])), *r[5:]) for r in ledger]
    connection = await asyncpg.connect(url)
    try:
        async with connection.transaction():
            await connection.copy_records_to_table(
                "generations", records=rows, columns=_ROW_COLUMNS.replace(" ", "").split(",")
            )
            await connection.copy_records_to_table(
                "credit_ledger", records=ledger,
                columns=["guild_id", "user_id", "generation_id", "kind", "amount", "charged_at",
                         "reason", "created_at"],
            )  # fmt: skip
    finally:
        await connection.close()
