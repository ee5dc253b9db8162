"""The bot's words in each language it speaks, read from the gettext catalogues in bot/locales/.

Each ``<language>.po`` file there is one language, found when the bot starts (a new language is a
new file: see README.md). English, ``en.po``, is the source: every other locale, and anything a
catalogue lacks or cannot fill, is English. A catalogue holds:

* **Messages**, keyed by a descriptive msgid: :func:`t` (``t("status.title.working", locale)``),
  or :func:`tn` for a text that counts something (``tn("refusal.cooldown", 3, locale)``, the
  same as ``t()`` with a ``count`` value): the catalogue's ``Plural-Forms`` picks the form.
  Placeholders use :meth:`str.format`. The locale is the member's Discord locale
  (``interaction.locale``, or the stored ``generations.locale``).
* **Commands**: names under msgctxt ``command name`` (Discord's rule: lowercase, 1-32 letters,
  digits, ``-`` or ``_``), descriptions and choice names under ``command text`` (1-100
  characters), each keyed by the English the code declares. :class:`Translator` hands them to
  discord.py while it builds the payload of ``tree.sync()``. Discord sends the English names back
  in every interaction, so translating them never changes how commands are dispatched.

A file's name says which Discord locales it serves: ``zh_CN.po`` serves ``zh-CN``, ``pt_BR.po``
``pt-BR``, and a language without a region every Discord locale of that language that has no
file of its own (``fr.po``: ``fr``; ``es.po``: ``es-ES`` and ``es-419``; ``en.po``: ``en-US`` and
``en-GB``).
"""

from __future__ import annotations

import gettext
import io
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, TypeAlias

import discord
from babel.messages.mofile import write_mo
from babel.messages.pofile import PoFileError, read_po
from discord import app_commands
from discord.app_commands import TranslationContextLocation as Where

log = logging.getLogger(__name__)

LOCALES_DIR: Final = Path(__file__).parent.parent / "locales"
ENGLISH: Final = "en"  # the source language: en.po must exist
CHINESE: Final = "zh-CN"  # discord.Locale.chinese: Simplified Chinese
NAME_CONTEXT: Final = "command name"
TEXT_CONTEXT: Final = "command text"

#: What the functions here accept as a member's language: a Discord locale, its value such as
#: "zh-CN" (as stored in `generations.locale`), or None for English.
AnyLocale: TypeAlias = str | discord.Locale | None

_ALIASES = {"zh": "zh-cn", "zh-hans": "zh-cn", "zh-hans-cn": "zh-cn"}  # what people also write
_LANGUAGE_ALIASES = {"nb": "no"}  # Norwegian Bokmål is "no" to Discord
_DISCORD_LOCALES = tuple(locale.value for locale in discord.Locale)


def _tag(locale: str) -> str:
    """A locale in one spelling for lookups: "zh_CN", "zh-CN", "zh-cn" -> "zh-cn"."""
    tag = locale.strip().replace("_", "-").lower()
    return _ALIASES.get(tag, tag)


@dataclass(frozen=True)
class Catalogue:
    """One language: `language` is its file's name as Discord writes locales ("zh-CN")."""

    language: str
    translations: gettext.GNUTranslations = field(repr=False)

    def message(self, key: str, number: int | None = None) -> str | None:
        """The text of `key`; for a message with plural forms, the form for `number`."""
        if number is not None:
            text = self.translations.ngettext(key, key, number)
            if text != key:
                return text
        text = self.translations.gettext(key)
        return None if text == key else text

    def command(self, context: str, english: str) -> str | None:
        """A command string in this language, or None where it stays English."""
        text = self.translations.pgettext(context, english)
        return None if text == english else text


def read_catalogue(path: Path) -> Catalogue:
    """A .po file, compiled in memory as msgfmt would: fuzzy and empty entries are left out."""
    with path.open("rb") as po:
        catalog = read_po(po, abort_invalid=True)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    language = path.stem.replace("_", "-")
    return Catalogue(language, gettext.GNUTranslations(compiled))


class Catalogues:
    """Every language found in a directory of .po files, by the Discord locales each serves."""

    def __init__(self, catalogues: Iterable[Catalogue]) -> None:
        by_tag = {_tag(c.language): c for c in catalogues}
        if ENGLISH not in by_tag:
            raise ValueError(f"no {ENGLISH}.po: English is the source of every text")
        self.source = by_tag[ENGLISH]
        self._by_tag: dict[str, Catalogue] = {}
        for tag, catalogue in sorted(by_tag.items(), key=lambda item: "-" in item[0]):
            self._by_tag[tag] = catalogue  # regions last: a region's own file wins
            language = _LANGUAGE_ALIASES.get(tag, tag)
            for locale in _DISCORD_LOCALES:
                if "-" not in tag and locale.lower().split("-")[0] == language:
                    self._by_tag[locale.lower()] = catalogue

    @classmethod
    def load(cls, directory: Path) -> Catalogues:
        """Read every .po file in `directory`; one that cannot be read is left out (its
        language falls back to English), except en.po, without which nothing can be said."""
        catalogues = []
        for path in sorted(directory.glob("*.po")):
            try:
                catalogues.append(read_catalogue(path))
            except (OSError, PoFileError, ValueError, UnicodeDecodeError) as exc:
                if path.stem == ENGLISH:
                    raise
                log.error("language file %s cannot be read, so it is not used: %s", path, exc)
        return cls(catalogues)

    def find(self, locale: AnyLocale) -> Catalogue:
        """The catalogue for a member's locale; English when no file serves it."""
        if isinstance(locale, discord.Locale):
            locale = locale.value
        if not locale:
            return self.source
        tag = _tag(locale)
        return self._by_tag.get(tag) or self._by_tag.get(tag.split("-")[0]) or self.source

    def served(self) -> dict[str, str]:
        """Each Discord locale with a catalogue of its own, and that catalogue's language."""
        return {
            locale: self._by_tag[locale.lower()].language
            for locale in _DISCORD_LOCALES
            if locale.lower() in self._by_tag
        }


