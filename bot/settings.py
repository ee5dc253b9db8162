"""Every setting the bot reads, typed and validated once at start.

Settings come from the process environment, which `python -m bot` first fills from `.env`
(values already in the environment win). All problems are collected and reported together, so
an owner fixes their `.env` in one pass. Secrets never appear in a repr, a log line or an error.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

T = TypeVar("T")


class Secret:
    """A string that will not print itself."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class SettingsError(Exception):
    """Raised with every problem found, one per line, none of them quoting a secret."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"The bot cannot start. Fix these settings in .env:\n{lines}")


@dataclass(frozen=True)
class Settings:
    discord_token: Secret
    evolink_api_key: Secret
    evolink_base_url: str = "https://api.evolink.ai"
    database_path: Path = Path("data/bot.db")
    database_url: Secret | None = None  # postgresql://...: PostgreSQL instead of the file
    database_pool_size: int = 10
    discord_guild_id: int | None = None
    poll_interval: float = 10.0
    poll_concurrency: int = 32
    task_timeout: float = 2 * 3600.0
    http_timeout: float = 30.0
    log_level: str = "INFO"
    discord_api_base_url: str | None = None
    discord_gateway_url: str | None = None
    price_720p: float = 1.0
    price_1080p: float = 2.0
    default_user_credits: float | None = 50.0
    credit_period: str = "daily"
    max_running_per_user: int = 2
    max_queued_per_user: int = 3
    cooldown_seconds: float = 0.0
    guild_credit_cap: float | None = None
    global_credit_cap: float | None = None
    callback_public_url: str | None = None
    callback_host: str = "127.0.0.1"
    callback_port: int = 8788
    callback_safety_poll: float = 300.0
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = None
    log_format: str = "text"
    shard_count: int | None = None  # shard the gateway connection this many ways
    shard_ids: tuple[int, ...] | None = None  # the shards this process runs (None: all)
    lease_seconds: float = 30.0  # how long a process's claim on a row of work lasts
    discord_rate_limit: float = 50.0  # requests a second for the bot token, every process

    @property
    def database(self) -> Path | str:
        """Where the bot keeps everything: the PostgreSQL URL if set, else the SQLite file."""
        return self.database_url.get() if self.database_url is not None else self.database_path

    @property
    def registers_commands(self) -> bool:
        """This process registers the slash commands: the one that runs shard 0 (or the only
        one). Each process knows from its own SHARD_IDS; exactly one has shard 0."""
        return self.shard_ids is None or 0 in self.shard_ids


DEFAULTS = Settings(discord_token=Secret(""), evolink_api_key=Secret(""))
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LOG_FORMATS = ("text", "json")
CREDIT_PERIODS = ("daily", "weekly", "monthly", "once")


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read and check every setting; raise SettingsError naming every problem."""
    source = os.environ if env is None else env
    problems: list[str] = []

    def raw(name: str) -> str | None:
        value = source.get(name)
        if value is None:
            return None
        value = value.strip()
        return value or None

    def parsed(name: str, default: T, parse: Callable[[str], T], rule: str) -> T:
        value = raw(name)
        if value is None:
            return default
        try:
            return parse(value)
        except ValueError:
            problems.append(f"{name} must be {rule} (got {_shown(value)}).")
            return default

    def required_secret(name: str, what: str) -> Secret:
        value = raw(name)
        if value is None:
            problems.append(f"{name} is missing: set it to {what}.")
            return Secret("")
        if any(c.isspace() for c in value):
            problems.append(f"{name} contains spaces or line breaks; paste the value alone.")
        return Secret(value)

    token = required_secret("DISCORD_TOKEN", "your bot's token from the Discord developer portal")
    api_key = required_secret("EVOLINK_API_KEY", "your EvoLink API key (https://evolink.ai)")

    base_url = parsed("EVOLINK_BASE_URL", DEFAULTS.evolink_base_url, _http_url, "an http(s) URL")
    discord_base = parsed("DISCORD_API_BASE_URL", None, _http_url, "an http(s) URL")
    discord_gateway = parsed("DISCORD_GATEWAY_URL", None, _ws_url, "a ws:// or wss:// URL")
    db_path = parsed("DATABASE_PATH", DEFAULTS.database_path, Path, "a file path")
    db_url = raw("DATABASE_URL")
    if db_url is not None and not _postgres_url(db_url):
        problems.append(  # never quoted: the URL may hold a password
            "DATABASE_URL must be a postgresql:// URL, e.g. postgresql://bot:password@db:5432/bot"
            " (leave it empty to keep the database in the file at DATABASE_PATH)."
        )
    pool_size = parsed(
        "DATABASE_POOL_SIZE",
        DEFAULTS.database_pool_size,
        _int_between(1, 100),
        "a whole number of connections between 1 and 100",
    )
    guild_id = parsed("DISCORD_GUILD_ID", None, _snowflake, "a server id (a number, 17-20 digits)")
    poll = parsed(
        "POLL_INTERVAL_SECONDS",
        DEFAULTS.poll_interval,
        _float_between(0.05, 600),
        "a number of seconds between 0.05 and 600",
    )
    concurrency = parsed(
        "POLL_CONCURRENCY",
        DEFAULTS.poll_concurrency,
        _int_between(1, 500),
        "a whole number between 1 and 500",
    )
    timeout_minutes = parsed(
        "TASK_TIMEOUT_MINUTES",
        DEFAULTS.task_timeout / 60,
        _float_between(1, 7 * 24 * 60),
        "a number of minutes between 1 and 10080",
    )
    http_timeout = parsed(
        "HTTP_TIMEOUT_SECONDS",
        DEFAULTS.http_timeout,
        _float_between(1, 300),
        "a number of seconds between 1 and 300",
    )
    levels = " or ".join(LOG_LEVELS)
    log_level = parsed("LOG_LEVEL", DEFAULTS.log_level, _choice(LOG_LEVELS), levels)
    log_format = parsed("LOG_FORMAT", DEFAULTS.log_format, _lower_choice(LOG_FORMATS),
                        " or ".join(LOG_FORMATS))  # fmt: skip
    metrics_host = parsed("METRICS_HOST", DEFAULTS.metrics_host, str, "a host name")
    metrics_port = parsed("METRICS_PORT", None, _int_between(1, 65535),
                          "a port number (leave it empty to turn the endpoint off)")  # fmt: skip

    price_720p = parsed(
        "PRICE_720P_PER_SECOND",
        DEFAULTS.price_720p,
        _float_between(0, 1000),
        "a number of credits between 0 and 1000",
    )
    price_1080p = parsed(
        "PRICE_1080P_PER_SECOND",
        DEFAULTS.price_1080p,
        _float_between(0, 1000),
        "a number of credits between 0 and 1000",
    )
    credits_rule = "a number of credits (0 or more), or 'unlimited'"
    user_credits = parsed(
        "DEFAULT_USER_CREDITS", DEFAULTS.default_user_credits, _credits, credits_rule
    )
    period = parsed("CREDIT_PERIOD", DEFAULTS.credit_period, _lower_choice(CREDIT_PERIODS),
                    " or ".join(CREDIT_PERIODS))  # fmt: skip
    max_running = parsed(
        "MAX_RUNNING_PER_USER",
        DEFAULTS.max_running_per_user,
        _int_between(1, 50),
        "a whole number between 1 and 50",
    )
    max_queued = parsed(
        "MAX_QUEUED_PER_USER",
        DEFAULTS.max_queued_per_user,
        _int_between(0, 50),
        "a whole number between 0 and 50",
    )
    cooldown = parsed(
        "COOLDOWN_SECONDS",
        DEFAULTS.cooldown_seconds,
        _float_between(0, 86400),
        "a number of seconds between 0 and 86400",
    )
    callback_url = parsed(
        "CALLBACK_PUBLIC_URL", None, _callback_url,
        "an https URL (EvoLink calls back over https only; http just for a loopback test address)",
    )  # fmt: skip
    callback_host = parsed("CALLBACK_HOST", DEFAULTS.callback_host, str, "a host name")
    callback_port = parsed("CALLBACK_PORT", DEFAULTS.callback_port, _int_between(1, 65535),
                           "a port number")  # fmt: skip
    safety_poll = parsed(
        "CALLBACK_SAFETY_POLL_SECONDS",
        DEFAULTS.callback_safety_poll,
        _float_between(1, 86400),
        "a number of seconds between 1 and 86400",
    )
    guild_cap = parsed("GUILD_CREDIT_CAP", None, _credits, credits_rule)
    global_cap = parsed("GLOBAL_CREDIT_CAP", None, _credits, credits_rule)
    shard_count = parsed("SHARD_COUNT", None, _int_between(1, 100_000),
                         "a whole number of shards between 1 and 100000")  # fmt: skip
    shard_ids = _shard_ids(raw("SHARD_IDS"), shard_count, problems)
    if shard_ids is not None and db_url is None and len(shard_ids) < (shard_count or 0):
        problems.append(
            "SHARD_IDS runs some shards in this process and the others elsewhere: every process "
            "must share one PostgreSQL database, so set DATABASE_URL (SQLite's file belongs to "
            "one process)."
        )
    lease = parsed("LEASE_SECONDS", DEFAULTS.lease_seconds, _float_between(1, 600),
                   "a number of seconds between 1 and 600")  # fmt: skip
    rate_limit = parsed(
        "DISCORD_GLOBAL_RATE_LIMIT",
        DEFAULTS.discord_rate_limit,
        _float_between(1, 100_000),
        "a number of requests a second between 1 and 100000",
    )

    if problems:
        raise SettingsError(problems)
    return Settings(
        discord_token=token,
        evolink_api_key=api_key,
        evolink_base_url=base_url.rstrip("/"),
        database_path=db_path,
        database_url=Secret(db_url) if db_url is not None else None,
        database_pool_size=pool_size,
        discord_guild_id=guild_id,
        poll_interval=poll,
        poll_concurrency=concurrency,
        task_timeout=timeout_minutes * 60,
        http_timeout=http_timeout,
        log_level=log_level,
        discord_api_base_url=discord_base.rstrip("/") if discord_base else None,
        discord_gateway_url=discord_gateway,
        price_720p=price_720p,
        price_1080p=price_1080p,
        default_user_credits=user_credits,
        credit_period=period,
        max_running_per_user=max_running,
        max_queued_per_user=max_queued,
        cooldown_seconds=cooldown,
        guild_credit_cap=guild_cap,
        global_credit_cap=global_cap,
        callback_public_url=callback_url.rstrip("/") if callback_url else None,
        callback_host=callback_host,
        callback_port=callback_port,
        callback_safety_poll=safety_poll,
        metrics_host=metrics_host,
        metrics_port=metrics_port,
        log_format=log_format,
        shard_count=shard_count,
        shard_ids=shard_ids,
        lease_seconds=lease,
        discord_rate_limit=rate_limit,
    )


