"""A lazy miner withholds the checkpoints it did not train and waits for a luckier challenge.

Real training (the digits task), a real forged receipt (checkpoint 2 doctored, so segments 1 and 2
would not replay), the node's own `TrainingWork` and `RoundDesk`. The miner serves every blob but the
doctored one. Before the fix a verifier that could not fetch a challenged blob forgot the receipt and
verified the republished receipt again with a fresh random draw, so the cheat was paid after a couple
of republications. Now the draw is a function of the verifier's key and the receipt id, and a
challenged blob not served is the verdict `unavailable`: the receipt is refused for good.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from app.core.blobstore import BlobStore
from app.core.crypto import SigningKey
from app.core.types import TaskPost
from app.miner import demo
from app.miner.loop import RoundJob, RoundOutput, train_round
from app.miner.resume import ResumeDir
from app.node.rounds import RoundDesk
from app.node.work import TrainingWork
from app.pot.challenge import draw_segments
from tests.core.chainkit import PARAMS, Chain, key
from tests.miner.test_fraud_chain import _forged

CHAIN = "pot-devnet"
CPU = torch.device("cpu")
DOCTORED = 2  # the checkpoint _forged rewrites: segments 1 and 2 both need it
Q = 1


def _node_blobs(tmp: Path, spec) -> BlobStore:  # type: ignore[no-untyped-def]
    blobs = BlobStore(tmp)
    demo.seed_blobs(blobs, spec)
    return blobs


@pytest.fixture(scope="module")
def lazy(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("withhold")
    spec = demo.task_spec(local_steps=8, checkpoint_interval=2, batch_size=16)
    miner_blobs = _node_blobs(tmp / "miner", spec)
    chain = Chain(params=PARAMS.replace(chain_id=CHAIN))
    owner = chain.users[0]
    post = TaskPost(CHAIN, owner.public_key, chain.next_nonce(owner), spec, 1_000, 1, b"\0" * 64).signed_by(owner)
    chain.advance([post])
    chain.advance()
    task_id = post.tx_id
    work = TrainingWork(CHAIN, miner_blobs, fetch_blob=_nothing, fetch_trace=_nothing)
    job = RoundJob(CHAIN, task_id, spec, 0, chain.state.round_anchor(task_id), spec.initial_checkpoint)
    out = train_round(
        job, key("lazy"), miner_blobs, work.training_data(spec), device=CPU, resume=ResumeDir(tmp / "resume")
    )
    assert isinstance(out, RoundOutput)
    bad = _forged(out, key("lazy"), miner_blobs, task_id)
    return chain, spec, miner_blobs, bad, tmp


def _nothing(_: object) -> bytes:
    raise LookupError("no peers")


def _withholding_work(
    tmp: Path,
    spec,
    miner_blobs: BlobStore,
    bad: RoundOutput,
    verifier: SigningKey,  # type: ignore[no-untyped-def]
    served: list[bytes],
) -> TrainingWork:
    """A validator's TrainingWork whose only peer is the lazy miner, which never serves the doctored blob."""
    withheld = bad.trace.checkpoints[DOCTORED]

    def fetch_blob(digest: bytes) -> bytes:
        if digest == withheld:
            raise LookupError("the miner did not answer in time")
        served.append(digest)
        return miner_blobs.get(digest)

    return TrainingWork(
        CHAIN,
        _node_blobs(tmp / verifier.public_key.hex()[:8], spec),
        fetch_blob,
        lambda receipt: bad.trace,
        q=Q,
        key=verifier,
    )


def _touches_doctored(draw: list[int]) -> bool:
    return any(j in (DOCTORED - 1, DOCTORED) for j in draw)


def test_withholding_a_challenged_blob_gets_the_receipt_refused_not_redrawn(lazy) -> None:  # type: ignore[no-untyped-def]
    chain, spec, miner_blobs, bad, tmp = lazy
    receipt, n = bad.receipt, 4
    # a validator whose (fixed) draw lands on a segment the miner cannot back
    verifier = next(
        k
        for k in (key(f"validator-{i}") for i in range(64))
        if _touches_doctored(draw_segments(k, CHAIN, receipt.receipt_id, n, Q))
    )
    draw = draw_segments(verifier, CHAIN, receipt.receipt_id, n, Q)
    assert all(draw_segments(verifier, CHAIN, receipt.receipt_id, n, Q) == draw for _ in range(5))

    served: list[bytes] = []
    work = _withholding_work(tmp, spec, miner_blobs, bad, verifier, served)
    queued: list = []
    desk = RoundDesk(lambda r, view: queued.append((r, view)), lambda *a: None, round_wait_s=60)
    verdicts = []
    for _ in range(8):  # the miner republishes its receipt every few seconds
        if desk.on_receipt(receipt, chain.state):
            r, view = queued.pop()
            checked = work.check(r, view)  # what the node's worker runs
            verdicts.append(checked.verdict)
            desk.verified(r, checked.verdict, chain.state, checked.segments)
    assert [v.reason for v in verdicts] == ["unavailable"], verdicts  # asked once, refused for good
    assert desk.verdicts[receipt.receipt_id] is False
    assert desk.ready(chain.state) == ([], [])
    record = desk.unavailable[receipt.receipt_id]
    assert record.miner == receipt.miner and record.segments == tuple(draw)
    assert bad.trace.checkpoints[DOCTORED] not in served


def test_a_verifier_whose_draw_misses_the_doctored_segment_accepts_at_once(lazy) -> None:  # type: ignore[no-untyped-def]
    """The draw is the verifier's, not the miner's: withholding gains nothing where it is not asked
    (the auditor's later draws are what catch such a receipt, see test_auditor_devnet)."""
    chain, spec, miner_blobs, bad, tmp = lazy
    receipt, n = bad.receipt, 4
    verifier = next(
        k
        for k in (key(f"validator-{i}") for i in range(64))
        if not _touches_doctored(draw_segments(k, CHAIN, receipt.receipt_id, n, Q))
    )
    work = _withholding_work(tmp, spec, miner_blobs, bad, verifier, [])
    queued: list = []
    desk = RoundDesk(lambda r, view: queued.append(view), lambda *a: None, round_wait_s=60)
    assert desk.on_receipt(receipt, chain.state)
    assert work.verify(receipt, queued[0]).accepted
