"""The files an owner deploys with (Dockerfile, compose.yaml, the systemd unit, .env.example,
pyproject.toml, constraints.txt) agree with each other and with the settings the bot reads."""

from __future__ import annotations

import configparser
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]


def setting_names() -> set[str]:
    """Every variable bot/settings.py reads."""
    source = (ROOT / "bot" / "settings.py").read_text(encoding="utf-8")
    return set(re.findall(r"\(\s*\"([A-Z][A-Z0-9]*_[A-Z0-9_]+)\"", source))


def documented_settings() -> set[str]:
    """Every setting .env.example shows, set or commented out."""
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    return set(re.findall(r"^#? ?([A-Z][A-Z0-9]*_[A-Z0-9_]+)=", text, re.MULTILINE))


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    lines = (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines()
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in lines:
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending += line.rstrip("\\").strip() + " "
        if not line.endswith("\\"):
            keyword, _, arguments = pending.strip().partition(" ")
            instructions.append((keyword.upper(), arguments.strip()))
            pending = ""
    return instructions


def docker_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for keyword, arguments in dockerfile():
        if keyword == "ENV":
            for pair in shlex.split(arguments):
                name, _, value = pair.partition("=")
                env[name] = value
    return env


def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_env_example_documents_every_setting_and_names_no_other() -> None:
    assert documented_settings() == setting_names()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [name for name in setting_names() if f"`{name}`" not in readme]
    assert not missing, f"settings missing from the README's table: {missing}"


def test_dockerfile_runs_the_bot_as_a_non_root_user_with_its_database_on_a_volume() -> None:
    instructions = dockerfile()
    keywords = [keyword for keyword, _ in instructions]
    base = next(arguments for keyword, arguments in instructions if keyword == "ARG")
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.11-slim(-\w+)?", base)
    assert instructions[keywords.index("FROM")][1] == "${PYTHON_IMAGE}"

    [user] = [arguments for keyword, arguments in instructions if keyword == "USER"]
    assert user not in ("root", "0") and not user.startswith(("root:", "0:"))
    assert keywords.index("USER") < keywords.index("ENTRYPOINT")
    assert re.search(rf"useradd .*\b{user}\b", " ".join(a for k, a in instructions if k == "RUN"))

    [entrypoint] = [arguments for keyword, arguments in instructions if keyword == "ENTRYPOINT"]
    assert yaml.safe_load(entrypoint) == ["python", "-m", "bot"]

    env = docker_env()
    assert set(env) <= documented_settings() | {
        "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "PIP_NO_CACHE_DIR",
        "PIP_DISABLE_PIP_VERSION_CHECK",
    }  # fmt: skip
    [volume] = [arguments for keyword, arguments in instructions if keyword == "VOLUME"]
    database_folder = str(PurePosixPath(env["DATABASE_PATH"]).parent)
    assert yaml.safe_load(volume) == [database_folder]

    [healthcheck] = [arguments for keyword, arguments in instructions if keyword == "HEALTHCHECK"]
    assert healthcheck.split("CMD", 1)[1].strip() == '["python", "-m", "bot.healthcheck"]'
    assert env["METRICS_PORT"], "the health check needs the endpoint on"

    copied = " ".join(arguments for keyword, arguments in instructions if keyword == "COPY")
    assert "constraints.txt" in copied and ".env" not in copied.split()
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert ignored[ignored.index("*") :] and "!.env" not in ignored, "never send .env to a build"


def test_compose_runs_the_image_with_env_and_a_volume_and_a_dry_run_profile() -> None:
    data = compose()
    services = data["services"]
    bot = services["bot"]
    assert bot["build"] == "." and bot["env_file"] == ".env"
    assert bot["restart"] in ("unless-stopped", "always", "on-failure")
    assert "profiles" not in bot, "docker compose up must start the bot"
    database = PurePosixPath(bot["environment"]["DATABASE_PATH"])
    [volume] = bot["volumes"]
    name, _, target = volume.partition(":")
    assert target == str(database.parent) and name in data["volumes"]

    for service in services.values():
        if service.get("image") == bot["image"]:  # the bot's own settings, documented
            assert set(service.get("environment", {})) <= documented_settings()
        assert "ports" not in service, "nothing is published unless the owner chooses to"

    simulator, trial = services["simulator"], services["bot-dry-run"]
    assert simulator["profiles"] == ["dry-run"] and trial["profiles"] == ["dry-run"]
    assert "bot.simulator" in simulator["entrypoint"]
    assert trial["network_mode"] == "service:simulator"
    assert trial["environment"]["EVOLINK_BASE_URL"].startswith("http://127.0.0.1:")
    assert trial["environment"]["DATABASE_PATH"] != bot["environment"]["DATABASE_PATH"]
    assert trial["volumes"] != bot["volumes"], "a trial never touches the real database"


def test_compose_has_a_postgresql_profile_with_its_own_volume_and_the_bot_pointed_at_it() -> None:
    data = compose()
    services = data["services"]
    server, bot = services["postgres"], services["bot-postgres"]
    assert server["profiles"] == ["postgres"] and bot["profiles"] == ["postgres"]
    [volume] = server["volumes"]
    name, _, target = volume.partition(":")
    assert name in data["volumes"] and target == "/var/lib/postgresql/data"
    assert name not in " ".join(services["bot"]["volumes"]), "not the SQLite bot's volume"
    env, database_url = server["environment"], bot["environment"]["DATABASE_URL"]
    url = urlsplit(re.sub(r"\$\{[^}]*\}", "password", database_url))
    assert (url.scheme, url.hostname, url.port) == ("postgresql", "postgres", 5432)
    assert (url.username, url.path) == (env["POSTGRES_USER"], "/" + env["POSTGRES_DB"])
    password = "${POSTGRES_PASSWORD:?"  # one password, from .env, required
    assert env["POSTGRES_PASSWORD"].startswith(password) and password in database_url
    assert bot["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert bot["image"] == services["bot"]["image"] and bot["env_file"] == ".env"


def service_unit() -> configparser.ConfigParser:
    unit = configparser.ConfigParser(interpolation=None, strict=True)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(ROOT / "deploy" / "evolink-video-bot.service", encoding="utf-8")
    return unit


def test_systemd_unit_runs_as_its_own_user_and_may_write_only_its_data_folder() -> None:
    service = service_unit()["Service"]
    assert service["User"] not in ("root", "0") and service["Group"] == service["User"]
    workdir = PurePosixPath(service["WorkingDirectory"])
    assert service["ExecStart"] == f"{workdir}/.venv/bin/python -m bot"
    assert service["Restart"] == "on-failure" and service["RestartPreventExitStatus"] == "2"
    assert service["KillSignal"] == "SIGTERM" and int(service["TimeoutStopSec"]) > 10
    default_database = PurePosixPath("data/bot.db")  # DATABASE_PATH's default
    assert service["ReadWritePaths"] == str(workdir / default_database.parent)
    for setting, value in {
        "NoNewPrivileges": "yes", "ProtectSystem": "strict", "PrivateTmp": "yes",
        "ProtectHome": "yes", "PrivateDevices": "yes", "UMask": "0077",
    }.items():  # fmt: skip
        assert service[setting] == value, setting
    assert service_unit()["Install"]["WantedBy"] == "multi-user.target"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    """systemd's own check, with the install folder moved to a temporary one that exists."""
    install = tmp_path / "evolink-video-bot"
    (install / ".venv" / "bin").mkdir(parents=True)
    (install / "data").mkdir()
    (install / ".venv" / "bin" / "python").symlink_to(sys.executable)
    text = (ROOT / "deploy" / "evolink-video-bot.service").read_text(encoding="utf-8")
    unit = tmp_path / "evolink-video-bot.service"
    unit.write_text(text.replace("/opt/evolink-video-bot", str(install)), encoding="utf-8")
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    complaints = [line for line in result.stderr.splitlines() if unit.name in line]
    assert result.returncode == 0 and not complaints, result.stderr


def test_licence_is_mit_and_named_where_an_owner_looks() -> None:
    licence = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert licence.startswith("MIT License")
    assert "the EvoLink video bot contributors" in licence
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    assert "MIT" in (ROOT / "README.md").read_text(encoding="utf-8")


def requirements() -> tuple[list[Requirement], list[Requirement]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    runtime = [Requirement(r) for r in project["dependencies"]]
    test = [Requirement(r) for r in project["optional-dependencies"]["test"]]
    return runtime, test


def upper_bound(requirement: Requirement) -> Version:
    [bound] = [Version(s.version) for s in requirement.specifier if s.operator == "<"]
    return bound


def test_every_dependency_stops_below_its_next_major_and_tools_below_their_next_minor() -> None:
    runtime, test = requirements()
    for requirement in runtime + test:
        floor = min(Version(s.version) for s in requirement.specifier if s.operator == ">=")
        bound = upper_bound(requirement)
        assert floor < bound, requirement
        if requirement.name in ("ruff", "mypy", "pytest"):
            assert bound == Version(f"{floor.major}.{floor.minor + 1}"), requirement
        elif floor.major == 0:
            assert bound <= Version("1"), requirement
        else:
            assert bound == Version(f"{floor.major + 1}"), requirement
    [aiohttp] = [r for r in runtime if r.name == "aiohttp"]
    assert not aiohttp.specifier.contains("3.14.4"), "below aiohttp's last security fix"


def test_constraints_pin_a_release_every_requirement_accepts() -> None:
    pins: dict[str, str] = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    runtime, test = requirements()
    for requirement in runtime + test:
        name = re.sub(r"[-_.]+", "-", requirement.name).lower()
        assert name in pins, f"{requirement.name} is not pinned in constraints.txt"
        assert requirement.specifier.contains(pins[name]), (requirement, pins[name])
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert 'pip install --quiet -c constraints.txt -e ".[test]"' in ci
    for step in ("ruff check .", "ruff format --check .", "mypy"):
        assert re.search(rf"^{re.escape(step)}$", ci, re.MULTILINE), step
    # the tests, with a throwaway PostgreSQL for the [postgres] half
    assert re.search(r"^\.ci/with-postgres python -m pytest -q$", ci, re.MULTILINE)
