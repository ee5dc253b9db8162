"""/healthz and /metrics as a monitor reads them: over loopback HTTP from the running bot, the
metrics text parsed by prometheus_client's own parser, after a real /video went through the
fake Discord layer and the simulator."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import asyncpg
import discord
import pytest
from aiohttp import web
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from bot.metrics import Metrics, count_rate_limit_waits
from bot.settings import SettingsError, load_settings
from bot.simulator import Simulator
from bot.ui.client import VideoBot
from bot.ui.invite import invite_url, required_permissions
from discord_double import (
    APPLICATION_ID,
    FakeDiscord,
    dispatch,
    option,
    running_bot,
    slash_command,
)
from tests.backends import Backend, with_database
from tests.conftest import BotFactory, FakeClock
from tests.test_process import base_env

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
async def monitored(fake_discord: FakeDiscord, make_bot: BotFactory) -> AsyncIterator[VideoBot]:
    async with running_bot(make_bot(metrics_port=0), fake_discord) as running:
        assert isinstance(running, VideoBot)
        assert running.metrics is not None and running.health is not None
        running.metrics.cache_seconds = 0  # each scrape in this test reads afresh
        running.health.cache_seconds = 0
        yield running


async def get(bot: VideoBot, path: str) -> tuple[int, str, str]:
    assert bot.monitoring is not None
    url = f"http://127.0.0.1:{bot.monitoring.port}{path}"
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, response.headers["Content-Type"], await response.text()


async def scrape(bot: VideoBot) -> Samples:
    status, content_type, text = await get(bot, "/metrics")
    assert status == 200 and content_type.startswith("text/plain; version=0.0.4")
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def health(bot: VideoBot) -> tuple[int, dict[str, Any]]:
    status, content_type, text = await get(bot, "/healthz")
    assert content_type == "application/json"
    return status, json.loads(text)


async def test_a_video_is_counted_from_request_to_delivery(
    monitored: VideoBot, fake_discord: FakeDiscord, simulator: Simulator, clock: FakeClock
) -> None:
    await dispatch(monitored, slash_command("video", [option("prompt", "a fox in the snow")]))
    running = await scrape(monitored)
    assert value(running, "evolink_bot_requests_total", outcome="started") == 1
    assert value(running, "evolink_bot_credits_reserved_total") == 5  # 5 s of 720p at 1
    assert value(running, "evolink_bot_tasks", state="submitted") == 1
    assert value(running, "evolink_bot_queue_length") == 0
    assert value(running, "evolink_bot_evolink_queries_total", route="create") == 1

    clock.advance(61)
    await monitored.tracker.run_once()
    done = await scrape(monitored)
    assert value(done, "evolink_bot_credits_spent_total") == 5
    assert value(done, "evolink_bot_tasks", state="submitted") == 0
    assert value(done, "evolink_bot_tasks", state="undelivered") == 0
    assert value(done, "evolink_bot_delivery_lag_seconds_count") == 1
    assert value(done, "evolink_bot_delivery_lag_seconds_bucket", le="1.0") == 1
    polled = value(done, "evolink_bot_evolink_queries_total", route="batch") + value(
        done, "evolink_bot_evolink_queries_total", route="task"
    )
    assert polled >= 1
    assert value(done, "evolink_bot_evolink_queries_total", route="credits") >= 1  # start check


async def test_refusals_and_evolink_errors_are_counted_by_kind(
    monitored: VideoBot, simulator: Simulator
) -> None:
    simulator.faults.add(route="create", status=402, count=1)
    await dispatch(monitored, slash_command("video", [option("prompt", "a fox in the snow")]))
    await dispatch(monitored, slash_command("video", [option("prompt", "x"), option("seed", 0)]))
    samples = await scrape(monitored)
    assert value(samples, "evolink_bot_requests_total", outcome="refused_evolink") == 1
    assert value(samples, "evolink_bot_requests_total", outcome="refused_invalid") == 1
    assert value(samples, "evolink_bot_evolink_errors_total", kind="InsufficientBalance") == 1


async def test_healthz_names_what_is_wrong(
    monitored: VideoBot, simulator: Simulator, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    await dispatch(monitored, slash_command("video", [option("prompt", "a fox in the snow")]))
    status, body = await health(monitored)
    assert status == 503 and body["status"] == "unhealthy"
    assert body["checks"] == {
        "gateway": "not connected to Discord",
        "database": "ok",
        "evolink": "ok",
    }

    with caplog.at_level(logging.INFO, logger="bot.ui.client"):
        monitored.dispatch("ready")
        monitored.dispatch("ready")  # a second session: not announced again
        await asyncio.sleep(0)
    status, body = await health(monitored)
    assert (status, body["status"]) == (200, "ok")

    [announced] = [r.getMessage() for r in caplog.records if "logged in as" in r.getMessage()]
    assert f"(id {APPLICATION_ID})" in announced and "in 0 server(s)" in announced
    assert invite_url(APPLICATION_ID) in announced
    assert f"permissions={required_permissions().value}" in announced
    assert "scope=bot+applications.commands" in announced

    clock.advance(301)  # nothing asked of EvoLink since: the probe would have; here it did not
    status, body = await health(monitored)
    assert status == 503 and body["checks"]["evolink"] == "EvoLink has not answered for 301 s"

    monitored.dispatch("disconnect")
    await asyncio.sleep(0)
    status, body = await health(monitored)
    assert body["checks"]["gateway"] == "not connected to Discord"


async def test_healthz_is_unhealthy_when_every_create_and_query_fails_though_the_balance_answers(
    monitored: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    """The idle probe asks for the balance: an EvoLink that answers it while every create
    fails with 502 must not look healthy."""
    monitored.dispatch("ready")
    await asyncio.sleep(0)
    for route in ("create", "query", "batch"):
        simulator.faults.add(route=route, status=502, always=True)
    await dispatch(monitored, slash_command("video", [option("prompt", "a fox in the snow")]))
    clock.advance(200)
    await monitored.api.get_balance()  # what the probe does
    status, body = await health(monitored)
    assert (status, body["checks"]["evolink"]) == (200, "ok")  # not yet: within 5 minutes

    clock.advance(101)
    await monitored.tracker.run_once()  # the create is repeated, and fails again
    await monitored.api.get_balance()
    status, body = await health(monitored)
    assert status == 503
    assert body["checks"]["evolink"] == (
        "every create and task query has failed for 301 s (OutcomeUnknown)"
    )

    simulator.faults.clear()
    clock.advance(61)
    await monitored.tracker.run_once()  # the repeat is answered
    status, body = await health(monitored)
    assert (status, body["checks"]["evolink"]) == (200, "ok")


@pytest.mark.sqlite_only("another program holding SQLite's write lock")
async def test_healthz_reports_a_database_that_cannot_be_written(
    monitored: VideoBot, simulator: Simulator
) -> None:
    monitored.dispatch("ready")
    await dispatch(monitored, slash_command("video", [option("prompt", "a fox in the snow")]))
    other = sqlite3.connect(monitored.settings.database_path, timeout=0)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    try:
        status, body = await health(monitored)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert status == 503
    assert body["checks"]["database"] == "the database was busy for more than 2 s"


async def test_healthz_answers_when_the_database_check_fails_unexpectedly(
    monitored: VideoBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection cut mid-answer makes asyncpg raise its own internal errors (seen when a
    database's connections were terminated): the monitor is told the database is failing."""

    async def cut_off() -> None:
        raise RuntimeError("cannot switch to state 15; another operation (2) is in progress")

    monitored.dispatch("ready")
    monkeypatch.setattr(monitored.store, "check_writable", cut_off)
    status, body = await health(monitored)
    assert status == 503
    assert body["checks"]["database"] == "the database check failed: RuntimeError"


