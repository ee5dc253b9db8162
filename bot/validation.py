"""Check a /video request against the API's documented limits before anything is paid for.

Discord's client enforces option ranges and choices, but a crafted interaction does not have to,
and discord.py does not re-check them; so every value is checked again here, by type as well as
by range, and every problem is reported in words a member can act on.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from bot.evolink import VideoRequest

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
URL_MAX = 2048

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


class InvalidRequest(Exception):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


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
    problems: list[str] = []

    clean_prompt = _text(prompt, "prompt", PROMPT_MAX, problems, required=True)
    clean_negative = _text(negative_prompt, "negative_prompt", NEGATIVE_PROMPT_MAX, problems)
    if quality is not None and quality not in QUALITIES:
        problems.append(f"`quality` must be one of {', '.join(QUALITIES)}.")
    if aspect_ratio is not None and aspect_ratio not in ASPECT_RATIOS:
        problems.append(f"`aspect_ratio` must be one of {', '.join(ASPECT_RATIOS)}.")
    if duration is not None and not _int_in(duration, DURATION_MIN, DURATION_MAX):
        problems.append(
            f"`duration` must be a whole number of seconds from {DURATION_MIN} to {DURATION_MAX}."
        )
    if seed is not None and not _int_in(seed, SEED_MIN, SEED_MAX):
        problems.append(f"`seed` must be a whole number from {SEED_MIN} to {SEED_MAX:,}.")
    if prompt_extend is not None and not isinstance(prompt_extend, bool):
        problems.append("`prompt_extend` must be true or false.")

    chosen_audio: str | None = None
    if audio is not None and audio_url is not None:
        problems.append("Give either an `audio` file or an `audio_url`, not both.")
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
    value: Any, name: str, limit: int, problems: list[str], *, required: bool = False
) -> str | None:
    if value is None:
        if required:
            problems.append(f"`{name}` is required: describe the video you want.")
        return None
    if not isinstance(value, str):
        problems.append(f"`{name}` must be text.")
        return None
    text = value.strip()
    if "\x00" in text:
        problems.append(f"`{name}` contains a character that cannot be sent.")
        return None
    if not text:
        if required:
            problems.append(f"`{name}` is empty: describe the video you want.")
        return None
    if len(text) > limit:
        problems.append(
            f"`{name}` is {len(text):,} characters long; the limit is {limit:,}. Shorten it."
        )
        return None
    return text


def _int_in(value: Any, low: int, high: int) -> bool:
    return type(value) is int and low <= value <= high


def _audio_file(audio: AudioFile, problems: list[str]) -> str | None:
    name = audio.filename.lower()
    content_type = (audio.content_type or "").split(";")[0].strip().lower()
    if not name.endswith(AUDIO_EXTENSIONS) and content_type not in AUDIO_TYPES:
        problems.append("`audio` must be a .wav or .mp3 file.")
        return None
    if audio.size > AUDIO_MAX_BYTES:
        problems.append(
            f"`audio` is {audio.size / 1024 / 1024:.1f} MB; the limit is "
            f"{AUDIO_MAX_BYTES // 1024 // 1024} MB."
        )
        return None
    return _public_https_url(audio.url, "audio", problems)


def _public_https_url(value: Any, name: str, problems: list[str]) -> str | None:
    if not isinstance(value, str):
        problems.append(f"`{name}` must be a link starting with https://.")
        return None
    url = value.strip()
    if len(url) > URL_MAX:
        problems.append(f"`{name}` is longer than {URL_MAX} characters.")
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        host = None
        parts = None
    if parts is None or parts.scheme != "https" or not host:
        problems.append(f"`{name}` must be a link starting with https://.")
        return None
    if any(c.isspace() for c in url):
        problems.append(f"`{name}` must not contain spaces.")
        return None
    if not _is_public_host(host):
        problems.append(f"`{name}` must point at a public web address.")
        return None
    return url


def _is_public_host(host: str) -> bool:
    host = host.rstrip(".").lower()
    if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
        return False
    if "." not in host and ":" not in host:
        return False  # a bare intranet name
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return True  # a DNS name; EvoLink resolves and fetches it, not us
    return address.is_global and not address.is_multicast
