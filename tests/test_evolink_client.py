"""The EvoLink client's request bodies, error mapping and retry rules, at the HTTP layer (respx)."""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import AsyncIterator

import httpx
import pytest
import respx

from bot import evolink
from bot.evolink import EvoLinkClient
from bot.request import VideoRequest

BASE = "https://api.evolink.test"
CREATE = f"{BASE}/v1/videos/generations"
QUERY = f"{BASE}/v1/tasks/task-unified-1757169743-7cvnl5zw"
TASK = {
    "created": 1757169743,
    "id": "task-unified-1757169743-7cvnl5zw",
    "model": "wan2.7-text-to-video",
    "object": "video.generation.task",
    "progress": 0,
    "status": "pending",
    "task_info": {"can_cancel": True, "estimated_time": 120},
    "type": "video",
    "usage": {"billing_rule": "per_call", "credits_reserved": 5, "user_group": "default"},
}


def error(code: str | int, message: str = "nope") -> dict[str, object]:
    return {"error": {"code": code, "message": message, "type": "x"}}


@pytest.fixture
async def client() -> AsyncIterator[tuple[EvoLinkClient, list[float]]]:
    sleeps: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    # httpx's own transport, which respx intercepts (the bot's aiohttp-based one meets the
    # simulator in every other test)
    transport = httpx.AsyncHTTPTransport()
    api = EvoLinkClient(BASE, "sk-test", sleep=fake_sleep, timeout=5, transport=transport)
    yield api, sleeps
    await api.aclose()


@respx.mock
async def test_create_sends_body_key_and_idempotency(client: tuple[EvoLinkClient, list[float]]):
    api, _ = client
    route = respx.post(CREATE).mock(return_value=httpx.Response(200, json=TASK))
    task = await api.create_task(VideoRequest(prompt="a cat", duration=5), "key-1")
    sent = route.calls.last.request
    assert sent.headers["Authorization"] == "Bearer sk-test"
    assert sent.headers["Idempotency-Key"] == "key-1"
    assert json.loads(sent.content) == {
        "model": "wan2.7-text-to-video",
        "prompt": "a cat",
        "duration": 5,
    }
    assert task.id == TASK["id"] and task.status == "pending"
    assert task.estimated_time == 120 and task.credits_reserved == 5
    assert not task.replayed


@respx.mock
async def test_replayed_create_is_flagged(client: tuple[EvoLinkClient, list[float]]) -> None:
    api, _ = client
    respx.post(CREATE).mock(
        return_value=httpx.Response(200, json=TASK, headers={"idempotency-replayed": "true"})
    )
    assert (await api.create_task(VideoRequest(prompt="x"), "k")).replayed


@pytest.mark.parametrize(
    ("status", "body", "kind", "code"),
    [
        (400, error("invalid_request", "no prompt"), evolink.BadRequest, "invalid_request"),
        (401, error("unauthorized"), evolink.Unauthorized, "unauthorized"),
        (402, error("insufficient_quota"), evolink.InsufficientBalance, "insufficient_quota"),
        (403, error("model_access_denied"), evolink.ModelAccessDenied, "model_access_denied"),
        (400, error(10001, "integer code"), evolink.BadRequest, "10001"),
    ],
)
@respx.mock
async def test_create_errors_are_typed_and_not_retried(
    client: tuple[EvoLinkClient, list[float]],
    status: int,
    body: dict[str, object],
    kind: type[evolink.EvoLinkError],
    code: str,
) -> None:
    api, sleeps = client
    route = respx.post(CREATE).mock(return_value=httpx.Response(status, json=body))
    with pytest.raises(kind) as caught:
        await api.create_task(VideoRequest(prompt="x"), "k")
    assert caught.value.code == code
    assert caught.value.status == status
    assert caught.value.message == body["error"]["message"]  # type: ignore[index]
    assert route.call_count == 1 and sleeps == []


@respx.mock
async def test_a_busy_create_is_handed_back_at_once_with_its_retry_after(
    client: tuple[EvoLinkClient, list[float]],
) -> None:
    """The caller puts it in line behind earlier requests; a retry here could overtake them."""
    api, sleeps = client
    route = respx.post(CREATE).mock(
        return_value=httpx.Response(
            429, json=error("rate_limit_exceeded"), headers={"Retry-After": "7"}
        )
    )
    with pytest.raises(evolink.RateLimited) as caught:
        await api.create_task(VideoRequest(prompt="x"), "k")
    assert caught.value.retry_after == 7.0
    assert route.call_count == 1 and sleeps == []


