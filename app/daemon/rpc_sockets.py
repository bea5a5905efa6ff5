"""The RPC server's sockets: binding the endpoint safely, and refusing a connection politely.

A Unix socket is born private (mode 0600 in a folder only its user can enter) and replaces only a
stale socket file, never anything else; on Linux a peer running as another user is refused before
it can send a byte. A refusal is an error response followed by a short drain, so that a TCP reset
cannot destroy the message before the client reads it.
"""

from __future__ import annotations

import os
import socket
import stat
import struct
import sys
import tempfile
import time
from pathlib import Path

from app.rpc import protocol as p
from app.rpc.endpoint import Endpoint


def bind(endpoint: Endpoint) -> tuple[socket.socket, Endpoint]:
    if endpoint.transport == "tcp":
        family = socket.AF_INET6 if ":" in endpoint.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            if os.name == "nt":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_EXCLUSIVEADDRUSE, 1)  # type: ignore[attr-defined]
            sock.bind((endpoint.host, endpoint.port))
        except BaseException:
            sock.close()
            raise
        return sock, Endpoint.tcp(endpoint.host, sock.getsockname()[1])
    path = Path(endpoint.path)
    prepare_socket_dir(path.parent)
    unlink_socket(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)  # the socket file is born 0600 (umask is process-wide but this is brief)
    try:
        sock.bind(str(path))
    except BaseException:
        sock.close()
        raise
    finally:
        os.umask(old_umask)
    return sock, endpoint


def prepare_socket_dir(directory: Path) -> None:
    """Make sure the socket's folder exists and is ours (matters for the shared temp folder fallback)."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = directory.stat()
    if os.name != "posix":
        return
    if st.st_uid != os.getuid():
        raise PermissionError(f"refusing to put the RPC socket in {directory}: it belongs to another user")
    in_shared_temp = directory.resolve().parent == Path(tempfile.gettempdir()).resolve()
    if in_shared_temp and st.st_mode & 0o077:
        raise PermissionError(f"refusing to put the RPC socket in {directory}: others can access it (chmod 700)")


def unlink_socket(path: Path) -> None:
    """Remove a socket file left by a dead daemon; never remove anything that is not a socket."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise FileExistsError(f"{path} exists and is not a socket; move it away")
    path.unlink(missing_ok=True)


def refuse(sock: socket.socket, error: p.RpcError, linger: float = 1.0, request_id: p.JsonId = None) -> None:
    """Send the refusal, then drain briefly before closing so a TCP reset cannot swallow it."""
    sock.settimeout(linger)
    try:
        sock.sendall(p.encode_response(p.Response(id=request_id, error=error)))
        sock.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + linger
        while time.monotonic() < deadline and sock.recv(65536):
            pass
    except OSError:
        pass
    finally:
        sock.close()


def close_quietly(sock: socket.socket, error: p.RpcError, request_id: p.JsonId = None) -> None:
    """Try to say why without waiting (the socket may be full or gone), then close."""
    try:
        sock.setblocking(False)
        sock.send(p.encode_response(p.Response(id=request_id, error=error)))
    except OSError:
        pass
    sock.close()


def peer_refusal(sock: socket.socket) -> p.RpcError | None:
    """On Linux, refuse Unix-socket peers running as another user (the token is the check elsewhere)."""
    if sock.family != getattr(socket, "AF_UNIX", None) or not sys.platform.startswith("linux"):
        return None
    try:
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except OSError:
        return None
    _pid, uid, _gid = struct.unpack("3i", creds)
    if uid != os.getuid():
        return p.RpcError(p.ErrorCode.UNAUTHORIZED, f"connections from user id {uid} are refused")
    return None
