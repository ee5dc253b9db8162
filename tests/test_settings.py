from pathlib import Path

import pytest

from bot.settings import SettingsError, load_settings

TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.abcdef.secret-token-value"
KEY = "sk-evolink-secret-key-123"


def test_defaults_and_required_values() -> None:
    s = load_settings({"DISCORD_TOKEN": TOKEN, "EVOLINK_API_KEY": KEY})
    assert s.discord_token.get() == TOKEN
    assert s.evolink_api_key.get() == KEY
    assert s.evolink_base_url == "https://api.evolink.ai"
    assert s.database_path == Path("data/bot.db")
    assert s.discord_guild_id is None
    assert s.poll_interval == 10.0


def test_every_problem_is_named_at_once_without_secrets() -> None:
    env = {
        "EVOLINK_API_KEY": KEY,
        "EVOLINK_BASE_URL": "ftp://nowhere",
        "DISCORD_GUILD_ID": "abc",
        "POLL_INTERVAL_SECONDS": "-1",
        "LOG_LEVEL": "LOUD",
    }
    with pytest.raises(SettingsError) as caught:
        load_settings(env)
    text = str(caught.value)
    for name in (
        "DISCORD_TOKEN is missing",
        "EVOLINK_BASE_URL",
        "DISCORD_GUILD_ID",
        "POLL_INTERVAL_SECONDS",
        "LOG_LEVEL",
    ):
        assert name in text
    assert len(caught.value.problems) == 5
    assert KEY not in text


def test_secrets_never_print() -> None:
    s = load_settings({"DISCORD_TOKEN": TOKEN, "EVOLINK_API_KEY": KEY})
    assert TOKEN not in repr(s) and KEY not in repr(s)
    assert TOKEN not in str(s.discord_token) and KEY not in f"{s.evolink_api_key}"


def test_values_are_parsed_and_trimmed() -> None:
    s = load_settings(
        {
            "DISCORD_TOKEN": f"  {TOKEN}\n",
            "EVOLINK_API_KEY": KEY,
            "EVOLINK_BASE_URL": "http://127.0.0.1:8787/",
            "DATABASE_PATH": "/tmp/x/bot.db",
            "DISCORD_GUILD_ID": "123456789012345678",
            "TASK_TIMEOUT_MINUTES": "30",
            "LOG_LEVEL": "debug",
        }
    )
    assert s.discord_token.get() == TOKEN
    assert s.evolink_base_url == "http://127.0.0.1:8787"
    assert s.discord_guild_id == 123456789012345678
    assert s.task_timeout == 1800
    assert s.log_level == "DEBUG"


def test_callbacks_need_https_except_on_a_loopback_test_address() -> None:
    base = {"DISCORD_TOKEN": TOKEN, "EVOLINK_API_KEY": KEY}
    for ok in ("https://bot.example.com/evolink", "http://127.0.0.1:8788/evolink"):
        assert load_settings(base | {"CALLBACK_PUBLIC_URL": ok}).callback_public_url == ok
    with pytest.raises(SettingsError) as caught:
        load_settings(base | {"CALLBACK_PUBLIC_URL": "http://bot.example.com/evolink"})
    assert "CALLBACK_PUBLIC_URL" in str(caught.value) and "https" in str(caught.value)


def test_a_token_with_spaces_is_refused_without_echoing_it() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"DISCORD_TOKEN": "abc def ghi", "EVOLINK_API_KEY": KEY})
    assert "DISCORD_TOKEN" in str(caught.value)
    assert "abc def" not in str(caught.value)


