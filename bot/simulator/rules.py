"""What EvoLink accepts in a create body: the simulator's own reading of docs/evolink-api.md.

The bot describes the same request in bot/request.py; the simulator does not import it, so that
a limit misread there is refused here (tests/test_simulator_package.py compares the two).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

MODEL: Final = "wan2.7-text-to-video"
PROMPT_MAX: Final = 5000
NEGATIVE_PROMPT_MAX: Final = 500
CALLBACK_URL_MAX: Final = 2048
QUALITIES: Final = ("720p", "1080p")
ASPECT_RATIOS: Final = ("16:9", "9:16", "1:1", "4:3", "3:4")
DURATION_MIN: Final = 2
DURATION_MAX: Final = 15
SEED_MIN: Final = 1
SEED_MAX: Final = 2_147_483_647
AUDIO_URLS: Final = 1  # audio_urls holds exactly one URI
#: What EvoLink uses for a field left out (seed: random).
DEFAULTS: Final[Mapping[str, Any]] = {
    "quality": "720p",
    "aspect_ratio": "16:9",
    "duration": 5,
    "prompt_extend": False,
}
IDEMPOTENCY_KEY_MAX: Final = 255
BATCH_MAX: Final = 50
ALLOWED_FIELDS: Final = frozenset(
    {
        "model",
        "prompt",
        "negative_prompt",
        "audio_urls",
        "quality",
        "aspect_ratio",
        "duration",
        "seed",
        "prompt_extend",
        "callback_url",
    }
)

#: Output size by quality and aspect ratio (from the documentation's table).
OUTPUT_SIZES: Final[Mapping[str, Mapping[str, tuple[int, int]]]] = {
    "720p": {
        "16:9": (1280, 720),
        "9:16": (720, 1280),
        "1:1": (960, 960),
        "4:3": (1104, 832),
        "3:4": (832, 1104),
    },
    "1080p": {
        "16:9": (1920, 1080),
        "9:16": (1080, 1920),
        "1:1": (1440, 1440),
        "4:3": (1648, 1248),
        "3:4": (1248, 1648),
    },
}


class BadRequest(Exception):
    """A create body EvoLink would refuse with 400; ``param`` names the field."""

    def __init__(self, param: str | None, message: str, code: str = "invalid_parameter") -> None:
        super().__init__(message)
        self.param = param
        self.message = message
        self.code = code


@dataclass(frozen=True)
class CreateParams:
    """A checked create body, with EvoLink's defaults filled in and long texts truncated."""

    prompt: str
    negative_prompt: str | None
    audio_urls: list[str] | None
    quality: str
    aspect_ratio: str
    duration: int
    seed: int | None
    prompt_extend: bool
    callback_url: str | None


def validate_create(data: dict[str, Any], *, allow_insecure_callbacks: bool) -> CreateParams:
    """Check a create body as EvoLink does; raise BadRequest at the first problem."""
    unknown = sorted(k for k in data if k not in ALLOWED_FIELDS)
    if unknown:
        raise BadRequest(unknown[0], f"Unknown parameter: {unknown[0]}", code="invalid_request")
    if "model" not in data:
        raise BadRequest("model", "model is required", code="invalid_request")
    if data["model"] != MODEL:
        raise BadRequest("model", f"model must be {MODEL!r}")

    if "prompt" not in data:
        raise BadRequest("prompt", "prompt is required", code="invalid_request")
    prompt = data["prompt"]
    if not isinstance(prompt, str):
        raise BadRequest("prompt", f"prompt must be a string, not {_type_name(prompt)}")
    if not prompt.strip():
        raise BadRequest("prompt", "prompt must not be empty")

    negative_prompt: str | None = None
    if "negative_prompt" in data:
        value = data["negative_prompt"]
        if not isinstance(value, str):
            raise BadRequest(
                "negative_prompt", f"negative_prompt must be a string, not {_type_name(value)}"
            )
        negative_prompt = value[:NEGATIVE_PROMPT_MAX]
    audio_urls = _audio_urls(data)

    quality = data.get("quality", DEFAULTS["quality"])
    if "quality" in data and quality not in QUALITIES:
        raise BadRequest("quality", f"quality must be one of {', '.join(QUALITIES)}")

    aspect_ratio = data.get("aspect_ratio", DEFAULTS["aspect_ratio"])
    if "aspect_ratio" in data and aspect_ratio not in ASPECT_RATIOS:
        raise BadRequest("aspect_ratio", f"aspect_ratio must be one of {', '.join(ASPECT_RATIOS)}")

    duration = data.get("duration", DEFAULTS["duration"])
    if "duration" in data:
        if not _is_int(duration):
            raise BadRequest("duration", f"duration must be an integer, not {_type_name(duration)}")
        if not DURATION_MIN <= duration <= DURATION_MAX:
            raise BadRequest(
                "duration", f"duration must be between {DURATION_MIN} and {DURATION_MAX} seconds"
            )

    seed: int | None = None
    if "seed" in data:
        value = data["seed"]
        if not _is_int(value):
            raise BadRequest("seed", f"seed must be an integer, not {_type_name(value)}")
        if not SEED_MIN <= value <= SEED_MAX:
            raise BadRequest("seed", f"seed must be between {SEED_MIN} and {SEED_MAX}")
        seed = int(value)

    prompt_extend = data.get("prompt_extend", DEFAULTS["prompt_extend"])
    if not isinstance(prompt_extend, bool):
        raise BadRequest(
            "prompt_extend", f"prompt_extend must be a boolean, not {_type_name(prompt_extend)}"
        )

    return CreateParams(
        prompt=prompt[:PROMPT_MAX],
        negative_prompt=negative_prompt,
        audio_urls=audio_urls,
        quality=str(quality),
        aspect_ratio=str(aspect_ratio),
        duration=int(duration),
        seed=seed,
        prompt_extend=prompt_extend,
        callback_url=_callback_url(data, allow_insecure=allow_insecure_callbacks),
    )


