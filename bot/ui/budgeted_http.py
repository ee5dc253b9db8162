"""discord.py's HTTP client, each request made with the bot token first taking its share of
Discord's global rate limit (bot/request_budget.py).

Interaction responses, follow-ups and `@original` edits go through discord.py's webhook adapter
with the interaction's own token, not through this client: they spend nothing, as Discord does
not count them against the bot's global limit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import discord
from discord.http import HTTPClient, Route

from bot.request_budget import RequestBudget


class BudgetedHTTPClient(HTTPClient):
    budget: RequestBudget

    async def request(
        self,
        route: Route,
        *,
        files: Sequence[discord.File] | None = None,
        form: Iterable[dict[str, Any]] | None = None,
        **kwargs: Any,
    ) -> Any:
        await self.budget.acquire()
        return await super().request(route, files=files, form=form, **kwargs)


def spend_budget(client: discord.Client, budget: RequestBudget) -> None:
    """Make every bot-token request of `client` take from `budget` first (the client made its
    HTTP client itself; it becomes this subclass, state and all)."""
    client.http.__class__ = BudgetedHTTPClient
    assert isinstance(client.http, BudgetedHTTPClient)
    client.http.budget = budget
