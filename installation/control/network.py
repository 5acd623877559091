"""The one network rule for every control that listens: who may bind beyond loopback, and
which sources an allow list lets in. The show schema validates with it; servers filter with it."""

from __future__ import annotations

import ipaddress
import re

def is_loopback_host(host: str) -> bool:
    """True when binding `host` only accepts datagrams from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_networks(allow: list[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """'192.168.1.20' or '192.168.1.0/24' -> networks; a bad entry raises naming osc.allow."""
    nets = []
    for entry in allow:
        try:
            nets.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(
                f"osc.allow: {entry!r} is not an IP address or network (expected e.g. '192.168.1.20' or '192.168.1.0/24')"
            ) from None
    return nets


class SourceFilter:
    """Which source IPs may talk to the server.

    With an empty allow list every source passes (only sensible on loopback, which the
    show schema enforces); otherwise only sources inside one of the listed networks.
    Decisions are cached per IP, so a flood from one sender costs one dict lookup each.
    """

    def __init__(self, allow: list[str]):
        self.networks = parse_networks(allow)
        self._cache: dict[str, bool] = {}

    def allows(self, ip: str) -> bool:
        if not self.networks:
            return True
        hit = self._cache.get(ip)
        if hit is not None:
            return hit
        try:
            addr = ipaddress.ip_address(ip.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped  # an IPv6 socket sees IPv4 senders as ::ffff:a.b.c.d
        ok = any(addr.version == n.version and addr in n for n in self.networks)
        if len(self._cache) < 4096:  # spoofed floods must not grow memory
            self._cache[ip] = ok
        return ok


def parse_host_port(text: str) -> tuple[str, int]:
    """'host:port' or '[v6]:port' -> (host, port); raises ValueError naming osc.status_to."""
    m = re.fullmatch(r"\[([^\]]+)\]:(\d+)|([^:\[\]]+):(\d+)", text.strip())
    if not m:
        raise ValueError(f"osc.status_to: {text!r} is not 'host:port' (e.g. '127.0.0.1:9001')")
    host = m.group(1) or m.group(3)
    port = int(m.group(2) or m.group(4))
    if not 1 <= port <= 65535:
        raise ValueError(f"osc.status_to: port {port} is out of range 1..65535")
    return host, port