def _audio_urls(data: dict[str, Any]) -> list[str] | None:
    if "audio_urls" not in data:
        return None
    value = data["audio_urls"]
    if not isinstance(value, list):
        raise BadRequest("audio_urls", f"audio_urls must be an array, not {_type_name(value)}")
    if len(value) != AUDIO_URLS:
        raise BadRequest(
            "audio_urls", f"audio_urls must hold exactly {AUDIO_URLS} URI (got {len(value)})"
        )
    if not isinstance(value[0], str):
        raise BadRequest("audio_urls", "audio_urls[0] must be a URI string")
    check_http_url(value[0], "audio_urls", https_only=False)
    return [value[0]]


def _callback_url(data: dict[str, Any], *, allow_insecure: bool) -> str | None:
    if "callback_url" not in data:
        return None
    value = data["callback_url"]
    if not isinstance(value, str):
        raise BadRequest("callback_url", f"callback_url must be a string, not {_type_name(value)}")
    if len(value) > CALLBACK_URL_MAX:
        raise BadRequest(
            "callback_url", f"callback_url must be at most {CALLBACK_URL_MAX} characters"
        )
    host = check_http_url(value, "callback_url", https_only=not allow_insecure)
    if not allow_insecure and is_internal_host(host):
        raise BadRequest("callback_url", "callback_url must not point to an internal address")
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def is_internal_host(host: str) -> bool:
    """True for loopback, private, link-local and similar addresses and local names."""
    h = host.strip("[]").lower().rstrip(".")
    if not h:
        return True
    if h == "localhost" or h.endswith((".localhost", ".local", ".internal")):
        return True
    if h.replace(".", "").isdigit() and h.count(".") != 3:
        return True  # integer or short dotted forms such as 2130706433 or 127.1
    try:
        ip = ipaddress.ip_address(h.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_unspecified
        or ip.is_reserved
        or ip.is_multicast
    )


def check_http_url(value: str, param: str, *, https_only: bool) -> str:
    """Return the hostname of an absolute http(s) URL, or raise BadRequest."""
    if any(c.isspace() for c in value):
        raise BadRequest(param, f"{param} must be a valid URI without spaces")
    try:
        parts = urlsplit(value)
        _ = parts.port  # raises ValueError on a bad port
    except ValueError as exc:
        raise BadRequest(param, f"{param} must be a valid URI") from exc
    allowed = ("https",) if https_only else ("http", "https")
    if parts.scheme.lower() not in allowed:
        if https_only:
            raise BadRequest(param, f"{param} must use https")
        raise BadRequest(param, f"{param} must be an http or https URI")
    if not parts.hostname:
        raise BadRequest(param, f"{param} must be an absolute URI with a host")
    return parts.hostname
