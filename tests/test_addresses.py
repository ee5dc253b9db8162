"""The address policy: how a link's host is read, and which addresses may be reached."""

from __future__ import annotations

import socket
from ipaddress import ip_address

import pytest

from bot.addresses import (
    BadUrl,
    UrlProblem,
    is_local_name,
    is_public_address,
    loopback_origin,
    may_be_public,
    parse_url,
)

# How browsers (WHATWG) and getaddrinfo read a host: every spelling of one address is that address.
HOSTS = [
    ("https://example.com/a.mp3", "example.com"),
    ("https://EXAMPLE.com./a.mp3", "example.com"),  # case and one trailing dot do not matter
    ("https://127.0.0.1/", "127.0.0.1"),
    ("https://127.0.0.1./", "127.0.0.1"),
    ("https://0x7f000001/", "127.0.0.1"),  # hex
    ("https://0X7F000001/", "127.0.0.1"),
    ("https://0177.0.0.1/", "127.0.0.1"),  # octal
    ("https://0177.0.0.01/", "127.0.0.1"),
    ("https://2130706433/", "127.0.0.1"),  # one decimal number
    ("https://127.1/", "127.0.0.1"),  # short forms: the last part fills the rest
    ("https://127.0.1/", "127.0.0.1"),
    ("https://0x7f.1/", "127.0.0.1"),
    ("https://0x7f.0.0.0x1/", "127.0.0.1"),
    ("https://0/", "0.0.0.0"),
    ("https://0x/", "0.0.0.0"),
    ("https://10.1/", "10.0.0.1"),
    ("https://169.254.43518/", "169.254.169.254"),
    ("https://0xa9fea9fe/", "169.254.169.254"),
    ("https://１２７.０.０.１/", "127.0.0.1"),  # full-width digits, as IDNA maps them
    ("https://127。0。0。1/", "127.0.0.1"),  # ideographic full stops
    ("https://[::1]/", "::1"),
    ("https://[::FFFF:127.0.0.1]:8443/", "::ffff:7f00:1"),
    ("https://例え.jp/a.mp3", "xn--r8jz45g.jp"),
    ("https://a.b-c.example.com:8443/x", "a.b-c.example.com"),
]


@pytest.mark.parametrize(("url", "host"), HOSTS)
def test_a_host_is_read_as_browsers_and_getaddrinfo_read_it(url: str, host: str) -> None:
    assert parse_url(url).host == host


@pytest.mark.parametrize(
    "spelling", ["0x7f000001", "0177.0.0.1", "2130706433", "127.1", "0x7f.1", "10.1", "0xa9fea9fe"]
)
def test_numeric_hosts_are_read_as_the_c_library_reads_them(spelling: str) -> None:
    assert parse_url(f"https://{spelling}/").address == ip_address(socket.inet_aton(spelling))


def test_port_target_and_origin() -> None:
    url = parse_url("HTTPS://Media.Example.com:8443/v/1.mp4?sig=x#frag")
    assert (url.scheme, url.host, url.port, url.target) == (
        "https", "media.example.com", 8443, "/v/1.mp4?sig=x"
    )  # fmt: skip
    assert url.origin == ("https", "media.example.com", 8443)
    assert str(url) == "https://media.example.com:8443/v/1.mp4?sig=x"
    assert parse_url("http://0x7f000001:80").origin == ("http", "127.0.0.1", 80)
    assert str(parse_url("https://[::1]:443?x")) == "https://[::1]/?x"


