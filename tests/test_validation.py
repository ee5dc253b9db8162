import pytest

from bot.ui.render import problem_text
from bot.validation import AudioFile, InvalidRequest, unsendable_option, validate_video_request


def problems(**kwargs: object) -> list[str]:
    kwargs.setdefault("prompt", "a cat")
    with pytest.raises(InvalidRequest) as caught:
        validate_video_request(**kwargs)  # type: ignore[arg-type]
    return [problem_text(p) for p in caught.value.issues]  # as a member reads them


def test_every_option_maps_to_the_api_field() -> None:
    request = validate_video_request(
        prompt="  A kitten under the moon ",
        negative_prompt="blur",
        quality="1080p",
        aspect_ratio="9:16",
        duration=15,
        seed=2147483647,
        prompt_extend=False,
        audio_url="https://cdn.example.com/a.mp3",
    )
    assert request.to_json() == {
        "model": "wan2.7-text-to-video",
        "prompt": "A kitten under the moon",
        "negative_prompt": "blur",
        "quality": "1080p",
        "aspect_ratio": "9:16",
        "duration": 15,
        "seed": 2147483647,
        "prompt_extend": False,
        "audio_urls": ["https://cdn.example.com/a.mp3"],
    }


def test_options_left_out_are_left_out() -> None:
    body = validate_video_request(prompt="a cat").to_json()
    assert body == {"model": "wan2.7-text-to-video", "prompt": "a cat"}


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"prompt": ""}, "`prompt` is empty"),
        ({"prompt": "   "}, "`prompt` is empty"),
        ({"prompt": "\u200b\u2060\u200b"}, "`prompt` is empty"),  # zero-width only: invisible
        ({"prompt": "\u200d \ufeff\n"}, "`prompt` is empty"),
        ({"prompt": None}, "`prompt` is required"),
        ({"prompt": 42}, "`prompt` must be text"),
        ({"prompt": "x" * 5001}, "5,001 characters"),
        ({"negative_prompt": "x" * 501}, "limit is 500"),
        ({"quality": "4k"}, "`quality` must be one of 720p, 1080p"),
        ({"aspect_ratio": "21:9"}, "`aspect_ratio` must be one of"),
        ({"duration": 1}, "`duration`"),
        ({"duration": 16}, "`duration`"),
        ({"duration": 5.5}, "`duration`"),
        ({"duration": True}, "`duration`"),
        ({"duration": "5"}, "`duration`"),
        ({"seed": 0}, "`seed`"),
        ({"seed": 2147483648}, "`seed`"),
        ({"prompt_extend": "yes"}, "`prompt_extend`"),
        ({"audio_url": "http://example.com/a.mp3"}, "https://"),
        ({"audio_url": "https://127.0.0.1/a.mp3"}, "public web address"),
        ({"audio_url": "https://10.1.2.3/a.mp3"}, "public web address"),
        ({"audio_url": "https://169.254.169.254/latest"}, "public web address"),
        ({"audio_url": "https://[::1]/a.mp3"}, "public web address"),
        ({"audio_url": "https://localhost/a.mp3"}, "public web address"),
        ({"audio_url": "https://intranet/a.mp3"}, "public web address"),
        ({"audio_url": "https://" + "a" * 2050 + ".com"}, "longer than 2048"),
        ({"audio_url": "javascript:alert(1)"}, "https://"),
        ({"audio_url": "https://0177.0.0.1/a.mp3"}, "public web address"),
        ({"audio_url": "https://127.1/a.mp3"}, "public web address"),
        ({"audio_url": "https://0x7f.1/a.mp3"}, "public web address"),
        ({"audio_url": "https://169.254.43518/latest"}, "public web address"),
        ({"audio_url": "https://100.64.1/a.mp3"}, "public web address"),
        ({"audio_url": "https://１２７.０.０.１/a.mp3"}, "public web address"),
        ({"audio_url": "https://[64:ff9b::a00:1]/a.mp3"}, "public web address"),
        ({"audio_url": "https://[2002:c0a8:101::1]/a.mp3"}, "public web address"),
        ({"audio_url": "https://nas.home.arpa/a.mp3"}, "public web address"),
        ({"audio_url": "https://evil@127.0.0.1/a.mp3"}, "user name or password"),
        ({"audio_url": "https://127.0.0.1@example.com/a.mp3"}, "user name or password"),
        ({"audio_url": "https://example.com\\@127.0.0.1/a.mp3"}, "not a valid web address"),
        ({"audio_url": "https://127.0.0.%31/a.mp3"}, "not a valid web address"),
        ({"audio_url": "https://1.2.3.4.5/a.mp3"}, "not a valid web address"),
        ({"audio_url": "https://example.com/a.mp3\x00"}, "must not contain spaces"),
        ({"audio_url": "https://evil.example.com/a.exe"}, "`audio_url` must be a .wav or .mp3"),
        ({"audio_url": "https://cdn.example.com/a"}, "`audio_url` must be a .wav or .mp3 file"),
        ({"audio_url": "https://cdn.example.com/a.exe?f=a.mp3"}, "must be a .wav or .mp3"),
        ({"audio_url": "https://cdn.example.com/a.exe#a.wav"}, "must be a .wav or .mp3"),
        ({"audio_url": "https://cdn.example.com/a.mp3/"}, "must be a .wav or .mp3"),
        ({"audio_url": "https://example.com.mp3.example.com"}, "must be a .wav or .mp3"),
        ({"prompt": "a fox \ud800"}, "`prompt` contains a character that cannot be sent"),
        ({"negative_prompt": "\udfff"}, "`negative_prompt` contains a character that cannot"),
        ({"audio_url": "https://example.com/\ud800.mp3"}, "`audio_url` contains a character"),
    ],
)
def test_each_bad_value_is_refused_with_a_clear_reason(
    kwargs: dict[str, object], fragment: str
) -> None:
    assert any(fragment in p for p in problems(**kwargs)), problems(**kwargs)


