"""A writer the crash tests run in a subprocess and kill with SIGKILL at random points.

`python -m tests.core.crash_writer store DB` commits blocks forever, resuming from the store's
head; every third block is big (thousands of transactions, a large state diff). It prints `begin H`
before a commit and `committed H` after the commit returned, flushing each line, so the test knows
what was final. Inside a commit it also prints `sql <statement>` the first time each of the
statements in `SQL_MARKERS` runs (through SQLite's trace hook), so the test can kill it at a chosen
point inside the database transaction rather than hoping to land there.

`python -m tests.core.crash_writer blobs DIR` streams blobs of varied sizes into a blob store forever
and prints `commit SIZE` before and `stored HEX` after each `commit()`.

The block and state builders are pure functions of the height, so the test can recompute exactly
what the store must hold at whatever height it finds.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from pathlib import Path

from app.core import crypto
from app.core.blobstore import BlobStore
from app.core.hashing import ZERO_HASH
from app.core.storage import Store
from app.core.types import (
    NO_SIGNATURE,
    Block,
    BlockBody,
    BlockHeader,
    Reward,
    Transfer,
    WorkReceipt,
)

CHAIN_ID = "crashnet"
SQL_MARKERS = (
    "INSERT INTO txs",
    "DELETE FROM state",
    "INSERT OR REPLACE INTO state",
    "UPDATE head",
    "COMMIT",
)
BIG_TXS = 3000
BIG_STATE = 30_000


def _digest(*parts: object) -> bytes:
    return hashlib.sha256(repr(parts).encode()).digest()


def is_big(height: int) -> bool:
    return height % 3 == 2


def expected_state(height: int) -> dict[bytes, bytes]:
    """The state after `height`: a head marker, accounts that change every block, and keys that
    exist only at some heights (so commits both insert and delete)."""
    entries = {b"head": height.to_bytes(8, "big")}
    for i in range(50):
        entries[b"acct/%04d" % i] = _digest("acct", i, height)[:12]
    if is_big(height):
        for i in range(BIG_STATE):
            entries[b"big/%06d" % i] = _digest("big", i, height)
    if height % 2 == 0:
        entries[b"even/%d" % (height % 7)] = b"x"
    return entries


def build_block(chain_id: str, height: int, prev_hash: bytes, big: bool | None = None) -> Block:
    """A structurally valid block, big at the heights `is_big` names unless `big` says otherwise
    (signatures are not checked by the store, so they are left as zeros)."""
    count = BIG_TXS if (is_big(height) if big is None else big) else 3
    sender = _digest("sender", height)
    txs = tuple(
        Transfer(
            chain_id=chain_id,
            sender=sender,
            nonce=i,
            recipient=_digest("to", i % 40)[:20],
            amount=height * 1000 + i,
            fee=1,
            memo="crash test",
            signature=NO_SIGNATURE,
        )
        for i in range(count)
    )
    receipt = WorkReceipt(
        chain_id=chain_id,
        task_id=_digest("task"),
        round=height,
        miner=_digest("miner"),
        base_checkpoint=ZERO_HASH,
        commitments_root=ZERO_HASH,
        update_hash=_digest("update", height),
        steps=100,
        final_loss_micro=1_000_000 - height,
        device_class="cpu",
        signature=NO_SIGNATURE,
    )
    reward = Reward(
        recipient=crypto.key_hash(receipt.miner),
        amount=height,
        kind=Reward.KIND_MINER,
        task_id=receipt.task_id,
    )
    header = BlockHeader(
        chain_id=chain_id,
        height=height,
        prev_hash=prev_hash,
        epoch=0,
        view=0,
        timestamp_ms=1_700_000_000_000 + height,
        state_root=_digest("state", height),
        txs_root=ZERO_HASH,
        receipts_root=ZERO_HASH,
        results_root=ZERO_HASH,
        rewards_root=ZERO_HASH,
        evidence_root=ZERO_HASH,
        next_committee_hash=ZERO_HASH,
        proposer=_digest("proposer"),
    )
    body = BlockBody(
        transactions=txs,
        receipts=(receipt,) if height else (),
        results=(),
        rewards=(reward,) if height else (),
        evidence=(),
    )
    return Block(header=header, body=body, qc=None)


def _trace_markers(store: Store) -> set[str]:
    """Print each marker statement once per commit; returns the set to clear at each `begin`.

    With `CRASH_WRITER_HOLD_AT=<marker>` (and `CRASH_WRITER_HOLD_AFTER=<n>`), the writer stops inside the
    transaction the (n+1)-th time it prints that marker, so the test's SIGKILL lands exactly there even
    on a loaded machine (where the rest of the commit could otherwise finish before the signal)."""
    seen: set[str] = set()
    hold_at = os.environ.get("CRASH_WRITER_HOLD_AT")
    hold_after = [int(os.environ.get("CRASH_WRITER_HOLD_AFTER", "0"))]

    def trace(statement: str) -> None:
        for marker in SQL_MARKERS:
            if marker not in seen and statement.startswith(marker):
                seen.add(marker)
                _say(f"sql {marker}")
                if marker == hold_at:
                    if hold_after[0] == 0:
                        time.sleep(120)  # inside the statement, the transaction open: the test kills us here
                    hold_after[0] -= 1

    # The writer's thread connection is the one `commit_block` uses.
    store._conn().set_trace_callback(trace)
    return seen


def run_store(path: Path, chain_id: str) -> None:
    with Store(path, chain_id) as store:
        seen = _trace_markers(store)
        head = store.head()
        if head is None:
            _say("begin 0")
            store.commit_genesis(build_block(chain_id, 0, ZERO_HASH), expected_state(0))
            head = store.head()
            assert head is not None
            _say("committed 0")
        height, prev = head.height, head.hash
        while True:
            height += 1
            block = build_block(chain_id, height, prev)
            seen.clear()
            _say(f"begin {height}")
            store.commit_block(block, expected_state(height))
            _say(f"committed {height}")
            prev = block.block_hash


def blob_payload(n: int) -> list[bytes]:
    """The chunks of the n-th blob: up to about 6 MiB, so kills land inside writes."""
    size = (n * 2_654_435_761) % (6 * 1024 * 1024) + 1
    seed = _digest("blob", n)
    block = (seed * (65536 // len(seed) + 1))[:65536]
    return [block[: min(65536, size - off)] for off in range(0, size, 65536)]


def run_blobs(root: Path) -> None:
    store = BlobStore(root)
    n = 0
    while True:
        n += 1
        with store.writer() as w:
            chunks = blob_payload(n)
            for chunk in chunks:
                w.write(chunk)
            _say(f"commit {sum(map(len, chunks))}")
            digest = w.commit()
        _say(f"stored {digest.hex()}")


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "store":
        run_store(Path(argv[1]), argv[2] if len(argv) > 2 else CHAIN_ID)
    elif len(argv) == 2 and argv[0] == "blobs":
        run_blobs(Path(argv[1]))
    else:
        sys.stderr.write("usage: crash_writer (store DB [CHAIN_ID] | blobs DIR)\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
