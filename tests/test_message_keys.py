"""Message keys built at run time (`failure.<code>`, `ledger.<kind>`, `log.status.<status>`...)
exist in English and Simplified Chinese for every value they can take, the values read from the
code's own constants and the database schema. A key that is missing would show members the raw
key (or a generic text) instead of their message.

A scan of bot/ and cogs/ keeps the list honest: a new key built from a variable must be added to
FAMILIES, and every key written out in full must exist."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from bot import moderation
from bot.export import COLUMNS as EXPORT_COLUMNS
from bot.settings import CREDIT_PERIODS
from bot.store import MIGRATIONS
from bot.ui.client import VideoBot
from bot.ui.i18n import LOCALES_DIR
from bot.ui.mod_render import _CHECKED, ACTIONS, DETAIL_NAMES, ROUTES, STATUSES
from bot.ui.render import TASK_FAILURES, task_failure_text
from cogs.credits import LEDGER_KINDS
from discord_double import FakeDiscord, option
from tests.conftest import FakeClock
from tests.test_moderation_cog import add, answer, videomod

ROOT = Path(__file__).resolve().parents[1]


def msgids(filename: str) -> frozenset[str]:
    """The message keys of a catalogue (command names and texts, which have a context, aside)."""
    with (LOCALES_DIR / filename).open("rb") as po:
        catalog = read_po(po)
    return frozenset(
        m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id and not m.context
    )


EN, ZH_CN = msgids("en.po"), msgids("zh_CN.po")
SOURCES = sorted(
    path
    for folder in ("bot", "bot/ui", "cogs")
    for path in (ROOT / folder).glob("*.py")
    if path.name not in ("i18n.py", "simulator.py")  # the catalogue itself; no messages
)

# EvoLink's task error codes (`error.code` of a failed task, EvoLink's error-codes page).
EVOLINK_TASK_ERRORS = (
    "content_policy_violation", "invalid_parameters", "request_cancelled",
    "generation_failed_no_content", "service_error", "generation_timeout", "resource_exhausted",
    "quota_exceeded", "service_unavailable", "resource_not_found", "unknown_error",
)  # fmt: skip
# What the bot stores as a failure's code itself (store, tracker, generations): these and the
# final statuses reach `failure.<code>` through `g.error_code or g.status`.
OWN_FAILURE_CODES = ("expired", "submit_unconfirmed", "task_not_found", "cancelled", "no_result")
GENERIC_FAILURES = {"unknown_error", "failed"}  # said as "EvoLink could not make this video"


def schema_values(table: str, column: str) -> tuple[str, ...]:
    """What `CHECK (column IN (...))` of `table` allows, as the migrations define it."""
    schema = "\n".join(MIGRATIONS)
    start = schema.index(f"CREATE TABLE {table} ")
    match = re.compile(rf"CHECK \({column} IN \(([^)]*)\)\)", re.S).search(schema, start)
    assert match is not None, (table, column)
    return tuple(re.findall(r"'([a-z_]+)'", match.group(1)))


def parsed(path: Path) -> ast.Module:
    """The module's code as written: mutmut's copy (see README, Development) also holds every
    mutated variant of a function, named `x<function>__mutmut_<number>`: those are left out."""
    module = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(module):
        if isinstance(node, ast.Module | ast.ClassDef):
            node.body = [
                child
                for child in node.body
                if not (
                    isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
                    and re.search(r"__mutmut_\d+$", child.name)
                )
            ]
    return module


def calls(name: str, where: str | None = None) -> Iterator[ast.Call]:
    """Every call of a function called `name` in bot/ and cogs/ (or only in the file `where`)."""
    for path in SOURCES:
        if where is not None and path.relative_to(ROOT).as_posix() != where:
            continue
        for node in ast.walk(parsed(path)):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                if node.func.id == name:
                    yield node


def literal_first_args(name: str, where: str | None = None) -> set[str]:
    """The texts written out as the first argument of `name(...)` (both branches of an `if`)."""
    found: set[str] = set()
    for call in calls(name, where):
        if call.args:
            for node in ast.walk(call.args[0]):
                if isinstance(node, ast.JoinedStr):
                    break  # built at run time: listed as a family of its own
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    found.add(node.value)
    return found


STATUSES_IN_SCHEMA = schema_values("generations", "status")
LEDGER_KINDS_IN_SCHEMA = schema_values("credit_ledger", "kind")
FAILURE_CODES = {*EVOLINK_TASK_ERRORS, *OWN_FAILURE_CODES, *STATUSES_IN_SCHEMA}
CAP_HOLDERS = ("server", "bot")  # bot/credits.py: _cap_reached(who)
TIMELINE = ("submitted", "finished", "delivered")  # bot/ui/mod_render.py: say(label)
# bot/ui/modlog_render.py undelivered_post: where the note about an undelivered video went
UNDELIVERED_REACHED = ("reached.withheld", "reached.channel", "reached.dm", "reached.nowhere")

# Every key template built at run time, with every value its placeholder can take.
FAMILIES: dict[str, tuple[str, ...]] = {
    "failure.{}": (*sorted(FAILURE_CODES - GENERIC_FAILURES), "unknown", "unknown_detail"),
    "ledger.{}": LEDGER_KINDS_IN_SCHEMA,
    "log.status.{}": STATUSES_IN_SCHEMA,
    "refusal.cap.{}": CAP_HOLDERS,
    "refusal.cap.{}.renews": CAP_HOLDERS,
    "modview.action.{}": (*ACTIONS, "take"),
    "limits.period.{}": CREDIT_PERIODS,
    "credits.remaining.{}": (*CREDIT_PERIODS, "other"),
    "credits.remaining_extra.{}": (*CREDIT_PERIODS, "other"),  # with a grant or a take
    "export.column.{}": EXPORT_COLUMNS,
    "refusal.allowance.{}": ("renews", "no_renewal"),  # bot/credits.py: _allowance_spent
    "{}.hint": ("refusal.allowance.renews", "refusal.allowance.no_renewal"),  # with a Hint
    # plural messages: one key, every form (the credit refusals count too: bot/credits.py)
    "{}": tuple(sorted(literal_first_args("tn") | literal_first_args("CreditRefused"))),
    "modview.{}": tuple(sorted(literal_first_args("say", "bot/ui/mod_render.py") | set(TIMELINE))),
    "modview.via.{}": ROUTES,
    "audit.detail.{}": DETAIL_NAMES,
    "audit.value.{}": ("True", "False"),
    "{}_title": tuple(_CHECKED.values()),
    "{}_note": tuple(_CHECKED.values()),
    "{}.expires": ("result.ready", "result.ready.link_below"),
    "modlog.undelivered.{}": tuple(
        sorted(literal_first_args("say", "bot/ui/modlog_render.py") | set(UNDELIVERED_REACHED))
    ),
    "limits.{}": tuple(sorted(literal_first_args("name", "cogs/credits.py"))),  # limits_embed
}
# Statuses that never fail: a completed video, and requests still on their way.
NOT_FAILURES = {"completed", "queued", "requested", "submitted", "running"}


def every_key() -> list[str]:
    return [
        template.format(value)
        for template, values in FAMILIES.items()
        for value in values
        if not (template == "failure.{}" and value in NOT_FAILURES)
    ]


@pytest.mark.parametrize("key", every_key())
def test_each_key_built_at_run_time_is_in_both_languages(key: str) -> None:
    assert key in EN, f"{key} is missing in English"
    assert key in ZH_CN, f"{key} is missing in Simplified Chinese"


def test_the_values_are_the_code_own() -> None:
    assert set(LEDGER_KINDS) == set(LEDGER_KINDS_IN_SCHEMA)
    assert set(STATUSES) == set(STATUSES_IN_SCHEMA) == moderation.KNOWN_STATUSES
    audit_actions = {
        moderation.BAN, moderation.UNBAN, moderation.BLOCKLIST_ADD, moderation.BLOCKLIST_REMOVE,
        moderation.CONFIG, moderation.GRANT, moderation.LIMIT, moderation.REFUND,
    }  # fmt: skip
    assert audit_actions <= set(ACTIONS)
    assert literal_first_args("_cap_reached") == set(CAP_HOLDERS)
    assert {"refusal.cooldown", "refusal.busy", "refusal.busy_waiting"} <= set(FAMILIES["{}"])
    assert {"generation", "param.duration", "timeline"} <= set(FAMILIES["modview.{}"])
    assert {"title", "cooldown", "max_running"} <= set(FAMILIES["limits.{}"])


@pytest.mark.parametrize("code", sorted({*EVOLINK_TASK_ERRORS, *OWN_FAILURE_CODES}))
@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_every_failure_code_has_its_own_words(code: str, locale: str) -> None:
    text = task_failure_text(code, "the API's own words", locale)
    assert "failure." not in text
    if code in GENERIC_FAILURES:
        assert "the API's own words" in text
    else:
        assert code in TASK_FAILURES
        assert text == task_failure_text(code, None, locale)  # not EvoLink's raw message


# What takes a message key as its first argument: the catalogue's functions, and the refusals
# the rules raise (bot/refusal.py), which the Discord side words.
TAKING_A_KEY = ("t", "tn", "Refusal", "CreditRefused", "InvalidInput", "RuleError")


def keys_built_from_variables() -> Iterator[tuple[str, int, str]]:
    """`t(f"failure.{code}")`-style keys as templates ("failure.{}"), with where they are."""
    for path in SOURCES:
        for node in ast.walk(parsed(path)):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            if node.func.id in TAKING_A_KEY and node.args:
                first = node.args[0]
                if isinstance(first, ast.JoinedStr):
                    template = "".join(
                        part.value if isinstance(part, ast.Constant) else "{}"
                        for part in first.values
                    )
                    yield path.name, node.lineno, template


def test_every_key_built_from_a_variable_is_listed() -> None:
    built = list(keys_built_from_variables())
    assert len(built) >= 8  # the scan finds them: failure, ledger, log.status, refusal.cap...
    unlisted = [
        (name, line, template) for name, line, template in built if template not in FAMILIES
    ]
    assert unlisted == []


KEY = re.compile(r"[a-z][a-z0-9_]*(\.[a-z0-9_]+)+")


def test_every_key_written_out_exists() -> None:
    families = {key.split(".")[0] for key in EN}
    written: set[str] = set()
    for path in SOURCES:
        for node in ast.walk(parsed(path)):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if KEY.fullmatch(node.value) and node.value.split(".")[0] in families:
                    written.add(node.value)
    assert len(written) > 200  # the scan finds them
    missing = [k for k in sorted(written) if k not in EN and f"{k}.one" not in EN]
    assert missing == []


@pytest.mark.parametrize(
    ("locale", "said"),
    [
        ("en-US", "It was cancelled before the video was made."),
        ("zh-CN", "它在视频生成之前已被取消。"),
    ],
)
async def test_a_cancelled_request_is_not_shown_as_evolinks_failure(
    fake_discord: FakeDiscord, bot: VideoBot, clock: FakeClock, locale: str, said: str
) -> None:
    g = await add(bot, clock, status="cancelled", error=("cancelled", ""))
    data = await answer(
        bot, fake_discord, videomod("show", [option("task_id", g.task_id)], locale=locale)
    )
    error = {f["name"]: f["value"] for f in data["embeds"][0]["fields"]}[
        "Error" if locale == "en-US" else "错误"
    ]
    assert said in error and "EvoLink" not in error
