"""The peer table: scores, bans with expiry, and dial backoff.

Pure bookkeeping over peer ids (strings) and a clock passed in, so every rule is tested without a
network. The host consults it before accepting a connection, a stream or a gossip message, and
reports every offence to it; it answers whether the offence crossed the ban threshold.

Scores decay towards zero with a half-life, so an honest peer's occasional fault (a timeout, a
stale message) is forgotten, while a burst of invalid data crosses the threshold at once.
"""

from __future__ import annotations

import enum
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from app.net import limits

Clock = Callable[[], float]


class Offence(enum.Enum):
    """What a peer did wrong; each has a fixed penalty (see `PENALTIES`)."""

    BAD_FRAME = "bad-frame"
    OVERSIZED = "oversized"
    INVALID_GOSSIP = "invalid-gossip"
    WRONG_BLOB = "wrong-blob"
    BAD_RESPONSE = "bad-response"
    TIMEOUT = "timeout"
    STALLED_STREAM = "stalled-stream"  # opened a request stream and sent no request in time


PENALTIES: dict[Offence, float] = {
    Offence.BAD_FRAME: limits.PENALTY_BAD_FRAME,
    Offence.OVERSIZED: limits.PENALTY_OVERSIZED,
    Offence.INVALID_GOSSIP: limits.PENALTY_INVALID_GOSSIP,
    Offence.WRONG_BLOB: limits.PENALTY_WRONG_BLOB,
    Offence.BAD_RESPONSE: limits.PENALTY_BAD_RESPONSE,
    Offence.TIMEOUT: limits.PENALTY_TIMEOUT,
    Offence.STALLED_STREAM: limits.PENALTY_STALLED_STREAM,
}


@dataclass(frozen=True)
class ScorePolicy:
    """The numbers of the scoring rules; the defaults are the protocol's."""

    ban_threshold: float = limits.BAN_THRESHOLD
    ban_seconds: float = limits.BAN_SECONDS
    half_life_s: float = limits.SCORE_HALF_LIFE_S
    score_min: float = limits.SCORE_MIN
    score_max: float = limits.SCORE_MAX
    reward: float = limits.GOOD_MESSAGE_REWARD

    def __post_init__(self) -> None:
        if not self.score_min <= self.ban_threshold < 0 <= self.score_max:
            raise ValueError("need score_min <= ban_threshold < 0 <= score_max")
        if self.ban_seconds <= 0 or self.half_life_s <= 0:
            raise ValueError("ban_seconds and half_life_s must be positive")


@dataclass
class PeerRecord:
    """What the table knows about one peer."""

    peer_id: str
    score: float = 0.0
    updated_at: float = 0.0
    banned_until: float = 0.0
    offences: dict[str, int] = field(default_factory=dict)
    connected: bool = False


@dataclass(frozen=True)
class PeerInfoView:
    """A read-only snapshot for the node's `peers` listing."""

    peer_id: str
    score: float
    connected: bool
    banned: bool
    banned_for_s: float
    offences: dict[str, int]


