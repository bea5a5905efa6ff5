"""Bisection narrows a disputed segment to one optimiser step; honest miners are acquitted at any thread count."""

from __future__ import annotations

import itertools

import torch

from app.pot import config
from app.pot.dispute import (
    ACQUITTED,
    BAD_REVEAL,
    CONVICTED_STEP,
    Bisection,
    Reveal,
    Revealer,
    RevealRequest,
    run_dispute,
)
from app.pot.engine import Session, run_steps
from app.pot.tensors import decode_tensors
from app.pot.verify import UNAVAILABLE
from tests.adversarial import cheats

from .conftest import ANCHOR, CPU, verifier_for

SEGMENT = 1  # steps 4..7 of the 12-step, k=4 fixture task
CHEAT_STEP = 5


def _perturb(step: int, session: Session) -> None:
    if step == CHEAT_STEP:  # one step bent: the parameters nudged towards the cheat's own choice
        with torch.no_grad():
            g = torch.Generator().manual_seed(1)
            for p in session.model.parameters():
                p.add_(1e-3 * torch.randn(p.shape, generator=g))


class _ConsistentLiar(Revealer):
    """Recomputes its states with the same bent step, so its reveals agree with its own commitment."""

    def state_after(self, segment: int, step: int) -> dict[str, torch.Tensor]:
        k = self.spec.checkpoint_interval
        session = Session(self.spec, self.device)
        session.load(decode_tensors(self.store.get(self.trace.checkpoints[segment])))
        run_steps(session, self.data, self.seed, segment * k, step, torch.zeros(()), lambda s, _l: _perturb(s, session))
        return session.export()


def _dispute(spec, store, data, out, revealer_cls=Revealer, verifier_threads: int = 1):  # type: ignore[no-untyped-def]
    revealer = revealer_cls(out.receipt, out.trace, spec, ANCHOR, data, store, CPU)
    torch.set_num_threads(verifier_threads)
    try:
        bisection = Bisection(verifier_for(spec, store, data), out.receipt, out.trace, SEGMENT)
        return run_dispute(bisection, revealer.answer), bisection.reveals
    finally:
        torch.set_num_threads(1)


def test_honest_miner_is_acquitted_across_thread_counts_exact_and_within_bounds(spec, store, data, keys) -> None:
    for miner_threads, verifier_threads, committed in itertools.product((1, 2), (1, 2), (True, False)):
        torch.set_num_threads(miner_threads)
        try:
            out = cheats.mine(spec, keys[0], store, data, label=None if committed else "cpu")
        finally:
            torch.set_num_threads(1)
        assert config.parse(out.receipt.device_class).committed == committed
        verdict, reveals = _dispute(spec, store, data, out, verifier_threads=verifier_threads)
        assert (verdict.convicted, verdict.reason) == (False, ACQUITTED), (
            miner_threads,
            verifier_threads,
            committed,
            verdict,
        )
        assert (
            reveals == 2 and verdict.step == SEGMENT * spec.checkpoint_interval + 3
        )  # log2(k) reveals, down to the last step


def test_one_bent_step_is_convicted_at_that_step_whatever_the_miner_reveals(spec, store, data, keys) -> None:
    for label in (None, "cpu"):  # exact replay, and per-tensor bounds
        out = cheats.mine(spec, keys[0], store, data, label=label, after_step=_perturb)
        assert not verifier_for(spec, store, data).verify(out.receipt, out.trace, segments=[SEGMENT]).accepted
        liar, _ = _dispute(spec, store, data, out, _ConsistentLiar)
        assert (liar.convicted, liar.reason, liar.step) == (True, CONVICTED_STEP, CHEAT_STEP), liar
        honest_reveals, _ = _dispute(spec, store, data, out, Revealer)  # its reveals say steps 4..7 were honest:
        assert (honest_reveals.convicted, honest_reveals.reason, honest_reveals.step) == (True, CONVICTED_STEP, 7)


def test_unserved_or_misaddressed_reveal_convicts(spec, store, data, keys) -> None:
    out = cheats.mine(spec, keys[0], store, data)
    silent = run_dispute(Bisection(verifier_for(spec, store, data), out.receipt, out.trace, SEGMENT), lambda _r: None)
    assert (silent.convicted, silent.reason) == (True, UNAVAILABLE)
    revealer = Revealer(out.receipt, out.trace, spec, ANCHOR, data, store, CPU)

    def wrong_step(request: RevealRequest) -> Reveal:
        return revealer.answer(request.replace(step=request.step + 1))

    verdict = run_dispute(Bisection(verifier_for(spec, store, data), out.receipt, out.trace, SEGMENT), wrong_step)
    assert (verdict.convicted, verdict.reason) == (True, BAD_REVEAL)


def test_dispute_records_survive_the_wire() -> None:
    request = RevealRequest(receipt_id=bytes(range(32)), segment=3, step=61)
    assert RevealRequest.decode(request.encode()) == request
    reveal = Reveal(receipt_id=bytes(32), step=61, state=bytes([9]) * 32)
    assert Reveal.decode(reveal.encode()) == reveal
