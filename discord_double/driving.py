"""Driving a bot against the in-process transport: log it in, feed it gateway payloads the way
discord.py's gateway reader does, and wait for everything they started.

``dispatch`` waits for every task the interaction started (view/modal timeout watchers and
``tasks.loop`` loops excepted) and re-raises the first exception that escaped one of them; errors
discord.py catches itself (command errors without an ``on_error``, dynamic-item callbacks,
autocomplete) are only logged: assert on ``caplog`` or install a recording ``on_error``.
For non-interaction flows use ``async with settled(): ...``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

import discord

from discord_double.ids import GUILD_ID
from discord_double.inprocess import FakeDiscord
from discord_double.payloads import guild_payload
from discord_double.records import Call

__all__ = [
    "TaskTracker",
    "dispatch",
    "guild_available",
    "permissions_changed",
    "running_bot",
    "settled",
    "start_bot",
]


async def start_bot(bot: discord.Client, fake: FakeDiscord) -> None:
    """Log ``bot`` in against the fake (runs ``setup_hook``). No gateway connection is made."""
    if FakeDiscord.active() is not fake:
        raise RuntimeError("install the FakeDiscord before start_bot (it would hit discord.com)")
    await bot.login("fake-token")


@contextlib.asynccontextmanager
async def running_bot(bot: discord.Client, fake: FakeDiscord) -> AsyncIterator[discord.Client]:
    """``start_bot`` then, on exit, ``bot.close()`` (closes its aiohttp session)."""
    await start_bot(bot, fake)
    try:
        yield bot
    finally:
        await bot.close()


def _is_long_lived(task: asyncio.Task[Any]) -> bool:
    coro = task.get_coro()
    qualname = getattr(coro, "__qualname__", "")
    # View/Modal timeout watchers, tasks.loop bodies and a loopback aiohttp server's keep-alive
    # connection handlers (a simulator in the same process) never finish on their own.
    return "__timeout_task_impl" in qualname or qualname in ("Loop._loop", "RequestHandler.start")


class TaskTracker:
    """Records every task created on the running loop while installed (via the task factory).

    ``with TaskTracker() as tracker: ...; await tracker.settle()``; or use :func:`settled`.
    """

    def __init__(self) -> None:
        self.tasks: list[asyncio.Task[Any]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._previous: Any = None

    def __enter__(self) -> TaskTracker:
        loop = self._loop = asyncio.get_running_loop()
        previous = self._previous = loop.get_task_factory()

        def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
            if previous is not None:
                task = cast("asyncio.Task[Any]", previous(loop, coro, **kwargs))
            else:
                task = asyncio.Task(coro, loop=loop, **kwargs)
            self.tasks.append(task)
            return task

        loop.set_task_factory(factory)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None:
            self._loop.set_task_factory(self._previous)
            self._loop = None

    async def settle(
        self,
        *,
        max_wait: float = 5.0,
        ignore: Callable[[asyncio.Task[Any]], bool] | None = None,
        reraise: bool = True,
    ) -> None:
        """Wait until the recorded tasks (and the tasks they create) are done.

        View/modal timeout watchers and ``tasks.loop`` loops are skipped; ``ignore`` skips more.
        On timeout the stragglers are cancelled and ``TimeoutError`` names them. With
        ``reraise``, the first exception that escaped a recorded task is raised here (discord.py
        catches and logs the ones in its own handlers; those never get here: check ``caplog``).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max_wait
        while True:
            await asyncio.sleep(0)
            pending = {
                t
                for t in self.tasks
                if not t.done() and not _is_long_lived(t) and not (ignore is not None and ignore(t))
            }
            if not pending:
                break
            remaining = deadline - loop.time()
            if remaining <= 0:
                names = sorted(t.get_name() for t in pending)
                for t in pending:
                    t.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
                raise TimeoutError(
                    f"tasks still running after {max_wait}s: {names}; "
                    "pass ignore=... for tasks meant to outlive the interaction"
                )
            await asyncio.wait(pending, timeout=remaining)
        if reraise:
            for t in self.tasks:
                if t.done() and not t.cancelled() and t.exception() is not None:
                    raise cast(BaseException, t.exception())


@contextlib.asynccontextmanager
async def settled(
    *,
    max_wait: float = 5.0,
    ignore: Callable[[asyncio.Task[Any]], bool] | None = None,
    reraise: bool = True,
) -> AsyncIterator[TaskTracker]:
    """Run the body, then wait for every task it started (see :meth:`TaskTracker.settle`).

    For flows other than interactions: ``async with settled(): bot.dispatch("my_event")``.
    """
    with TaskTracker() as tracker:
        yield tracker
        await tracker.settle(max_wait=max_wait, ignore=ignore, reraise=reraise)


async def dispatch(
    bot: discord.Client,
    payload: dict[str, Any],
    *,
    max_wait: float = 5.0,
    ignore: Callable[[asyncio.Task[Any]], bool] | None = None,
    reraise: bool = True,
) -> list[Call]:
    """Feed an INTERACTION_CREATE payload to ``bot`` and wait for everything it started
    (``CommandTree-invoker``, ``discord-ui-*`` dispatch tasks, their children).

    Returns the calls recorded while handling it.
    """
    fake = FakeDiscord.active()
    if fake is None:
        raise RuntimeError("no FakeDiscord installed")
    fake.register_interaction(payload)
    start = len(fake.calls)
    async with settled(max_wait=max_wait, ignore=ignore, reraise=reraise):
        bot._connection.parsers["INTERACTION_CREATE"](payload)
    return fake.calls[start:]


async def guild_available(
    bot: discord.Client, guild_id: int = GUILD_ID, *, preferred_locale: str = "en-US"
) -> None:
    """Feed a GUILD_CREATE for ``guild_id`` (as the gateway sends one per server at start), so
    that ``bot.get_guild()`` knows it and its language."""
    payload = guild_payload(guild_id, preferred_locale=preferred_locale)
    async with settled():
        bot._connection.parsers["GUILD_CREATE"](payload)


async def permissions_changed(bot: discord.Client, event: dict[str, Any]) -> None:
    """Feed an APPLICATION_COMMAND_PERMISSIONS_UPDATE (as from
    ``FakeDiscord.set_command_permissions``), as the gateway does when a server's admins change
    who may use a command."""
    async with settled():
        bot._connection.parsers["APPLICATION_COMMAND_PERMISSIONS_UPDATE"](event)