REFUSED_URLS = [
    ("https://" + "a" * 2040 + ".com/", UrlProblem.TOO_LONG),
    ("https://exa mple.com/", UrlProblem.SPACES),
    ("https://example.com/a b.mp3", UrlProblem.SPACES),
    ("https://example.com/\ta.mp3", UrlProblem.SPACES),
    ("https://example.com/\x00", UrlProblem.SPACES),
    ("https://example.com/\u3000", UrlProblem.SPACES),  # ideographic space
    ("http://example.com/", UrlProblem.SCHEME),  # when only https is asked for (below)
    ("ftp://example.com/a.mp3", UrlProblem.SCHEME),
    ("file:///etc/passwd", UrlProblem.SCHEME),
    ("javascript:alert(1)", UrlProblem.SCHEME),
    ("https:example.com", UrlProblem.SCHEME),  # browsers guess; we do not
    ("https:/example.com", UrlProblem.SCHEME),
    ("//example.com/a.mp3", UrlProblem.SCHEME),
    ("https://evil@127.0.0.1/", UrlProblem.USERINFO),
    ("https://127.0.0.1@example.com/", UrlProblem.USERINFO),
    ("https://user:pass@example.com/", UrlProblem.USERINFO),
    ("https://example.com\\@127.0.0.1/", UrlProblem.MALFORMED),  # browsers read \ as /
    ("https:///example.com/", UrlProblem.MALFORMED),  # browsers skip the extra slash
    ("https://127.0.0.%31/", UrlProblem.MALFORMED),  # browsers decode %-escapes in a host
    ("https://example.com:/", UrlProblem.MALFORMED),
    ("https://example.com:0/", UrlProblem.MALFORMED),
    ("https://example.com:65536/", UrlProblem.MALFORMED),
    ("https://example.com:8o/", UrlProblem.MALFORMED),
    ("https://[::1/", UrlProblem.MALFORMED),
    ("https://[::1]x/", UrlProblem.MALFORMED),
    ("https://[fe80::1%25eth0]/", UrlProblem.MALFORMED),  # a zone id
    ("https://[127.0.0.1]/", UrlProblem.MALFORMED),
    ("https://1.2.3.4.5/", UrlProblem.MALFORMED),  # ends in a number: must be IPv4, is not
    ("https://256.0.0.1/", UrlProblem.MALFORMED),
    ("https://1.2.3.256/", UrlProblem.MALFORMED),
    ("https://1.16777216/", UrlProblem.MALFORMED),
    ("https://08.0.0.1/", UrlProblem.MALFORMED),  # 8 is no octal digit
    ("https://example.123/", UrlProblem.MALFORMED),
    ("https://127..1/", UrlProblem.MALFORMED),
    ("https://example.com../", UrlProblem.MALFORMED),
    ("https://exa_mple..com/", UrlProblem.MALFORMED),
    ("https://-example.com/", UrlProblem.MALFORMED),
    ("https://ex!ample.com/", UrlProblem.MALFORMED),
    ("https:///", UrlProblem.MALFORMED),
    ("https://" + "a" * 64 + ".com/", UrlProblem.MALFORMED),  # a DNS label is at most 63
]


@pytest.mark.parametrize(("url", "problem"), REFUSED_URLS)
def test_a_link_that_could_be_read_two_ways_is_refused(url: str, problem: UrlProblem) -> None:
    with pytest.raises(BadUrl) as refused:
        parse_url(url, schemes=("https",))
    assert refused.value.problem is problem


