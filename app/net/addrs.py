"""Which addresses a host tells its peers: never the unspecified 0.0.0.0, always something dialable.

A host listening on all interfaces (`0.0.0.0`) would otherwise advertise `/ip4/0.0.0.0/...`, which
no peer can dial; it advertises each of the machine's IPv4 interface addresses instead.
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
