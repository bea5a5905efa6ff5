"""Where the daemon listens: a Unix socket path or a loopback TCP port, written as one string.

`unix:/path/to/rpc.sock` or `tcp:127.0.0.1:53117`. The string goes into the lockfile so every client
finds the daemon the same way. TCP is only ever loopback: the RPC is for this machine's user.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

SOCKET_NAME = "rpc.sock"
# sun_path is 108 bytes on Linux and 104 on macOS, including the terminating NUL.
MAX_UNIX_PATH = 100


class EndpointError(ValueError):
    """An endpoint string that cannot be used; the message says why."""


@dataclass(frozen=True)
class Endpoint:
    """A parsed endpoint; `port` 0 means "pick a free port" (the bound endpoint has the real one)."""

    transport: Literal["unix", "tcp"]
    path: str = ""
    host: str = "127.0.0.1"
    port: int = 0

    def __str__(self) -> str:
        if self.transport == "unix":
            return f"unix:{self.path}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"tcp:{host}:{self.port}"

    @classmethod
    def parse(cls, text: str) -> Endpoint:
        if not isinstance(text, str):
            raise EndpointError("endpoint must be a string such as 'unix:/path' or 'tcp:127.0.0.1:PORT'")
        scheme, sep, rest = text.partition(":")
        if not sep or scheme not in ("unix", "tcp"):
            raise EndpointError(f"endpoint {text!r} must start with 'unix:' or 'tcp:'")
        if scheme == "unix":
            if not rest:
                raise EndpointError("unix endpoint needs a socket path")
            return cls("unix", path=rest)
        host, sep, port_text = rest.rpartition(":")
        host = host.strip("[]")
        if not sep or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
            raise EndpointError(f"tcp endpoint {text!r} needs a port between 0 and 65535")
        return cls.tcp(host, int(port_text))

    @classmethod
    def tcp(cls, host: str = "127.0.0.1", port: int = 0) -> Endpoint:
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            raise EndpointError(f"tcp host {host!r} must be a loopback IP address such as 127.0.0.1") from None
        if not loopback:
            raise EndpointError(f"refusing to listen on {host}: the RPC only listens on loopback addresses")
        return cls("tcp", host=host, port=port)

    def connect(self, timeout: float) -> socket.socket:
        """A connected socket with `timeout` set; raises OSError when nobody listens."""
        if self.transport == "unix":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            address: str | tuple[str, int] = self.path
        else:
            family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            address = (self.host, self.port)
        sock.settimeout(timeout)
        try:
            sock.connect(address)
        except BaseException:
            sock.close()
            raise
        return sock


def unix_supported() -> bool:
    return hasattr(socket, "AF_UNIX") and os.name == "posix"


def default_endpoint(data_dir: Path, transport: str = "auto", port: int = 0) -> Endpoint:
    """The endpoint a daemon on `data_dir` should listen on ("auto": Unix socket on POSIX, TCP elsewhere)."""
    if transport == "auto":
        transport = "unix" if unix_supported() else "tcp"
    if transport == "tcp":
        return Endpoint.tcp("127.0.0.1", port)
    if transport != "unix":
        raise EndpointError(f"unknown RPC transport {transport!r}: use auto, unix or tcp")
    if not unix_supported():
        raise EndpointError("Unix sockets are not available on this system; use the tcp transport")
    path = Path(data_dir).resolve() / SOCKET_NAME
    if len(os.fsencode(str(path))) <= MAX_UNIX_PATH:
        return Endpoint("unix", path=str(path))
    # A deep data folder would overflow sun_path: use a short private folder keyed by the data folder.
    digest = hashlib.sha256(os.fsencode(str(path))).hexdigest()[:16]
    short_dir = Path(tempfile.gettempdir()) / f"potminer-{os.getuid()}"
    return Endpoint("unix", path=str(short_dir / f"{digest}.sock"))
