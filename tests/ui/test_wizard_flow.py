"""The wizard's navigation, without Qt: tables of steps, answers and outcomes."""

from __future__ import annotations

import random

import pytest

from app.ui.wizard_flow import (
    Action,
    Answers,
    FlowError,
    Step,
    WizardFlow,
    next_step,
    pick_confirm_positions,
    restore_problem,
)

PHRASE = " ".join(f"w{i}" for i in range(12))


def ready(**kw: object) -> Answers:
    a = Answers(
        action=Action.CREATE,
        password="longenough",
        password_repeat="longenough",
        phrase=PHRASE,
        wallet_created=True,
        confirm_positions=(0, 5, 11),
        confirm_words={0: "w0", 5: "W5 ", 11: "w11"},
        device="auto",
        mode="when-idle",
    )
    for k, v in kw.items():
        setattr(a, k, v)
    return a


@pytest.mark.parametrize(
    "step, answers, expected",
    [
        (Step.WELCOME, ready(), Step.PASSWORD),
        (Step.WELCOME, ready(action=Action.RESTORE), Step.RESTORE_SEED),
        (Step.PASSWORD, ready(wallet_created=False), Step.SHOW_SEED),
        (Step.PASSWORD, ready(action=Action.RESTORE, wallet_created=False), Step.DEVICE),
        (Step.SHOW_SEED, ready(), Step.CONFIRM_SEED),
        (Step.CONFIRM_SEED, ready(), Step.DEVICE),
        (Step.RESTORE_SEED, ready(action=Action.RESTORE), Step.PASSWORD),
        (Step.DEVICE, ready(), Step.MINING_MODE),
        (Step.MINING_MODE, ready(mode="always"), Step.NETWORK),
        (Step.NETWORK, ready(chain="testnet"), Step.DONE),
    ],
)
def test_next_step(step: Step, answers: Answers, expected: Step) -> None:
    assert next_step(step, answers) is expected


@pytest.mark.parametrize(
    "step, answers, message",
    [
        (Step.WELCOME, ready(action=None), "create a new wallet or restore"),
        (Step.PASSWORD, ready(wallet_created=False, password="short", password_repeat="short"), "at least 8"),
        (Step.PASSWORD, ready(wallet_created=False, password_repeat="different!"), "differ"),
        (Step.SHOW_SEED, ready(wallet_created=False), "being created"),
        (Step.CONFIRM_SEED, ready(confirm_words={0: "w0", 5: "w4", 11: "w11"}), "#6"),
        (Step.CONFIRM_SEED, ready(confirm_words={}), "#1, #6, #12"),
        (Step.RESTORE_SEED, ready(phrase=""), "Type the words"),
        (Step.RESTORE_SEED, ready(phrase="a b c"), "you typed 3"),
        (Step.DEVICE, ready(device=""), "Pick the device"),
        (Step.MINING_MODE, ready(mode="sometimes"), "Choose when"),
        (Step.NETWORK, ready(chain="mainnet"), "Choose the network"),
        (Step.DONE, ready(), "finished"),
    ],
)
def test_refusals_say_what_is_missing(step: Step, answers: Answers, message: str) -> None:
    with pytest.raises(FlowError, match=message):
        next_step(step, answers)


def test_restore_accepts_standard_lengths_only() -> None:
    assert restore_problem(" ".join(["abandon"] * 24)) is None
    assert restore_problem(" ".join(["abandon"] * 13)) is not None


def test_create_path_and_no_way_back_past_the_wallet() -> None:
    flow = WizardFlow(wallet_exists=False)
    assert not flow.can_go_back() and flow.progress() == (1, 7)
    flow.answers.action = Action.CREATE
    flow.advance()
    assert flow.can_go_back()
    flow.answers.password = flow.answers.password_repeat = "longenough"
    flow.answers.phrase, flow.answers.wallet_created = PHRASE, True
    assert flow.advance() is Step.SHOW_SEED
    assert not flow.can_go_back(), "the keystore exists: the password step cannot be redone"
    assert flow.advance() is Step.CONFIRM_SEED
    positions = flow.answers.confirm_positions
    assert len(positions) == 3 and list(positions) == sorted(set(positions))
    assert flow.can_go_back() and flow.back() is Step.SHOW_SEED, "the phrase can be looked at again"
    flow.advance()
    flow.answers.confirm_words = {p: f"w{p}" for p in positions}
    assert flow.advance() is Step.DEVICE and flow.progress() == (5, 7)
    flow.answers.device = "cpu"
    flow.advance()
    flow.answers.mode = "always"
    assert flow.advance() is Step.NETWORK
    flow.answers.chain = "testnet"
    assert flow.advance() is Step.DONE and flow.finished and not flow.can_go_back()
    with pytest.raises(FlowError):
        flow.back()


def test_existing_wallet_starts_at_device() -> None:
    flow = WizardFlow(wallet_exists=True)
    assert flow.current is Step.DEVICE and flow.progress() == (1, 3)


def test_confirm_positions_are_distinct_and_in_range() -> None:
    rng = random.Random(7)
    for _ in range(50):
        pos = pick_confirm_positions(24, rng)
        assert len(set(pos)) == 3 and all(0 <= p < 24 for p in pos)