@pytest.mark.postgres_only("a PostgreSQL database that allows only reads")
async def test_healthz_reports_a_postgresql_database_that_allows_only_reads(
    monitored: VideoBot, backend: Backend
) -> None:
    monitored.dispatch("ready")
    await dispatch(monitored, slash_command("video", [option("prompt", "a fox in the snow")]))
    name = urlsplit(backend.url or "").path.lstrip("/")
    admin = await asyncpg.connect(with_database(backend.url or "", "postgres"))
    try:  # read-only from now on, and every connection the bot had is gone
        await admin.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
        await admin.execute(
            """SELECT pg_terminate_backend(pid) FROM pg_stat_activity
               WHERE datname = $1 AND pid <> pg_backend_pid()""",
            name,
        )
        status, body = await health(monitored)
    finally:
        await admin.close()
    assert status == 503
    assert body["checks"]["database"].startswith("the database cannot be written: ")


async def test_stalled_connections_cannot_lock_out_a_monitor(monitored: VideoBot) -> None:
    assert monitored.monitoring is not None
    port, cap = monitored.monitoring.port, monitored.monitoring.limits.max_connections
    stalled = []
    for _ in range(cap * 3):
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /metr")
        stalled.append(writer)
    try:
        await asyncio.sleep(0.05)
        assert monitored.monitoring.open_connections <= cap
        status, _, _ = await get(monitored, "/metrics")
        assert status == 200
    finally:
        for writer in stalled:
            writer.close()
    status, _, _ = await get(monitored, "/nothing")
    assert status == 404
    assert monitored.monitoring is not None
    async with aiohttp.ClientSession() as http:
        url = f"http://127.0.0.1:{port}/metrics"
        async with http.post(url, data=b"x") as response:
            assert response.status == 400  # a GET carries no body; POST with one is refused
        async with http.delete(url) as response:
            assert response.status == 405


