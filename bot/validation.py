"""Check a /video request against the API's documented limits before anything is paid for.

Discord's client enforces option ranges and choices, but a crafted interaction does not have to,
and discord.py does not re-check them; so every value is checked again here, by type as well as
by range, and every problem is reported in words a member can act on. Problems are kept as message
keys with their values (`Problem`), so the cog can show them in the member's language.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import discord

from bot.addresses import URL_MAX, BadUrl, UrlProblem, may_be_public, parse_url
from bot.i18n import option_label, t
from bot.request import VideoRequest

PROMPT_MAX = 5000
NEGATIVE_PROMPT_MAX = 500
QUALITIES = ("720p", "1080p")
ASPECT_RATIOS = ("16:9", "9:16", "1:1", "4:3", "3:4")
DURATION_MIN, DURATION_MAX = 2, 15
SEED_MIN, SEED_MAX = 1, 2_147_483_647
AUDIO_MAX_BYTES = 15 * 1024 * 1024
AUDIO_EXTENSIONS = (".wav", ".mp3")
AUDIO_TYPES = frozenset(
    {"audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave", "audio/mpeg", "audio/mp3"}
)

OUTPUT_SIZES: dict[str, dict[str, str]] = {
    "720p": {"16:9": "1280×720", "9:16": "720×1280", "1:1": "960×960", "4:3": "1104×832",
             "3:4": "832×1104"},
    "1080p": {"16:9": "1920×1080", "9:16": "1080×1920", "1:1": "1440×1440", "4:3": "1648×1248",
              "3:4": "1248×1648"},
}  # fmt: skip


@dataclass(frozen=True)
class AudioFile:
    """An uploaded attachment, as Discord describes it."""

    filename: str
    size: int
    content_type: str | None
    url: str


@dataclass(frozen=True)
class Problem:
    """One reason a request cannot start: a message key of bot/i18n.py and its values.

    `options` names the placeholders that hold an option's name (`{option}`), shown as the member
    sees that option in Discord: `quality` in English, `画质` in Chinese.
    """

    key: str
    options: Mapping[str, str] = field(default_factory=dict)
    values: Mapping[str, object] = field(default_factory=dict)

    def text(self, locale: str | discord.Locale | None = None) -> str:
        labels = {name: option_label(option, locale) for name, option in self.options.items()}
        return t(self.key, locale, **self.values, **labels)


class InvalidRequest(Exception):
    def __init__(self, issues: list[Problem]) -> None:
        self.issues = issues
        super().__init__("; ".join(self.problems))

    @property
    def problems(self) -> list[str]:
        """Every problem in English."""
        return self.texts(None)

    def texts(self, locale: str | discord.Locale | None) -> list[str]:
        """Every problem in the member's language."""
        return [issue.text(locale) for issue in self.issues]


def _problem(key: str, option: str | None = None, **values: object) -> Problem:
    return Problem(key, {"option": option} if option else {}, values)


