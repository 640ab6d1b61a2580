"""The egress policy: where actions may open connections.

Default deny for every address that reaches *inside* a deployment: loopback, link-local
(the cloud metadata service at 169.254.169.254 among them), private and shared (CGNAT)
ranges, unique-local IPv6, multicast, the unspecified address, and the same addresses
dressed up as IPv6 (mapped, compatible, 6to4, NAT64). `SEGUE_EGRESS_ALLOW` opens CIDRs
and host names a deployment needs. The deployment's own services (Temporal, its UI, the
database, the API) stay closed whatever the allow-list says.

A name is resolved once, every address it resolves to is checked, and the caller
connects to the checked address: a second resolution (DNS rebinding) never happens.
"""

from __future__ import annotations

import asyncio
import fnmatch
import ipaddress
import os
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Final
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ALLOW_VARIABLE: Final = "SEGUE_EGRESS_ALLOW"
DENY_VARIABLE: Final = "SEGUE_EGRESS_DENY"


def _nets(*cidrs: str) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(cidr) for cidr in cidrs)


# (rule name, networks). The name is what an `egress_denied` message cites.
DENIED_RANGES: Final[tuple[tuple[str, tuple[IPNetwork, ...]], ...]] = (
    ("unspecified", _nets("0.0.0.0/8", "::/128")),
    ("loopback", _nets("127.0.0.0/8", "::1/128")),
    ("link-local", _nets("169.254.0.0/16", "fe80::/10")),
    ("private", _nets("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "192.0.0.0/24")),
    ("shared address space (CGNAT)", _nets("100.64.0.0/10")),
    ("benchmarking", _nets("198.18.0.0/15")),
    ("unique-local", _nets("fc00::/7", "fec0::/10")),
    ("multicast", _nets("224.0.0.0/4", "ff00::/8")),
    ("reserved", _nets("240.0.0.0/4")),
)
LOOPBACK: Final = _nets("127.0.0.0/8", "::1/128")
# IPv6 prefixes that carry an IPv4 address in their low 32 bits.
_NAT64: Final = ipaddress.ip_network("64:ff9b::/96")
_COMPATIBLE: Final = ipaddress.ip_network("::/96")


class EgressDenied(Exception):
    """A connection the policy refuses; the message names host, address and rule."""

    def __init__(self, host: str, address: str, rule: str) -> None:
        super().__init__(f"egress to {host} ({address}) is denied: {rule}")
        self.host = host
        self.address = address
        self.rule = rule


class EgressUnresolved(Exception):
    """The name does not resolve."""


def parse_ip_literal(host: str) -> IPAddress | None:
    """The address a numeric host stands for, in every spelling resolvers accept
    (`127.1`, `0x7f000001`, `2130706433`, `017700000001`, `[::ffff:127.0.0.1]`); None
    for a name."""
    text = host.strip().rstrip(".")
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if "%" in text:  # a zone id (fe80::1%eth0): the address is what counts
        text = text.split("%", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    return _inet_aton(text)


def _inet_aton(text: str) -> ipaddress.IPv4Address | None:
    """BSD `inet_aton` forms: 1 to 4 parts, each decimal, octal (leading 0) or hex (0x);
    the last part fills the remaining bytes. getaddrinfo accepts them, so must we."""
    parts = text.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    values: list[int] = []
    for part in parts:
        lowered = part.lower()
        try:
            if lowered.startswith("0x"):
                value = int(lowered[2:], 16) if len(lowered) > 2 else 0
            elif len(lowered) > 1 and lowered.startswith("0"):
                value = int(lowered[1:], 8)
            else:
                value = int(lowered, 10) if lowered.isdigit() else -1
        except ValueError:
            return None
        if value < 0:
            return None
        values.append(value)
    *head, last = values
    if any(value > 255 for value in head) or last >= 256 ** (4 - len(head)):
        return None
    number = 0
    for value in head:
        number = number * 256 + value
    number = number * 256 ** (4 - len(head)) + last
    return ipaddress.IPv4Address(number)


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, compatible, 6to4, NAT64)."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    low = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _NAT64:
        return low
    # ::a.b.c.d (deprecated "compatible"); :: and ::1 themselves are rules of their own.
    if address in _COMPATIBLE and int(address) > 1:
        return low
    return None


def denied_rule(address: IPAddress) -> str | None:
    """The default-deny rule `address` falls under (looking through IPv6 wrappers)."""
    for candidate in (address, embedded_ipv4(address)):
        if candidate is None:
            continue
        for rule, networks in DENIED_RANGES:
            if any(candidate in network for network in networks):
                return rule if candidate is address else f"{rule} (as IPv6 {address})"
    return None


def _plain(address: IPAddress) -> IPAddress:
    """The address an IPv6 wrapper carries, or the address itself (for comparisons)."""
    return embedded_ipv4(address) or address


@dataclass(frozen=True)
class Endpoint:
    """One of the deployment's own services: a host (name or address) and a port."""

    host: str
    port: int


@dataclass(frozen=True)
class EgressPolicy:
    """What actions may reach: default deny of internal ranges, `allow` opens CIDRs and
    host patterns, `own` services stay closed."""

    allow_networks: tuple[IPNetwork, ...] = ()
    allow_hosts: tuple[str, ...] = ()  # lower-case patterns: `api.example`, `*.internal.example`
    own: tuple[Endpoint, ...] = ()
    _own_addresses: dict[tuple[IPAddress, int], str] = field(
        default_factory=dict, compare=False, repr=False
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> EgressPolicy:
        """`SEGUE_EGRESS_ALLOW` (CIDRs, addresses, host patterns; comma-separated) and the
        own services of `SEGUE_TEMPORAL_ADDRESS`, `SEGUE_DATABASE_URL` and
        `SEGUE_EGRESS_DENY` (`host:port`, comma-separated)."""
        env = os.environ if environ is None else environ
        networks, hosts = parse_allow(env.get(ALLOW_VARIABLE, ""))
        own = own_endpoints(env)
        return cls(networks, hosts, own)

    def allowing_loopback(self) -> EgressPolicy:
        """The same policy with loopback opened (`segue dev`, whose examples poll a local
        service)."""
        return replace(self, allow_networks=(*self.allow_networks, *LOOPBACK), _own_addresses={})

    def denying(self, endpoints: Iterable[Endpoint]) -> EgressPolicy:
        """The same policy with more own services closed."""
        return replace(self, own=(*self.own, *endpoints), _own_addresses={})

    @property
    def allows_loopback(self) -> bool:
        """Whether the allow-list opens 127.0.0.1 (what `segue dev` announces)."""
        return any(ipaddress.ip_address("127.0.0.1") in net for net in self.allow_networks)

    def host_allowed(self, host: str) -> bool:
        """Whether an allow-list host pattern names `host`."""
        name = host.lower().rstrip(".")
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.allow_hosts)

    def address_rule(self, host: str, address: IPAddress, port: int) -> str | None:
        """Why connecting to `address:port` (for `host`) is refused, or None."""
        own = self._own_addresses.get((_plain(address), port))
        if own is not None:
            return f"the deployment's own service {own}"
        if self.host_allowed(host):
            return None
        if any(_plain(address) in network for network in self.allow_networks) or any(
            address in network for network in self.allow_networks
        ):
            return None
        return denied_rule(address)

    async def resolve(self, host: str, port: int) -> IPAddress:
        """The address to connect to for `host:port`: the literal, or the first of the
        name's addresses once every one of them passed. `EgressDenied` otherwise."""
        await self._learn_own()
        literal = parse_ip_literal(host)
        addresses = [literal] if literal is not None else await _lookup(host, port)
        for address in addresses:
            rule = self.address_rule(host, address, port)
            if rule is not None:
                raise EgressDenied(host, str(address), rule)
        return addresses[0]

    async def _learn_own(self) -> None:
        """Resolve the own services' names once (they do not move while a worker runs)."""
        if len(self._own_addresses) or not self.own:
            return
        learned: dict[tuple[IPAddress, int], str] = {}
        for endpoint in self.own:
            literal = parse_ip_literal(endpoint.host)
            try:
                found = [literal] if literal else await _lookup(endpoint.host, endpoint.port)
            except EgressUnresolved:
                continue
            for address in found:
                learned[(_plain(address), endpoint.port)] = f"{endpoint.host}:{endpoint.port}"
        # Never empty once learned, so unresolvable services are not looked up every time.
        learned.setdefault((ipaddress.IPv4Address(0), 0), "nothing")
        self._own_addresses.update(learned)


async def _lookup(host: str, port: int) -> list[IPAddress]:
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
    except (socket.gaierror, UnicodeError) as error:
        raise EgressUnresolved(f"{host} does not resolve ({error})") from None
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise EgressUnresolved(f"{host} has no address")
    return addresses


def parse_allow(raw: str) -> tuple[tuple[IPNetwork, ...], tuple[str, ...]]:
    """Allow-list entries: CIDRs or addresses become networks, anything else a host pattern."""
    networks: list[IPNetwork] = []
    hosts: list[str] = []
    for entry in (part.strip() for part in raw.split(",")):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
        except ValueError:
            hosts.append(entry.lower().rstrip("."))
    return tuple(networks), tuple(hosts)


def own_endpoints(env: Mapping[str, str]) -> tuple[Endpoint, ...]:
    """The deployment's own services named by its configuration."""
    found: list[Endpoint] = []
    temporal = env.get("SEGUE_TEMPORAL_ADDRESS", "").strip()
    for entry in [temporal, *env.get(DENY_VARIABLE, "").split(",")]:
        endpoint = _host_port(entry.strip())
        if endpoint is not None:
            found.append(endpoint)
    database = env.get("SEGUE_DATABASE_URL", "").strip()
    if database:
        try:
            parts = urlsplit(database)
            if parts.hostname:
                found.append(Endpoint(parts.hostname, parts.port or 5432))
        except ValueError:
            pass
    return tuple(found)


def _host_port(entry: str) -> Endpoint | None:
    if not entry:
        return None
    parts = urlsplit(entry if "//" in entry else f"//{entry}")
    try:
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname or port is None:
        return None
    return Endpoint(parts.hostname, port)


_current: EgressPolicy | None = None


def current_policy() -> EgressPolicy:
    """The worker's policy: the one configured, else read from the environment once."""
    global _current
    if _current is None:
        _current = EgressPolicy.from_env()
    return _current


def configure(policy: EgressPolicy | None) -> None:
    """Install the policy actions use (None: read the environment again on next use)."""
    global _current
    _current = policy
