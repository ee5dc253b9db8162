"""The moderators' export: one CSV row per video with what a moderator reviews, that a person can
open in any spreadsheet. No discord, no catalogue: the Discord side gives the words (`Wording`).

- Columns: `COLUMNS`, in order; the settings as they took effect (defaults filled in); credits
  from the ledger (what the request held, what it cost in the end, what came back), so a
  moderator's refund shows too.
- Discord ids are 18-digit numbers that spreadsheets round (1.23457E+17): each is written as
  `="123456789012345678"`, which every spreadsheet shows as that text. That is the only formula in
  the file, made by the bot from a number.
- Numbers are written as people write them (5, 7.5) and left unquoted; every text is quoted.
- Member text cannot run as a formula: `defuse` (a `'` before each formula start, also after any
  separator a spreadsheet may split a cell at).
- Rows are read a batch at a time: memory does not grow with the history.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import IO, Any

from bot.request import ASPECT_RATIO, DURATION, QUALITY
from bot.store import Row
from bot.store.history import History, LogCursor, LogFilter

COLUMNS = (
    "time", "video", "server", "channel", "member_id", "member", "prompt", "negative_prompt",
    "quality", "aspect_ratio", "duration", "prompt_extend", "audio", "seed", "status", "error",
    "credits_held", "credits_charged", "credits_refunded", "task_id", "message",
)  # fmt: skip
#: Where a delivered video left a message of the server (a follow-up is one too).
POSTED_IN_CHANNEL = ("channel", "followup")


@dataclass(frozen=True)
class Wording:
    """The export's words in the reader's language, given by the Discord side. By default the
    columns' own names and the stored values."""

    header: Mapping[str, str] = field(default_factory=dict)  # column -> its name
    statuses: Mapping[str, str] = field(default_factory=dict)  # stored status -> its name
    yes: str = "true"
    no: str = "false"
    random_seed: str = ""


def message_link(
    guild_id: int | None, channel_id: int, message_id: int | None, via: str | None
) -> str | None:
    """The address of the message a video was posted in, where the server has one; None for a
    direct message or none at all."""
    if guild_id is None or message_id is None or via not in POSTED_IN_CHANNEL:
        return None
    return f"https://discord.com/channels/{guild_id}/{channel_id}/{message_id}"


async def write_csv(
    history: History, f: LogFilter, out: IO[str], wording: Wording, *, batch: int
) -> int:
    """Every video `f` picks, newest first, as CSV into `out`; returns the number of rows."""
    writer = csv.writer(out, quoting=csv.QUOTE_NONNUMERIC)
    writer.writerow([wording.header.get(column, column) for column in COLUMNS])
    count, after = 0, None
    while True:
        rows = await history.export_batch(f, after, batch)
        writer.writerows(_row(row, wording) for row in rows)
        count += len(rows)
        if len(rows) < batch:
            return count
        after = _cursor(rows[-1])


def _cursor(row: Row) -> LogCursor:
    return float(row["requested_at"]), int(row["id"])


def _row(row: Row, w: Wording) -> list[Any]:
    held, charged = row["held"], row["charged"]
    error = ": ".join(str(p) for p in (row["error_code"], row["error_message"]) if p)
    link = message_link(
        row["guild_id"], row["channel_id"], row["delivery_message_id"], row["delivered_via"]
    )
    return [
        dt.datetime.fromtimestamp(row["requested_at"], dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        int(row["id"]),
        _id(row["guild_id"]),
        _id(row["channel_id"]),
        _id(row["user_id"]),
        _text(row["user_name"]),
        _text(row["prompt"]),
        _text(row["negative_prompt"]),
        row["quality"] or QUALITY.default,
        row["aspect_ratio"] or ASPECT_RATIO.default,
        int(row["duration"] or DURATION.default),
        w.yes if row["prompt_extend"] else w.no,
        _text(row["audio_url"]),
        int(row["seed"]) if row["seed"] is not None else w.random_seed,
        w.statuses.get(row["status"], row["status"]),
        _text(error),
        _amount(held),
        _amount(charged),
        _amount(None if held is None or charged is None else held - charged),
        _text(row["task_id"]),
        link or "",
    ]


def _id(value: int | None) -> str:
    """A Discord id as text every spreadsheet keeps digit for digit."""
    return "" if value is None else f'="{int(value)}"'


def _amount(value: float | None) -> Decimal | str:
    """Credits as people write them (5, 7.5, 0.25), unquoted: a number to the spreadsheet."""
    if value is None:
        return ""
    return Decimal(f"{round(float(value), 2) + 0.0:.2f}".rstrip("0").rstrip("."))


def _text(value: str | None) -> str:
    return "" if value is None else defuse(value)


# A spreadsheet runs a cell that starts with one of these as a formula. Depending on its locale
# and import settings it may also split a cell at `;`, `,`, a tab or `|` (quotes or not), so a
# formula start right after one of those (or a line break), spaces aside, is defused too.
_FORMULA_AFTER_SPLIT = re.compile(r"(^|[;,\t|\n\r])(\s*)(?=[=+\-@\t\r＝＋－＠])")


def defuse(text: str) -> str:
    """Member text as inert spreadsheet text: `'` before each formula start (`a;=1` → `a;'=1`)."""
    return _FORMULA_AFTER_SPLIT.sub(r"\1\2'", text)
