"""A hostile peer for issue 17 row 1: receipts signed by fresh keys, whose traces it never serves.

A real libp2p host (`NetHost`) joins the network, offers the trace protocol with a handler that never
answers, and gossips a valid-looking receipt for the open round under a new key every `every_s`
seconds: each one makes a validator ask it for the trace.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import trio

from app.core.crypto import SigningKey
from app.core.types import NO_SIGNATURE, WorkReceipt
from app.net.host import NetConfig, NetHost
from app.net.topics import TopicKind
from app.node.traces import PROTOCOL_NAME, TraceRequest
from tests.integration.hostile import _run, connect_patiently


@dataclass(frozen=True)
class OpenRound:
    chain_id: str
    task_id: bytes
    round: int
    base_checkpoint: bytes
    steps: int


def stall_traces(
    target: str, key_path: Path, open_round: OpenRound, duration_s: float, every_s: float = 0.5
) -> tuple[str, list[bytes]]:
    """Run the attack for `duration_s`; return this peer's id and the miner keys it signed with."""
    keys: list[bytes] = []

    async def never_answer(peer: str, request: TraceRequest) -> None:
        await trio.sleep_forever()

    async def main() -> str:
        config = NetConfig(chain_id=open_round.chain_id, key_path=key_path, heartbeat_s=0.2)
        async with NetHost.open(config) as host:
            host.serve(PROTOCOL_NAME, TraceRequest, never_answer)  # type: ignore[arg-type]
            await connect_patiently(host, target)
            await host.wait_for_mesh(TopicKind.RECEIPTS, 1, 30)
            with trio.move_on_after(duration_s):
                while True:
                    fresh = SigningKey.generate()
                    receipt = WorkReceipt(
                        chain_id=open_round.chain_id,
                        task_id=open_round.task_id,
                        round=open_round.round,
                        miner=fresh.public_key,
                        base_checkpoint=open_round.base_checkpoint,
                        commitments_root=fresh.public_key,
                        update_hash=fresh.public_key,
                        steps=open_round.steps,
                        final_loss_micro=1_000_000,
                        device_class="cpu",
                        signature=NO_SIGNATURE,
                    ).signed_by(fresh)
                    try:
                        await host.publish(receipt)
                        keys.append(fresh.public_key)
                    except Exception:  # noqa: BLE001 - banned and cut off: the attack is over
                        pass
                    await trio.sleep(every_s)
            return host.peer_id

    return str(_run(main)), keys
