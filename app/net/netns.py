"""Separate hosts on one machine: a Linux bridge and one network namespace per host (iproute2, root).

Each namespace gets its own address on the bridge, so a connection's source address says which host made
it, and a node listening on the namespace's 127.0.0.1 is unreachable from every other host: only its relay
(on the namespace's bridge address) can reach it. Everything made here carries one prefix, so a run can
remove what an interrupted run left (namespaces with their processes, the bridge) before it starts.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass

PREFIX = "potr"
BRIDGE = f"{PREFIX}br0"
SUBNET = "10.77"  # 10.77.0.1 is the bridge (the machine itself); hosts from 10.77.0.2


def available() -> str | None:
    """None when namespaces can be made here, else why not (one line)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "iproute2 (`ip`) is not installed"
    probe = f"{PREFIX}-probe"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"`ip netns add` failed: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if check and done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done


def _ours() -> list[str]:
    listed = _ip("netns", "list", check=False).stdout.split("\n")
    return [line.split()[0] for line in listed if line.startswith(f"{PREFIX}-")]


def remove_all() -> None:
    """Kill every process in our namespaces, delete them and the bridge (a previous run's leftovers too)."""
    for ns in _ours():
        pids = [int(p) for p in _ip("netns", "pids", ns, check=False).stdout.split()]
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 5
        while pids and _ip("netns", "pids", ns, check=False).stdout.split() and time.monotonic() < deadline:
            time.sleep(0.1)
        _ip("netns", "del", ns, check=False)
    if _ip("link", "show", BRIDGE, check=False).returncode == 0:
        _ip("link", "del", BRIDGE, check=False)


@dataclass(frozen=True)
class NsHost:
    name: str
    namespace: str
    address: str

    def prefix(self) -> list[str]:
        """The argv prefix that runs a command inside this host."""
        return ["ip", "netns", "exec", self.namespace]


class Bridge:
    """The bridge and its hosts; `add(name)` makes one host, `close()` removes everything."""

    def __init__(self) -> None:
        remove_all()
        _ip("link", "add", BRIDGE, "type", "bridge")
        _ip("addr", "add", f"{SUBNET}.0.1/16", "dev", BRIDGE)
        _ip("link", "set", BRIDGE, "up")
        self.hosts: dict[str, NsHost] = {}

    def add(self, name: str) -> NsHost:
        index = len(self.hosts) + 2
        ns = f"{PREFIX}-{name}"
        outside, inside = f"{PREFIX}v{index}", f"{PREFIX}p{index}"
        address = f"{SUBNET}.{index // 250}.{index % 250}"
        _ip("netns", "add", ns)
        _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
        _ip("link", "set", inside, "netns", ns)
        _ip("link", "set", outside, "master", BRIDGE)
        _ip("link", "set", outside, "up")
        _ip("-n", ns, "addr", "add", f"{address}/16", "dev", inside)
        _ip("-n", ns, "link", "set", inside, "up")
        _ip("-n", ns, "link", "set", "lo", "up")
        host = NsHost(name, ns, address)
        self.hosts[name] = host
        return host

    def close(self) -> None:
        remove_all()
        self.hosts.clear()