_catalogues = Catalogues.load(LOCALES_DIR)


def catalogues() -> Catalogues:
    """The languages in use (read from bot/locales/ at start)."""
    return _catalogues


def use_catalogues(new: Catalogues) -> Catalogues:
    """Speak the languages of `new` from now on (tests: another locales directory); returns the
    catalogues used before."""
    global _catalogues
    previous, _catalogues = _catalogues, new
    return previous


# --- messages ---------------------------------------------------------------------------------


def t(key: str, locale: AnyLocale = None, /, **values: object) -> str:
    """The message `key` in the member's language, its ``{placeholders}`` filled from `values`.
    A message that counts something has plural forms: the catalogue's ``Plural-Forms`` picks
    the one for ``values["count"]``, a number (see :func:`tn`).

    Falls back to English for other locales and for keys the member's catalogue lacks (or whose
    text cannot be filled); a key unknown in English too is returned as it is, logged.
    """
    count = values.get("count")
    number = plural_number(count) if isinstance(count, int | float) else None
    return _fill(key, locale, lambda catalogue: catalogue.message(key, number), values)


def tn(key: str, count: float, locale: AnyLocale = None, /, **values: object) -> str:
    """A message that counts something, in the plural form for `count` (also its ``{count}``,
    unless `values` has one)."""
    return t(key, locale, **{"count": count, **values})


def plural_number(count: float) -> int:
    """The whole number that picks a plural form for `count`. Amounts are shown to two decimals,
    and one with a fraction (7.5 credits) takes the form of a number other than one, as in
    English and most languages."""
    count = abs(round(count, 2))
    return int(count) if float(count).is_integer() else 2


def _fill(
    key: str,
    locale: AnyLocale,
    lookup: Callable[[Catalogue], str | None],
    values: dict[str, object],
) -> str:
    catalogue = _catalogues.find(locale)
    if catalogue is not _catalogues.source:
        text = lookup(catalogue)
        if text is not None:
            try:
                return text.format(**values)
            except (KeyError, IndexError, ValueError):
                log.warning(
                    "the %s text of %r does not fit its values; using English",
                    catalogue.language,
                    key,
                )
    text = lookup(_catalogues.source)
    if text is None:
        log.warning("no message %r", key)
        return key
    return text.format(**values)


def language(locale: AnyLocale) -> str:
    """The language a member reads, as its catalogue is named: "zh-CN", or "en" for English."""
    return _catalogues.find(locale).language


def listing(locale: AnyLocale, items: Iterable[str]) -> str:
    """Items in a row: "a, b, c" in English, "a、b、c" in Chinese."""
    return _joined(locale, "join.list", items)


def sentences(locale: AnyLocale, *parts: str) -> str:
    """Sentences side by side: a space between them in English, none in Chinese."""
    return _joined(locale, "join.sentences", (p for p in parts if p))


def _joined(locale: AnyLocale, key: str, items: Iterable[str]) -> str:
    joined: str | None = None
    for item in items:
        joined = item if joined is None else t(key, locale, previous=joined, next=item)
    return joined or ""


# --- commands ---------------------------------------------------------------------------------


def option_label(name: str, locale: AnyLocale) -> str:
    """An option's name as the member sees it in Discord: `quality` is `画质` in Chinese."""
    return _catalogues.find(locale).command(NAME_CONTEXT, name) or name


def command_text(english: str, locale: AnyLocale) -> str:
    """A description or choice name as the member's Discord shows it."""
    return _catalogues.find(locale).command(TEXT_CONTEXT, english) or english


_CONTEXTS = {
    Where.command_name: NAME_CONTEXT,
    Where.group_name: NAME_CONTEXT,
    Where.parameter_name: NAME_CONTEXT,
    Where.command_description: TEXT_CONTEXT,
    Where.group_description: TEXT_CONTEXT,
    Where.parameter_description: TEXT_CONTEXT,
    Where.choice_name: TEXT_CONTEXT,
}


class Translator(app_commands.Translator):
    """Command names, descriptions, options and choices in every language with a catalogue;
    None (Discord shows the English) for English and for anything not translated.

    Install with ``await bot.tree.set_translator(Translator())`` before ``tree.sync()``.
    """

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        catalogue = _catalogues.find(locale)
        where = _CONTEXTS.get(context.location)
        if catalogue is _catalogues.source or where is None:
            return None
        return catalogue.command(where, string.message)
