"""Errors of the network layer; each names what a peer (or the local node) did wrong.

They derive from the core's `PotError` so the daemon can catch one hierarchy, and carry no peer
data beyond short descriptions (nothing from a peer is echoed at length into logs).
"""

from __future__ import annotations

from app.core.errors import PotError


class NetError(PotError):
    """Base of every error the network layer raises on purpose."""


class IdentityError(NetError):
    """The peer identity file is unreadable, malformed or has unsafe permissions."""


class FrameError(NetError):
    """A request/response frame that is truncated, malformed or not canonical CBOR."""


class FrameTooLarge(FrameError):
    """A frame whose declared length exceeds the protocol's hard limit."""


class UnexpectedMessage(FrameError):
    """A well-formed frame carrying a record the protocol does not allow at that point."""


class RequestFailed(NetError):
    """A request that could not be completed: no connection, timeout, or the stream broke."""


class RemoteError(RequestFailed):
    """The remote peer answered with an explicit error response."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message


class BlobHashMismatch(NetError):
    """A peer served bytes whose blob hash is not the one requested."""


class BlobUnavailable(NetError):
    """No peer could serve a blob with the requested hash."""


class BlobNotReady(BlobUnavailable):
    """No peer served the blob, and one still answered "pending" when the fetch's wait ran out: it is
    preparing the blob (a miner re-computing a dropped checkpoint). Unavailable for now; a caller with a
    deadline of its own (a verifier, `app.node.scheduler`) asks again after `retry_after_s`."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class BlobPending(NetError):
    """Raised by a blob provider: the blob is being prepared (a dropped checkpoint re-computed); the peer
    answers `ERR_PENDING` and the fetcher asks again, within `limits.MAX_PENDING_WAIT_S`."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"being prepared; ask again in {retry_after_s:.0f} s")
        self.retry_after_s = retry_after_s


class PeerBanned(NetError):
    """An operation refused because the peer is banned."""


class UnknownTopic(NetError):
    """A topic kind that is not one of the protocol's gossip topics."""


class ListenError(NetError):
    """The host could not listen on its address (the port is taken, or the address is not this machine's).

    A node that runs without listening is reachable by nobody: it must stop and say so, not run on silently.
    """
