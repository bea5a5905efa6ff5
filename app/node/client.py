"""A short-lived network client: join the chain's gossip, publish records, leave.

Used by the devnet to post the requester's task (and by tests to act as an outside peer); it is a
real libp2p host with its own identity, so the nodes treat it like any other peer.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from app.core.encoding import Record
from app.net.facade import NetThread
from app.net.host import NetConfig
from app.net.topics import kind_for_record


def publish(
    chain_id: str, bootstrap: Sequence[str], records: Sequence[Record], key_path: Path, mesh_timeout_s: float = 30.0
) -> None:
    """Connect to `bootstrap`, wait for a gossip mesh on each record's topic, publish, disconnect."""
    net = NetThread(NetConfig(chain_id=chain_id, key_path=key_path, bootstrap=tuple(bootstrap), heartbeat_s=0.2))
    net.start()
    try:
        for record in records:
            kind = kind_for_record(record)
            net.call(lambda h: h.wait_for_mesh(kind, 1, mesh_timeout_s), timeout_s=mesh_timeout_s + 5)
            net.call(lambda h: h.publish(record))
    finally:
        net.stop()
