"""Round timeouts that grow linearly with the view.

Under partial synchrony the network's delay bound is unknown; a timeout that grows with every failed
view eventually exceeds it, so all honest members spend long enough in one view to finish it
(Tendermint's liveness argument). Linear rather than exponential growth keeps the wait after a long
partition short once the network heals.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.core.bft.actions import Step


@dataclass(frozen=True)
class TimeoutConfig:
    """Base and per-view increment of each step's timeout, in milliseconds."""

    propose_ms: int = 3000
    prevote_ms: int = 1000
    precommit_ms: int = 1000
    increment_ms: int = 500

    def __post_init__(self) -> None:
        if min(self.propose_ms, self.prevote_ms, self.precommit_ms) <= 0 or self.increment_ms < 0:
            raise ValueError("timeouts must be positive and the increment non-negative")

    def delay_ms(self, step: Step, view: int) -> int:
        """How long a member waits in `step` of `view` before giving up on it."""
        base = {Step.PROPOSE: self.propose_ms, Step.PREVOTE: self.prevote_ms, Step.PRECOMMIT: self.precommit_ms}[step]
        return base + self.increment_ms * view

    def view_ms(self, view: int) -> int:
        """The longest a view may last: every step's timeout in a row (the lost-message safety net)."""
        return sum(self.delay_ms(step, view) for step in Step)
