"""/videomod export opened in a spreadsheet: member text never runs as a formula. Spreadsheets
split cells at `;`, `,`, tabs or `|` depending on their locale, and then run a piece that starts
with `=`, `+`, `-` or `@` (or their full-width forms): every such piece is defused with `'`, and
every text cell is quoted."""

from __future__ import annotations

import csv
import io
import re

import pytest

from bot.ui.client import VideoBot
from discord_double import FakeDiscord
from tests.conftest import FakeClock
from tests.test_moderation_cog import add, export_file, videomod

FORMULA_STARTS = ("=", "+", "-", "@", "＝", "＋", "－", "＠")
SEPARATORS = (";", ",", "\t", "|", "\n", "\r")

HOSTILE = {
    'a;=HYPERLINK("http://x")': 'a;\'=HYPERLINK("http://x")',
    "x,@SUM(1)": "x,'@SUM(1)",
    "x\t=1": "x\t'=1",
    "x|-2+3": "x|'-2+3",
    "y; ＝1+1": "y; '＝1+1",
    "line one\n+cmd|' /C calc'!A0": "line one\n'+cmd|' /C calc'!A0",
    "=1+1": "'=1+1",
    "@user": "'@user",
}
HARMLESS = ["a - b = c", "one, two; three | four", "一只小猫，在雪地里"]
OUR_ID = re.compile(r'="\d+"')  # a Discord id, as the export writes it


def pieces(cell: str) -> list[str]:
    """Every piece a spreadsheet may make of a cell, whichever separator it splits at."""
    found = [cell]
    for separator in SEPARATORS:
        found += [piece for part in found for piece in part.split(separator)]
    return found


async def exported_rows(bot: VideoBot, fake: FakeDiscord) -> tuple[str, list[dict[str, str]]]:
    text, _, content = await export_file(bot, fake, videomod("export"))
    assert re.search(r"\d+ videos?\b", text)
    raw = content.decode("utf-8-sig")
    return raw, list(csv.DictReader(io.StringIO(raw)))


async def test_member_text_is_defused_after_every_separator(
    fake_discord: FakeDiscord, bot: VideoBot, clock: FakeClock
) -> None:
    for prompt in [*HOSTILE, *HARMLESS]:
        await add(bot, clock, prompt=prompt, negative_prompt=prompt, error=("x", prompt))
    _, rows = await exported_rows(bot, fake_discord)
    shown = {r["Prompt"] for r in rows}
    assert shown == {*HOSTILE.values(), *HARMLESS}
    for row in rows:
        assert row["Negative prompt"] == row["Prompt"] and row["Error"].startswith("x: ")
        for name, cell in row.items():
            if OUR_ID.fullmatch(cell):
                continue  # the bot's own formula: a Discord id kept as text
            runs = [p for p in pieces(cell) if p.strip().startswith(FORMULA_STARTS)]
            assert runs == [], (name, cell)


async def test_every_text_cell_is_quoted_and_numbers_are_not(
    fake_discord: FakeDiscord, bot: VideoBot, clock: FakeClock
) -> None:
    g = await add(bot, clock, prompt="x,@SUM(1)")
    raw, _ = await exported_rows(bot, fake_discord)
    header, line = raw.splitlines()[:2]
    assert header.startswith('"Time (UTC)","Video #","Server ID","Channel ID","Member ID"')
    cells = next(csv.reader(io.StringIO(line)))
    ids = f'"=""{g.guild_id}""","=""{g.channel_id}""","=""{g.user_id}"""'
    assert line.startswith(f'"{cells[0]}",{g.id},{ids},')  # the video's number is a number
    assert f'"{g.task_id}"' in line and '"x,\'@SUM(1)"' in line
    assert ",6," in line  # the duration
    texts = [c for c in cells if c and not c.replace(".", "").isdigit()]
    assert texts and all(f'"{c}"' in line.replace('""', '"') for c in texts)


@pytest.mark.parametrize("locale_separator", [";", "\t", "|"])
async def test_a_spreadsheet_splitting_the_raw_file_finds_no_formula(
    fake_discord: FakeDiscord, bot: VideoBot, clock: FakeClock, locale_separator: str
) -> None:
    for prompt in HOSTILE:
        await add(bot, clock, prompt=prompt)
    raw, _ = await exported_rows(bot, fake_discord)
    for line in raw.splitlines():
        for cell in line.split(locale_separator):  # quotes ignored, as a naive import does
            assert not cell.strip().lstrip('"').strip().startswith(FORMULA_STARTS), cell
