"""bot/ui/discord_limits.py: clipping to Discord's limits without breaking what it renders."""

from __future__ import annotations

import discord
import pytest

from bot.ui.discord_limits import EMBED_TOTAL, clip_text, fit_embed, join_lines
from discord_double.rules import payload_problems


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("short", 10, "short"),
        ("abcdef", 4, "abc…"),
        ("ab \\_cd", 5, "ab…"),  # not "ab \…": the escape stays whole or goes
        ("hi <@123456789012345678> there", 12, "hi…"),
        ("hi <@\u200b!123456789012345678> there", 14, "hi…"),  # as escape_mentions leaves it
        ("at <t:1800000000:R> ok", 10, "at…"),
        ("see [the video](https://e.com/v.mp4) now", 25, "see…"),
        ("go https://e.com/" + "a" * 50 + " end", 30, "go…"),
        ("code `a_b*c` here", 10, "code…"),
        ("e\u0301e\u0301e\u0301", 4, "e\u0301…"),  # an accent stays with its letter
        ("ok 👨\u200d👩\u200d👧 family", 6, "ok…"),  # a joined emoji is never split
        ("ok 👍🏽 yes", 5, "ok…"),  # nor a skin tone from its hand
        ("\\_\\_\\_\\_", 6, "\\_\\_…"),
    ],
)
def test_clip_never_cuts_a_piece_discord_renders(text: str, limit: int, expected: str) -> None:
    clipped = clip_text(text, limit)
    assert clipped == expected and len(clipped) <= limit


def test_join_lines_keeps_whole_lines_and_says_how_many_are_left_out() -> None:
    lines = [f"line {n} " + "x" * 20 for n in range(10)]
    text = join_lines(lines, 100, lambda n: f"+{n} more")
    assert text.endswith("+7 more") and len(text) <= 100
    assert text.splitlines()[:3] == lines[:3]
    assert join_lines(["y" * 300], 100).endswith("…")
    assert join_lines(lines[:2], 1000) == "\n".join(lines[:2])


def test_fit_embed_meets_every_limit_with_escape_heavy_parts() -> None:
    embed = discord.Embed(title="\\_" * 300, description="\\*" * 3000)
    for n in range(30):
        embed.add_field(name=f"<@{n}>" * 100, value="\\_" * 700, inline=False)
    embed.add_field(name="empty", value="")
    embed.set_footer(text="f" * 3000)
    embed.set_author(name="a" * 300)
    fit_embed(embed)
    assert payload_problems("POST", "/channels/1/messages", {"embeds": [embed.to_dict()]}) == []
    assert len(embed) <= EMBED_TOTAL and embed.description and embed.description.endswith("…")
    assert all(not f.value.endswith("\\…") for f in embed.fields if f.value)


def test_fit_embed_leaves_a_fitting_embed_alone() -> None:
    embed = discord.Embed(title="t", description="d")
    embed.add_field(name="n", value="v")
    before = embed.to_dict()
    assert fit_embed(embed).to_dict() == before
