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
