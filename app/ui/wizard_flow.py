"""The first-run wizard's navigation, as plain data and pure functions (Electrum's wizard.py lesson).

No Qt here: the Qt pages in wizard.py only show a step and fill in `Answers`; which step comes next, what
is still missing on a step, and whether going back is allowed are decided here and tested by tables.

Create:  welcome -> password -> show seed -> confirm seed -> device -> mining mode -> done
Restore: welcome -> enter seed -> password -> device -> mining mode -> done
With a wallet already on the daemon the wizard starts at the device step.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from enum import StrEnum

MIN_PASSWORD = 8
CONFIRM_WORDS = 3


class Step(StrEnum):
    WELCOME = "welcome"
    PASSWORD = "password"
    SHOW_SEED = "show_seed"
    CONFIRM_SEED = "confirm_seed"
    RESTORE_SEED = "restore_seed"
    DEVICE = "device"
    MINING_MODE = "mining_mode"
    NETWORK = "network"
    DONE = "done"


class Action(StrEnum):
    CREATE = "create"
    RESTORE = "restore"


class FlowError(ValueError):
    """Moving on is not allowed yet; the message says what the user still has to do."""


@dataclass
class Answers:
    action: Action | None = None
    password: str = ""
    password_repeat: str = ""
    phrase: str = ""  # created by the daemon (create) or typed by the user (restore)
    passphrase: str = ""
    confirm_positions: tuple[int, ...] = ()  # 0-based word positions asked back
    confirm_words: dict[int, str] = field(default_factory=dict)
    wallet_created: bool = False  # the daemon wrote the keystore; no way back past this point
    device: str = ""
    mode: str = ""  # "when-idle" or "always"
    chain: str = ""  # "testnet" (the public test network) or "devnet" (the practice network)


def password_problem(password: str, repeat: str) -> str | None:
    if len(password) < MIN_PASSWORD:
        return f"Choose a password of at least {MIN_PASSWORD} characters."
    if password != repeat:
        return "The two passwords differ; type the same password twice."
    return None


def phrase_words(phrase: str) -> list[str]:
    return phrase.lower().split()


def restore_problem(phrase: str) -> str | None:
    """A first, local check of a typed phrase; the daemon checks the words and checksum for real."""
    count = len(phrase_words(phrase))
    if count == 0:
        return "Type the words of your seed phrase, separated by spaces."
    if count not in (12, 15, 18, 21, 24):
        return f"A seed phrase has 12, 15, 18, 21 or 24 words; you typed {count}."
    return None


def pick_confirm_positions(word_count: int, rng: random.Random, k: int = CONFIRM_WORDS) -> tuple[int, ...]:
    """Which words (0-based, ascending) to ask back."""
    return tuple(sorted(rng.sample(range(word_count), min(k, word_count))))


def confirm_problem(answers: Answers) -> str | None:
    words = phrase_words(answers.phrase)
    wrong = [i + 1 for i in answers.confirm_positions if answers.confirm_words.get(i, "").strip().lower() != words[i]]
    if wrong:
        which = ", ".join(f"#{n}" for n in wrong)
        return f"Word {which} does not match. Go back to the phrase and check what you wrote down."
    return None


def missing(step: Step, a: Answers) -> str | None:
    """What the user must still do on `step` before moving on, or None."""
    if step is Step.WELCOME:
        return None if a.action is not None else "Choose whether to create a new wallet or restore one."
    if step is Step.PASSWORD:  # the password is dropped once the wallet is made with it
        return None if a.wallet_created else password_problem(a.password, a.password_repeat)
    if step is Step.SHOW_SEED:
        return None if a.wallet_created and a.phrase else "The wallet is being created; wait a moment."
    if step is Step.CONFIRM_SEED:
        return confirm_problem(a)
    if step is Step.RESTORE_SEED:
        return restore_problem(a.phrase)
    if step is Step.DEVICE:
        return None if a.device else "Pick the device to train on."
    if step is Step.MINING_MODE:
        return None if a.mode in ("when-idle", "always") else "Choose when to mine."
    if step is Step.NETWORK:
        return None if a.chain in ("testnet", "devnet") else "Choose the network to mine on."
    return None


def next_step(step: Step, a: Answers) -> Step:
    """The step after `step` given the answers so far; raises FlowError naming what is missing."""
    problem = missing(step, a)
    if problem is not None:
        raise FlowError(problem)
    if step is Step.WELCOME:
        return Step.PASSWORD if a.action is Action.CREATE else Step.RESTORE_SEED
    if step is Step.PASSWORD:
        return Step.SHOW_SEED if a.action is Action.CREATE else Step.DEVICE
    if step is Step.SHOW_SEED:
        return Step.CONFIRM_SEED
    if step is Step.CONFIRM_SEED:
        return Step.DEVICE
    if step is Step.RESTORE_SEED:
        return Step.PASSWORD
    if step is Step.DEVICE:
        return Step.MINING_MODE
    if step is Step.MINING_MODE:
        return Step.NETWORK
    if step is Step.NETWORK:
        return Step.DONE
    raise FlowError("the wizard is finished")


def needs_wallet_call(step: Step, a: Answers) -> bool:
    """True when leaving `step` must first create or restore the wallet on the daemon."""
    return step is Step.PASSWORD and not a.wallet_created


class WizardFlow:
    """The current step and the way back, over `next_step`."""

    def __init__(self, wallet_exists: bool) -> None:
        self.answers = Answers()
        self.wallet_exists = wallet_exists
        self.current = Step.DEVICE if wallet_exists else Step.WELCOME
        self._history: list[Step] = []

    def advance(self) -> Step:
        nxt = next_step(self.current, self.answers)
        if nxt is Step.CONFIRM_SEED and not self.answers.confirm_positions:
            count = len(phrase_words(self.answers.phrase))
            self.answers.confirm_positions = pick_confirm_positions(count, random.SystemRandom())
        self._history.append(self.current)
        self.current = nxt
        return nxt

    def can_go_back(self) -> bool:
        if not self._history or self.current is Step.DONE:
            return False
        previous = self._history[-1]
        # Once the keystore exists, the steps that made it cannot be redone; the phrase stays viewable.
        return not (self.answers.wallet_created and previous in (Step.WELCOME, Step.PASSWORD, Step.RESTORE_SEED))

    def back(self) -> Step:
        if not self.can_go_back():
            raise FlowError("there is no step to go back to")
        self.current = self._history.pop()
        return self.current

    @property
    def finished(self) -> bool:
        return self.current is Step.DONE

    def progress(self) -> tuple[int, int]:
        """(step number, total steps) for the header, by the path chosen so far."""
        if self.wallet_exists:
            path = [Step.DEVICE, Step.MINING_MODE, Step.NETWORK]
        elif self.answers.action is Action.RESTORE:
            path = [Step.WELCOME, Step.RESTORE_SEED, Step.PASSWORD, Step.DEVICE, Step.MINING_MODE, Step.NETWORK]
        else:
            path = [
                Step.WELCOME,
                Step.PASSWORD,
                Step.SHOW_SEED,
                Step.CONFIRM_SEED,
                Step.DEVICE,
                Step.MINING_MODE,
                Step.NETWORK,
            ]
        if self.current is Step.DONE:
            return len(path), len(path)
        return path.index(self.current) + 1, len(path)
