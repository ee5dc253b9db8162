"""The video downloader on its own: what it keeps, the size cap, the exact trusted origin, and
connections that go to the address checked (DNS faked and connections recorded on the loop, see
tests/test_links.py)."""

from __future__ import annotations

import pytest

from bot.media import VideoDownloader, is_video_signature, video_extension
from tests.test_links import MP4, FileServer, Network, elsewhere, network

__all__ = ["elsewhere", "network"]  # the fixtures, shared with tests/test_links.py

WEBM = b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01" + bytes(4000)


def test_video_signatures() -> None:
    assert is_video_signature(MP4[:8]) and is_video_signature(WEBM[:8])
    assert is_video_signature(b"\x00\x00\x00\x14ftypqt  ")  # QuickTime
    assert not is_video_signature(b"<!doctyp") and not is_video_signature(b"GIF89a\x00\x00")
    assert not is_video_signature(b"ftyp")


def test_a_video_is_named_by_its_own_first_bytes() -> None:
    assert video_extension(MP4[:64]) == ".mp4"
    assert video_extension(b"\x00\x00\x00\x14ftypqt  \x00\x00\x02\x00") == ".mov"
    assert video_extension(WEBM[:64]) == ".mkv"  # EBML without a webm DocType: Matroska
    assert video_extension(b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm") == ".webm"
    assert video_extension(b"<!doctype html>") is None


@pytest.mark.parametrize(
    ("content_type", "body", "kept"),
    [
        ("video/webm", WEBM, True),
        ("application/octet-stream", WEBM, True),
        (None, MP4, True),  # no Content-Type: the signature decides
        ("video/quicktime", MP4, True),
        ("text/plain", b"hello", False),
        ("application/octet-stream", b"\x00\x00", False),  # too short to be a video
        ("video/mp4", b"", False),
        ("video/mp4", b"<html><body>24 bytes</body>", False),  # the type alone vouches for nothing
        ("video/mp4; codecs=avc1", b"GIF89a" + bytes(100), False),
        ("text/html", MP4, False),  # a type that is not a video refuses even a real signature
        ("image/gif", MP4, False),
        ("application/mp4", MP4, True),
        ("binary/octet-stream", MP4, True),
    ],
)
async def test_what_the_downloader_keeps(
    content_type: str | None, body: bytes, kept: bool, elsewhere: FileServer
) -> None:
    elsewhere.content_type, elsewhere.body = content_type, body
    origin = f"http://127.0.0.1:{elsewhere.port}"
    file = await VideoDownloader(origin).download(
        f"{origin}/v", max_bytes=1_000_000, max_seconds=10
    )
    assert (file is not None) is kept
    if file is not None:
        assert file.file.read() == body
        file.close()


async def test_a_file_over_the_size_cap_is_not_kept(elsewhere: FileServer) -> None:
    origin = f"http://127.0.0.1:{elsewhere.port}"
    downloader = VideoDownloader(origin)
    assert await downloader.download(f"{origin}/v", max_bytes=len(MP4) - 1, max_seconds=10) is None
    kept = await downloader.download(f"{origin}/v", max_bytes=len(MP4), max_seconds=10)
    assert kept is not None
    kept.close()


async def test_a_relative_redirect_is_read_against_the_link_it_came_from(
    elsewhere: FileServer,
) -> None:
    elsewhere.redirects = {"/a/v": "w?x=1", "/a/w": f"//0x7f000001:{elsewhere.port}/b"}
    origin = f"http://127.0.0.1:{elsewhere.port}"
    file = await VideoDownloader(origin).download(f"{origin}/a/v", max_bytes=10**6, max_seconds=10)
    assert file is not None and file.file.read() == MP4
    file.close()
    assert elsewhere.hits == ["/a/v", "/a/w?x=1", "/b"]  # the same origin however it is spelled


async def test_the_trusted_origin_is_exact(elsewhere: FileServer, network: Network) -> None:
    here = f"http://127.0.0.1:{elsewhere.port}"
    for trusted in (f"http://127.0.0.1:{elsewhere.port + 1}", f"https://127.0.0.1:{elsewhere.port}",
                    "https://api.evolink.ai", None):  # fmt: skip
        downloader = VideoDownloader(trusted)
        assert await downloader.download(f"{here}/v", max_bytes=10**6, max_seconds=10) is None
    assert elsewhere.hits == [] and network.connections == []


async def test_the_connection_goes_to_the_address_that_was_checked(network: Network) -> None:
    """DNS answers a public address when asked, loopback a moment later: the bot asks once and
    connects to what it checked (refused here, at the network's edge), never to loopback."""
    network.dns["rebind.example.com"] = ["93.184.215.14", "127.0.0.1"]
    downloader = VideoDownloader("http://127.0.0.1:8787")
    found = await downloader.download(
        "https://rebind.example.com:8443/v.mp4", max_bytes=10**6, max_seconds=10
    )
    assert found is None
    assert network.asked == ["rebind.example.com"]
    assert network.connections == [("93.184.215.14", 8443)]