def test_python_m_bot_names_every_missing_setting(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("DISCORD_TOKEN", "EVOLINK_API_KEY")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    result = subprocess.run(
        [sys.executable, "-m", "bot"], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "DISCORD_TOKEN is missing" in result.stderr
    assert "EVOLINK_API_KEY is missing" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("database", ["/dev/null", "{tmp}", "/proc/no-such-dir/bot.db"])
def test_python_m_bot_names_a_database_path_it_cannot_use(tmp_path: Path, database: str) -> None:
    import os
    import subprocess
    import sys

    env = dict(os.environ)
    env.update(
        PYTHONPATH=str(Path(__file__).resolve().parents[1]),
        DISCORD_TOKEN="MTAwMDAwMDAwMDAwMDAwMDAw.fake.token-0123456789",
        EVOLINK_API_KEY=KEY,
        EVOLINK_BASE_URL="http://127.0.0.1:9",
        DATABASE_PATH=database.format(tmp=tmp_path),
    )
    result = subprocess.run(
        [sys.executable, "-m", "bot"], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 2  # at once, not a hang or a retry loop blaming Discord
    assert "DATABASE_PATH" in result.stderr and "cannot be used" in result.stderr
    assert "Traceback" not in result.stderr and KEY not in result.stderr


def test_database_url_chooses_postgresql_and_is_never_printed() -> None:
    url = "postgresql://bot:s3cret-pass@db.example:5432/bot"
    s = load_settings({"DISCORD_TOKEN": TOKEN, "EVOLINK_API_KEY": KEY, "DATABASE_URL": url,
                       "DATABASE_POOL_SIZE": "25"})  # fmt: skip
    assert s.database == url and s.database_pool_size == 25
    assert "s3cret" not in repr(s)
    plain = load_settings({"DISCORD_TOKEN": TOKEN, "EVOLINK_API_KEY": KEY})
    assert plain.database == plain.database_path and plain.database_pool_size == 10


def test_a_database_url_or_pool_size_that_cannot_be_used_is_named_without_the_url() -> None:
    env = {"DISCORD_TOKEN": TOKEN, "EVOLINK_API_KEY": KEY,
           "DATABASE_URL": "mysql://bot:s3cret@db/bot", "DATABASE_POOL_SIZE": "0"}  # fmt: skip
    with pytest.raises(SettingsError) as refused:
        load_settings(env)
    text = str(refused.value)
    assert "DATABASE_URL must be a postgresql:// URL" in text and "s3cret" not in text
    assert "DATABASE_POOL_SIZE must be a whole number of connections between 1 and 100" in text


PG = "postgresql://bot:pw@db.example:5432/bot"


def test_shards_run_here_and_which_process_registers_the_commands() -> None:
    base = {"DISCORD_TOKEN": TOKEN, "EVOLINK_API_KEY": KEY}
    alone = load_settings(base)
    assert (alone.shard_count, alone.shard_ids, alone.registers_commands) == (None, None, True)
    every = load_settings({**base, "SHARD_COUNT": "4"})  # one process, all four shards
    assert (every.shard_count, every.shard_ids, every.registers_commands) == (4, None, True)
    first = load_settings({**base, "DATABASE_URL": PG, "SHARD_COUNT": "4", "SHARD_IDS": "1, 0"})
    assert (first.shard_ids, first.registers_commands) == ((0, 1), True)
    other = load_settings({**base, "DATABASE_URL": PG, "SHARD_COUNT": "4", "SHARD_IDS": "2,3"})
    assert (other.shard_ids, other.registers_commands) == ((2, 3), False)
    assert (other.lease_seconds, other.discord_rate_limit) == (30.0, 50.0)


@pytest.mark.parametrize(
    ("env", "told"),
    [
        ({"SHARD_IDS": "0"}, "SHARD_IDS needs SHARD_COUNT: how many shards there are in all."),
        ({"SHARD_COUNT": "0"}, "SHARD_COUNT"),
        ({"SHARD_COUNT": "2", "SHARD_IDS": "0,2"}, "below SHARD_COUNT (2): 0 to 1 (got '0,2')"),
        ({"SHARD_COUNT": "2", "SHARD_IDS": "1,1"}, "each once"),
        ({"SHARD_COUNT": "2", "SHARD_IDS": "one"}, "separated by commas, e.g. 0,1 (got 'one')"),
        ({"SHARD_COUNT": "2", "SHARD_IDS": "0", "DATABASE_URL": ""}, "set DATABASE_URL"),
        ({"LEASE_SECONDS": "0.5"}, "LEASE_SECONDS"),
        ({"DISCORD_GLOBAL_RATE_LIMIT": "fast"}, "DISCORD_GLOBAL_RATE_LIMIT"),
    ],
)
def test_a_shard_setting_that_cannot_work_is_explained(env: dict[str, str], told: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"DISCORD_TOKEN": TOKEN, "EVOLINK_API_KEY": KEY, **env})
    assert told in str(caught.value)
    assert len(caught.value.problems) == 1


def test_a_huge_bad_value_is_quoted_short_in_the_error() -> None:
    env = {"DISCORD_TOKEN": "x" * 60, "EVOLINK_API_KEY": "sk-" + "y" * 40}
    with pytest.raises(SettingsError) as raised:
        load_settings({**env, "SHARD_COUNT": "2", "SHARD_IDS": "x" * 200_000})
    assert len(str(raised.value)) < 500
    assert "(200,000 characters)" in str(raised.value)