def _shown(value: str, limit: int = 80) -> str:
    """A value as an error message quotes it: escaped, and cut where it runs long."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}… ({len(value):,} characters)"


def _shard_ids(value: str | None, count: int | None, problems: list[str]) -> tuple[int, ...] | None:
    """SHARD_IDS, e.g. `0,1`: distinct shard numbers below SHARD_COUNT (None: not set)."""
    if value is None:
        return None
    rule = "SHARD_IDS must be shard numbers separated by commas, e.g. 0,1"
    try:
        ids = tuple(int(part) for part in value.split(","))
    except ValueError:
        problems.append(f"{rule} (got {_shown(value)}).")
        return None
    if count is None:
        problems.append("SHARD_IDS needs SHARD_COUNT: how many shards there are in all.")
        return None
    if len(set(ids)) != len(ids) or not all(0 <= i < count for i in ids):
        problems.append(
            f"{rule}, each once and below SHARD_COUNT ({count}): 0 to {count - 1} "
            f"(got {_shown(value)})."
        )
        return None
    return tuple(sorted(ids))


def database_path(env: Mapping[str, str] | None = None) -> Path:
    """DATABASE_PATH alone, read as load_settings reads it, for tools that need no token (such
    as python -m bot.backup)."""
    source = os.environ if env is None else env
    value = (source.get("DATABASE_PATH") or "").strip()
    return Path(value) if value else DEFAULTS.database_path


def _postgres_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("postgresql", "postgres") and not any(c.isspace() for c in value)


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(value)
    return value


def _callback_url(value: str) -> str:
    parts = urlsplit(_http_url(value))
    loopback = parts.hostname in ("localhost", "::1") or (parts.hostname or "").startswith("127.")
    if parts.scheme != "https" and not loopback:
        raise ValueError(value)
    return value


def _ws_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("ws", "wss") or not parts.netloc:
        raise ValueError(value)
    return value


def _snowflake(value: str) -> int:
    number = int(value)
    if not 10**15 <= number < 2**63:
        raise ValueError(value)
    return number


def _float_between(low: float, high: float) -> Callable[[str], float]:
    def parse(value: str) -> float:
        number = float(value)
        if not low <= number <= high:  # also refuses nan
            raise ValueError(value)
        return number

    return parse


def _int_between(low: int, high: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        number = int(value)
        if not low <= number <= high:
            raise ValueError(value)
        return number

    return parse


def _credits(value: str) -> float | None:
    if value.lower() in ("unlimited", "none", "off"):
        return None
    number = float(value)
    if not 0 <= number <= 1e9:
        raise ValueError(value)
    return number


def _lower_choice(allowed: tuple[str, ...]) -> Callable[[str], str]:
    def parse(value: str) -> str:
        lower = value.lower()
        if lower not in allowed:
            raise ValueError(value)
        return lower

    return parse


def _choice(allowed: tuple[str, ...]) -> Callable[[str], str]:
    def parse(value: str) -> str:
        upper = value.upper()
        if upper not in allowed:
            raise ValueError(value)
        return upper

    return parse