def validate_video_request(
    *,
    prompt: Any,
    negative_prompt: Any = None,
    quality: Any = None,
    aspect_ratio: Any = None,
    duration: Any = None,
    seed: Any = None,
    prompt_extend: Any = None,
    audio: AudioFile | None = None,
    audio_url: Any = None,
) -> VideoRequest:
    problems: list[Problem] = []

    clean_prompt = _text(prompt, "prompt", PROMPT_MAX, problems, required=True)
    clean_negative = _text(negative_prompt, "negative_prompt", NEGATIVE_PROMPT_MAX, problems)
    if quality is not None and quality not in QUALITIES:
        problems.append(_problem("validation.one_of", "quality", choices=", ".join(QUALITIES)))
    if aspect_ratio is not None and aspect_ratio not in ASPECT_RATIOS:
        problems.append(
            _problem("validation.one_of", "aspect_ratio", choices=", ".join(ASPECT_RATIOS))
        )
    if duration is not None and not _int_in(duration, DURATION_MIN, DURATION_MAX):
        problems.append(
            _problem("validation.duration", "duration", min=DURATION_MIN, max=DURATION_MAX)
        )
    if seed is not None and not _int_in(seed, SEED_MIN, SEED_MAX):
        problems.append(_problem("validation.whole_number", "seed", min=SEED_MIN, max=SEED_MAX))
    if prompt_extend is not None and not isinstance(prompt_extend, bool):
        problems.append(_problem("validation.boolean", "prompt_extend"))

    chosen_audio: str | None = None
    if audio is not None and audio_url is not None:
        problems.append(
            Problem("validation.audio_both", {"audio": "audio", "audio_url": "audio_url"})
        )
    elif audio is not None:
        chosen_audio = _audio_file(audio, problems)
    elif audio_url is not None:
        chosen_audio = _public_https_url(audio_url, "audio_url", problems)

    if problems:
        raise InvalidRequest(problems)
    assert clean_prompt is not None
    return VideoRequest(
        prompt=clean_prompt,
        negative_prompt=clean_negative,
        quality=quality,
        aspect_ratio=aspect_ratio,
        duration=duration,
        seed=seed,
        prompt_extend=prompt_extend,
        audio_url=chosen_audio,
    )


def output_size(quality: str | None, aspect_ratio: str | None) -> str:
    return OUTPUT_SIZES[quality or "720p"][aspect_ratio or "16:9"]


def _text(
    value: Any, name: str, limit: int, problems: list[Problem], *, required: bool = False
) -> str | None:
    if value is None:
        if required:
            problems.append(_problem("validation.required", name))
        return None
    if not isinstance(value, str):
        problems.append(_problem("validation.not_text", name))
        return None
    text = value.strip()
    if "\x00" in text:
        problems.append(_problem("validation.bad_character", name))
        return None
    if not _visible(text):
        if required:
            problems.append(_problem("validation.empty", name))
        return None
    if len(text) > limit:
        problems.append(_problem("validation.too_long", name, length=len(text), limit=limit))
        return None
    return text


def _int_in(value: Any, low: int, high: int) -> bool:
    return type(value) is int and low <= value <= high


def _audio_file(audio: AudioFile, problems: list[Problem]) -> str | None:
    name = audio.filename.lower()
    content_type = (audio.content_type or "").split(";")[0].strip().lower()
    if not name.endswith(AUDIO_EXTENSIONS) and content_type not in AUDIO_TYPES:
        problems.append(_problem("validation.audio_type", "audio"))
        return None
    if audio.size > AUDIO_MAX_BYTES:
        problems.append(
            _problem(
                "validation.audio_size",
                "audio",
                size_mb=audio.size / 1024 / 1024,
                limit_mb=AUDIO_MAX_BYTES // 1024 // 1024,
            )
        )
        return None
    return _public_https_url(audio.url, "audio", problems)


_URL_PROBLEMS = {
    UrlProblem.TOO_LONG: "validation.url_too_long",
    UrlProblem.SPACES: "validation.url_spaces",
    UrlProblem.SCHEME: "validation.https",
    UrlProblem.USERINFO: "validation.url_userinfo",
    UrlProblem.MALFORMED: "validation.url_invalid",
}


def _public_https_url(value: Any, name: str, problems: list[Problem]) -> str | None:
    """A link EvoLink will fetch: checked as written (bot/addresses.py), since EvoLink, not the
    bot, resolves its name; an IP address in any spelling or a local name is refused."""
    if not isinstance(value, str):
        problems.append(_problem("validation.https", name))
        return None
    url = value.strip()
    try:
        parsed = parse_url(url, schemes=("https",))
    except BadUrl as exc:
        problems.append(_problem(_URL_PROBLEMS[exc.problem], name, limit=URL_MAX))
        return None
    if not may_be_public(parsed):
        problems.append(_problem("validation.url_public", name))
        return None
    return url


def _visible(text: str) -> bool:
    """Whether any character would show: zero-width and other format characters (Cf) do not."""
    return any(not ch.isspace() and unicodedata.category(ch) != "Cf" for ch in text)
