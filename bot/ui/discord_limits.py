"""Discord's size limits, and clipping that keeps every text the bot sends within them.

Discord refuses a whole message (400, code 50035) when one part is too long, so a long prompt,
reason or link must never reach it unclipped. The render layers (bot/ui/render.py,
bot/ui/mod_render.py and the embeds the cogs build) pass what they build through :func:`fit_embed`
and :func:`clip_text`; this module is the one place that knows the numbers.

Clipping is safe for what Discord renders: it never cuts inside a markdown escape (``\\_``), a
mention or channel (``<@123>``, ``<#1>``), a timestamp (``<t:1:R>``), a custom emoji, a masked
link (``[text](url)``), a bare link, or an inline code span, nor between a character and the marks
or joiners that belong to it; such a piece is left out whole. A cut is marked with an ellipsis.
Lengths are counted in code points, as Discord counts them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence

import discord

CONTENT = 2000
EMBED_TITLE = 256
EMBED_DESCRIPTION = 4096
FIELD_NAME = 256
FIELD_VALUE = 1024
FOOTER = 2048
AUTHOR = 256
EMBED_FIELDS = 25
EMBED_TOTAL = 6000  # every embed of one message together
BUTTON_LABEL = 80
SELECT_TEXT = 100  # a select option's label, value and description
INPUT_LABEL = 45  # a modal's text input
MODAL_TITLE = 45
CHOICE_NAME = 100  # an autocomplete choice's name, and its value when a string
CHOICE_VALUE = 100

ELLIPSIS = "…"
EMPTY = "\u200b"  # Discord refuses an empty field; this shows nothing
_SHRINK_FLOOR = 40  # the 6000 rule never shrinks a part below this

# Pieces that must stay whole: an escape, a mention, channel, role, timestamp or custom emoji, a
# masked link, a bare link, an inline code span.
_ATOMS = re.compile(
    r"\\[^\n]"
    r"|<(?:@\u200b?[!&]?\u200b?\d+|#\d+|t:-?\d+(?::[a-zA-Z])?|a?:\w+:\d+)>"
    r"|\[[^\]\n]*\]\([^)\s]*\)"
    r"|https?://[^\s<>]+"
    r"|`[^`\n]*`"
)


def clip_text(text: str, limit: int) -> str:
    """`text` as it is if it fits in `limit` characters, else cut at a safe place, with '…'."""
    if len(text) <= limit:
        return text
    if limit <= len(ELLIPSIS):
        return ELLIPSIS[:limit]
    cut = limit - len(ELLIPSIS)
    for atom in _ATOMS.finditer(text):  # from the start: escapes pair up left to right
        if atom.start() >= cut:
            break
        if cut < atom.end():
            cut = atom.start()
            break
    while cut > 0 and _joins_previous(text, cut):
        cut -= 1
    return text[:cut].rstrip() + ELLIPSIS


def _joins_previous(text: str, index: int) -> bool:
    """Whether a cut before text[index] would split a character from what belongs to it."""
    char, previous = text[index], text[index - 1]
    return (
        unicodedata.combining(char) != 0
        or char in "\u200d\ufe0e\ufe0f"
        or previous == "\u200d"
        or "\U0001f3fb" <= char <= "\U0001f3ff"  # skin tones
        or "\udc00" <= char <= "\udfff"  # the second half of a surrogate pair
    )


def join_lines(lines: Sequence[str], limit: int, more: Callable[[int], str] | None = None) -> str:
    """Whole lines, as many as fit in `limit` with "\\n" between them; `more(n)` is the last line
    when n lines had to be left out. A first line too long on its own is clipped."""
    for shown in range(len(lines), 0, -1):
        kept = list(lines[:shown])
        if shown < len(lines) and more is not None:
            kept.append(more(len(lines) - shown))
        text = "\n".join(kept)
        if len(text) <= limit:
            return text
    tail = f"\n{more(len(lines) - 1)}" if more is not None and len(lines) > 1 else ""
    if len(tail) >= limit // 2:
        tail = ""
    return clip_text(lines[0], limit - len(tail)) + tail if lines else ""


def fit_embed(embed: discord.Embed) -> discord.Embed:
    """The embed, changed in place to fit every Discord limit: each part on its own, at most 25
    fields, and 6000 characters in all (the description and the longest field values give way
    first)."""
    if embed.title is not None:
        embed.title = clip_text(str(embed.title), EMBED_TITLE)
    if embed.description is not None:
        embed.description = clip_text(str(embed.description), EMBED_DESCRIPTION) or EMPTY
    while len(embed.fields) > EMBED_FIELDS:
        embed.remove_field(EMBED_FIELDS)
    for index, field in enumerate(embed.fields):
        embed.set_field_at(
            index,
            name=clip_text(str(field.name or ""), FIELD_NAME) or EMPTY,
            value=clip_text(str(field.value or ""), FIELD_VALUE) or EMPTY,
            inline=bool(field.inline),
        )
    if embed.footer.text is not None:
        embed.set_footer(text=clip_text(embed.footer.text, FOOTER), icon_url=embed.footer.icon_url)
    if embed.author.name is not None:
        embed.set_author(
            name=clip_text(embed.author.name, AUTHOR), url=embed.author.url,
            icon_url=embed.author.icon_url,
        )  # fmt: skip
    _shrink_to_total(embed)
    return embed


def _shrink_to_total(embed: discord.Embed) -> None:
    """Cut the longest of the description and the field values until the embed fits."""
    while (excess := len(embed) - EMBED_TOTAL) > 0:
        parts: list[tuple[int, int]] = [(len(f.value or ""), i) for i, f in enumerate(embed.fields)]
        parts.append((len(embed.description or ""), -1))
        size, index = max(parts)
        if size <= _SHRINK_FLOOR:
            if not embed.fields:
                return  # cannot happen: without fields the other parts stay under 6000
            embed.remove_field(len(embed.fields) - 1)  # only short parts left: fewer fields
            continue
        target = max(size - excess, _SHRINK_FLOOR)
        if index == -1:
            embed.description = clip_text(embed.description or "", target) or EMPTY
        else:
            field = embed.fields[index]
            value = clip_text(field.value or "", target) or EMPTY
            embed.set_field_at(index, name=field.name, value=value, inline=bool(field.inline))
