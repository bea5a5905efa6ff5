"""Which addresses a host tells its peers: never the unspecified 0.0.0.0, always something dialable.

A host listening on all interfaces (`0.0.0.0`) would otherwise advertise `/ip4/0.0.0.0/...`, which
no peer can dial; it advertises each of the machine's IPv4 interface addresses instead. A host behind
a forwarder (a port mapping, a NAT, the rehearsal's WAN relay) announces the forwarder's address
instead of its own: peers learn addresses through identify and redial them, so announcing the real
listener would let them go around the forwarder.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable, Sequence

import multiaddr
import psutil

UNSPECIFIED = "0.0.0.0"


def interface_ipv4() -> list[str]:
    """The machine's IPv4 interface addresses (loopback included), in a stable order."""
    found = {a.address for addrs in psutil.net_if_addrs().values() for a in addrs if a.family == socket.AF_INET}
    return sorted(found, key=lambda ip: (ip.startswith("127."), ip))


def concrete(candidates: Iterable[multiaddr.Multiaddr], interfaces: Sequence[str]) -> list[multiaddr.Multiaddr]:
    """`candidates` with each `/ip4/0.0.0.0/...` replaced by the same address on every interface in `interfaces`."""
    out: list[multiaddr.Multiaddr] = []
    for addr in candidates:
        text = str(addr)
        prefix = f"/ip4/{UNSPECIFIED}/"
        if text.startswith(prefix):
            out.extend(multiaddr.Multiaddr(f"/ip4/{ip}/{text[len(prefix) :]}") for ip in interfaces)
        else:
            out.append(addr)
    return list(dict.fromkeys(out))


def parse_announce(text: str) -> multiaddr.Multiaddr:
    """An address to announce: `/ip4/HOST/tcp/PORT`, concrete (not 0.0.0.0) and without a peer id."""
    parts = text.strip("/").split("/")
    if len(parts) != 4 or parts[0] != "ip4" or parts[2] != "tcp" or not parts[3].isdigit():
        raise ValueError(f"announce address {text!r} must look like /ip4/HOST/tcp/PORT")
    if parts[1] == UNSPECIFIED:
        raise ValueError(f"announce address {text!r} must name a dialable host, not {UNSPECIFIED}")
    return multiaddr.Multiaddr(text)


def advertised(
    candidates: Iterable[multiaddr.Multiaddr], interfaces: Sequence[str], announce: Sequence[str] = ()
) -> list[multiaddr.Multiaddr]:
    """What a host advertises: the `announce` addresses when given, else its concrete listen addresses."""
    if announce:
        return list(dict.fromkeys(parse_announce(a) for a in announce))
    return concrete(candidates, interfaces)
