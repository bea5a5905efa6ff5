"""An honest miner that dropped checkpoints (a large model's round) answers a challenge by re-computing
them, which can take as long as its round did. A verifier that gave up after one fetch's wait (90 s,
whatever the task) refused such a miner as withholding: it was paid only for models small enough to
keep every checkpoint. Now a blob still "pending" defers the receipt (`Deferred`) and the verifier
gathers again, for as long as a round of the task may take (`pacing.pending_deadline_s`), without
holding a thread in between; a checkpoint the miner cannot produce is still never served, and the
verdict at the deadline is `unavailable`.

Real training (the digits task, 16 segments), a real disk blob store, the real recomputer behind a real
libp2p host, the node's own `TrainingWork`; the per-fetch wait is scaled down (0.5 s) and the
re-computation made slower than it (it waits 5 s for a burst first), as a large model's would be.
"""

from __future__ import annotations

import functools
from pathlib import Path

import trio

from app.core import crypto
from app.core.blobstore import BlobStore
from app.miner import demo
from app.miner.recompute import CheckpointRecomputer
from app.miner.sparse_record import sparse_dir
from app.net.limits import MAX_PENDING_WAIT_S
from app.node.pacing import CHALLENGE_RETRY_S, MAX_WINDOW_S, pending_deadline_s, retry_in_s
from app.node.work import UNAVAILABLE, Checked, Deferred, Gathered, TrainingWork
from app.pot import registry
from app.pot.challenge import draw_segments
from app.pot.verify import TaskView
from tests.net.netutil import swarm

from .conftest import ANCHOR, CHAIN, SEGMENTS, miner_first, sparse_round_on_disk

FETCH_WAIT_S = 0.5  # a verifier's wait per fetch, scaled down; the re-computation below takes longer


def _verifier_key(receipt_id: bytes, kept: set[int]) -> crypto.SigningKey:
    """A validator whose fixed draw needs a checkpoint the miner did not keep."""
    for i in range(100):
        key = crypto.SigningKey.from_seed(bytes([100 + i]) * 32)
        if not set(draw_segments(key, CHAIN, receipt_id, SEGMENTS, 2)) & kept:
            return key
    raise AssertionError("no such validator among 100")


def _verify_through_the_network(long_spec, data, keys, tmp: Path, patient: bool):  # type: ignore[no-untyped-def]
    """Verify the sparse miner's receipt over real hosts: `patient` gathers again while `Deferred` (the
    node's scheduler), else one `check` (a verifier that gives up after one fetch's wait)."""
    blobs, out, resume = sparse_round_on_disk(long_spec, data, keys[0], tmp / "miner")
    recompute = CheckpointRecomputer(sparse_dir(resume), blobs, lambda s: data, gather_s=5.0)
    key = _verifier_key(out.receipt.receipt_id, {i for i, c in enumerate(out.trace.checkpoints) if blobs.has(c)})
    verifier_blobs = BlobStore(tmp / "verifier")
    demo.seed_blobs(verifier_blobs, long_spec)
    view = TaskView(long_spec, 0, long_spec.initial_checkpoint, ANCHOR)
    tries: list[str] = []

    async def main() -> Checked:
        async with swarm(tmp / "net", 2, providers=miner_first(blobs, recompute)) as (miner, verifier):

            def fetch(digest: bytes, wait_s: float | None = None) -> bytes:
                get = functools.partial(verifier.fetch_blob, digest, [miner.peer_id], max_pending_wait_s=wait_s)
                return trio.from_thread.run(get)

            work = TrainingWork(
                CHAIN,
                verifier_blobs,
                fetch,
                lambda r: out.trace,
                q=2,
                key=key,
                fetch_challenged=fetch,
                challenge_wait_s=FETCH_WAIT_S,
            )
            if not patient:
                return await trio.to_thread.run_sync(work.check, out.receipt, view)
            while True:
                got = await trio.to_thread.run_sync(work.gather, out.receipt, view)
                tries.append(type(got).__name__)
                if isinstance(got, Deferred):
                    assert len(tries) < 20, "the re-computation never finished"
                    await trio.sleep(got.retry_after_s)  # the node waits retry_in_s (10 s): scaled down here
                    continue
                assert isinstance(got, Gathered), got
                return await trio.to_thread.run_sync(work.replay, out.receipt, view, got)

    try:
        checked = trio.run(main)
    finally:
        recompute.close()
    return checked, tries, recompute.segments_replayed


def test_before_a_verifier_that_waits_once_refuses_an_honest_re_computing_miner(
    long_spec, data, keys, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    checked, _, _ = _verify_through_the_network(long_spec, data, keys, tmp_path, patient=False)
    assert checked.verdict.reason == UNAVAILABLE and "unavailable" in checked.verdict.detail


def test_a_verifier_gathers_again_until_the_re_computed_checkpoints_come_and_accepts(
    long_spec, data, keys, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    checked, tries, replayed = _verify_through_the_network(long_spec, data, keys, tmp_path, patient=True)
    assert checked.verdict.accepted, checked.verdict
    assert tries[0] == "Deferred" and tries[-1] == "Gathered"  # deferred at least once, never refused
    # one pass from the base to the furthest drawn start, whatever the order of the asks and re-asks
    assert replayed == max(checked.segments)


def test_the_wait_for_a_re_computation_grows_with_the_task_and_is_bounded() -> None:
    small = demo.task_spec()  # the digits MLP: its round is seconds, the floor holds
    large, xl = (
        demo.task_spec("fables", "tiny-lm", registry.SIZE_LADDER[size], checkpoint_interval=20, batch_size=16)
        for size in ("l", "xl")
    )
    assert pending_deadline_s(small) == MAX_PENDING_WAIT_S
    assert MAX_PENDING_WAIT_S < pending_deadline_s(large) <= MAX_WINDOW_S
    assert pending_deadline_s(xl) == MAX_WINDOW_S  # capped: a round never waits longer for its miners either
    # gathered again every CHALLENGE_RETRY_S (or the miner's longer hint) until the deadline: then unavailable
    assert retry_in_s(0.0, 100.0, 2.0) == CHALLENGE_RETRY_S and retry_in_s(0.0, 100.0, 30.0) == 30.0
    assert retry_in_s(95.0, 100.0, 2.0) is None
