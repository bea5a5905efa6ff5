"""How long a round stays open: long enough for a miner of the median measured speed to finish.

A round used to close a fixed 5 s after its first verified receipt, so the fastest miners (or lazy
ones, which skip the work) decided alone when everyone else was late. Now a validator keeps a round
open for `round_window_s` after it opened: `SLACK` times the median time the task's verified receipts
took to arrive in earlier rounds (measured on this node, from the round's opening to each receipt),
or, before any was measured, the task's compute per round (`app.core.admission.compute_per_round`)
at a reference volunteer's speed. The window is never shorter than the node's `round_wait_s` nor
longer than `MAX_WINDOW_S`; after the window it still waits `round_wait_s` past its first verified
receipt, so a round that sat idle does not close on the first miner's heels. Pure functions.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from app.core.admission import compute_per_round
from app.core.errors import PotError
from app.core.types import TaskSpec
from app.net.limits import MAX_PENDING_WAIT_S

SLACK = 1.5  # a miner up to 1.5x slower than the median still makes it
REFERENCE_FLOPS_PER_S = 2e9  # a volunteer's CPU, counted conservatively (one core, no vector units assumed)
FALLBACK_S_PER_SAMPLE = 1e-4  # a spec the FLOPs model does not know: seconds per sample-step
MAX_WINDOW_S = 6 * 3600.0  # a round never waits longer than this for miners
# A challenged blob the miner is re-computing (it dropped it: a large model's round) is fetched with a
# short wait, CHALLENGE_WAIT_S, holding a fetch thread no longer; then the receipt is gathered again after
# CHALLENGE_RETRY_S, until `pending_deadline_s` has passed since its first try.
CHALLENGE_WAIT_S = 6.0
CHALLENGE_RETRY_S = 10.0
SAMPLES_KEPT = 64  # arrival times remembered per task (the most recent)


def estimated_round_s(spec: TaskSpec) -> float:
    """Seconds one round of `spec` takes a reference volunteer (before any receipt was measured)."""
    try:
        return compute_per_round(spec) / REFERENCE_FLOPS_PER_S
    except (PotError, ValueError):
        return spec.local_steps * spec.batch_size * FALLBACK_S_PER_SAMPLE


def round_window_s(
    spec: TaskSpec, arrivals_s: Sequence[float], min_s: float, max_s: float = MAX_WINDOW_S, slack: float = SLACK
) -> float:
    """How long after opening a round of `spec` stays open, from the measured `arrivals_s` (seconds from
    a round's opening to each verified receipt of earlier rounds; the median resists a few fast cheats)."""
    typical = statistics.median(arrivals_s) if arrivals_s else estimated_round_s(spec)
    return min(max(slack * typical, min_s), max(max_s, min_s))


def pending_deadline_s(spec: TaskSpec) -> float:
    """How long a verifier keeps asking for challenged blobs that a miner answers "pending" (re-computing
    checkpoints it did not keep). A re-computation replays at most one round, so: as long as a round of
    `spec` may take a reference volunteer (`SLACK` times `estimated_round_s`), never less than
    `limits.MAX_PENDING_WAIT_S` nor more than `MAX_WINDOW_S`. Waiting longer gives a withholding miner
    nothing: its draw is fixed and a checkpoint it cannot produce is never served (the verdict is
    `unavailable` at the deadline); the verifier meanwhile holds no thread."""
    return min(MAX_WINDOW_S, max(MAX_PENDING_WAIT_S, SLACK * estimated_round_s(spec)))


def retry_in_s(waited_s: float, deadline_s: float, retry_after_s: float) -> float | None:
    """When to gather a receipt again whose challenged blob is still being prepared, `waited_s` after its
    first try: in `CHALLENGE_RETRY_S` (or the miner's own `retry_after_s`, if longer); None when that
    would pass `deadline_s` (`pending_deadline_s`): the verdict is then `unavailable`."""
    delay = max(CHALLENGE_RETRY_S, retry_after_s)
    return None if waited_s + delay > deadline_s else delay


def ready_at(opened_at: float, first_verified_at: float, window_s: float, grace_s: float) -> float:
    """When a round with at least one verified receipt (and miners still missing) may be aggregated."""
    return max(opened_at + window_s, first_verified_at + grace_s)
