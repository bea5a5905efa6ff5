"""The patience rule: a task whose validation loss stops improving is finished and refunded (issue 14)."""

from __future__ import annotations

import pytest

from app.core.errors import EncodingError
from app.core.patience import (
    LOSS_TOLERANCE_MICRO,
    MIN_IMPROVEMENT_FLOOR_MICRO,
    InvalidPatience,
    check_patience,
    next_progress,
)
from app.core.tasks import TASK_FINISHED, TASK_OPEN
from app.core.types import MAX_PATIENCE_ROUNDS, TaskSpec
from tests.core.chainkit import Chain, key, spec

FEE = 500
MARGIN = MIN_IMPROVEMENT_FLOOR_MICRO


def _post(chain: Chain, task_spec: TaskSpec) -> bytes:
    tx = chain.post_task(chain.users[0], fee_per_round=FEE, rounds=task_spec.rounds, task_spec=task_spec)
    chain.advance([tx])
    return tx.tx_id


def _close(chain: Chain, task_id: bytes, loss: int) -> None:
    receipts = [chain.receipt(key("miner0"), task_id)]
    chain.advance(results=[chain.result(task_id, receipts, loss=loss)], receipts=receipts)


def test_a_task_that_stops_improving_is_finished_and_its_unspent_escrow_refunded() -> None:
    chain = Chain()
    owner = chain.users[0].address
    task_id = _post(chain, spec(rounds=10, patience_rounds=2, min_improvement_micro=MARGIN))
    before = chain.state.account(owner).balance
    # 1.0 -> 0.9 (improves) -> 0.897 (gain < margin: stale 1) -> 0.8 (improves: reset) -> 0.799, 0.798 (stale 2)
    for i, loss in enumerate([1_000_000, 900_000, 897_000, 800_000, 799_000]):
        _close(chain, task_id, loss)
        task = chain.state.task(task_id)
        assert task is not None and task.status == TASK_OPEN, f"finished too early at round {i}"
    assert (task.best_loss_micro, task.stale_rounds) == (800_000, 1)
    _close(chain, task_id, 798_000)
    task = chain.state.task(task_id)
    assert task is not None and (task.status, task.round, task.escrow, task.stale_rounds) == (TASK_FINISHED, 6, 0, 2)
    # 6 rounds paid of 10: the other 4 rounds' escrow is back with the requester
    assert chain.state.account(owner).balance == before + 4 * FEE
    receipts = [chain.receipt(key("miner1"), task_id)]
    built = chain.advance(results=[chain.result(task_id, receipts, loss=700_000)], receipts=receipts)
    assert built.block.body.results == () and chain.state.task(task_id).round == 6  # type: ignore[union-attr]


def test_without_a_patience_rule_a_worsening_task_runs_all_its_rounds() -> None:
    chain = Chain()
    task_id = _post(chain, spec(rounds=4))
    for loss in (900_000, 950_000, 1_000_000):  # worse and worse: stale, but no rule to stop it
        _close(chain, task_id, loss)
    task = chain.state.task(task_id)
    assert task is not None and (task.status, task.stale_rounds) == (TASK_OPEN, 2)
    _close(chain, task_id, 900_000)
    assert chain.state.task(task_id).status == TASK_FINISHED  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "patience, margin, why",
    [
        (0, MARGIN, "must be 0"),
        (3, 0, "outside"),
        (3, MARGIN - 1, "outside"),  # a margin inside the loss tolerance lets a leader fake progress
    ],
)
def test_a_patience_rule_out_of_bounds_is_refused_at_post(patience: int, margin: int, why: str) -> None:
    chain = Chain()
    bad = spec(rounds=4, patience_rounds=patience, min_improvement_micro=margin)
    with pytest.raises(InvalidPatience, match=why):
        check_patience(bad)
    with pytest.raises(InvalidPatience):
        chain.state.apply_tx(chain.post_task(chain.users[0], fee_per_round=FEE, rounds=4, task_spec=bad), bytes(20))
    with pytest.raises(EncodingError):
        spec(patience_rounds=MAX_PATIENCE_ROUNDS + 1, min_improvement_micro=MARGIN)  # the encoding's bound


def _shaded_run(margin: int, rounds: int = 50) -> tuple[int, bool]:
    """A plateau at 0.9 nats, reported by leaders who shade each loss as far as members accept
    (`LOSS_TOLERANCE_MICRO`): the first round's up, every later round's down, so the later rounds look
    like progress. Returns (rounds run, whether the rule finished the task)."""
    task_spec = spec(rounds=rounds, patience_rounds=3, min_improvement_micro=margin)
    true = 900_000
    best, stale = None, 0
    for r in range(rounds):
        reported = true + LOSS_TOLERANCE_MICRO if r == 0 else true - LOSS_TOLERANCE_MICRO
        progress = next_progress(task_spec, best, stale, reported)
        best, stale = progress.best_loss_micro, progress.stale_rounds
        if progress.exhausted:
            return r + 1, True
    return rounds, False


def test_a_leader_shading_the_loss_within_tolerance_cannot_fake_progress() -> None:
    # The cheat against a margin inside twice the tolerance (what a post without the floor could
    # state): the shaded second round counts as progress, and the task is kept open a round longer
    # than its plateau allows.
    assert _shaded_run(margin=LOSS_TOLERANCE_MICRO) == (5, True)
    # With the floor (4x the tolerance) no shading counts: finished right after the patience.
    assert _shaded_run(margin=MARGIN) == (4, True)
