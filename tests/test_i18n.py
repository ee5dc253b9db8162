"""The language catalogues (bot/locales/*.po): valid gettext files that agree with each other,
Discord's rules for localized command strings, the translator as discord.py's sync path calls
it, and a new language that is a new file and nothing else."""

from __future__ import annotations

import gettext
import shutil
import string
import subprocess
import unicodedata
from pathlib import Path
from typing import Any

import discord
import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import read_po, write_po
from discord import app_commands

from bot.ui import i18n
from bot.ui.client import VideoBot
from bot.ui.i18n import NAME_CONTEXT, TEXT_CONTEXT, Catalogues, Translator, t, tn
from tests.conftest import SpeakFrom

try:  # the `regex` module knows \p{sc=...}; without it, Unicode categories stand in
    import regex
except ImportError:  # pragma: no cover - depends on the environment
    regex = None

NAME_PATTERN = r"^[-_\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$"
ZH = discord.Locale.chinese.value
PO_FILES = sorted(i18n.LOCALES_DIR.glob("*.po"))


def is_valid_name(name: str) -> bool:
    """Discord's rule for (localized) chat-input command and option names."""
    if name != name.lower():
        return False
    if regex is not None:
        return regex.match(NAME_PATTERN, name) is not None
    return 1 <= len(name) <= 32 and all(
        c in "-_"
        or unicodedata.category(c)[0] in "LN"
        or "\u0900" <= c <= "\u097f"  # Devanagari
        or "\u0e00" <= c <= "\u0e7f"  # Thai
        for c in name
    )


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def has_chinese(text: str) -> bool:
    return any("\u4e00" <= c <= "\u9fff" for c in text)


def read(path: Path) -> Catalog:
    with path.open("rb") as po:
        return read_po(po, abort_invalid=True)


def forms(message: Message) -> list[str]:
    """A message's text, or each of its plural forms."""
    return list(message.string) if isinstance(message.string, tuple | list) else [message.string]


def key(message: Message) -> tuple[str | None, str]:
    msgid = message.id if isinstance(message.id, str) else message.id[0]
    return message.context, msgid


def messages(path: Path) -> dict[tuple[str | None, str], Message]:
    return {key(m): m for m in read(path) if m.id}


EN = messages(i18n.LOCALES_DIR / "en.po")
ZH_CN = messages(i18n.LOCALES_DIR / "zh_CN.po")
MESSAGE_KEYS = sorted(k for (context, k) in EN if context is None)


# --- the files ---------------------------------------------------------------------------------


def test_the_catalogues_are_english_and_simplified_chinese() -> None:
    assert [p.name for p in PO_FILES] == ["en.po", "zh_CN.po"]
    assert i18n.catalogues().served() == {"en-US": "en", "en-GB": "en", "zh-CN": "zh-CN"}