async def test_metrics_off_without_a_port(bot: VideoBot) -> None:
    assert bot.metrics is None and bot.monitoring is None


async def test_discord_rate_limit_waits_are_counted() -> None:
    """discord.py's own HTTP client against a Discord API that answers one 429: it waits the
    advertised time and retries; the counter reads that from discord.py's log line."""
    calls = 0

    async def users_me(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            body = {"message": "You are being rate limited.", "retry_after": 0.05, "global": False}
            return answer(body, 429, {"Via": "1.1 google"})
        return answer({"id": "1", "username": "bot", "discriminator": "0"}, 200, {})

    def answer(body: dict[str, Any], status: int, headers: dict[str, str]) -> web.Response:
        # exactly Discord's content type: discord.py reads any other as text
        headers = {**headers, "Content-Type": "application/json"}
        return web.Response(body=json.dumps(body).encode(), status=status, headers=headers)

    app = web.Application()
    app.router.add_get("/api/v10/users/@me", users_me)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    metrics = Metrics()
    stop_counting = count_rate_limit_waits(metrics)
    saved_base = discord.http.Route.BASE
    discord.http.Route.BASE = f"http://127.0.0.1:{port}/api/v10"
    http = discord.http.HTTPClient(asyncio.get_running_loop())
    try:
        await http.static_login("token-for-a-test-0123456789")
    finally:
        await http.close()
        discord.http.Route.BASE = saved_base
        stop_counting()
        await runner.cleanup()
    text = generate_latest(metrics.registry).decode()
    samples = {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}
    assert calls == 2
    assert samples["evolink_bot_discord_rate_limit_waits_total"] == 1
    assert samples["evolink_bot_discord_rate_limit_wait_seconds_total"] == pytest.approx(0.05)


async def test_the_container_probe_asks_healthz(monitored: VideoBot, tmp_path: Path) -> None:
    """python -m bot.healthcheck, as Docker's HEALTHCHECK runs it: 1 until healthy, then 0."""
    assert monitored.monitoring is not None

    async def probe(port: str) -> tuple[int, str]:
        env = {**base_env(), "METRICS_PORT": port, "METRICS_HOST": "0.0.0.0"}
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.healthcheck", cwd=tmp_path, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        output, _ = await process.communicate()
        return await process.wait(), output.decode()

    port = str(monitored.monitoring.port)
    code, output = await probe(port)
    assert code == 1 and '"gateway": "not connected to Discord"' in output
    monitored.dispatch("ready")
    await dispatch(monitored, slash_command("video", [option("prompt", "a fox in the snow")]))
    code, output = await probe(port)
    assert code == 0 and '"status": "ok"' in output
    code, output = await probe("")
    assert code == 1 and "METRICS_PORT is not set" in output


def test_monitoring_settings_are_checked() -> None:
    env = {"DISCORD_TOKEN": "t" * 20, "EVOLINK_API_KEY": "k" * 20}
    assert load_settings(env).metrics_port is None
    assert load_settings({**env, "METRICS_PORT": "9100"}).metrics_port == 9100
    assert load_settings({**env, "LOG_FORMAT": "JSON"}).log_format == "json"
    with pytest.raises(SettingsError) as refused:
        load_settings({**env, "METRICS_PORT": "ninety", "LOG_FORMAT": "xml"})
    assert "METRICS_PORT must be a port number" in str(refused.value)
    assert "LOG_FORMAT must be text or json (got 'xml')" in str(refused.value)
