"""Discord's size rules for what a bot sends, checked the way Discord checks them.

Discord answers a payload over a limit with HTTP 400, code 50035 "Invalid Form Body", and the
message is not sent. The double's model (discord_double/model.py) runs every request of both
transports (in-process and over HTTP) through :func:`payload_problems` and answers like that, so
every test that makes the bot send something also checks that it fits.

Written from Discord's documentation, independently of the bot's own clipping
(bot/ui/discord_limits.py), so a mistake in one is caught by the other. Lengths are counted in code
points, as Discord does.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

CONTENT = 2000
EMBEDS = 10
EMBED_TOTAL = 6000  # all embeds of one message together
EMBED_TITLE = 256
EMBED_DESCRIPTION = 4096
EMBED_FIELDS = 25
FIELD_NAME = 256
FIELD_VALUE = 1024
FOOTER = 2048
AUTHOR = 256
ACTION_ROWS = 5
ROW_ITEMS = 5
BUTTON_LABEL = 80
CUSTOM_ID = 100
LINK_URL = 512
SELECT_PLACEHOLDER = 150
SELECT_OPTIONS = 25
OPTION_TEXT = 100
MODAL_TITLE = 45
INPUT_LABEL = 45
INPUT_PLACEHOLDER = 100
INPUT_VALUE = 4000
CHOICES = 25
CHOICE_NAME = 100
CHOICE_VALUE = 100
COMMAND_NAME = 32
COMMAND_DESCRIPTION = 100
COMMAND_OPTIONS = 25
COMMAND_TOTAL = 4000  # names, descriptions and choices of one command together
MENTIONED_USERS = 100

_MESSAGE_SEND = re.compile(r"/channels/\d+/messages|/webhooks/\d+/[^/]+")
_MESSAGE_EDIT = re.compile(r"/channels/\d+/messages/\d+|/webhooks/\d+/[^/]+/messages/[^/]+")
_CALLBACK = re.compile(r"/interactions/\d+/[^/]+/callback")
_COMMANDS = re.compile(r"/applications/\d+(?:/guilds/\d+)?/commands")


def payload_problems(method: str, path: str, body: Any) -> list[str]:
    """What Discord would refuse in this request (empty: it fits). `path` is concrete, without
    the /api/v10 prefix."""
    if method == "PUT" and isinstance(body, list):
        if not _COMMANDS.fullmatch(path):
            return []
        return [p for i, command in enumerate(body) for p in _command(command, f"{i}")]
    if not isinstance(body, Mapping):
        return []
    if method == "POST" and _MESSAGE_SEND.fullmatch(path):
        return list(_message(body))
    if method == "PATCH" and _MESSAGE_EDIT.fullmatch(path):
        return list(_message(body))
    if method == "POST" and _CALLBACK.fullmatch(path):
        return list(_callback(body))
    return []


def _too_long(where: str, value: Any, limit: int, *, required: bool = False) -> Iterator[str]:
    if value is None:
        if required:
            yield f"{where}: This field is required"
        return
    text = str(value)
    if len(text) > limit:
        yield f"{where}: Must be {limit} or fewer in length ({len(text)})"
    elif required and not text:
        yield f"{where}: Must be 1 or more in length"


def _message(body: Mapping[str, Any]) -> Iterator[str]:
    yield from _too_long("content", body.get("content"), CONTENT)
    embeds = body.get("embeds") or []
    if len(embeds) > EMBEDS:
        yield f"embeds: Must be {EMBEDS} or fewer in length"
    total = 0
    for n, embed in enumerate(embeds):
        yield from _embed(embed, f"embeds.{n}")
        total += _embed_length(embed)
    if total > EMBED_TOTAL:
        yield f"embeds: Embed size exceeds maximum size of {EMBED_TOTAL} ({total})"
    yield from _components(body.get("components") or [], "components")
    users = (body.get("allowed_mentions") or {}).get("users") or []
    if len(users) > MENTIONED_USERS:
        yield f"allowed_mentions.users: Must be {MENTIONED_USERS} or fewer in length"


def _embed(embed: Mapping[str, Any], where: str) -> Iterator[str]:
    yield from _too_long(f"{where}.title", embed.get("title"), EMBED_TITLE)
    yield from _too_long(f"{where}.description", embed.get("description"), EMBED_DESCRIPTION)
    fields = embed.get("fields") or []
    if len(fields) > EMBED_FIELDS:
        yield f"{where}.fields: Must be {EMBED_FIELDS} or fewer in length"
    for n, f in enumerate(fields):
        yield from _too_long(f"{where}.fields.{n}.name", f.get("name"), FIELD_NAME, required=True)
        yield from _too_long(
            f"{where}.fields.{n}.value", f.get("value"), FIELD_VALUE, required=True
        )
    yield from _too_long(f"{where}.footer.text", (embed.get("footer") or {}).get("text"), FOOTER)
    yield from _too_long(f"{where}.author.name", (embed.get("author") or {}).get("name"), AUTHOR)


def _embed_length(embed: Mapping[str, Any]) -> int:
    parts = [
        embed.get("title"),
        embed.get("description"),
        (embed.get("footer") or {}).get("text"),
        (embed.get("author") or {}).get("name"),
    ]
    for f in embed.get("fields") or []:
        parts += [f.get("name"), f.get("value")]
    return sum(len(str(p)) for p in parts if p)


def _components(rows: list[Any], where: str) -> Iterator[str]:
    if len(rows) > ACTION_ROWS:
        yield f"{where}: Must be {ACTION_ROWS} or fewer in length"
    for n, row in enumerate(rows):
        items = (row.get("components") or []) if row.get("type") == 1 else [row]
        if len(items) > ROW_ITEMS:
            yield f"{where}.{n}.components: Must be {ROW_ITEMS} or fewer in length"
        for m, item in enumerate(items):
            yield from _item(item, f"{where}.{n}.components.{m}")


def _item(item: Mapping[str, Any], where: str) -> Iterator[str]:
    kind = item.get("type")
    yield from _too_long(f"{where}.custom_id", item.get("custom_id"), CUSTOM_ID)
    if kind == 2:  # button
        yield from _too_long(f"{where}.label", item.get("label"), BUTTON_LABEL)
        yield from _too_long(f"{where}.url", item.get("url"), LINK_URL)
    elif kind in (3, 5, 6, 7, 8):  # selects
        yield from _too_long(f"{where}.placeholder", item.get("placeholder"), SELECT_PLACEHOLDER)
        options = item.get("options") or []
        if len(options) > SELECT_OPTIONS:
            yield f"{where}.options: Must be {SELECT_OPTIONS} or fewer in length"
        for n, option in enumerate(options):
            for key in ("label", "value", "description"):
                yield from _too_long(f"{where}.options.{n}.{key}", option.get(key), OPTION_TEXT)
    elif kind == 4:  # text input
        yield from _too_long(f"{where}.label", item.get("label"), INPUT_LABEL)
        yield from _too_long(f"{where}.placeholder", item.get("placeholder"), INPUT_PLACEHOLDER)
        yield from _too_long(f"{where}.value", item.get("value"), INPUT_VALUE)
    elif kind == 18:  # a label around one component (modals)
        yield from _too_long(f"{where}.label", item.get("label"), INPUT_LABEL)
        yield from _too_long(f"{where}.description", item.get("description"), OPTION_TEXT)
        inner = item.get("component")
        if isinstance(inner, Mapping):
            yield from _item(inner, f"{where}.component")


def _callback(body: Mapping[str, Any]) -> Iterator[str]:
    kind, data = body.get("type"), body.get("data") or {}
    if kind in (4, 7):
        yield from _message(data)
    elif kind == 8:
        choices = data.get("choices") or []
        if len(choices) > CHOICES:
            yield f"data.choices: Must be {CHOICES} or fewer in length"
        for n, choice in enumerate(choices):
            where = f"data.choices.{n}"
            yield from _too_long(f"{where}.name", choice.get("name"), CHOICE_NAME, required=True)
            if isinstance(choice.get("value"), str):
                yield from _too_long(f"{where}.value", choice["value"], CHOICE_VALUE)
    elif kind == 9:
        yield from _too_long("data.title", data.get("title"), MODAL_TITLE, required=True)
        yield from _too_long("data.custom_id", data.get("custom_id"), CUSTOM_ID, required=True)
        yield from _components(data.get("components") or [], "data.components")


def _command(command: Mapping[str, Any], where: str) -> Iterator[str]:
    for text, limit, key in _command_texts(command):
        yield from _too_long(f"{where}.{key}", text, limit, required=True)
    for locale in {None, *_locales(command)}:
        total = _command_size(command, locale)
        if total > COMMAND_TOTAL:
            yield f"{where}: Command exceeds maximum size in {locale or 'default'} ({total})"
    yield from _options(command.get("options") or [], f"{where}.options")


def _command_texts(command: Mapping[str, Any]) -> Iterator[tuple[str, int, str]]:
    """Every name and description of a command, its options and choices, localizations too."""
    yield str(command.get("name", "")), COMMAND_NAME, "name"
    for locale, name in (command.get("name_localizations") or {}).items():
        yield str(name), COMMAND_NAME, f"name_localizations.{locale}"
    if command.get("type", 1) == 1:
        yield str(command.get("description", "")), COMMAND_DESCRIPTION, "description"
        for locale, text in (command.get("description_localizations") or {}).items():
            yield str(text), COMMAND_DESCRIPTION, f"description_localizations.{locale}"
    for n, option in enumerate(command.get("options") or []):
        for text, limit, key in _command_texts(option):
            yield text, limit, f"options.{n}.{key}"
    for n, choice in enumerate(command.get("choices") or []):
        yield str(choice.get("name", "")), CHOICE_NAME, f"choices.{n}.name"
        for locale, name in (choice.get("name_localizations") or {}).items():
            yield str(name), CHOICE_NAME, f"choices.{n}.name_localizations.{locale}"


def _locales(part: Mapping[str, Any]) -> set[str]:
    found: set[str] = set()
    for key in ("name_localizations", "description_localizations"):
        found |= set(part.get(key) or {})
    for child in [*(part.get("options") or []), *(part.get("choices") or [])]:
        found |= _locales(child)
    return found


def _command_size(part: Mapping[str, Any], locale: str | None) -> int:
    """Names, descriptions and choice values as one locale sees them (Discord's 4,000 rule)."""

    def text(key: str) -> str:
        localized = (part.get(f"{key}_localizations") or {}).get(locale) if locale else None
        return str(localized or part.get(key) or "")

    size = len(text("name")) + len(text("description"))
    if isinstance(part.get("value"), str):
        size += len(part["value"])
    for child in [*(part.get("options") or []), *(part.get("choices") or [])]:
        size += _command_size(child, locale)
    return size


def _options(options: list[Any], where: str) -> Iterator[str]:
    if len(options) > COMMAND_OPTIONS:
        yield f"{where}: Must be {COMMAND_OPTIONS} or fewer in length"
    for n, option in enumerate(options):
        if len(option.get("choices") or []) > CHOICES:
            yield f"{where}.{n}.choices: Must be {CHOICES} or fewer in length"
        yield from _options(option.get("options") or [], f"{where}.{n}.options")
