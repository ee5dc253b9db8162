"""Waiting, without a fixed sleep, for something another process or task will do."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

__all__ = ["wait_until"]


async def wait_until(
    predicate: Callable[[], Any],
    *,
    within: float,
    what: str,
    interval: float = 0.05,
    details: Callable[[], str] | None = None,
) -> Any:
    """Poll ``predicate`` until it returns something truthy (returned) or ``within`` seconds pass
    (AssertionError naming ``what``, plus ``details()`` to explain the state)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        result = predicate()
        if result:
            return result
        if loop.time() >= deadline:
            extra = f"\n{details()}" if details is not None else ""
            raise AssertionError(f"timed out after {within:.0f}s waiting for {what}{extra}")
        await asyncio.sleep(interval)
