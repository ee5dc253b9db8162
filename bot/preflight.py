"""Checks made before the bot starts: python -m bot --check, and the first-run questions.

Plain English for the owner at a terminal (not members, so not in the text catalogue). Each
check says what is wrong and what to do; none prints a token or key.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import discord
import httpx

from bot import evolink
from bot.settings import Settings
from bot.store import DatabaseTooNew, check_usable
from bot.store.postgres import check_usable_server, describe
from bot.ui.invite import invite_url

TIMEOUT = 15.0


class CheckFailed(Exception):
    """A check's friendly, actionable reason; `refused`: the value itself was refused (asking
    again may help), not the network."""

    def __init__(self, reason: str, *, refused: bool) -> None:
        super().__init__(reason)
        self.refused = refused


@dataclass(frozen=True)
class DiscordIdentity:
    name: str
    user_id: int
    application_id: int


def discord_api_base(configured: str | None) -> str:
    return (configured or discord.http.Route.BASE).rstrip("/")


async def check_discord(token: str, api_base: str | None) -> DiscordIdentity:
    """Log in as discord.py does (GET /users/@me with the bot token), then read the application
    id the invite link needs."""
    base = discord_api_base(api_base)
    headers = {"Authorization": f"Bot {token}", "User-Agent": "evolink-video-bot (check)"}
    try:
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=TIMEOUT) as http:
            me = await http.get("/users/@me")
            if me.status_code == 401:
                raise CheckFailed(
                    "Discord refused DISCORD_TOKEN. Copy the bot token again from the developer "
                    "portal (your application -> Bot -> Reset Token); it is not the client "
                    "secret or the application id.",
                    refused=True,
                )
            if me.status_code != 200:
                raise CheckFailed(
                    f"Discord answered HTTP {me.status_code} to the login; try again in a minute.",
                    refused=False,
                )
            user = me.json()
            app = await http.get("/oauth2/applications/@me")
            application_id = int(app.json()["id"]) if app.status_code == 200 else int(user["id"])
            return DiscordIdentity(str(user.get("username", "?")), int(user["id"]), application_id)
    except httpx.HTTPError as exc:
        raise CheckFailed(
            f"Could not reach Discord at {base} ({type(exc).__name__}): check the network.",
            refused=False,
        ) from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckFailed(f"Discord's answer at {base} could not be read.", refused=False) from exc


async def check_evolink(base_url: str, api_key: str) -> evolink.Balance:
    """Ask EvoLink for the account's balance (GET /v1/credits) with the key."""
    client = evolink.EvoLinkClient(base_url, api_key, timeout=TIMEOUT, max_retries=0)
    try:
        return await client.get_balance()
    except (evolink.Unauthorized, evolink.ModelAccessDenied) as exc:
        raise CheckFailed(
            f"EvoLink refused EVOLINK_API_KEY ({exc.message}). Copy the key again from the "
            "EvoLink dashboard (API keys).",
            refused=True,
        ) from exc
    except evolink.Unreachable as exc:
        raise CheckFailed(
            f"Could not reach EvoLink at {base_url}: check the network and EVOLINK_BASE_URL.",
            refused=False,
        ) from exc
    except evolink.EvoLinkError as exc:
        raise CheckFailed(f"EvoLink at {base_url} answered with an error: {exc}.",
                          refused=False) from exc  # fmt: skip
    finally:
        await client.aclose()


def balance_text(balance: evolink.Balance) -> str:
    if balance.unlimited:
        return "unlimited credits"
    if balance.remaining_credits is None:
        return "balance not reported"
    return f"{balance.remaining_credits:g} credits left"