def test_a_command_s_options_are_checked_for_unsendable_text_at_any_depth() -> None:
    fine = [{"name": "prompt", "type": 3, "value": "猫 🐱"}, {"name": "seed", "value": 5}]
    assert unsendable_option(fine) is None
    nested = [
        {
            "name": "blocklist",
            "options": [
                {
                    "name": "add",
                    "options": [
                        {"name": "pattern", "value": "gun"},
                        {"name": "reason", "value": "x\ud800"},
                    ],
                }
            ],
        }
    ]
    problem = unsendable_option(nested)
    assert problem is not None
    assert problem_text(problem) == "`reason` contains a character that cannot be sent."
    assert unsendable_option([{"name": "since", "value": "\x00"}]) is not None
    assert unsendable_option("not a list") is None and unsendable_option([1, None]) is None


@pytest.mark.parametrize(
    "link",
    ["https://cdn.example.com/a.mp3", "https://cdn.example.com/dir/Beat.MP3?sig=abc&x=.exe",
     "https://cdn.example.com/v.Wav#t=2", "https://cdn.example.com/a.b.wav"],
)  # fmt: skip
def test_an_audio_link_to_a_wav_or_mp3_file_is_accepted_in_any_case(link: str) -> None:
    assert validate_video_request(prompt="x", audio_url=link).audio_url == link


def test_all_problems_are_reported_together() -> None:
    found = problems(prompt="", quality="8k", duration=99, seed=-5)
    assert len(found) == 4


def test_audio_attachment_checks_type_and_size() -> None:
    good = AudioFile("beat.MP3", 1000, "audio/mpeg", "https://cdn.discordapp.com/a/beat.MP3")
    assert validate_video_request(prompt="x", audio=good).audio_url == good.url
    wav_by_type = AudioFile("voice", 1000, "audio/wav", "https://cdn.discordapp.com/a/voice")
    assert validate_video_request(prompt="x", audio=wav_by_type).audio_url == wav_by_type.url
    png = AudioFile("cat.png", 1000, "image/png", "https://cdn.discordapp.com/a/cat.png")
    assert "`audio` must be a .wav or .mp3 file." in problems(audio=png)
    big = AudioFile("long.wav", 15 * 1024 * 1024 + 1, "audio/wav", "https://cdn.discordapp.com/a")
    assert any("limit is 15 MB" in p for p in problems(audio=big))
    crafted = AudioFile("beat.mp3", 1000, "audio/mpeg", "https://0x7f.0.0.1/beat.mp3")
    assert "`audio` must point at a public web address." in problems(audio=crafted)


def test_audio_file_and_link_together_are_refused() -> None:
    good = AudioFile("beat.mp3", 1000, "audio/mpeg", "https://cdn.discordapp.com/a/beat.mp3")
    assert any("not both" in p for p in problems(audio=good, audio_url="https://x.com/a.mp3"))
