"""The one address policy for every link the bot checks, fetches or passes on.

A link is read the way browsers (the WHATWG URL standard) and `getaddrinfo` read it, so a host
written `0x7f000001`, `0177.0.0.1`, `2130706433`, `127.1`, `127.0.0.1.` or in full-width digits
is seen as the loopback address it is; anything the two could read differently (a user name
before `@`, a backslash or `%` in the host, an empty port, whitespace) is refused outright.

An IP address is allowed only when it is globally routable; an address that embeds an IPv4
address (IPv4-mapped, IPv4-compatible, NAT64, 6to4, Teredo) is judged by what it embeds.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import Enum
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

URL_MAX = 2048
DEFAULT_PORTS = {"http": 80, "https": 443}

IPAddress = IPv4Address | IPv6Address
Origin = tuple[str, str, int]  # scheme, host, port


def _v4(*networks: str) -> tuple[IPv4Network, ...]:
    return tuple(IPv4Network(n) for n in networks)


def _v6(*networks: str) -> tuple[IPv6Network, ...]:
    return tuple(IPv6Network(n) for n in networks)


REFUSED_V4 = _v4(
    "0.0.0.0/8",  # "this network", unspecified
    "10.0.0.0/8",  # private
    "100.64.0.0/10",  # shared address space (carrier-grade NAT)
    "127.0.0.0/8",  # loopback
    "169.254.0.0/16",  # link-local, cloud metadata services
    "172.16.0.0/12",  # private
    "192.0.0.0/24",  # IETF protocol assignments
    "192.0.2.0/24",  # documentation (TEST-NET-1)
    "192.88.99.0/24",  # 6to4 relay anycast (deprecated)
    "192.168.0.0/16",  # private
    "198.18.0.0/15",  # benchmarking
    "198.51.100.0/24",  # documentation (TEST-NET-2)
    "203.0.113.0/24",  # documentation (TEST-NET-3)
    "224.0.0.0/4",  # multicast
    "240.0.0.0/4",  # reserved, broadcast
)
#: Only 2000::/3 is global unicast; everything outside it (loopback, unspecified, ULA fc00::/7,
#: link-local, site-local, multicast, discard 100::/64, local-use NAT64 64:ff9b:1::/48, SRv6
#: 5f00::/16, ...) is refused, and so are these parts of it.
GLOBAL_UNICAST_V6 = IPv6Network("2000::/3")
REFUSED_V6 = _v6(
    "2001::/23",  # IETF protocol assignments (Teredo, 2001::/32, is judged by what it embeds)
    "2001:db8::/32",  # documentation
    "3fff::/20",  # documentation
)
IPV4_MAPPED = IPv6Network("::ffff:0:0/96")
IPV4_TRANSLATED = IPv6Network("::ffff:0:0:0/96")
IPV4_COMPATIBLE = IPv6Network("::/96")
NAT64 = IPv6Network("64:ff9b::/96")

#: Names that never lead to a public host: special-use and private-use top-level names.
LOCAL_SUFFIXES = (
    "localhost", "local", "internal", "intranet", "private", "corp", "home", "lan",
    "localdomain", "home.arpa", "test", "invalid", "example", "onion",
)  # fmt: skip

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_\-]{0,61}[a-z0-9_])?")
_HEX = re.compile(r"0[xX][0-9A-Fa-f]*")
_DIGITS = {8: "01234567", 10: "0123456789", 16: "0123456789abcdefABCDEF"}


class UrlProblem(Enum):
    TOO_LONG = "too long"
    SPACES = "whitespace or control characters"
    SCHEME = "not an http(s) link"
    USERINFO = "a user name or password before @"
    MALFORMED = "not a valid address"


class BadUrl(ValueError):
    def __init__(self, problem: UrlProblem) -> None:
        super().__init__(problem.value)
        self.problem = problem


@dataclass(frozen=True)
class Url:
    """A link as it will be fetched: `host` is lower-case ASCII without a trailing dot, or the
    canonical text of `address` when the host is an IP address in any spelling."""

    scheme: str
    host: str
    port: int
    address: IPAddress | None
    target: str  # path and query, never empty; the fragment is left out

    @property
    def origin(self) -> Origin:
        return (self.scheme, self.host, self.port)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = "" if DEFAULT_PORTS[self.scheme] == self.port else f":{self.port}"
        return f"{self.scheme}://{host}{port}{self.target}"


def parse_url(text: str, schemes: tuple[str, ...] = ("http", "https")) -> Url:
    """Read `text` strictly; raise BadUrl saying what is wrong with it."""
    if len(text) > URL_MAX:
        raise BadUrl(UrlProblem.TOO_LONG)
    if any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in text):
        raise BadUrl(UrlProblem.SPACES)
    scheme_match = _SCHEME.match(text)
    scheme = scheme_match.group(1).lower() if scheme_match else ""
    rest = text[scheme_match.end() :] if scheme_match else ""
    if scheme not in schemes or scheme not in DEFAULT_PORTS or not rest.startswith("//"):
        raise BadUrl(UrlProblem.SCHEME)
    rest = rest[2:]
    end = next((i for i, ch in enumerate(rest) if ch in "/?#\\"), len(rest))
    authority, remainder = rest[:end], rest[end:]
    if remainder.startswith("\\"):
        raise BadUrl(UrlProblem.MALFORMED)  # a browser reads it as "/", other parsers do not
    if "@" in authority:
        raise BadUrl(UrlProblem.USERINFO)
    host_text, port = _split_port(authority, DEFAULT_PORTS[scheme])
    host, address = _parse_host(host_text)
    target = remainder.split("#", 1)[0]
    if not target.startswith("/"):
        target = "/" + target
    return Url(scheme, host, port, address, target)


def _split_port(authority: str, default: int) -> tuple[str, int]:
    if authority.startswith("["):
        close = authority.find("]")
        if close < 0:
            raise BadUrl(UrlProblem.MALFORMED)
        host, after = authority[: close + 1], authority[close + 1 :]
        if not after:
            return host, default
        if not after.startswith(":"):
            raise BadUrl(UrlProblem.MALFORMED)
        port_text = after[1:]
    elif ":" in authority:
        host, port_text = authority.split(":", 1)
    else:
        return authority, default
    if not (port_text.isascii() and port_text.isdigit()) or not 0 < int(port_text) < 65536:
        raise BadUrl(UrlProblem.MALFORMED)
    return host, int(port_text)


def _parse_host(text: str) -> tuple[str, IPAddress | None]:
    if text.startswith("["):
        try:
            address = IPv6Address(text[1:-1])  # a zone id (%) is refused here too
        except ValueError:
            raise BadUrl(UrlProblem.MALFORMED) from None
        if address.scope_id is not None:
            raise BadUrl(UrlProblem.MALFORMED)
        return str(address), address
    if not text or "%" in text:
        raise BadUrl(UrlProblem.MALFORMED)  # browsers decode %-escapes in a host; we refuse them
    try:
        name = text if text.isascii() else text.encode("idna").decode("ascii")
    except UnicodeError:
        raise BadUrl(UrlProblem.MALFORMED) from None
    name = name.lower()
    if name.endswith("."):
        name = name[:-1]  # one trailing dot: the same host, fully qualified
    labels = name.split(".")
    if _is_number(labels[-1]):
        address4 = _whatwg_ipv4(labels)
        return str(address4), address4
    if len(name) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise BadUrl(UrlProblem.MALFORMED)
    return name, None


def _is_number(label: str) -> bool:
    return (label.isascii() and label.isdigit()) or _HEX.fullmatch(label) is not None


def _whatwg_ipv4(parts: list[str]) -> IPv4Address:
    """The WHATWG IPv4 parser (which glibc's inet_aton agrees with): 1 to 4 parts, each decimal,
    octal (a leading 0) or hex (0x); the last part fills the remaining bytes."""
    if len(parts) > 4:
        raise BadUrl(UrlProblem.MALFORMED)
    numbers = [_ipv4_number(part) for part in parts]
    if any(n > 255 for n in numbers[:-1]) or numbers[-1] >= 256 ** (5 - len(numbers)):
        raise BadUrl(UrlProblem.MALFORMED)
    value = numbers[-1]
    for index, number in enumerate(numbers[:-1]):
        value += number << (8 * (3 - index))
    return IPv4Address(value)


def _ipv4_number(part: str) -> int:
    base, digits = 10, part
    if part[:2] in ("0x", "0X"):
        base, digits = 16, part[2:]
    elif len(part) > 1 and part.startswith("0"):
        base, digits = 8, part[1:]
    if base == 16 and not digits:
        return 0  # "0x" alone is zero
    if not digits or any(ch not in _DIGITS[base] for ch in digits):
        raise BadUrl(UrlProblem.MALFORMED)
    return int(digits, base)


def is_public_address(address: IPAddress) -> bool:
    """Whether `address` is globally routable (and so is any IPv4 address it embeds)."""
    if isinstance(address, IPv4Address):
        return not any(address in network for network in REFUSED_V4)
    embedded = embedded_ipv4(address)
    if embedded:
        return all(is_public_address(inner) for inner in embedded)
    return address in GLOBAL_UNICAST_V6 and not any(address in net for net in REFUSED_V6)


def embedded_ipv4(address: IPv6Address) -> tuple[IPv4Address, ...]:
    """The IPv4 addresses a packet to `address` really goes to, for the forms that embed one:
    IPv4-mapped and -translated, IPv4-compatible, NAT64 (64:ff9b::/96), 6to4 and Teredo (its
    server and its client)."""
    low32 = IPv4Address(int(address) & 0xFFFFFFFF)
    if any(address in net for net in (IPV4_MAPPED, IPV4_TRANSLATED, IPV4_COMPATIBLE, NAT64)):
        return (low32,)
    if address.sixtofour is not None:
        return (address.sixtofour,)
    if address.teredo is not None:
        return address.teredo
    return ()


def is_local_name(host: str) -> bool:
    """A DNS name that only makes sense inside a network: localhost, *.local, a bare name, ..."""
    name = host.rstrip(".").lower()
    return "." not in name or any(
        name == suffix or name.endswith("." + suffix) for suffix in LOCAL_SUFFIXES
    )


def may_be_public(url: Url) -> bool:
    """Whether the link can lead to a public host as written: a public IP address, or a DNS
    name that is not a local one. Where a DNS name leads is known only once it is resolved."""
    if url.address is not None:
        return is_public_address(url.address)
    return not is_local_name(url.host)


def loopback_origin(base_url: str) -> Origin | None:
    """The origin of `base_url` when it is on this machine (the EvoLink simulator), else None."""
    try:
        url = parse_url(base_url)
    except BadUrl:
        return None
    if url.address is not None:
        return url.origin if url.address.is_loopback else None
    if url.host == "localhost" or url.host.endswith(".localhost"):
        return url.origin
    return None


def parse_ip(text: str) -> IPAddress:
    """An address as `getaddrinfo` returns it (an IPv6 zone, `%eth0`, is left out)."""
    plain = text.split("%", 1)[0]
    return IPv6Address(plain) if ":" in plain else IPv4Address(plain)
