"""A short-lived network client: join the chain's gossip, publish records, leave.

Used by the devnet to post the requester's task (and by tests to act as an outside peer); it is a
real libp2p host with its own identity, so the nodes treat it like any other peer.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from app.core.encoding import Record
from app.net.facade import NetThread
from app.net.host import NetConfig
from app.net.topics import kind_for_record

# How long the client stays after its last publish. py-libp2p's publish returns once the message is queued
# for the mesh peers, not once it is sent: a host stopped right after it lost the message most of the time
# (0 of 8 delivered on loopback; a devnet's task post then waited 15 s and posted again). Five heartbeats
# of 0.2 s also give the peers time to gossip it on.
LINGER_S = 1.0


def publish(
    chain_id: str,
    bootstrap: Sequence[str],
    records: Sequence[Record],
    key_path: Path,
    mesh_timeout_s: float = 30.0,
    linger_s: float = LINGER_S,
) -> None:
    """Connect to `bootstrap`, wait for a gossip mesh on each record's topic, publish, stay `linger_s` so the
    messages leave, disconnect."""
    net = NetThread(NetConfig(chain_id=chain_id, key_path=key_path, bootstrap=tuple(bootstrap), heartbeat_s=0.2))
    net.start()
    try:
        for record in records:
            kind = kind_for_record(record)
            net.call(lambda h: h.wait_for_mesh(kind, 1, mesh_timeout_s), timeout_s=mesh_timeout_s + 5)
            net.call(lambda h: h.publish(record))
        time.sleep(linger_s)
    finally:
        net.stop()
