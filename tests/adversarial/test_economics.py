"""Issue 12's verdicts: on the real state machine, every cheat earns at most half of honest mining per FLOP.

The simulation (`tests/adversarial/econsim.py`) mines real blocks with real signed receipts, results
and fraud proofs; only the committee's refusals and the auditors' catches are drawn, with the rates
`bench/bench_attacks.py` measured (`bench/results/attacks.json`). Seeded: every run is the same.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core import admission
from tests.adversarial import econsim
from tests.adversarial.econsim import STRATEGIES, Detection, Strategy, load_detection, simulate

NOT_A_COMPUTE_CHEAT = "fake device class, inside the bound"  # does all the work; see test below


@pytest.fixture(scope="module")
def report() -> econsim.Report:
    return simulate(rounds=80, seed=7)


def test_every_cheating_strategy_earns_at_most_half_of_honest_per_unit_of_compute(report: econsim.Report) -> None:
    honest = report.outcome("honest")
    assert honest.reward > 0 and honest.caught == 0 and honest.included == honest.receipts
    for s in STRATEGIES:
        if s.name in ("honest", NOT_A_COMPUTE_CHEAT):
            continue
        assert report.ratio(s.name) <= 0.5, (s.name, report.ratio(s.name))


def test_a_caught_cheat_ends_below_what_it_would_have_earned_honestly(report: econsim.Report) -> None:
    honest = report.outcome("honest")
    per_honest_receipt = honest.reward / honest.receipts
    for name in ("lazy, serving its blobs", "Sybil keys (lazy, fresh key per catch)"):
        cheat = report.outcome(name)
        assert cheat.caught > 0, name  # the measured audit rate does catch it within the run
        assert cheat.reward < per_honest_receipt * cheat.receipts * 0.5, (name, cheat.reward)
    assert report.outcome("Sybil keys (lazy, fresh key per catch)").keys_used > 2  # it did rotate keys


def test_withheld_or_out_of_bound_work_is_never_paid(report: econsim.Report) -> None:
    for name in ("lazy, withholding blobs", "fake device class, outside the bound"):
        out = report.outcome(name)
        assert out.flops > 0 and out.included == 0 and out.reward == 0, name


def test_a_fake_device_class_inside_the_bound_earns_as_an_honest_miner_because_it_does_the_work(
    report: econsim.Report,
) -> None:
    """Not a cheat of compute: it trains every step (its update is inside the honest cross-device bound),
    so what bounds its gain is that it spent the FLOPs it is paid for: per FLOP it earns what honest
    mining earns, no more (the claimed class buys looser replay tolerances, not a larger reward)."""
    fake = report.outcome(NOT_A_COMPUTE_CHEAT)
    assert fake.caught == 0 and fake.included == fake.receipts
    assert fake.flops == report.flops_per_receipt * fake.receipts
    assert 0.9 <= report.ratio(NOT_A_COMPUTE_CHEAT) <= 1.1


def test_self_dealing_at_the_worst_case_fee_still_earns_at_most_half() -> None:
    """The honest task pays exactly the floor per receipt (no refused cheat leaves its share to others):
    the self-dealer's mint per FLOP is the floor rate, the honest miner's is fee + mint at that rate."""
    run = simulate(
        rounds=20,
        seed=3,
        strategies=(Strategy("honest", keys=3), Strategy("self-dealing task", keys=2, self_dealing=True)),
    )
    honest, dealer = run.outcome("honest"), run.outcome("self-dealing task")
    floor_mint = _floor_mint(run)
    assert honest.reward == (run.floor_per_receipt + floor_mint) * honest.receipts
    assert dealer.reward == floor_mint * dealer.receipts - 1  # its own fees come back; the post's fee does not
    assert 0.45 < run.ratio("self-dealing task") <= 0.5


def _floor_mint(run: econsim.Report) -> int:
    return run.flops_per_receipt * econsim.SIM_PARAMS.min_fee_per_gflop // admission.FLOPS_PER_GFLOP


def test_a_self_funded_task_beside_an_honest_one_leaves_the_honest_miners_what_the_rules_promise() -> None:
    """Side by side on one chain (state-machine level, real blocks): the honest miners of the outside task
    get its whole fee plus the floor-rate mint on every receipt, exactly as without the self-dealer."""
    honest_only = simulate(rounds=20, seed=5, strategies=(Strategy("honest", keys=3),))
    side_by_side = simulate(
        rounds=20,
        seed=5,
        strategies=(Strategy("honest", keys=3), Strategy("self-dealing task", keys=3, self_dealing=True)),
    )
    promised = (side_by_side.floor_per_receipt + _floor_mint(side_by_side)) * 3 * 20
    assert honest_only.outcome("honest").reward == side_by_side.outcome("honest").reward == promised


def test_the_simulation_would_flag_a_cheat_that_pays() -> None:
    """The verdicts are not built in: a lazy miner that nobody catches does earn more per FLOP than honest."""
    undetected = {name: Detection(0.0, 0.0) for name in load_detection()}
    run = simulate(
        rounds=10,
        seed=1,
        detection=undetected,
        strategies=(Strategy("honest", keys=3), Strategy("lazy", compute=0.9, attack="lazy miner, 90% honest")),
    )
    assert run.ratio("lazy") > 1.05


def test_detection_rates_are_the_measured_ones_and_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    rates = load_detection()
    lazy = rates["lazy miner, 90% honest"]
    assert lazy.committee == pytest.approx(2 / 3) and lazy.per_receipt == pytest.approx(5 / 6)
    assert rates["false device class, inside the cross bound"].per_receipt == 0.0
    with pytest.raises(RuntimeError, match="bench_attacks"):
        load_detection(tmp_path / "attacks.json")
    with pytest.raises(ValueError, match="no measured detection rate"):
        simulate(rounds=1, strategies=(Strategy("x", attack="no such class"),))