@pytest.mark.skipif(shutil.which("msgfmt") is None, reason="GNU gettext is not installed")
@pytest.mark.parametrize("path", PO_FILES, ids=lambda p: p.name)
def test_gnu_msgfmt_accepts_each_catalogue(path: Path) -> None:
    result = subprocess.run(
        ["msgfmt", "--check", "--output-file=/dev/null", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_both_catalogues_have_the_same_messages() -> None:
    assert sorted(set(EN) - set(ZH_CN), key=str) == []
    assert sorted(set(ZH_CN) - set(EN), key=str) == []
    for k, english in EN.items():
        assert english.pluralizable == ZH_CN[k].pluralizable, k
        assert not english.fuzzy and not ZH_CN[k].fuzzy, k
        assert all(forms(english)) and all(forms(ZH_CN[k])), f"untranslated: {k}"


@pytest.mark.parametrize(
    ("path", "count"), [(i18n.LOCALES_DIR / "en.po", 2), (i18n.LOCALES_DIR / "zh_CN.po", 1)]
)
def test_plural_forms_are_valid(path: Path, count: int) -> None:
    catalog = read(path)
    assert catalog.num_plurals == count
    assert f"nplurals={count};" in catalog.plural_forms
    choose = gettext.c2py(catalog.plural_expr)
    assert {choose(n) for n in range(1000)} == set(range(count))
    for message in catalog:
        if message.id and message.pluralizable:
            assert len(forms(message)) == count, message.id


LANGUAGE_NEUTRAL = {
    "credits.remaining.other", "credits.remaining_extra.other", "join.list", "join.sentences",
}  # fmt: skip


@pytest.mark.parametrize("key", MESSAGE_KEYS)
def test_each_message_keeps_its_placeholders_and_markdown(key: str) -> None:
    english, chinese = EN[(None, key)], ZH_CN[(None, key)]
    wanted = fields(forms(english)[0])
    for text in forms(english) + forms(chinese):
        assert fields(text) == wanted, text
    for marker in ("`", "**", "-#", "\n", "<t:", "<@"):
        counts = {text.count(marker) for text in forms(english) + forms(chinese)}
        assert len(counts) == 1, marker
    for text in forms(chinese):
        assert has_chinese(text) or key in LANGUAGE_NEUTRAL, f"untranslated: {text!r}"
    values = dict.fromkeys(wanted, 1)  # ints fit every format spec used ({:,} {:02d})
    if english.pluralizable:
        one, other = forms(english)
        values.pop("count", None)
        assert tn(key, 1, "en", **values) == one.format(count=1, **values)
        assert tn(key, 2, "en", **values) == other.format(count=2, **values)
        assert tn(key, 2, ZH, **values) == forms(chinese)[0].format(count=2, **values)
    else:
        assert t(key, "en", **values) == forms(english)[0].format(**values)
        assert t(key, ZH, **values) == forms(chinese)[0].format(**values)


# --- messages ----------------------------------------------------------------------------------


def test_english_texts_read_as_before() -> None:
    assert t("common.not_charged", None) == "You were not charged for it."
    assert t("duration.minutes", "en", minutes=2, seconds=5) == "2m 05s"
    assert (
        t("validation.whole_number", "en", option="seed", min=1, max=2147483647)
        == "`seed` must be a whole number from 1 to 2,147,483,647."
    )
    assert t("validation.audio_size", "en", option="audio", size_mb=20, limit_mb=15) == (
        "`audio` is 20.0 MB; the limit is 15 MB."
    )


def test_chinese_keeps_timestamps_and_mentions_intact() -> None:
    text = t("refusal.allowance.renews", "zh-CN", cost="5", left="2", when="<t:1800000000:R>")
    assert "<t:1800000000:R>" in text and "5 积分" in text
    ready = t("result.ready", "zh-CN", mention="<@42>", url="https://x.example/v.mp4")
    assert ready.startswith("<@42> ") and "https://x.example/v.mp4\n-# " in ready


def test_other_locales_fall_back_to_english() -> None:
    assert t("field.prompt", "fr") == "Prompt"
    assert t("field.prompt", "zh-TW") == "Prompt"  # Traditional Chinese has no catalogue yet
    assert t("field.prompt", None) == "Prompt"
    assert t("field.prompt", "zh-CN") == "提示词"
    assert t("field.prompt", discord.Locale.chinese) == "提示词"
    assert t("field.prompt", "zh_cn") == "提示词"
    assert t("field.prompt", discord.Locale.french) == "Prompt"


def edit(path: Path, changes: dict[str, str | None]) -> None:
    """Change (or, with None, remove) messages of a catalogue file, keeping it valid."""
    catalog = read(path)
    for msgid, text in changes.items():
        if text is None:
            del catalog[msgid]
        elif catalog[msgid].pluralizable:
            catalog[msgid].string = (text,) * catalog.num_plurals
        else:
            catalog[msgid].string = text
    with path.open("wb") as po:
        write_po(po, catalog)


@pytest.mark.unknown_message_keys
def test_missing_chinese_key_or_unfillable_text_falls_back_to_english(
    locales_dir: Path, speak_from: SpeakFrom
) -> None:
    edit(locales_dir / "zh_CN.po", {"footer.task": None, "status.cost": "{nonsense} 积分"})
    speak_from(locales_dir)
    assert t("footer.task", "zh-CN", task_id="task-1") == "Task task-1"
    assert tn("status.cost", 5, "zh-CN", credits="5") == "5 credits"
    assert t("field.prompt", "zh-CN") == "提示词"


@pytest.mark.unknown_message_keys
def test_an_unreadable_catalogue_is_left_out_but_english_is_required(
    locales_dir: Path, speak_from: SpeakFrom, caplog: pytest.LogCaptureFixture
) -> None:
    (locales_dir / "zh_CN.po").write_text("field.prompt = 提示词\n", encoding="utf-8")
    speak_from(locales_dir)
    assert t("field.prompt", "zh-CN") == "Prompt"
    assert "zh_CN.po cannot be read" in caplog.text
    (locales_dir / "en.po").unlink()
    with pytest.raises(ValueError, match=r"no en\.po"):
        Catalogues.load(locales_dir)


@pytest.mark.unknown_message_keys
def test_unknown_key_is_shown_as_it_is() -> None:
    assert t("no.such.key", "zh-CN") == "no.such.key"


def test_values_named_like_the_arguments_are_allowed() -> None:
    monkey = {"key": "k", "locale": "l"}
    assert t("footer.task", "en", task_id="x", **monkey) == "Task x"


def test_plural_forms() -> None:
    assert tn("refusal.cooldown", 1, "en").startswith("Please wait 1 more second before")
    assert tn("refusal.cooldown", 3, "en").startswith("Please wait 3 more seconds before")
    assert tn("refusal.busy_waiting", 2, "zh-CN", queued=1) == (
        "你已有 2 个视频正在生成，另有 1 个在排队。请等其中一个完成后再试。本次没有扣除任何积分。"
    )
    assert t("modview.delivered_via", "en", via="dm", count=1) == "Delivered via dm (1 attempt)"
    assert t("modview.delivered_via", "en", via="dm", count=0) == "Delivered via dm (0 attempts)"
    assert t("mod.export.done", "en", count=1) == "📄 1 video, newest first, times in UTC."
    assert t("mod.export.done", "en", count=1234) == "📄 1,234 videos, newest first, times in UTC."
    assert t("mod.export.done", "zh-CN", count=2) == "📄 2 个视频，最新的在前，时间为 UTC。"
    assert t("mod.ban.withdrawn", "en", count=1).startswith("Their 1 request still waiting")
    assert t("mod.ban.withdrawn", "en", count=2).startswith("Their 2 requests still waiting")


@pytest.mark.parametrize(
    ("amount", "shown"),
    [(1, "1 credit"), (1.0, "1 credit"), (0.999, "1 credit"), (5, "5 credits"),
     (0, "0 credits"), (0.5, "0.5 credits"), (7.5, "7.5 credits"), (-1, "1 credit")],
)  # fmt: skip
def test_an_amount_of_credits_is_counted_as_people_read_it(amount: float, shown: str) -> None:
    assert tn("status.cost", amount, "en", credits=f"{abs(round(amount, 2)):g}") == shown


def test_nothing_is_counted_with_a_parenthesised_plural() -> None:
    for message in [*EN.values(), *ZH_CN.values()]:
        for text in forms(message):
            assert "(s)" not in text and "(es)" not in text, text


def test_sentences_are_spaced_for_english_only() -> None:
    assert i18n.sentences("en", "A.", "B.") == "A. B."
    assert i18n.sentences("zh-CN", "甲。", "乙。") == "甲。乙。"


def test_option_labels_follow_the_locale() -> None:
    assert i18n.option_label("quality", "zh-CN") == "画质"
    assert i18n.option_label("quality", "en-US") == "quality"
    assert i18n.option_label("unknown_option", "zh-CN") == "unknown_option"


# --- command catalogues ------------------------------------------------------------------------


def commands(context: str) -> list[tuple[str, str]]:
    return sorted((k, forms(m)[0]) for (c, k), m in ZH_CN.items() if c == context)


@pytest.mark.parametrize(("english", "chinese"), commands(NAME_CONTEXT))
def test_localized_names_obey_discords_rules(english: str, chinese: str) -> None:
    assert is_valid_name(english), english
    assert is_valid_name(chinese), chinese
    assert has_chinese(chinese)


@pytest.mark.parametrize(("english", "chinese"), commands(TEXT_CONTEXT))
def test_localized_descriptions_and_choices_fit(english: str, chinese: str) -> None:
    assert 1 <= len(english) <= 100 and 1 <= len(chinese) <= 100
    assert has_chinese(chinese), chinese


def test_the_name_check_itself() -> None:
    assert is_valid_name("视频") and is_valid_name("audio_url") and is_valid_name("任务id")
    assert not is_valid_name("Video") and not is_valid_name("two words")
    assert not is_valid_name("x" * 33) and not is_valid_name("") and not is_valid_name("a:b")


async def test_translator_localizes_a_command_for_simplified_chinese_only() -> None:
    client = discord.Client(intents=discord.Intents.none())
    tree = app_commands.CommandTree(client)

    @tree.command(name="video", description="Make a short video from a text prompt")
    @app_commands.describe(quality="Resolution: 720p (default) or 1080p", note="Not catalogued")
    @app_commands.choices(
        quality=[
            app_commands.Choice(name="720p (default)", value="720p"),
            app_commands.Choice(name="1080p (sharper, costs more)", value="1080p"),
        ]
    )
    async def video(interaction: discord.Interaction, quality: str, note: str) -> None:
        del interaction, quality, note

    translator = Translator()
    await tree.set_translator(translator)
    payload = await video.get_translated_payload(tree, translator)

    assert payload["name"] == "video"  # the source stays English: Discord sends it back
    assert payload["name_localizations"] == {"zh-CN": "视频"}
    assert payload["description_localizations"] == {"zh-CN": "根据文字提示词生成一段短视频"}
    quality, note = payload["options"]
    assert quality["name_localizations"] == {"zh-CN": "画质"}
    assert quality["description_localizations"] == {"zh-CN": "画质：720p（默认）或 1080p"}
    assert [c["name_localizations"] for c in quality["choices"]] == [
        {"zh-CN": "720p（默认）"},
        {"zh-CN": "1080p（更清晰，费用更高）"},
    ]
    assert "name_localizations" not in note and "description_localizations" not in note
    await tree.set_translator(None)
    await client.close()


class Recorder(Translator):
    """The real translator, noting every string it could not translate into Chinese."""

    def __init__(self) -> None:
        self.missing: list[tuple[str, str]] = []

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        result = await super().translate(string, locale, context)
        if locale is discord.Locale.chinese and result is None:
            self.missing.append((context.location.name, string.message))
        return result


def _check_nodes(nodes: list[dict[str, Any]], where: str, problems: list[str]) -> None:
    """Discord's limits on every localized string, and distinct names among siblings."""
    seen: dict[str, str] = {}
    for node in nodes:
        path = f"{where} {node['name']}".strip()
        name = node.get("name_localizations", {}).get(ZH)
        if name is not None:
            if not is_valid_name(name):
                problems.append(f"{path}: invalid name {name!r}")
            if name in seen:
                problems.append(f"{path}: {name!r} is also {seen[name]}'s name")
            seen[name] = path
        description = node.get("description_localizations", {}).get(ZH)
        if description is not None and not 1 <= len(description) <= 100:
            problems.append(f"{path}: description is {len(description)} characters")
        for choice in node.get("choices", []):
            label = choice.get("name_localizations", {}).get(ZH, choice["name"])
            if not 1 <= len(label) <= 100:
                problems.append(f"{path}: choice {label!r} is too long")
        _check_nodes(node.get("options", []), path, problems)


async def test_every_registered_command_string_has_valid_chinese(bot: VideoBot) -> None:
    translator = Recorder()
    payloads = [
        await command.get_translated_payload(bot.tree, translator)
        for command in bot.tree.get_commands()
    ]
    assert payloads
    problems: list[str] = []
    _check_nodes(payloads, "", problems)
    missing = sorted(set(translator.missing))
    assert missing == [], "add these to bot/locales/*.po"
    assert problems == []


# --- a new language is a new file --------------------------------------------------------------

TINY = """msgid ""
msgstr ""
"Language: {language}\\n"
"Content-Type: text/plain; charset=UTF-8\\n"
"Plural-Forms: nplurals=2; plural=(n > 1);\\n"

msgid "field.prompt"
msgstr "{text}"
"""


@pytest.mark.parametrize(
    ("files", "served"),
    [
        (["fr"], {"fr": "fr"}),
        (["pt_BR"], {"pt-BR": "pt-BR"}),
        (["es"], {"es-ES": "es", "es-419": "es"}),
        (["es", "es_419"], {"es-ES": "es", "es-419": "es-419"}),  # a region's own file wins
        (["sv", "nb", "zh_TW"], {"sv-SE": "sv", "no": "nb", "zh-TW": "zh-TW"}),
    ],
)
def test_a_file_s_name_says_which_discord_locales_it_serves(
    locales_dir: Path, files: list[str], served: dict[str, str]
) -> None:
    for name in files:
        text = TINY.format(language=name, text=f"prompt ({name})")
        (locales_dir / f"{name}.po").write_text(text, encoding="utf-8")
    catalogues = Catalogues.load(locales_dir)
    assert catalogues.served() == {"en-US": "en", "en-GB": "en", "zh-CN": "zh-CN", **served}
    for locale, language in served.items():
        prompt = f"prompt ({language.replace('-', '_')})"  # the file's own text
        assert catalogues.find(locale).message("field.prompt") == prompt


def test_a_new_language_falls_back_to_english_for_what_it_lacks(
    locales_dir: Path, speak_from: SpeakFrom
) -> None:
    (locales_dir / "fr.po").write_text(
        TINY.format(language="fr", text="Consigne"), encoding="utf-8"
    )
    speak_from(locales_dir)
    assert t("field.prompt", "fr") == "Consigne"
    assert t("field.prompt", "fr-CA") == "Consigne"  # not a Discord locale, but French
    assert t("field.settings", "fr") == "Settings"
    assert tn("status.cost", 1, "fr", credits="1") == "1 credit"
    assert i18n.language("fr") == "fr" and i18n.language("de") == "en"
    assert i18n.option_label("quality", "fr") == "quality"
    assert t("field.prompt", "zh-CN") == "提示词"