def database_problem(path: Path, *, prepare: bool = True) -> str | None:
    """Whether the bot can keep its database at `path`, as one actionable sentence. With
    `prepare` the file is created (and switched to WAL) if need be, as at every start; without
    it (--check) nothing is created or changed: a missing file only needs a folder the bot can
    create it in."""
    try:
        if prepare or path.exists():
            check_usable(path, prepare=prepare)
        else:
            _check_creatable(path)
    except DatabaseTooNew as exc:
        return (
            f"DATABASE_PATH ({path}) cannot be used by this version of the bot: {exc}. Migrations "
            "only go forward: run the newer version again, or restore a backup made before the "
            "upgrade (see Upgrades in the README)."
        )
    except Exception as exc:  # OSError, sqlite3.Error: anything that stops the bot using it
        return (
            f"DATABASE_PATH ({path}) cannot be used as the bot's database: {exc}. "
            "Point it at a file in a folder the bot may write to."
        )
    return None


def server_problem(url: str) -> str | None:
    """Whether the bot can keep its database in the PostgreSQL server at `url` (DATABASE_URL),
    as one actionable sentence; nothing is created or changed."""
    where = describe(url)
    try:
        asyncio.run(check_usable_server(url, connect_timeout=TIMEOUT))
    except DatabaseTooNew as exc:
        return (
            f"DATABASE_URL ({where}) cannot be used by this version of the bot: {exc}. Migrations "
            "only go forward: run the newer version again, or restore a backup made before the "
            "upgrade."
        )
    except Exception as exc:  # OSError, asyncpg's errors: anything that stops the bot using it
        return (
            f"DATABASE_URL ({where}) cannot be used as the bot's database: "
            f"{type(exc).__name__}: {exc}. Check that the server runs, and the URL's host, "
            "port, user, password and database name."
        )
    return None


def settings_database_problem(settings: Settings, *, prepare: bool = True) -> str | None:
    """database_problem or server_problem, for the database the settings choose."""
    if settings.database_url is not None:
        return server_problem(settings.database_url.get())
    return database_problem(settings.database_path, prepare=prepare)


def _check_creatable(path: Path) -> None:
    """Raise OSError unless the bot could create `path` (and the folders missing on its way)."""
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(f"the bot may not create files in {folder}")


def run_checks(settings: Settings, say: Callable[[str], None] = print) -> int:
    """python -m bot --check: every check, one line each; 0 when all passed, 1 otherwise.
    It changes nothing: not even the database file is created."""
    say("Settings: OK (.env and the environment read, every value valid)")
    failed = 0
    path = settings.database_path
    existed = path.exists()
    problem = settings_database_problem(settings, prepare=False)
    if problem is None and settings.database_url is not None:
        say(f"Database: OK ({describe(settings.database_url.get())} answers)")
    elif problem is None and not existed:
        say(f"Database: OK ({path} does not exist yet: the first start creates it)")
    elif problem is None:
        say(f"Database: OK ({path} can be written)")
    else:
        failed += 1
        say(f"Database: PROBLEM - {problem}")

    async def both() -> tuple[object, object]:
        results = await asyncio.gather(
            check_evolink(settings.evolink_base_url, settings.evolink_api_key.get()),
            check_discord(settings.discord_token.get(), settings.discord_api_base_url),
            return_exceptions=True,
        )
        return results[0], results[1]

    balance, identity = asyncio.run(both())
    if isinstance(balance, evolink.Balance):
        say(f"EvoLink: OK (key accepted at {settings.evolink_base_url}; {balance_text(balance)})")
    else:
        failed += 1
        say(f"EvoLink: PROBLEM - {_reason(balance)}")
    if isinstance(identity, DiscordIdentity):
        say(f"Discord: OK (logged in as {identity.name}, id {identity.user_id})")
        say(f"Invite link: {invite_url(identity.application_id)}")
    else:
        failed += 1
        say(f"Discord: PROBLEM - {_reason(identity)}")
    if failed:
        found = "1 problem" if failed == 1 else f"{failed} problems"
        say(f"{found} found: fix them in .env, then run python -m bot --check again.")
        return 1
    say("All checks passed: start the bot with python -m bot")
    return 0


def _reason(error: object) -> str:
    if isinstance(error, CheckFailed):
        return str(error)
    return f"the check itself failed ({type(error).__name__}); run it again."
