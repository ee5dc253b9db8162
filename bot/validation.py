"""Check a /video request against the API's documented limits before anything is paid for.

Discord's client enforces option ranges and choices, but a crafted interaction does not have to,
and discord.py does not re-check them; so every value is checked again here, by type as well as
by range, and every problem is reported in words a member can act on. Problems are kept as message
keys with their values (`Problem`); the Discord side words them in the member's language
(bot/ui/render.py).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from bot.addresses import URL_MAX, BadUrl, UrlProblem, may_be_public, parse_url
from bot.request import (
    ASPECT_RATIO,
    AUDIO,
    DURATION,
    NEGATIVE_PROMPT,
    PROMPT,
    QUALITY,
    SEED,
    VideoRequest,
)


@dataclass(frozen=True)
class AudioFile:
    """An uploaded attachment, as Discord describes it."""

    filename: str
    size: int
    content_type: str | None
    url: str


@dataclass(frozen=True)
class Problem:
    """One reason a request cannot start: a message key of the catalogues and its values.

    `options` names the placeholders that hold an option's name (`{option}`), to be shown as the
    member sees that option in Discord: `quality` in English, `画质` in Chinese.
    """

    key: str
    options: Mapping[str, str] = field(default_factory=dict)
    values: Mapping[str, object] = field(default_factory=dict)


class InvalidRequest(Exception):
    """Every problem of a request (`issues`); its str is their message keys."""

    def __init__(self, issues: list[Problem]) -> None:
        self.issues = issues
        super().__init__("; ".join(issue.key for issue in issues))


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

    clean_prompt = _text(prompt, "prompt", PROMPT.max_length, problems, required=True)
    clean_negative = _text(negative_prompt, "negative_prompt", NEGATIVE_PROMPT.max_length, problems)
    for option, value, choices in (
        ("quality", quality, QUALITY.choices),
        ("aspect_ratio", aspect_ratio, ASPECT_RATIO.choices),
    ):
        if value is not None and value not in choices:
            problems.append(_problem("validation.one_of", option, choices=", ".join(choices)))
    if duration is not None and not _int_in(duration, DURATION.minimum, DURATION.maximum):
        problems.append(
            _problem("validation.duration", "duration", min=DURATION.minimum, max=DURATION.maximum)
        )
    if seed is not None and not _int_in(seed, SEED.minimum, SEED.maximum):
        problems.append(
            _problem("validation.whole_number", "seed", min=SEED.minimum, max=SEED.maximum)
        )
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
        chosen_audio = _audio_link(audio_url, problems)

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
    if not sendable(text):
        problems.append(_problem("validation.bad_character", name))
        return None
    if not _visible(text):
        if required:
            problems.append(_problem("validation.empty", name))
        return None
    if len(text) > limit:
        problems.append(_problem("validation.too_long", name, count=len(text), limit=limit))
        return None
    return text


def _int_in(value: Any, low: int, high: int) -> bool:
    return type(value) is int and low <= value <= high


def _audio_file(audio: AudioFile, problems: list[Problem]) -> str | None:
    name = audio.filename.lower()
    content_type = (audio.content_type or "").split(";")[0].strip().lower()
    if not name.endswith(AUDIO.extensions) and content_type not in AUDIO.content_types:
        problems.append(_problem("validation.audio_type", "audio"))
        return None
    if audio.size > AUDIO.max_bytes:
        problems.append(
            _problem(
                "validation.audio_size",
                "audio",
                size_mb=audio.size / 1024 / 1024,
                limit_mb=AUDIO.max_bytes // 1024 // 1024,
            )
        )
        return None
    return _public_https_url(audio.url, "audio", problems)


def _audio_link(value: Any, problems: list[Problem]) -> str | None:
    """A link to a .wav or .mp3 file: its path's extension, in any case (query and fragment
    aside), as the attachment's name is checked. EvoLink fetches it, so this is a check against
    a mistaken link (a page, a video) being paid for, not against a file that lies."""
    url = _public_https_url(value, "audio_url", problems)
    if url is None:
        return None
    if not urlsplit(url).path.lower().endswith(AUDIO.extensions):
        problems.append(_problem("validation.audio_type", "audio_url"))
        return None
    return url


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
        problems.append(_problem(_URL_PROBLEMS[exc.problem], name, count=URL_MAX))
        return None
    if not sendable(url):  # e.g. a lone surrogate in the path, which the parser lets through
        problems.append(_problem("validation.bad_character", name))
        return None
    if not may_be_public(parsed):
        problems.append(_problem("validation.url_public", name))
        return None
    return url


def sendable(text: str) -> bool:
    """Whether a text can be stored and sent on: no NUL, and no lone surrogate (half of a
    UTF-16 pair, which JSON can carry as `\\ud800` but UTF-8, so SQLite and Discord, cannot)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def unsendable_option(options: Any) -> Problem | None:
    """The first text among an interaction's options (subcommands' included, as Discord sends
    them: `[{"name", "value" | "options"}, ...]`) that `sendable` refuses, as a problem naming
    that option; None when every text can go on. Checked before any command or autocomplete
    runs, so that no input, a moderator's reason or pattern included, reaches the store."""
    for option in options if isinstance(options, list) else []:
        if not isinstance(option, dict):
            continue
        value = option.get("value")
        if isinstance(value, str) and not sendable(value):
            return _problem("validation.bad_character", str(option.get("name", "?")))
        nested = unsendable_option(option.get("options"))
        if nested is not None:
            return nested
    return None


def _visible(text: str) -> bool:
    """Whether any character would show: zero-width and other format characters (Cf) do not."""
    return any(not ch.isspace() and unicodedata.category(ch) != "Cf" for ch in text)
