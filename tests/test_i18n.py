"""English and Simplified Chinese: the message catalogues, Discord's rules for localized command
strings, and the translator as discord.py's sync path calls it."""

from __future__ import annotations

import string
import unicodedata
from typing import Any

import discord
import pytest
from discord import app_commands

from bot import i18n
from bot.client import VideoBot
from bot.i18n import COMMAND_NAMES_ZH, COMMAND_TEXTS_ZH, EN, ZH_CN, Translator, t, tn

try:  # the `regex` module knows \p{sc=...}; without it, Unicode categories stand in
    import regex
except ImportError:  # pragma: no cover - depends on the environment
    regex = None

NAME_PATTERN = r"^[-_\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$"
ZH = discord.Locale.chinese.value


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


# --- message catalogues ------------------------------------------------------------------------


def test_both_catalogues_have_the_same_keys() -> None:
    assert sorted(set(EN) - set(ZH_CN)) == []
    assert sorted(set(ZH_CN) - set(EN)) == []


LANGUAGE_NEUTRAL = {"credits.remaining.other"}  # "**{remaining}** / {allowance}"


@pytest.mark.parametrize("key", sorted(EN))
def test_each_message_keeps_its_placeholders_and_markdown(key: str) -> None:
    english, chinese = EN[key], ZH_CN[key]
    assert fields(chinese) == fields(english)
    for marker in ("`", "**", "-#", "\n", "<t:", "<@"):
        assert chinese.count(marker) == english.count(marker), marker
    assert has_chinese(chinese) or key in LANGUAGE_NEUTRAL, f"untranslated: {chinese!r}"
    values = dict.fromkeys(fields(english), 1)  # ints fit every format spec used ({:,} {:02d})
    assert t(key, "en", **values) == english.format(**values)
    assert t(key, ZH, **values) == chinese.format(**values)


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


@pytest.mark.unknown_message_keys
def test_missing_chinese_key_or_unfillable_text_falls_back_to_english(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delitem(ZH_CN, "footer.task")
    assert t("footer.task", "zh-CN", task_id="task-1") == "Task task-1"
    monkeypatch.setitem(ZH_CN, "status.cost", "{nonsense} 积分")
    assert t("status.cost", "zh-CN", credits="5") == "5 credits"


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


def test_sentences_are_spaced_for_english_only() -> None:
    assert i18n.sentences("en", "A.", "B.") == "A. B."
    assert i18n.sentences("zh-CN", "甲。", "乙。") == "甲。乙。"


def test_option_labels_follow_the_locale() -> None:
    assert i18n.option_label("quality", "zh-CN") == "画质"
    assert i18n.option_label("quality", "en-US") == "quality"
    assert i18n.option_label("unknown_option", "zh-CN") == "unknown_option"


# --- command catalogues ------------------------------------------------------------------------


@pytest.mark.parametrize(("english", "chinese"), sorted(COMMAND_NAMES_ZH.items()))
def test_localized_names_obey_discords_rules(english: str, chinese: str) -> None:
    assert is_valid_name(english), english
    assert is_valid_name(chinese), chinese
    assert has_chinese(chinese)


@pytest.mark.parametrize(("english", "chinese"), sorted(COMMAND_TEXTS_ZH.items()))
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
    assert missing == [], "add these to bot/i18n.py's COMMAND_NAMES_ZH / COMMAND_TEXTS_ZH"
    assert problems == []