@respx.mock
async def test_query_retries_429_honouring_retry_after(
    client: tuple[EvoLinkClient, list[float]],
) -> None:
    api, sleeps = client
    route = respx.get(QUERY).mock(
        side_effect=[
            httpx.Response(429, json=error("rate_limit_exceeded"), headers={"Retry-After": "7"}),
            httpx.Response(200, json=TASK),
        ]
    )
    task = await api.get_task(TASK["id"])
    assert task.id == TASK["id"] and route.call_count == 2
    assert 7 <= sleeps[0] <= 7.5


@respx.mock
async def test_retry_after_as_http_date(client: tuple[EvoLinkClient, list[float]]) -> None:
    api, sleeps = client
    when = email.utils.formatdate(time.time() + 12, usegmt=True)
    respx.get(QUERY).mock(
        side_effect=[
            httpx.Response(429, json=error("rate_limit_exceeded"), headers={"Retry-After": when}),
            httpx.Response(200, json=TASK),
        ]
    )
    await api.get_task(TASK["id"])
    assert 10 <= sleeps[0] <= 13
    respx.post(CREATE).mock(
        return_value=httpx.Response(429, json=error("rate_limit"), headers={"Retry-After": when})
    )
    with pytest.raises(evolink.RateLimited) as caught:
        await api.create_task(VideoRequest(prompt="x"), "k")
    assert caught.value.retry_after is not None and 10 <= caught.value.retry_after <= 13


@respx.mock
async def test_429_gives_up_after_max_retries(client: tuple[EvoLinkClient, list[float]]) -> None:
    api, sleeps = client
    respx.get(QUERY).mock(return_value=httpx.Response(429, json=error("rate_limit_exceeded")))
    with pytest.raises(evolink.RateLimited):
        await api.get_task(TASK["id"])
    assert len(sleeps) == 3


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(500, json=error("internal_error")),
        httpx.Response(502, text="<html>Bad Gateway</html>"),
        httpx.Response(200, text="not json"),
        httpx.Response(200, json={"unexpected": True}),
    ],
)
@respx.mock
async def test_create_with_an_unclear_outcome_is_never_retried(
    client: tuple[EvoLinkClient, list[float]], answer: httpx.Response
) -> None:
    api, _ = client
    route = respx.post(CREATE).mock(return_value=answer)
    with pytest.raises(evolink.OutcomeUnknown):
        await api.create_task(VideoRequest(prompt="x"), "k")
    assert route.call_count == 1


@pytest.mark.parametrize(
    ("status", "code"),
    [(409, "paid_outcome_unknown"), (409, "idempotency_conflict"), (422, "idempotency_conflict"),
     (409, "conflict"), (400, "paid_outcome_unknown")],
)  # fmt: skip
@respx.mock
async def test_a_create_answered_that_its_key_is_taken_is_in_flight_not_refused(
    client: tuple[EvoLinkClient, list[float]], status: int, code: str
) -> None:
    """EvoLink already holds the key (its first call in progress, or made with another body):
    the first call may make the task, so this is neither a refusal nor retried at once."""
    api, sleeps = client
    route = respx.post(CREATE).mock(return_value=httpx.Response(status, json=error(code)))
    with pytest.raises(evolink.CreateInFlight) as caught:
        await api.create_task(VideoRequest(prompt="x"), "k")
    assert (caught.value.status, caught.value.code) == (status, code)
    assert route.call_count == 1 and sleeps == []


@respx.mock
async def test_create_timeout_is_unknown_not_retried(
    client: tuple[EvoLinkClient, list[float]],
) -> None:
    api, _ = client
    route = respx.post(CREATE).mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(evolink.OutcomeUnknown):
        await api.create_task(VideoRequest(prompt="x"), "k")
    assert route.call_count == 1


@respx.mock
async def test_create_retries_when_it_never_connected(
    client: tuple[EvoLinkClient, list[float]],
) -> None:
    api, _ = client
    route = respx.post(CREATE).mock(
        side_effect=[httpx.ConnectError("refused"), httpx.Response(200, json=TASK)]
    )
    assert (await api.create_task(VideoRequest(prompt="x"), "k")).id == TASK["id"]
    assert route.call_count == 2