ADDRESSES = [
    # IPv4
    ("8.8.8.8", True),
    ("93.184.215.14", True),
    ("1.1.1.1", True),
    ("100.63.255.255", True),
    ("100.128.0.0", True),
    ("172.32.0.1", True),
    ("192.0.1.1", True),
    ("0.0.0.0", False),  # unspecified
    ("0.1.2.3", False),  # "this network"
    ("127.0.0.1", False),  # loopback
    ("127.255.255.254", False),
    ("10.0.0.8", False),  # private
    ("172.16.0.1", False),
    ("172.31.255.255", False),
    ("192.168.1.1", False),
    ("100.64.0.1", False),  # shared (carrier-grade NAT)
    ("100.127.255.255", False),
    ("169.254.169.254", False),  # link-local: cloud metadata
    ("192.0.0.8", False),  # IETF protocol assignments
    ("192.0.2.1", False),  # documentation
    ("198.51.100.7", False),
    ("203.0.113.9", False),
    ("198.18.0.1", False),  # benchmarking
    ("198.19.255.255", False),
    ("192.88.99.1", False),  # 6to4 relay anycast
    ("224.0.0.1", False),  # multicast
    ("239.255.255.250", False),
    ("240.0.0.1", False),  # reserved
    ("255.255.255.255", False),  # broadcast
    # IPv6
    ("2606:4700:4700::1111", True),
    ("2a00:1450:4001:80b::200e", True),
    ("::", False),  # unspecified
    ("::1", False),  # loopback
    ("fe80::1", False),  # link-local
    ("fec0::1", False),  # site-local
    ("fc00::1", False),  # unique local (fc00::/7)
    ("fd12:3456::1", False),
    ("ff02::1", False),  # multicast
    ("ff0e::1", False),
    ("100::1", False),  # discard-only
    ("2001:db8::1", False),  # documentation
    ("3fff::1", False),
    ("2001:2::1", False),  # benchmarking
    ("2001:10::1", False),  # ORCHID
    ("5f00::1", False),  # SRv6 SIDs
    ("4000::1", False),  # outside global unicast (2000::/3): reserved
    ("::ffff:127.0.0.1", False),  # IPv4-mapped
    ("::ffff:10.0.0.1", False),
    ("::ffff:169.254.169.254", False),
    ("::ffff:8.8.8.8", True),
    ("::ffff:0:127.0.0.1", False),  # IPv4-translated
    ("::ffff:0:8.8.8.8", True),
    ("::127.0.0.1", False),  # IPv4-compatible (deprecated)
    ("::10.0.0.1", False),
    ("::8.8.8.8", True),
    ("64:ff9b::127.0.0.1", False),  # NAT64
    ("64:ff9b::a9fe:a9fe", False),
    ("64:ff9b::192.168.0.1", False),
    ("64:ff9b::8.8.8.8", True),
    ("64:ff9b:1::8.8.8.8", False),  # local-use NAT64: never global
    ("64:ff9b:1:ffff::1", False),
    ("2002:7f00:1::1", False),  # 6to4 of 127.0.0.1
    ("2002:a00:1::", False),  # 6to4 of 10.0.0.1
    ("2002:a9fe:a9fe::1", False),
    ("2002:808:808::1", True),  # 6to4 of 8.8.8.8
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", False),  # Teredo, client 127.0.0.1
    ("2001:0:c0a8:101::1", False),  # Teredo, server 192.168.1.1
    ("2001:0:808:808:0:0:f7f7:f7f7", True),  # Teredo, server and client 8.8.8.8
]


@pytest.mark.parametrize(("text", "public"), ADDRESSES)
def test_only_globally_routable_addresses_are_public(text: str, public: bool) -> None:
    assert is_public_address(ip_address(text)) is public


NAMES = [
    ("example.com", False),
    ("cdn.evolink.ai", False),
    ("localhost", True),
    ("LOCALHOST.", True),
    ("api.localhost", True),
    ("printer.local", True),
    ("db.internal", True),
    ("router.home.arpa", True),
    ("nas.lan", True),
    ("x.test", True),
    ("intranet", True),  # a bare name: the local search domain decides
    ("metadata", True),
]


@pytest.mark.parametrize(("name", "local"), NAMES)
def test_local_names(name: str, local: bool) -> None:
    assert is_local_name(name) is local


@pytest.mark.parametrize(
    ("url", "public"),
    [
        ("https://cdn.example.com/a.mp3", True),
        ("https://8.8.8.8/a.mp3", True),
        ("https://0x08080808/a.mp3", True),
        ("https://0x7f000001/a.mp3", False),
        ("https://[64:ff9b::a00:1]/a.mp3", False),
        ("https://localhost./a.mp3", False),
        ("https://metadata/latest", False),
    ],
)
def test_may_be_public_as_written(url: str, public: bool) -> None:
    assert may_be_public(parse_url(url)) is public


@pytest.mark.parametrize(
    ("base_url", "origin"),
    [
        ("http://127.0.0.1:8787", ("http", "127.0.0.1", 8787)),
        ("http://127.0.0.1:8787/api/", ("http", "127.0.0.1", 8787)),
        ("http://[::1]:8787", ("http", "::1", 8787)),
        ("http://localhost:8787", ("http", "localhost", 8787)),
        ("http://0x7f000001:8787", ("http", "127.0.0.1", 8787)),
        ("https://api.evolink.ai", None),  # public: no exception at all
        ("http://10.0.0.5:8787", None),  # private but not this machine
        ("http://sim.internal:8787", None),
        ("not a url", None),
    ],
)
def test_only_a_loopback_base_url_has_a_trusted_origin(
    base_url: str, origin: tuple[str, str, int] | None
) -> None:
    assert loopback_origin(base_url) == origin
