"""What a video request is: the fields of EvoLink's create call, in one place.

Every limit, choice and default of the eight request fields, the output sizes and the audio
limits are read from EvoLink's reference for ``wan2.7-text-to-video`` (docs/evolink-api.md) and
written down here once. The command's option bounds and choices, the validation, the client's
create body, the store's columns and what the status and result messages show all read them
from this module. The simulator (bot/simulator/) keeps its own reading of the same page on
purpose, so that a misreading here is caught by its tests instead of being copied.

A field left out of a request is left out of the API call, and EvoLink applies its own default;
``default`` is that default, used only to show a member the settings their video really had.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Generic, Protocol, TypedDict, TypeVar

MODEL: Final = "wan2.7-text-to-video"


@dataclass(frozen=True)
class Text:
    """A string field; EvoLink truncates longer ones, the bot refuses them instead."""

    api: str  # the key in the create body
    column: str  # the store's column and VideoRequest's attribute
    max_length: int
    required: bool = False


@dataclass(frozen=True)
class Choice:
    """A string field with a fixed set of values."""

    api: str
    column: str
    choices: tuple[str, ...]
    default: str


Default = TypeVar("Default", int, None)


@dataclass(frozen=True)
class Whole(Generic[Default]):
    """An integer field within bounds; ``default`` None means EvoLink picks one at random."""

    api: str
    column: str
    minimum: int
    maximum: int
    default: Default


@dataclass(frozen=True)
class Flag:
    """A boolean field."""

    api: str
    column: str
    default: bool


@dataclass(frozen=True)
class Audio:
    """The driving audio: the API takes a list of one URI, the bot stores that one link."""

    api: str
    column: str
    count: int
    max_bytes: int
    min_seconds: int  # documented by EvoLink; the bot cannot measure it before the call
    max_seconds: int
    extensions: tuple[str, ...]
    content_types: frozenset[str]


PROMPT: Final = Text("prompt", "prompt", max_length=5000, required=True)
NEGATIVE_PROMPT: Final = Text("negative_prompt", "negative_prompt", max_length=500)
QUALITY: Final = Choice("quality", "quality", ("720p", "1080p"), default="720p")
ASPECT_RATIO: Final = Choice(
    "aspect_ratio", "aspect_ratio", ("16:9", "9:16", "1:1", "4:3", "3:4"), default="16:9"
)
DURATION: Final = Whole("duration", "duration", minimum=2, maximum=15, default=5)
SEED: Final = Whole("seed", "seed", minimum=1, maximum=2_147_483_647, default=None)
PROMPT_EXTEND: Final = Flag("prompt_extend", "prompt_extend", default=False)
AUDIO: Final = Audio(
    "audio_urls",
    "audio_url",
    count=1,
    max_bytes=15 * 1024 * 1024,
    min_seconds=2,
    max_seconds=30,
    extensions=(".wav", ".mp3"),
    content_types=frozenset(
        {"audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave", "audio/mpeg", "audio/mp3"}
    ),
)

FIELDS: Final[tuple[Text | Choice | Whole[int] | Whole[None] | Flag | Audio, ...]] = (
    PROMPT,
    NEGATIVE_PROMPT,
    QUALITY,
    ASPECT_RATIO,
    DURATION,
    SEED,
    PROMPT_EXTEND,
    AUDIO,
)
CALLBACK_URL: Final = "callback_url"  # the create body's key; not stored (see generations.py)

#: Output (width, height) by quality and aspect ratio.
OUTPUT_SIZES: Final[Mapping[str, Mapping[str, tuple[int, int]]]] = {
    "720p": {"16:9": (1280, 720), "9:16": (720, 1280), "1:1": (960, 960),
             "4:3": (1104, 832), "3:4": (832, 1104)},
    "1080p": {"16:9": (1920, 1080), "9:16": (1080, 1920), "1:1": (1440, 1440),
              "4:3": (1648, 1248), "3:4": (1248, 1648)},
}  # fmt: skip


def output_size(quality: str | None, aspect_ratio: str | None) -> str:
    """``1280×720``: the size of a video with these settings (None: EvoLink's default)."""
    width, height = OUTPUT_SIZES[quality or QUALITY.default][aspect_ratio or ASPECT_RATIO.default]
    return f"{width}×{height}"


@dataclass(frozen=True)
class VideoRequest:
    """The body of a create call; fields left as None are left out of the JSON."""

    prompt: str
    negative_prompt: str | None = None
    quality: str | None = None
    aspect_ratio: str | None = None
    duration: int | None = None
    seed: int | None = None
    prompt_extend: bool | None = None
    audio_url: str | None = None
    callback_url: str | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"model": MODEL, PROMPT.api: self.prompt}
        optional: dict[str, Any] = {
            NEGATIVE_PROMPT.api: self.negative_prompt,
            QUALITY.api: self.quality,
            ASPECT_RATIO.api: self.aspect_ratio,
            DURATION.api: self.duration,
            SEED.api: self.seed,
            PROMPT_EXTEND.api: self.prompt_extend,
            AUDIO.api: [self.audio_url] if self.audio_url else None,
            CALLBACK_URL: self.callback_url,
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        return body


class StoredRequest(Protocol):
    """A stored request's columns (bot/store/generations.py's Generation has them)."""

    @property
    def prompt(self) -> str: ...
    @property
    def negative_prompt(self) -> str | None: ...
    @property
    def quality(self) -> str | None: ...
    @property
    def aspect_ratio(self) -> str | None: ...
    @property
    def duration(self) -> int | None: ...
    @property
    def seed(self) -> int | None: ...
    @property
    def prompt_extend(self) -> bool | None: ...
    @property
    def audio_url(self) -> str | None: ...


class StoredColumns(TypedDict):
    """The store's columns for one request, named as bot/store/generations.py names them."""

    prompt: str
    negative_prompt: str | None
    quality: str | None
    aspect_ratio: str | None
    duration: int | None
    seed: int | None
    prompt_extend: bool | None
    audio_url: str | None


def stored_columns(request: VideoRequest) -> StoredColumns:
    """What the store keeps of a request (the callback address is made again for each call)."""
    return StoredColumns(
        prompt=request.prompt,
        negative_prompt=request.negative_prompt,
        quality=request.quality,
        aspect_ratio=request.aspect_ratio,
        duration=request.duration,
        seed=request.seed,
        prompt_extend=request.prompt_extend,
        audio_url=request.audio_url,
    )


def request_of_stored(row: StoredRequest, callback_url: str | None = None) -> VideoRequest:
    """The exact request a stored row was made from (a repeated call must match the first)."""
    return VideoRequest(
        prompt=row.prompt,
        negative_prompt=row.negative_prompt,
        quality=row.quality,
        aspect_ratio=row.aspect_ratio,
        duration=row.duration,
        seed=row.seed,
        prompt_extend=row.prompt_extend,
        audio_url=row.audio_url,
        callback_url=callback_url,
    )
