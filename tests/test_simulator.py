"""Tests of the loopback EvoLink simulator (bot/simulator/), driven over raw HTTP."""

from __future__ import annotations

import asyncio
import email.utils
import re
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from aiohttp import web

from bot.simulator import FaultRule, Simulator
from discord_double import wait_until

KEY = "sk-test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
T0 = 1_757_169_743.0
ID_RE = re.compile(r"^task-unified-(\d+)-[a-z0-9]{8}$")
BASIC = {"model": "wan2.7-text-to-video", "prompt": "A small kitten running under the moonlight"}


class FakeClock:
    def __init__(self, start: float = T0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


SimFactory = Callable[..., Awaitable[Simulator]]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def make_sim(clock: FakeClock) -> AsyncIterator[SimFactory]:
    started: list[Simulator] = []

    async def factory(**kwargs: Any) -> Simulator:
        kwargs.setdefault("api_keys", {KEY})
        kwargs.setdefault("clock", clock)
        kwargs.setdefault("video_bytes", 4096)
        kwargs.setdefault("callback_retry_delays", (0.01, 0.01, 0.01))
        kwargs.setdefault("callback_poll_interval", 0.02)
        kwargs.setdefault("seed", 7)
        sim = Simulator(**kwargs)
        await sim.start()
        started.append(sim)
        return sim

    yield factory
    for sim in started:
        await sim.stop()


@pytest.fixture
async def sim(make_sim: SimFactory) -> Simulator:
    return await make_sim()


@pytest.fixture
async def client(sim: Simulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sim.base_url, headers=AUTH, timeout=5.0) as c:
        yield c


async def create(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    resp = await client.post("/v1/videos/generations", json={**BASIC, **fields})
    assert resp.status_code == 200, resp.text
    data: dict[str, Any] = resp.json()
    return data


async def query(client: httpx.AsyncClient, task_id: str) -> dict[str, Any]:
    resp = await client.get(f"/v1/tasks/{task_id}")
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    data: dict[str, Any] = resp.json()
    return data


def assert_error(resp: httpx.Response, status: int, code: str, etype: str | None = None) -> None:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    err = resp.json()["error"]
    assert err["code"] == code
    assert isinstance(err["message"], str) and err["message"]
    if etype is not None:
        assert err["type"] == etype


# ------------------------------------------------------------------------------------ auth


async def test_auth_required_on_every_v1_route(sim: Simulator) -> None:
    async with httpx.AsyncClient(base_url=sim.base_url) as c:
        for headers in (
            {},
            {"Authorization": "Bearer wrong"},
            {"Authorization": KEY},
            {"Authorization": "Bearer"},
            {"Authorization": f"Basic {KEY}"},
        ):
            calls = [
                c.post("/v1/videos/generations", json=BASIC, headers=headers),
                c.get("/v1/tasks/task-unified-1-abcdefgh", headers=headers),
                c.post("/v1/tasks/batch", json={"task_ids": []}, headers=headers),
                c.get("/v1/credits", headers=headers),
            ]
            for resp in await asyncio.gather(*calls):
                assert_error(resp, 401, "unauthorized", "authentication_error")
        ok = await c.get("/v1/credits", headers=AUTH)
        assert ok.status_code == 200
    assert not sim.tasks
    assert sim.balance == 10_000.0


async def test_any_key_accepted_when_no_keys_configured(make_sim: SimFactory) -> None:
    sim = await make_sim(api_keys=None)
    async with httpx.AsyncClient(base_url=sim.base_url) as c:
        resp = await c.get("/v1/credits", headers={"Authorization": "Bearer whatever"})
        assert resp.status_code == 200
        resp = await c.get("/v1/credits")
        assert_error(resp, 401, "unauthorized")


# ------------------------------------------------------------------------------ validation

BAD_BODIES: list[tuple[dict[str, Any], str]] = [
    ({"prompt": "x"}, "model"),
    ({"model": "wan2.6-text-to-video", "prompt": "x"}, "model"),
    ({"model": "wan2.7-text-to-video"}, "prompt"),
    ({**BASIC, "prompt": ""}, "prompt"),
    ({**BASIC, "prompt": "   "}, "prompt"),
    ({**BASIC, "prompt": 12}, "prompt"),
    ({**BASIC, "prompt": None}, "prompt"),
    ({**BASIC, "negative_prompt": 3}, "negative_prompt"),
    ({**BASIC, "audio_urls": "https://a.example/x.mp3"}, "audio_urls"),
    ({**BASIC, "audio_urls": []}, "audio_urls"),
    ({**BASIC, "audio_urls": ["https://a.example/1.mp3", "https://a.example/2.mp3"]}, "audio_urls"),
    ({**BASIC, "audio_urls": [5]}, "audio_urls"),
    ({**BASIC, "audio_urls": ["ftp://a.example/x.mp3"]}, "audio_urls"),
    ({**BASIC, "audio_urls": ["https:///x.mp3"]}, "audio_urls"),
    ({**BASIC, "quality": "4k"}, "quality"),
    ({**BASIC, "quality": "720P"}, "quality"),
    ({**BASIC, "aspect_ratio": "21:9"}, "aspect_ratio"),
    ({**BASIC, "duration": 1}, "duration"),
    ({**BASIC, "duration": 16}, "duration"),
    ({**BASIC, "duration": "5"}, "duration"),
    ({**BASIC, "duration": 5.0}, "duration"),
    ({**BASIC, "duration": True}, "duration"),
    ({**BASIC, "seed": 0}, "seed"),
    ({**BASIC, "seed": 2_147_483_648}, "seed"),
    ({**BASIC, "seed": True}, "seed"),
    ({**BASIC, "seed": "42"}, "seed"),
    ({**BASIC, "seed": None}, "seed"),
    ({**BASIC, "prompt_extend": "yes"}, "prompt_extend"),
    ({**BASIC, "prompt_extend": 1}, "prompt_extend"),
    ({**BASIC, "callback_url": "http://hooks.example.com/cb"}, "callback_url"),
    ({**BASIC, "callback_url": "https://127.0.0.1/cb"}, "callback_url"),
    ({**BASIC, "callback_url": "https://10.1.2.3/cb"}, "callback_url"),
    ({**BASIC, "callback_url": "https://172.16.0.1/cb"}, "callback_url"),
    ({**BASIC, "callback_url": "https://172.31.255.1/cb"}, "callback_url"),
    ({**BASIC, "callback_url": "https://192.168.1.10/cb"}, "callback_url"),
    ({**BASIC, "callback_url": "https://localhost:8443/cb"}, "callback_url"),
    ({**BASIC, "callback_url": "https://[::1]/cb"}, "callback_url"),
    ({**BASIC, "callback_url": "https://169.254.169.254/latest"}, "callback_url"),
    ({**BASIC, "callback_url": "https://hooks.example.com/" + "a" * 2030}, "callback_url"),
    ({**BASIC, "callback_url": "not a url"}, "callback_url"),
    ({**BASIC, "callback_url": 7}, "callback_url"),
    ({**BASIC, "resolution": "720p"}, "resolution"),
]


@pytest.mark.parametrize(("body", "param"), BAD_BODIES)
async def test_validation_errors(
    sim: Simulator, client: httpx.AsyncClient, body: dict[str, Any], param: str
) -> None:
    resp = await client.post("/v1/videos/generations", json=body)
    assert resp.status_code == 400, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    err = resp.json()["error"]
    assert err["code"] in {"invalid_request", "invalid_parameter"}
    assert err["type"] == "invalid_request_error"
    assert err["param"] == param
    assert param in err["message"]
    assert not sim.tasks
    assert sim.balance == 10_000.0


async def test_valid_edge_values_accepted(client: httpx.AsyncClient) -> None:
    await create(
        client,
        negative_prompt="blur",
        audio_urls=["http://cdn.example.com/a.mp3"],
        quality="1080p",
        aspect_ratio="3:4",
        duration=15,
        seed=2_147_483_647,
        prompt_extend=True,
        callback_url="https://hooks.example.com/" + "a" * 2000,
    )
    await create(client, duration=2, seed=1, callback_url="https://8.8.8.8/cb")


async def test_non_json_and_non_object_bodies(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        "/v1/videos/generations",
        content=b"model=wan2.7",
        headers={"Content-Type": "application/json"},
    )
    assert_error(resp, 400, "invalid_request", "invalid_request_error")
    resp = await client.post("/v1/videos/generations", json=[BASIC])
    assert_error(resp, 400, "invalid_request", "invalid_request_error")
    resp = await client.post("/v1/videos/generations")
    assert_error(resp, 400, "invalid_request")


async def test_long_prompts_are_truncated_not_refused(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    answer = await create(client, prompt="猫" * 6000, negative_prompt="n" * 700)
    task = sim.tasks[answer["id"]]
    assert task.prompt == "猫" * 5000
    assert task.negative_prompt == "n" * 500
    exact = await create(client, prompt="p" * 5000)
    assert sim.tasks[exact["id"]].prompt == "p" * 5000


# ------------------------------------------------------------------------- create / query


async def test_create_answer_has_exactly_the_documented_shape(
    sim: Simulator, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    answer = await create(client, aspect_ratio="16:9", duration=5)
    match = ID_RE.match(answer["id"])
    assert match and int(match.group(1)) == int(T0)
    assert answer == {
        "created": int(T0),
        "id": answer["id"],
        "model": "wan2.7-text-to-video",
        "object": "video.generation.task",
        "progress": 0,
        "status": "pending",
        "task_info": {"can_cancel": True, "estimated_time": 20},
        "type": "video",
        "usage": {"billing_rule": "per_call", "credits_reserved": 5, "user_group": "default"},
    }
    assert sim.balance == 9995.0
    big = await create(client, quality="1080p", duration=10)
    assert big["usage"]["credits_reserved"] == 20
    assert big["id"] != answer["id"]
    assert sim.balance == 9975.0
    task = sim.tasks[big["id"]]
    assert (task.quality, task.duration, task.size) == ("1080p", 10, (1920, 1080))


async def test_lifecycle_follows_the_clock(
    sim: Simulator, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    task_id = (await create(client))["id"]
    first = await query(client, task_id)
    assert first["status"] == "pending" and first["progress"] == 0
    assert first["task_info"] == {"can_cancel": True, "estimated_time": 20}
    assert "results" not in first and "error" not in first

    clock.advance(1.9)
    assert (await query(client, task_id))["status"] == "pending"
    clock.advance(0.1)
    seen = []
    for _ in range(6):
        answer = await query(client, task_id)
        assert answer["status"] == "processing"
        seen.append(answer["progress"])
        clock.advance(3.0)
    assert seen[0] == 1
    assert seen == sorted(seen) and len(set(seen)) == len(seen)
    assert all(1 <= p <= 99 for p in seen)

    # the clock going backwards never makes status or progress go back
    last = seen[-1]
    clock.advance(-10.0)
    again = await query(client, task_id)
    assert again["status"] == "processing" and again["progress"] >= last
    clock.advance(10.0)

    clock.now = T0 + 20.0
    done = await query(client, task_id)
    url = f"{sim.base_url}/files/{task_id}.mp4"
    assert done == {
        "created": int(T0),
        "id": task_id,
        "model": "wan2.7-text-to-video",
        "object": "video.generation.task",
        "progress": 100,
        "results": [url],
        "status": "completed",
        "task_info": {"can_cancel": False},
        "type": "video",
        "usage": {
            "billing_rule": "per_call",
            "credits_reserved": 5,
            "credits_used": 5,
            "user_group": "default",
        },
    }
    clock.advance(-15.0)
    assert (await query(client, task_id))["status"] == "completed"
    clock.advance(15.0)

    async with httpx.AsyncClient() as plain:  # media links need no auth
        video = await plain.get(url)
        assert video.status_code == 200
        assert video.headers["content-type"] == "video/mp4"
        assert len(video.content) == 4096
        assert video.content[4:8] == b"ftyp"
        assert video.content[8:12] == b"isom"
        clock.advance(86_399.0)
        assert (await plain.get(url)).status_code == 200
        clock.advance(1.0)
        expired = await plain.get(url)
        assert_error(expired, 403, "link_expired")
        missing = await plain.get(f"{sim.base_url}/files/task-unified-1-nothere1.mp4")
        assert_error(missing, 404, "file_not_found")


async def test_file_not_served_before_completion(sim: Simulator, client: httpx.AsyncClient) -> None:
    task_id = (await create(client))["id"]
    resp = await client.get(f"/files/{task_id}.mp4")
    assert_error(resp, 404, "file_not_found")


async def test_unknown_task_is_404(client: httpx.AsyncClient) -> None:
    resp = await client.get("/v1/tasks/task-unified-1757169743-zzzzzzzz")
    assert_error(resp, 404, "task_not_found")


async def test_tasks_expire_after_retention(make_sim: SimFactory, clock: FakeClock) -> None:
    sim = await make_sim(task_retention_seconds=3600)
    async with httpx.AsyncClient(base_url=sim.base_url, headers=AUTH) as c:
        task_id = (await create(c))["id"]
        clock.advance(3599)
        assert (await query(c, task_id))["status"] == "completed"
        clock.advance(1)
        assert_error(await c.get(f"/v1/tasks/{task_id}"), 404, "task_not_found")


async def test_fail_marker_ends_failed_and_refunds(
    sim: Simulator, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    answer = await create(client, prompt="a cat [[fail:content_policy_violation]]")
    task_id = answer["id"]
    assert sim.balance == 9995.0
    clock.advance(10)
    assert (await query(client, task_id))["status"] == "processing"
    clock.advance(10)
    failed = await query(client, task_id)
    assert set(failed) == {"id", "object", "status", "model", "progress", "error"}
    assert failed["status"] == "failed"
    assert failed["object"] == "video.generation.task"
    assert failed["model"] == "wan2.7-text-to-video"
    assert 0 <= failed["progress"] < 100
    assert failed["error"]["code"] == "content_policy_violation"
    assert failed["error"]["type"] == "task_error"
    assert "policy" in failed["error"]["message"].lower()
    assert sim.balance == 10_000.0
    assert sim.used_credits == 0.0
    assert_error(await client.get(f"/files/{task_id}.mp4"), 404, "file_not_found")

    other = await create(client, prompt="[[fail:generation_timeout]] slow")
    clock.advance(25)
    assert (await query(client, other["id"]))["error"]["code"] == "generation_timeout"


async def test_refund_happens_without_a_query(
    sim: Simulator, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    await create(client, prompt="x [[fail:service_error]]")
    assert sim.balance == 9995.0
    clock.advance(20)
    assert sim.balance == 10_000.0  # computed lazily when read


async def test_never_marker_stays_processing(
    sim: Simulator, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    task_id = (await create(client, prompt="stuck [[never]]"))["id"]
    for step in (5, 20, 1000, 100_000):
        clock.advance(step)
        answer = await query(client, task_id)
        assert answer["status"] == "processing"
        assert answer["progress"] < 100
    sim.complete_now(task_id)
    assert (await query(client, task_id))["status"] == "completed"


async def test_fail_rate(make_sim: SimFactory, clock: FakeClock) -> None:
    sim = await make_sim(fail_rate=1.0)
    async with httpx.AsyncClient(base_url=sim.base_url, headers=AUTH) as c:
        task_id = (await create(c))["id"]
        clock.advance(20)
        answer = await query(c, task_id)
        assert answer["error"]["code"] == "generation_failed_no_content"


async def test_complete_now_and_fail_now(
    sim: Simulator, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    a = (await create(client))["id"]
    b = (await create(client))["id"]
    sim.complete_now(a)
    assert (await query(client, a))["status"] == "completed"
    sim.fail_now(b, "resource_exhausted", "no GPUs")
    failed = await query(client, b)
    assert failed["error"] == {
        "code": "resource_exhausted",
        "message": "no GPUs",
        "type": "task_error",
    }
    assert sim.balance == 9995.0
    with pytest.raises(ValueError):
        sim.fail_now(a)
    with pytest.raises(KeyError):
        sim.complete_now("task-unified-0-missing0")


@pytest.mark.parametrize(
    ("marker", "reported", "balance"),
    [
        ("", 5, 9995.0),
        ("[[used:lower]]", 3, 9997.0),  # billed for less: the difference goes back
        ("[[used:higher]]", 7.5, 9992.5),
        ("[[used:2.5]]", 2.5, 9997.5),
        ("[[used:0]]", 0, 10_000.0),
        ("[[used:missing]]", None, 9995.0),  # reporting faults: the reservation is paid
        ("[[used:negative]]", -5, 9995.0),
        ("[[used:absurd]]", 5000, 9995.0),
    ],
)
async def test_used_marker_sets_the_final_charge_reported(
    sim: Simulator,
    client: httpx.AsyncClient,
    clock: FakeClock,
    marker: str,
    reported: float | None,
    balance: float,
) -> None:
    answer = await create(client, prompt=f"a fox {marker}")
    assert answer["usage"]["credits_reserved"] == 5
    running = await query(client, answer["id"])
    assert "credits_used" not in running["usage"]
    clock.advance(20)
    done = await query(client, answer["id"])
    assert done["status"] == "completed"
    assert done["usage"].get("credits_used") == reported
    assert done["usage"]["credits_reserved"] == 5
    assert sim.balance == balance


async def test_reserved_marker_and_default_modes(make_sim: SimFactory, clock: FakeClock) -> None:
    sim = await make_sim(credits_used_mode="lower")
    async with httpx.AsyncClient(base_url=sim.base_url, headers=AUTH) as c:
        missing = await create(c, prompt="x [[reserved:missing]]")
        assert "credits_reserved" not in missing["usage"]
        assert (await create(c, prompt="x [[reserved:negative]]"))["usage"][
            "credits_reserved"
        ] == -5
        assert sim.balance == 9990.0  # the account really holds 5 for each
        plain = await create(c, prompt="no marker")
        exact = await create(c, prompt="y [[used:exact]]")
        clock.advance(20)
        assert (await query(c, plain["id"]))["usage"]["credits_used"] == 3  # the default mode
        assert (await query(c, exact["id"]))["usage"]["credits_used"] == 5
    with pytest.raises(ValueError):
        Simulator(credits_used_mode="cheap")


# ------------------------------------------------------------------------------- balance


async def test_insufficient_quota(make_sim: SimFactory, clock: FakeClock) -> None:
    sim = await make_sim(balance=12.0)
    async with httpx.AsyncClient(base_url=sim.base_url, headers=AUTH) as c:
        await create(c)  # 5 → 7 left
        resp = await c.post("/v1/videos/generations", json={**BASIC, "duration": 8})
        assert_error(resp, 402, "insufficient_quota", "insufficient_quota")
        assert len(sim.tasks) == 1
        assert sim.balance == 7.0
        await create(c, duration=7)  # exactly enough
        assert sim.balance == 0.0
        assert_error(await c.post("/v1/videos/generations", json=BASIC), 402, "insufficient_quota")
        sim.fail_now(next(iter(sim.tasks)))  # refund of 5
        assert sim.balance == 5.0
        await create(c)


async def test_credits_endpoint(
    sim: Simulator, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    await create(client, quality="1080p", duration=3)
    resp = await client.get("/v1/credits")
    assert resp.status_code == 200
    assert resp.json() == {
        "data": {
            "token": {"remaining_credits": 9994, "unlimited_credits": False, "used_credits": 6},
            "user": {"remaining_credits": 9994, "used_credits": 6},
        },
        "message": "",
        "success": True,
    }


async def test_custom_prices(make_sim: SimFactory) -> None:
    sim = await make_sim(price_per_second={"720p": 0.25})
    async with httpx.AsyncClient(base_url=sim.base_url, headers=AUTH) as c:
        assert (await create(c, duration=3))["usage"]["credits_reserved"] == 0.75
        assert (await create(c, quality="1080p", duration=3))["usage"]["credits_reserved"] == 6


# --------------------------------------------------------------------------- idempotency


async def test_idempotent_replay_and_conflict(sim: Simulator, client: httpx.AsyncClient) -> None:
    body = {**BASIC, "duration": 6, "seed": 3}
    first = await client.post(
        "/v1/videos/generations", json=body, headers={"Idempotency-Key": "k-1"}
    )
    assert first.status_code == 200
    assert "idempotency-replayed" not in first.headers
    reordered = dict(reversed(list(body.items())))
    replay = await client.post(
        "/v1/videos/generations", json=reordered, headers={"Idempotency-Key": "k-1"}
    )
    assert replay.status_code == 200
    assert replay.headers["idempotency-replayed"] == "true"
    assert replay.json() == first.json()
    assert len(sim.tasks) == 1
    assert sim.balance == 9994.0

    conflict = await client.post(
        "/v1/videos/generations",
        json={**body, "duration": 7},
        headers={"Idempotency-Key": "k-1"},
    )
    assert_error(conflict, 409, "idempotency_conflict")
    assert len(sim.tasks) == 1

    other = await client.post(
        "/v1/videos/generations", json=body, headers={"Idempotency-Key": "k-2"}
    )
    assert other.status_code == 200 and other.json()["id"] != first.json()["id"]
    assert len(sim.tasks) == 2


async def test_a_key_still_being_handled_answers_409_and_makes_nothing(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    sim.faults.add(route="create", delay=0.3)
    key = {"Idempotency-Key": "k-busy"}
    first = asyncio.create_task(client.post("/v1/videos/generations", json=BASIC, headers=key))
    await wait_until(lambda: sim.requests, within=5, what="the first create to arrive")
    busy = await client.post("/v1/videos/generations", json=BASIC, headers=key)
    assert_error(busy, 409, "paid_outcome_unknown")
    assert busy.json()["error"]["param"] == "Idempotency-Key"
    other_key = {"Idempotency-Key": "x"}
    other = await client.post("/v1/videos/generations", json=BASIC, headers=other_key)
    assert other.status_code == 200, "another key is not held up"
    made = await first
    assert made.status_code == 200 and len(sim.tasks) == 2
    replay = await client.post("/v1/videos/generations", json=BASIC, headers=key)
    assert replay.headers["idempotency-replayed"] == "true"
    assert replay.json()["id"] == made.json()["id"]


async def test_a_key_is_free_again_when_its_call_made_nothing(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    sim.faults.add(route="create", status=500)
    key = {"Idempotency-Key": "k-refused"}
    assert_error(
        await client.post("/v1/videos/generations", json=BASIC, headers=key), 500, "internal_error"
    )
    again = await client.post("/v1/videos/generations", json=BASIC, headers=key)
    assert again.status_code == 200 and "idempotency-replayed" not in again.headers


async def test_keys_are_not_held_when_idempotency_is_ignored(make_sim: SimFactory) -> None:
    sim = await make_sim(honour_idempotency=False)
    sim.faults.add(route="create", delay=0.3)
    key = {**AUTH, "Idempotency-Key": "k-1"}
    async with httpx.AsyncClient(base_url=sim.base_url, headers=key) as c:
        first = asyncio.create_task(c.post("/v1/videos/generations", json=BASIC))
        await wait_until(lambda: sim.requests, within=5, what="the first create to arrive")
        second = await c.post("/v1/videos/generations", json=BASIC)
        assert second.status_code == 200 and (await first).status_code == 200
    assert len(sim.tasks) == 2


# --------------------------------------------------------------------------------- batch


async def test_batch(sim: Simulator, client: httpx.AsyncClient, clock: FakeClock) -> None:
    a = (await create(client))["id"]
    clock.advance(20)
    b = (await create(client))["id"]
    resp = await client.post(
        "/v1/tasks/batch", json={"task_ids": [a, "task-unified-1-unknown0", b]}
    )
    assert resp.status_code == 200
    data = resp.json()["data"]
    assert [t["id"] for t in data] == [a, b]
    assert data[0]["status"] == "completed" and data[1]["status"] == "pending"
    assert data[0] == await query(client, a)

    too_many = await client.post("/v1/tasks/batch", json={"task_ids": [a] * 51})
    assert_error(too_many, 400, "invalid_request")
    fifty = await client.post("/v1/tasks/batch", json={"task_ids": [a] * 50})
    assert fifty.status_code == 200
    bad_bodies: list[Any] = [{"task_ids": "x"}, {"task_ids": [1]}, {}, {"ids": [a]}, []]
    for bad in bad_bodies:
        assert_error(await client.post("/v1/tasks/batch", json=bad), 400, "invalid_request")


async def test_batch_disabled_is_a_json_404(make_sim: SimFactory) -> None:
    sim = await make_sim(batch_enabled=False)
    async with httpx.AsyncClient(base_url=sim.base_url, headers=AUTH) as c:
        resp = await c.post("/v1/tasks/batch", json={"task_ids": []})
        assert_error(resp, 404, "not_found")
        unknown = await c.post("/v1/nothing", json={})
        assert resp.json()["error"]["type"] == unknown.json()["error"]["type"]


# -------------------------------------------------------------------------------- routes


async def test_unknown_route_and_method_are_json(client: httpx.AsyncClient) -> None:
    for resp in (
        await client.get("/nope"),
        await client.get("/v1/tasks"),
        await client.post("/v1/videos/generation", json=BASIC),
    ):
        assert_error(resp, 404, "not_found")
    resp = await client.get("/v1/videos/generations")
    assert_error(resp, 405, "method_not_allowed")
    resp = await client.delete("/v1/tasks/task-unified-1-abcdefgh")
    assert_error(resp, 405, "method_not_allowed")
    huge = await client.post("/v1/videos/generations", json={**BASIC, "prompt": "x" * 2_000_000})
    assert_error(huge, 413, "request_too_large")


async def test_requests_are_recorded(
    sim: Simulator, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    await client.post("/v1/videos/generations", json=BASIC, headers={"Idempotency-Key": "abc"})
    await client.get("/v1/credits?x=1")
    first, second = sim.requests
    assert (first.method, first.path, first.json) == ("POST", "/v1/videos/generations", BASIC)
    assert first.headers["authorization"] == f"Bearer {KEY}"
    assert first.headers["idempotency-key"] == "abc"
    assert first.time == T0
    assert (second.method, second.path, second.json, second.query) == (
        "GET",
        "/v1/credits",
        None,
        {"x": "1"},
    )


# -------------------------------------------------------------------------------- faults


async def test_fault_429_with_retry_after_seconds_then_normal(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    sim.faults.add(route="create", status=429, retry_after="3", count=2)
    for _ in range(2):
        resp = await client.post("/v1/videos/generations", json=BASIC)
        assert_error(resp, 429, "rate_limit_exceeded")
        assert resp.headers["retry-after"] == "3"
    assert not sim.tasks
    await create(client)
    assert not sim.faults.rules


async def test_fault_retry_after_http_date(sim: Simulator, client: httpx.AsyncClient) -> None:
    date = email.utils.formatdate(time.time() + 5, usegmt=True)
    sim.faults.add(route="query", status=429, retry_after=date)
    resp = await client.get("/v1/tasks/whatever")
    assert_error(resp, 429, "rate_limit_exceeded")
    assert resp.headers["retry-after"] == date


async def test_fault_codes_follow_the_route(sim: Simulator, client: httpx.AsyncClient) -> None:
    cases = [
        ("create", 401, "unauthorized"),
        ("create", 402, "insufficient_quota"),
        ("create", 403, "model_access_denied"),
        ("create", 500, "internal_error"),
        ("query", 402, "quota_exceeded"),
        ("query", 403, "permission_denied"),
        ("query", 500, "internal_error"),
    ]
    for route, status, code in cases:
        sim.faults.add(route=route, status=status)  # type: ignore[arg-type]
        if route == "create":
            resp = await client.post("/v1/videos/generations", json=BASIC)
        else:
            resp = await client.get("/v1/tasks/anything")
        assert_error(resp, status, code)
    assert not sim.tasks


async def test_fault_route_selection_and_always(sim: Simulator, client: httpx.AsyncClient) -> None:
    sim.faults.add(route="credits", status=500, always=True)
    task_id = (await create(client))["id"]
    await query(client, task_id)
    for _ in range(3):
        assert_error(await client.get("/v1/credits"), 500, "internal_error")
    sim.faults.clear()
    assert (await client.get("/v1/credits")).status_code == 200
    sim.faults.add(route="any", status=500, count=3)
    assert (await client.post("/v1/videos/generations", json=BASIC)).status_code == 500
    assert (await client.get(f"/v1/tasks/{task_id}")).status_code == 500
    assert (await client.post("/v1/tasks/batch", json={"task_ids": []})).status_code == 500
    assert (await client.get("/v1/credits")).status_code == 200


async def test_gateway_faults(sim: Simulator, client: httpx.AsyncClient) -> None:
    sim.faults.add(route="query", status=502)
    resp = await client.get("/v1/tasks/x")
    assert resp.status_code == 502
    assert resp.headers["content-type"].startswith("text/html")
    assert "<html>" in resp.text
    sim.faults.add(route="query", status=503, retry_after=2)
    resp = await client.get("/v1/tasks/x")
    assert resp.status_code == 503 and resp.headers["retry-after"] == "2"
    sim.faults.add(route="query", status=503, html=False)
    assert_error(await client.get("/v1/tasks/x"), 503, "service_unavailable")


async def test_fault_bad_json(sim: Simulator, client: httpx.AsyncClient) -> None:
    sim.faults.add(route="query", bad_json=True)
    resp = await client.get("/v1/tasks/x")
    assert resp.status_code == 200
    with pytest.raises(ValueError):
        resp.json()
    sim.faults.add(route="create", bad_json=True)
    resp = await client.post("/v1/videos/generations", json=BASIC)
    assert resp.status_code == 200
    with pytest.raises(ValueError):
        resp.json()
    assert not sim.tasks  # a plain fault answers before anything happens


async def test_fault_drop(sim: Simulator, client: httpx.AsyncClient) -> None:
    sim.faults.add(route="create", drop=True)
    with pytest.raises(httpx.RemoteProtocolError):
        await client.post("/v1/videos/generations", json=BASIC)
    assert not sim.tasks
    await create(client)


async def test_fault_delay(sim: Simulator, client: httpx.AsyncClient) -> None:
    sim.faults.add(route="credits", delay=0.3)
    started = time.monotonic()
    resp = await client.get("/v1/credits")
    assert resp.status_code == 200
    assert time.monotonic() - started >= 0.3

    sim.faults.add(route="credits", delay=0.5)
    with pytest.raises(httpx.ReadTimeout):
        await client.get("/v1/credits", timeout=0.1)


async def test_slow_create_still_makes_the_task(sim: Simulator, client: httpx.AsyncClient) -> None:
    """A client that times out on a slow create must not assume nothing was created."""
    sim.faults.add(route="create", delay=0.3)
    with pytest.raises(httpx.ReadTimeout):
        await client.post("/v1/videos/generations", json=BASIC, timeout=0.05)
    for _ in range(50):
        if sim.tasks:
            break
        await asyncio.sleep(0.02)
    assert len(sim.tasks) == 1


async def test_create_after_fault(sim: Simulator, client: httpx.AsyncClient) -> None:
    sim.faults.create_after_fault(status=500)
    headers = {"Idempotency-Key": "once"}
    resp = await client.post("/v1/videos/generations", json=BASIC, headers=headers)
    assert_error(resp, 500, "internal_error")
    assert len(sim.tasks) == 1
    assert sim.balance == 9995.0
    (task_id,) = sim.tasks
    replay = await client.post("/v1/videos/generations", json=BASIC, headers=headers)
    assert replay.status_code == 200
    assert replay.headers["idempotency-replayed"] == "true"
    assert replay.json()["id"] == task_id
    assert len(sim.tasks) == 1

    sim.faults.add(route="create", drop=True, create_after_fault=True)
    with pytest.raises(httpx.RemoteProtocolError):
        await client.post("/v1/videos/generations", json=BASIC)
    assert len(sim.tasks) == 2

    sim.faults.create_after_fault(bad_json=True)
    resp = await client.post("/v1/videos/generations", json=BASIC)
    assert resp.status_code == 200
    with pytest.raises(ValueError):
        resp.json()
    assert len(sim.tasks) == 3
    assert sim.balance == 9985.0


async def test_create_after_fault_not_spent_on_refused_creates(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    sim.faults.create_after_fault(status=502)
    resp = await client.post("/v1/videos/generations", json={**BASIC, "duration": 99})
    assert resp.status_code == 400
    assert len(sim.faults.rules) == 1
    assert (await client.post("/v1/videos/generations", json=BASIC)).status_code == 502
    assert len(sim.tasks) == 1


async def test_rate_limit(sim: Simulator, client: httpx.AsyncClient, clock: FakeClock) -> None:
    sim.faults.rate_limit_per_second = 1.0
    assert (await client.get("/v1/credits")).status_code == 200
    resp = await client.get("/v1/credits")
    assert_error(resp, 429, "rate_limit_exceeded", "rate_limit_error")
    assert resp.headers["retry-after"] == "1"
    clock.advance(1.0)
    assert (await client.get("/v1/credits")).status_code == 200
    sim.faults.rate_limit_per_second = None
    for _ in range(5):
        assert (await client.get("/v1/credits")).status_code == 200


async def test_files_fault(sim: Simulator, client: httpx.AsyncClient) -> None:
    task_id = (await create(client))["id"]
    sim.complete_now(task_id)
    sim.faults.add(route="files", status=503, html=False)
    assert (await client.get(f"/files/{task_id}.mp4")).status_code == 503
    assert (await client.get(f"/files/{task_id}.mp4")).status_code == 200


async def test_files_can_redirect_or_serve_something_else(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    task_id = (await create(client))["id"]
    sim.complete_now(task_id)
    sim.faults.add(route="files", redirect="http://169.254.169.254/latest")
    moved = await client.get(f"/files/{task_id}.mp4")
    assert moved.status_code == 302 and moved.headers["location"] == "http://169.254.169.254/latest"
    sim.faults.add(route="files", body="<html>login</html>", content_type="text/html")
    page = await client.get(f"/files/{task_id}.mp4")
    assert page.headers["content-type"] == "text/html" and page.text == "<html>login</html>"
    sim.faults.add(route="files", content_type="application/octet-stream")
    binary = await client.get(f"/files/{task_id}.mp4")
    assert binary.headers["content-type"] == "application/octet-stream"
    assert binary.content[4:8] == b"ftyp"
    with pytest.raises(ValueError):
        FaultRule(route="query", redirect="http://x.com/")
    with pytest.raises(ValueError):
        FaultRule(route="files", status=500, body="x")


def test_fault_rule_validation() -> None:
    with pytest.raises(ValueError):
        FaultRule(route="query")  # does nothing
    with pytest.raises(ValueError):
        FaultRule(route="nowhere", status=500)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        FaultRule(route="query", status=500, create_after_fault=True)
    with pytest.raises(ValueError):
        FaultRule(drop=True, status=500)
    with pytest.raises(ValueError):
        FaultRule(status=200)
    with pytest.raises(ValueError):
        FaultRule(status=500, count=0)
    assert FaultRule(status=500, create_after_fault=True).route == "create"


# ----------------------------------------------------------------------------- /_sim API


async def test_sim_fault_endpoints(sim: Simulator, client: httpx.AsyncClient) -> None:
    async with httpx.AsyncClient(base_url=sim.base_url) as ctl:  # no auth on /_sim
        resp = await ctl.post(
            "/_sim/faults",
            json={"route": "create", "status": 429, "retry_after": "7", "count": "always"},
        )
        assert resp.status_code == 200
        assert resp.json()["rules"][0]["always"] is True
        for _ in range(2):
            r = await client.post("/v1/videos/generations", json=BASIC)
            assert r.status_code == 429 and r.headers["retry-after"] == "7"
        assert (await ctl.delete("/_sim/faults")).json() == {
            "rules": [],
            "rate_limit_per_second": None,
            "create_rate_limit_per_second": None,
        }
        await create(client)

        resp = await ctl.post(
            "/_sim/faults",
            json=[{"route": "query", "drop": True}, {"route": "query", "delay": 0.01}],
        )
        assert len(resp.json()["rules"]) == 2
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get("/v1/tasks/x")
        await ctl.delete("/_sim/faults")

        resp = await ctl.post(
            "/_sim/faults",
            json={
                "rules": [{"route": "create", "status": 500, "create_after_fault": True}],
                "rate_limit_per_second": 5,
            },
        )
        assert resp.json()["rate_limit_per_second"] == 5.0
        assert sim.faults.rules[0].create_after_fault
        got = await ctl.get("/_sim/faults")
        assert got.json()["rules"][0]["status"] == 500

        for bad in (
            {"route": "x", "status": 500},
            {"status": "500"},
            {"route": "query"},
            {"status": 500, "colour": "red"},
            {"rules": 1},
        ):
            assert_error(await ctl.post("/_sim/faults", json=bad), 400, "invalid_request")
        assert_error(
            await ctl.post("/_sim/faults", content=b"{", headers={"content-type": "text/plain"}),
            400,
            "invalid_request",
        )


async def test_sim_task_endpoints(
    sim: Simulator, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    a = (await create(client))["id"]
    b = (await create(client))["id"]
    c = (await create(client))["id"]
    async with httpx.AsyncClient(base_url=sim.base_url) as ctl:
        resp = await ctl.post(f"/_sim/tasks/{a}/complete")
        assert resp.status_code == 200 and resp.json()["status"] == "completed"
        resp = await ctl.post(
            f"/_sim/tasks/{b}/fail",
            json={"code": "content_policy_violation", "message": "blocked"},
        )
        assert resp.json()["error"] == {
            "code": "content_policy_violation",
            "message": "blocked",
            "type": "task_error",
        }
        resp = await ctl.post(f"/_sim/tasks/{c}/fail")
        assert resp.json()["error"]["code"] == "generation_failed_no_content"
        assert_error(await ctl.post(f"/_sim/tasks/{a}/fail"), 409, "task_already_terminal")
        assert_error(await ctl.post("/_sim/tasks/nope/complete"), 404, "task_not_found")
        assert sim.balance == 9995.0

        listing = await ctl.get("/_sim/tasks")
        assert [t["status"] for t in listing.json()["data"]] == ["completed", "failed", "failed"]

        resp = await ctl.post("/_sim/balance", json={"balance": 2})
        assert resp.json()["balance"] == 2
        assert_error(
            await client.post("/v1/videos/generations", json=BASIC), 402, "insufficient_quota"
        )
        assert_error(await ctl.post("/_sim/balance", json={"balance": "x"}), 400, "invalid_request")
    assert (await query(client, a))["status"] == "completed"


async def test_a_task_can_be_completed_with_an_odd_result_link(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    """What the bot must survive: EvoLink answering `results` no library would accept."""
    a = (await create(client))["id"]
    b = (await create(client))["id"]
    odd = "https://exa mple.com/v\x00.mp4"
    async with httpx.AsyncClient(base_url=sim.base_url) as ctl:
        resp = await ctl.post(f"/_sim/tasks/{a}/complete", json={"results": [odd]})
        assert resp.status_code == 200 and resp.json()["results"] == [odd]
        assert_error(
            await ctl.post(f"/_sim/tasks/{b}/complete", json={"results": "x"}),
            400,
            "invalid_request",
        )
    assert (await query(client, a))["results"] == [odd]
    sim.complete_now(b, results=[])
    assert (await query(client, b))["results"] == []


# ------------------------------------------------------------------------------ callbacks


class Receiver:
    """A tiny loopback webhook receiver that answers the queued statuses, then 200."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.received: list[dict[str, Any]] = []
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append(await request.json())
        status = self.statuses.pop(0) if self.statuses else 200
        return web.Response(status=status, text="ok")

    async def __aenter__(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}/hook"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.runner is not None
        await self.runner.cleanup()


async def wait_for(predicate: Callable[[], bool], limit: float = 3.0) -> None:
    deadline = time.monotonic() + limit
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


async def test_callback_delivered_with_retry(make_sim: SimFactory, clock: FakeClock) -> None:
    sim = await make_sim(allow_insecure_callbacks=True)
    async with (
        Receiver([500]) as receiver,
        httpx.AsyncClient(base_url=sim.base_url, headers=AUTH) as c,
    ):
        task_id = (await create(c, callback_url=receiver.url))["id"]
        await asyncio.sleep(0.1)  # the loop runs, but the task is not terminal yet
        assert not sim.callback_attempts
        clock.advance(20)
        await wait_for(lambda: len(sim.callback_attempts) == 2)  # background loop
        first, second = sim.callback_attempts
        assert (first.attempt, first.status, first.ok) == (1, 500, False)
        assert (second.attempt, second.status, second.ok) == (2, 200, True)
        assert receiver.received[0] == receiver.received[1] == await query(c, task_id)
        assert receiver.received[0]["status"] == "completed"
        assert sim.tasks[task_id].callback_state == "delivered"
        await asyncio.sleep(0.1)
        assert len(sim.callback_attempts) == 2  # delivered once only

        listing = (await c.get("/_sim/callbacks")).json()["data"]
        assert [a["status"] for a in listing] == [500, 200]


async def test_callback_on_failure_and_gives_up(make_sim: SimFactory, clock: FakeClock) -> None:
    sim = await make_sim(allow_insecure_callbacks=True)
    async with (
        Receiver([500, 502, 503, 500, 500]) as receiver,
        httpx.AsyncClient(base_url=sim.base_url, headers=AUTH) as c,
    ):
        task_id = (await create(c, callback_url=receiver.url))["id"]
        sim.fail_now(task_id, "generation_timeout")
        await sim.flush_callbacks()
        assert [a.status for a in sim.callback_attempts] == [500, 502, 503, 500]
        assert [a.attempt for a in sim.callback_attempts] == [1, 2, 3, 4]
        assert receiver.received[0]["error"]["code"] == "generation_timeout"
        assert sim.tasks[task_id].callback_state == "failed"


async def test_callback_to_closed_port_records_errors(
    make_sim: SimFactory, clock: FakeClock
) -> None:
    sim = await make_sim(allow_insecure_callbacks=True, callback_retry_delays=(0.01,))
    async with Receiver([]) as receiver:
        dead_url = receiver.url
    async with httpx.AsyncClient(base_url=sim.base_url, headers=AUTH) as c:
        task_id = (await create(c, callback_url=dead_url))["id"]
        sim.complete_now(task_id)
        await sim.flush_callbacks()
    assert len(sim.callback_attempts) == 2
    assert all(a.status is None and a.error for a in sim.callback_attempts)


# ------------------------------------------------------------------------------------ CLI


async def test_cli_runs_as_module() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.simulator",
        "--port",
        "0",
        "--api-key",
        "k1",
        "--task-seconds",
        "0",
        "--no-batch",
        "--credits-used",
        "lower",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), timeout=10)).decode()
        match = re.fullmatch(
            r"EvoLink simulator listening on (http://127\.0\.0\.1:\d+) \(1 API key accepted\)\n",
            line,
        )
        assert match, line
        async with httpx.AsyncClient(
            base_url=match.group(1), headers={"Authorization": "Bearer k1"}
        ) as c:
            answer = await create(c)
            done = await query(c, answer["id"])
            assert done["status"] == "completed" and done["usage"]["credits_used"] == 3
            assert (await c.post("/v1/tasks/batch", json={"task_ids": []})).status_code == 404
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), timeout=10)


# ----------------------------------------------------------------- progress and run times


async def progress_seen(client: httpx.AsyncClient, clock: FakeClock, task_id: str) -> list[int]:
    """The progress a query reads at each second of the task's life, until it ends."""
    seen = []
    while True:
        answer = await query(client, task_id)
        if answer["status"] in ("completed", "failed"):
            return seen
        seen.append(answer["progress"])
        clock.advance(1.0)


@pytest.mark.parametrize(
    ("profile", "expected"),
    [
        # 20 s tasks, 2 s pending, then 18 s of processing (1 s per reading)
        ("linear", [0, 0, 1, 6, 11, 17, 22, 28, 33, 39, 44, 50, 55, 60, 66, 71, 77, 82, 88, 93]),
        ("s-curve", [0, 0, 1, 1, 4, 8, 13, 19, 26, 33, 41, 50, 58, 66, 73, 80, 86, 91, 95, 98]),
        ("stepwise", [0, 0, 1, 1, 1, 1, 1, 25, 25, 25, 25, 50, 50, 50, 50, 50, 75, 75, 75, 75]),
        ("none-until-done", [0] * 20),
        ("stuck-then-done", [0, 0, 1, 10, 19, 28, 37, 46, 55, 64, 73, 82, 91, *[99] * 7]),
    ],
)
async def test_each_progress_profile_reads_as_described(
    make_sim: SimFactory, clock: FakeClock, profile: str, expected: list[int]
) -> None:
    sim = await make_sim(progress_profile=profile)
    async with httpx.AsyncClient(base_url=sim.base_url, headers=AUTH) as client:
        task_id = (await create(client))["id"]
        assert await progress_seen(client, clock, task_id) == expected
        assert (await query(client, task_id))["progress"] == 100


async def test_a_prompt_marker_chooses_the_profile_and_the_run_time_of_its_own_task(
    sim: Simulator, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    marked = await create(client, prompt="a kite [[progress:none-until-done]] [[runtime:1.5]]")
    plain = await create(client)
    assert marked["task_info"]["estimated_time"] == 20  # the estimate does not know
    clock.advance(20.0)
    assert (await query(client, plain["id"]))["status"] == "completed"
    late = await query(client, marked["id"])
    assert (late["status"], late["progress"]) == ("processing", 0)
    assert late["task_info"]["estimated_time"] == 1  # past its estimate: "any moment now"
    clock.advance(10.0)
    assert (await query(client, marked["id"]))["status"] == "completed"
    unknown = await create(client, prompt="a kite [[progress:sideways]] [[runtime:0]]")
    assert sim.tasks[unknown["id"]].progress_profile == "linear"  # unknown markers are ignored
    assert sim.book.length(sim.tasks[unknown["id"]]) == 20


async def test_run_times_spread_around_the_estimate_within_the_factors(
    make_sim: SimFactory, clock: FakeClock
) -> None:
    sim = await make_sim(run_time_factors=(0.5, 2.0), seed=3)
    async with httpx.AsyncClient(base_url=sim.base_url, headers=AUTH) as client:
        answers = [await create(client) for _ in range(40)]
    assert {a["task_info"]["estimated_time"] for a in answers} == {20}
    lengths = [sim.book.length(sim.tasks[a["id"]]) for a in answers]
    assert all(10.0 <= length <= 40.0 for length in lengths)
    assert min(lengths) < 15.0 and max(lengths) > 27.0  # both ways, not one fixed factor
    with pytest.raises(ValueError):
        await make_sim(run_time_factors=(2.0, 0.5))


async def test_a_create_rate_limit_refuses_creates_only(
    sim: Simulator, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    sim.faults.create_rate_limit_per_second = 2.0
    made = [await create(client), await create(client)]
    resp = await client.post("/v1/videos/generations", json=BASIC)
    assert_error(resp, 429, "rate_limit_exceeded", "rate_limit_error")
    assert resp.headers["retry-after"] == "1"
    assert len(sim.tasks) == 2  # refused: no task, nothing charged
    for _ in range(5):
        assert (await client.get(f"/v1/tasks/{made[0]['id']}")).status_code == 200
    clock.advance(0.5)
    await create(client)
