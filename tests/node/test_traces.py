"""The miner's trace book survives a restart: traces are served from disk, receipts come back to be republished."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.crypto import SigningKey
from app.node.traces import TraceBook
from app.pot.proof import TrainingTrace, make_receipt

KEY = SigningKey.from_seed(b"\x05" * 32)


def _round(n: int) -> tuple[TrainingTrace, object]:
    checkpoints = [bytes([n, i]) * 16 for i in range(5)]
    trace = TrainingTrace(checkpoints=tuple(checkpoints), samples=128)
    receipt = make_receipt(
        key=KEY,
        chain_id="devnet",
        task_id=b"\x09" * 32,
        round_number=n,
        checkpoints=checkpoints,
        update_hash=bytes([n]) * 32,
        steps=64,
        final_loss=0.5,
        device_class="cpu",
    )
    return trace, receipt


def test_traces_and_receipts_come_back_after_a_restart(tmp_path: Path) -> None:
    book = TraceBook(directory=tmp_path / "traces")
    saved = [_round(n) for n in range(3)]
    for trace, receipt in saved:
        book.add(trace, receipt)
    reopened = TraceBook(directory=tmp_path / "traces")  # a new process: nothing in memory
    for trace, _ in saved:
        assert reopened.get(trace.root) == trace
    assert sorted(r.round for r in reopened.receipts()) == [0, 1, 2]
    assert reopened.get(b"\x00" * 32) is None


def test_a_damaged_trace_file_is_never_served(tmp_path: Path) -> None:
    book = TraceBook(directory=tmp_path)
    trace, receipt = _round(1)
    book.add(trace, receipt)
    other, _ = _round(2)
    (tmp_path / f"{trace.root.hex()}.trace").write_bytes(other.encode())  # a trace under another root's name
    reopened = TraceBook(directory=tmp_path)
    assert reopened.get(trace.root) is None
    assert reopened.receipts() == []  # its receipt has no trace to answer with, so it is not resumed
    (tmp_path / f"{trace.root.hex()}.trace").write_bytes(b"\x00garbage")
    assert TraceBook(directory=tmp_path).get(trace.root) is None


def test_disk_is_bounded_like_memory(tmp_path: Path) -> None:
    book = TraceBook(keep=2, directory=tmp_path)
    rounds = [_round(n) for n in range(4)]
    for trace, receipt in rounds:
        book.add(trace, receipt)
    reopened = TraceBook(keep=2, directory=tmp_path)
    assert [reopened.get(t.root) is not None for t, _ in rounds] == [False, False, True, True]
    assert sorted(r.round for r in reopened.receipts()) == [2, 3]


def test_a_receipt_must_commit_to_its_trace(tmp_path: Path) -> None:
    trace, _ = _round(1)
    _, wrong = _round(2)
    with pytest.raises(ValueError, match="does not commit"):
        TraceBook(directory=tmp_path).add(trace, wrong)


def test_without_a_directory_the_book_is_memory_only(tmp_path: Path) -> None:
    book = TraceBook()
    trace, receipt = _round(1)
    book.add(trace, receipt)
    assert book.get(trace.root) == trace and book.receipts() == []


def test_a_trace_whose_reward_still_vests_is_never_pruned(tmp_path: Path) -> None:
    """Before, the 64-newest rule dropped it after enough short rounds, and an auditor's request for a
    segment of a still-vesting receipt found nothing: the miner counted as withholding its data."""
    from app.node.traces import still_challengeable
    from tests.core.chainkit import Chain, key

    chain = Chain()
    post = chain.post_task(chain.users[0], rounds=4)
    chain.advance([post])
    chain.advance()
    miner = key("miner")
    paid = chain.receipt(miner, post.tx_id)
    vesting_trace = TrainingTrace(checkpoints=tuple(chain.trace(miner, post.tx_id)), samples=1)
    chain.advance(results=[chain.result(post.tx_id, [paid])], receipts=[paid])
    unpaid_old = paid.replace(commitments_root=b"\x07" * 32).signed_by(miner)  # round 0, closed without it
    assert still_challengeable(paid, chain.state) and not still_challengeable(unpaid_old, chain.state)

    book = TraceBook(keep=2, directory=tmp_path, retain=lambda r: still_challengeable(r, chain.state))
    assert vesting_trace.root == paid.commitments_root
    book.add(vesting_trace, paid)
    for trace, receipt in [_round(n) for n in range(1, 5)]:
        book.add(trace, receipt)  # four newer rounds (another task here; the chain has not seen them)
    assert TraceBook(keep=2, directory=tmp_path).get(paid.commitments_root) == vesting_trace  # kept on disk
    assert [TraceBook(directory=tmp_path).get(t.root) is not None for t, _ in [_round(n) for n in range(1, 5)]] == [
        False,
        False,
        True,
        True,
    ]

    while chain.state.height <= chain.state.pending_reward(paid.receipt_id).unlock_height:
        chain.advance()  # the reward vests: nothing can challenge the receipt any more
    assert not still_challengeable(paid, chain.state)
    book.add(*_round(9))
    assert TraceBook(directory=tmp_path).get(paid.commitments_root) is None
