"""The client's retry rule over its real transport (httpx on aiohttp), against the simulator:
a create whose answer is lost is never repeated; one that never reached EvoLink is."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest

from bot import evolink
from bot.evolink import EvoLinkClient
from bot.request import VideoRequest
from bot.simulator import Simulator
from discord_double import wait_until

KEY = "sk-transport-test"


async def no_sleep(seconds: float) -> None:
    pass


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    simulator = Simulator(api_keys={KEY})
    await simulator.start()
    yield simulator
    await simulator.stop()


@pytest.fixture
async def api(sim: Simulator) -> AsyncIterator[EvoLinkClient]:
    client = EvoLinkClient(sim.base_url, KEY, timeout=0.5, sleep=no_sleep)
    yield client
    await client.aclose()


def creates(sim: Simulator) -> int:
    return len([r for r in sim.requests if r.path == "/v1/videos/generations"])


async def test_a_create_dropped_after_the_task_was_made_is_unknown_and_not_repeated(
    sim: Simulator, api: EvoLinkClient
) -> None:
    sim.faults.add(route="create", drop=True, create_after_fault=True)
    with pytest.raises(evolink.OutcomeUnknown):
        await api.create_task(VideoRequest(prompt="a red fox"), "key-1")
    assert creates(sim) == 1 and len(sim.tasks) == 1
    replay = await api.create_task(VideoRequest(prompt="a red fox"), "key-1")
    assert replay.replayed and len(sim.tasks) == 1  # the same key finds the same task


async def test_a_create_whose_key_is_still_being_handled_makes_nothing_and_says_so(
    sim: Simulator,
) -> None:
    """A restart's repeat can meet the dead process's call, still in EvoLink's hands: the answer
    is not a refusal (the first call may make the task) and the repeat makes no task of its own;
    once the first has answered, the same call gets its task."""
    patient = EvoLinkClient(sim.base_url, KEY, timeout=5.0, sleep=no_sleep)
    try:
        sim.faults.add(route="create", delay=0.5)
        first = asyncio.create_task(patient.create_task(VideoRequest(prompt="a red fox"), "k-1"))
        await wait_until(lambda: creates(sim), within=5, what="the first create to arrive")
        with pytest.raises(evolink.CreateInFlight) as caught:
            await patient.create_task(VideoRequest(prompt="a red fox"), "k-1")
        assert caught.value.status == 409 and caught.value.code == "paid_outcome_unknown"
        assert isinstance(caught.value, evolink.OutcomeUnknown)
        made = await first
        assert not made.replayed and len(sim.tasks) == 1
        again = await patient.create_task(VideoRequest(prompt="a red fox"), "k-1")
        assert again.replayed and again.id == made.id and len(sim.tasks) == 1
    finally:
        await patient.aclose()


async def test_a_create_that_times_out_is_unknown_and_not_repeated(
    sim: Simulator, api: EvoLinkClient
) -> None:
    sim.faults.add(route="create", delay=1.0)
    with pytest.raises(evolink.OutcomeUnknown):
        await api.create_task(VideoRequest(prompt="a red fox"), "key-1")
    assert creates(sim) == 1


async def test_a_create_that_never_connected_is_retried_then_reported(sim: Simulator) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    client = EvoLinkClient(f"http://127.0.0.1:{closed_port}", KEY, timeout=0.5, sleep=sleep)
    try:
        with pytest.raises(evolink.Unreachable):
            await client.create_task(VideoRequest(prompt="a red fox"), "key-1")
    finally:
        await client.aclose()
    assert len(slept) == 3  # nothing reached EvoLink, so trying again is safe


async def test_a_dropped_query_is_retried(sim: Simulator, api: EvoLinkClient) -> None:
    task = await api.create_task(VideoRequest(prompt="a red fox"), "key-1")
    sim.faults.add(route="query", drop=True)
    assert (await api.get_task(task.id)).id == task.id
    queries = [r for r in sim.requests if r.path == f"/v1/tasks/{task.id}"]
    assert len(queries) == 2