@respx.mock
async def test_query_retries_server_errors_and_timeouts(
    client: tuple[EvoLinkClient, list[float]],
) -> None:
    api, sleeps = client
    done = {**TASK, "status": "completed", "progress": 100, "results": ["https://m/x.mp4"],
            "usage": {"credits_used": 4.5}}  # fmt: skip
    route = respx.get(f"{BASE}/v1/tasks/{TASK['id']}").mock(
        side_effect=[
            httpx.Response(503, text="down"),
            httpx.ReadTimeout("slow"),
            httpx.Response(200, json=done),
        ]
    )
    task = await api.get_task(str(TASK["id"]))
    assert route.call_count == 3 and len(sleeps) == 2
    assert task.is_terminal and task.video_url == "https://m/x.mp4"
    assert task.credits_used == 4.5 and task.progress == 100


@respx.mock
async def test_query_of_unknown_task(client: tuple[EvoLinkClient, list[float]]) -> None:
    api, _ = client
    respx.get(f"{BASE}/v1/tasks/nope").mock(
        return_value=httpx.Response(404, json=error("task_not_found"))
    )
    with pytest.raises(evolink.TaskNotFound):
        await api.get_task("nope")


@respx.mock
async def test_failed_task_carries_its_error(client: tuple[EvoLinkClient, list[float]]) -> None:
    api, _ = client
    failed = {"id": "t1", "status": "failed", "progress": 0,
              "error": {"code": "content_policy_violation", "message": "blocked"}}  # fmt: skip
    respx.get(f"{BASE}/v1/tasks/t1").mock(return_value=httpx.Response(200, json=failed))
    task = await api.get_task("t1")
    assert task.is_terminal and task.error_code == "content_policy_violation"
    assert task.video_url is None


@respx.mock
async def test_balance(client: tuple[EvoLinkClient, list[float]]) -> None:
    api, _ = client
    body = {"data": {"token": {"remaining_credits": 99.5, "unlimited_credits": False}},
            "success": True}  # fmt: skip
    respx.get(f"{BASE}/v1/credits").mock(return_value=httpx.Response(200, json=body))
    assert (await api.get_balance()).remaining_credits == 99.5


@respx.mock
async def test_batch_query_returns_the_asked_tasks(
    client: tuple[EvoLinkClient, list[float]],
) -> None:
    api, _ = client
    other = {**TASK, "id": "task-other"}
    route = respx.post(f"{BASE}/v1/tasks/batch").mock(
        return_value=httpx.Response(200, json={"data": [TASK, other]})
    )
    states = await api.get_tasks([str(TASK["id"]), "task-gone"])
    assert list(states) == [TASK["id"]]
    assert json.loads(route.calls.last.request.content) == {"task_ids": [TASK["id"], "task-gone"]}
    with pytest.raises(ValueError):
        await api.get_tasks([f"t{n}" for n in range(51)])


@respx.mock
async def test_one_unreadable_task_does_not_spoil_the_whole_batch(
    client: tuple[EvoLinkClient, list[float]],
) -> None:
    api, _ = client
    broken = {"id": "task-broken", "status": None}
    loose = {**TASK, "id": "task-loose", "status": "Processing", "progress": "45"}
    respx.post(f"{BASE}/v1/tasks/batch").mock(
        return_value=httpx.Response(200, json={"data": [TASK, broken, loose, "junk"]})
    )
    states = await api.get_tasks([str(TASK["id"]), "task-broken", "task-loose"])
    assert sorted(states) == sorted([str(TASK["id"]), "task-loose"])  # broken: asked singly
    assert states["task-loose"].status == "processing" and states["task-loose"].progress == 0


@pytest.mark.parametrize("progress", [None, "45", float("nan"), -3, 250, 45.7])
def test_odd_progress_values_are_read_within_0_to_100(progress: object) -> None:
    state = evolink.parse_task({**TASK, "progress": progress})
    assert 0 <= state.progress <= 100
    assert state.progress == {-3: 0, 250: 100, 45.7: 45}.get(progress, 0)  # type: ignore[call-overload]


@pytest.mark.parametrize("status", [404, 405, 400])
@respx.mock
async def test_no_batch_route_is_reported_without_retrying(
    client: tuple[EvoLinkClient, list[float]], status: int
) -> None:
    api, sleeps = client
    route = respx.post(f"{BASE}/v1/tasks/batch").mock(
        return_value=httpx.Response(status, json=error("not_found"))
    )
    with pytest.raises(evolink.BatchUnsupported):
        await api.get_tasks(["t1"])
    assert route.call_count == 1 and sleeps == []