class PeerTable:
    """Scores and bans of every peer this node has heard from."""

    def __init__(self, policy: ScorePolicy | None = None, clock: Clock = time.monotonic) -> None:
        self.policy = policy or ScorePolicy()
        self._clock = clock
        self._peers: dict[str, PeerRecord] = {}

    def _get(self, peer_id: str) -> PeerRecord:
        rec = self._peers.get(peer_id)
        now = self._clock()
        if rec is None:
            rec = self._peers[peer_id] = PeerRecord(peer_id, updated_at=now)
        else:
            self._decay(rec, now)
        return rec

    def _decay(self, rec: PeerRecord, now: float) -> None:
        elapsed = max(0.0, now - rec.updated_at)
        rec.score *= math.pow(0.5, elapsed / self.policy.half_life_s)
        rec.updated_at = now
        if rec.banned_until and now >= rec.banned_until:
            # The ban is served: the peer starts over from a neutral score.
            rec.banned_until = 0.0
            rec.score = 0.0

    def score(self, peer_id: str) -> float:
        return self._get(peer_id).score

    def is_banned(self, peer_id: str) -> bool:
        return self._get(peer_id).banned_until > 0.0

    def penalise(self, peer_id: str, offence: Offence) -> bool:
        """Record `offence`; return True when this offence newly bans the peer."""
        rec = self._get(peer_id)
        rec.offences[offence.value] = rec.offences.get(offence.value, 0) + 1
        rec.score = max(self.policy.score_min, rec.score - PENALTIES[offence])
        if rec.banned_until == 0.0 and rec.score <= self.policy.ban_threshold:
            rec.banned_until = self._clock() + self.policy.ban_seconds
            return True
        return False

    def reward(self, peer_id: str) -> None:
        """Credit a useful, valid message (capped, so credit cannot be banked for later abuse)."""
        rec = self._get(peer_id)
        if rec.banned_until == 0.0:
            rec.score = min(self.policy.score_max, rec.score + self.policy.reward)

    def ban(self, peer_id: str, seconds: float | None = None) -> None:
        """Ban a peer outright (the node's own decision, e.g. proven equivocation)."""
        rec = self._get(peer_id)
        rec.banned_until = self._clock() + (self.policy.ban_seconds if seconds is None else seconds)

    def unban(self, peer_id: str) -> None:
        """Lift a ban now (the node's own decision); the peer starts over from a neutral score."""
        rec = self._get(peer_id)
        if rec.banned_until:
            rec.banned_until = 0.0
            rec.score = 0.0

    def __len__(self) -> int:
        return len(self._peers)

    def prune(self, max_peers: int = limits.MAX_PEER_RECORDS) -> int:
        """Forget peers that are neither connected nor banned and whose score has faded to near zero;
        past `max_peers`, forget the longest-idle unconnected, unbanned ones too. Returns how many went.

        New identities are free, so without this every peer id ever heard from stays forever.
        """
        now = self._clock()
        idle = []
        dropped = 0
        for peer_id, rec in list(self._peers.items()):
            self._decay(rec, now)
            if rec.connected or rec.banned_until:
                continue
            if abs(rec.score) < limits.SCORE_FORGET_BELOW:
                del self._peers[peer_id]
                dropped += 1
            else:
                idle.append(rec)
        if len(self._peers) > max_peers:
            idle.sort(key=lambda r: r.updated_at)
            for rec in idle[: len(self._peers) - max_peers]:
                del self._peers[rec.peer_id]
                dropped += 1
        return dropped

    def set_connected(self, peer_id: str, connected: bool) -> None:
        self._get(peer_id).connected = connected

    def snapshot(self) -> list[PeerInfoView]:
        """Every known peer, best score first."""
        now = self._clock()
        views = []
        for peer_id in list(self._peers):
            rec = self._get(peer_id)
            views.append(
                PeerInfoView(
                    peer_id=peer_id,
                    score=rec.score,
                    connected=rec.connected,
                    banned=rec.banned_until > 0.0,
                    banned_for_s=max(0.0, rec.banned_until - now) if rec.banned_until else 0.0,
                    offences=dict(rec.offences),
                )
            )
        return sorted(views, key=lambda v: (-v.score, v.peer_id))


class Backoff:
    """Exponential backoff for dialing peers that failed (bootstrap nodes, discovered peers)."""

    def __init__(
        self,
        base_s: float = limits.BACKOFF_BASE_S,
        max_s: float = limits.BACKOFF_MAX_S,
        clock: Clock = time.monotonic,
    ) -> None:
        if base_s <= 0 or max_s < base_s:
            raise ValueError("need 0 < base_s <= max_s")
        self.base_s = base_s
        self.max_s = max_s
        self._clock = clock
        self._failures: dict[str, int] = {}
        self._next_try: dict[str, float] = {}

    def may_try(self, key: str) -> bool:
        return self._clock() >= self._next_try.get(key, 0.0)

    def delay(self, key: str) -> float:
        """Seconds until `key` may be tried again (0 when it may be tried now)."""
        return max(0.0, self._next_try.get(key, 0.0) - self._clock())

    def failed(self, key: str) -> float:
        """Record a failure and return the wait before the next try."""
        n = self._failures.get(key, 0)
        wait = min(self.max_s, self.base_s * (2 ** min(n, 32)))
        self._failures[key] = n + 1
        self._next_try[key] = self._clock() + wait
        return wait

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)
        self._next_try.pop(key, None)
