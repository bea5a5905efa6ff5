"""The committee's BFT engine: Tendermint rounds ("views") as a pure, deterministic state machine.

Each input (`start_height`, `on_proposal`, `on_vote`, `on_timeout`, `on_certificate`) returns the
actions it causes; the engine owns no clock, socket or thread, so the node drives it from trio and the
tests from a simulator. The rules follow Buchman, Kwon and Milosevic, "The latest gossip on BFT
consensus" (2018); docs/PROTOCOL.md, Part 3 states them with the reasoning. Safety: two blocks at one
height cannot both gather a quorum of precommits unless more than f members sign contradictions,
thanks to locking. Liveness: timeouts grow with the view, and a member skips to a view that f+1
members have reached.

Invalid messages raise an `InvalidConsensusMessage` (or `InvalidQuorumCertificate`) before they touch
the state, so the caller can punish the peer; stale and far-future messages are dropped quietly.

Restarts: a member signs only at a (height, view, step) strictly after the last one it signed, and
each signature is preceded by a `PersistSigningState` action carrying the new `SigningRecord` (with
the lock), which the node saves durably before it broadcasts. An engine built with the saved record
(`BftEngine(..., signing_record=store.load())`) resumes at that view with that lock, so it can never
sign a message that contradicts one signed before the restart (`app/core/bft/signing.py`).

Liveness after restarts: before each vote goes out the engine also asks the node to save a
`ResumeRecord` (`PersistResumeState`: its valid proposal with the prevotes that prove it, and its own
last prevote and precommit). An engine built with it (`resume_record=`) takes them back, re-sends its
own votes and, when it leads, re-proposes the block it is locked on with its proof of lock, so a
member locked on a block nobody else holds cannot stall the height (`app/core/bft/resume.py`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from app.core import consensus
from app.core.bft.actions import (
    Action,
    BroadcastProposal,
    BroadcastVote,
    CommitBlock,
    EvidenceFound,
    PersistResumeState,
    PersistSigningState,
    ScheduleTimeout,
    Step,
)
from app.core.bft.evidence import make_proposal_evidence
from app.core.bft.ports import ConsensusApp, Signer
from app.core.bft.proposals import check_proposal
from app.core.bft.resume import ResumeRecord
from app.core.bft.rules import fault_threshold, leader_for
from app.core.bft.signing import SigningRecord
from app.core.bft.timeouts import TimeoutConfig
from app.core.bft.votebook import VoteBook
from app.core.errors import InvalidProposal, InvalidSignature, InvalidVote, PotError
from app.core.hashing import ZERO_HASH
from app.core.types import VOTE_PRECOMMIT, VOTE_PREVOTE, Block, Committee, Proposal, QuorumCert, Vote

log = logging.getLogger(__name__)

NIL = ZERO_HASH
PROPOSAL_LOOKAHEAD = 16  # proposals further ahead of our view are dropped (we will skip there by votes)
MAX_BUFFERED = 4096  # unverified messages held for the next height


@dataclass
class _Lock:
    """A block and the view in which this member saw a quorum prevote it.

    A lock restored from a `SigningRecord` knows only the block's hash (`block` is None): enough for
    the prevote rule, which compares hashes and views.
    """

    view: int
    block_hash: bytes
    block: Block | None = None


class BftEngine:
    """One member's (or observer's) consensus state; see the module docstring for the contract."""

    def __init__(
        self,
        chain_id: str,
        app: ConsensusApp,
        signer: Signer | None = None,
        timeouts: TimeoutConfig | None = None,
        max_future_views: int = 8,
        signing_record: SigningRecord | None = None,
        resume_record: ResumeRecord | None = None,
    ) -> None:
        """`signing_record` and `resume_record`: the last ones the node saved for this key (None on a first start)."""
        for name, saved in (("signing record", signing_record), ("resume record", resume_record)):
            if saved is None:
                continue
            if saved.chain_id != chain_id:
                raise ValueError(f"{name} is for chain {saved.chain_id!r}, not {chain_id!r}")
            if signer is not None and saved.member != signer.public_key:
                raise ValueError(f"{name} belongs to another key")
        self._resume_record = resume_record
        self.chain_id = chain_id
        self._app = app
        self._signer = signer
        self._record = signing_record
        self._timeouts = timeouts or TimeoutConfig()
        self._max_future_views = max_future_views
        self.height: int | None = None
        self._future: list[Proposal | Vote] = []
        self._committee = Committee(epoch=0, members=())
        self._reset()

    # ------------------------------------------------------------------ state

    def _reset(self) -> None:
        self.view = 0
        self.step = Step.PROPOSE
        self.decided = False
        self.locked: _Lock | None = None
        self.valid: _Lock | None = None
        self._book = VoteBook(self._max_future_views)
        self._proposals: dict[int, Proposal] = {}
        self._equivocated: set[int] = set()
        self._validity: dict[bytes, bool] = {}
        self._blocks: dict[bytes, Block] = {}
        self._fired: set[tuple[str, int]] = set()
        self._own: dict[int, Vote] = {}  # this member's last signed vote of each kind at this height
        self._out: list[Action] = []

    @property
    def committee(self) -> Committee:
        return self._committee

    @property
    def is_member(self) -> bool:
        return self._signer is not None and self._signer.public_key in self._committee.members

    def snapshot(self) -> SigningRecord | None:
        """The current signing record (None if this engine never signed and was given none)."""
        return self._record

    # ------------------------------------------------------------------ inputs

    def start_height(self, height: int) -> list[Action]:
        """Begin deciding `height` (after `height - 1` is applied, so its committee is known)."""
        if self.height is not None and height <= self.height:
            raise ValueError(f"height {height} is not after the current height {self.height}")
        committee = self._app.committee(height)
        if not committee.members:
            raise ValueError(f"the committee for height {height} is empty")
        self.height = height
        self._committee = committee
        self._reset()
        buffered, self._future = [m for m in self._future if m.height == height], []
        self._resume()
        self._progress()
        for message in buffered:
            try:
                self._accept(message)
            except PotError as exc:
                log.info("dropped a buffered message for height %d: %s", height, exc)
        return self._flush()

    def on_proposal(self, proposal: Proposal) -> list[Action]:
        """A proposal from the network; raises `InvalidProposal` if it breaks a rule."""
        if not self._route(proposal):
            return []
        self._accept(proposal)
        return self._flush()

    def on_vote(self, vote: Vote) -> list[Action]:
        """A vote from the network; raises `InvalidVote` if it is foreign, unsigned or from a non-member."""
        if not self._route(vote):
            return []
        self._accept(vote)
        return self._flush()

    def on_timeout(self, height: int, view: int, step: Step) -> list[Action]:
        """A timer armed by `ScheduleTimeout` fired; stale timers do nothing."""
        if height != self.height or self.decided or view != self.view:
            return []
        if step == Step.PROPOSE and self.step == Step.PROPOSE:
            self._cast(VOTE_PREVOTE, NIL)
        elif step == Step.PREVOTE and self.step == Step.PREVOTE:
            self._cast(VOTE_PRECOMMIT, NIL)
        elif step == Step.PRECOMMIT:
            log.info("height %d: view %d ended undecided, moving to view %d", height, view, view + 1)
            self._start_view(view + 1)
        self._progress()
        return self._flush()

    def note_committed(self, height: int) -> None:
        """The node committed `height` without this engine (a synced block): stop deciding that height.

        Until `start_height` of the next one, its timers and messages do nothing. Left running, a view
        change there would have this member propose on a chain that already moved on (the builder refuses:
        it is not the leader of the next height's view) and sign votes nobody needs.
        """
        if self.height is not None and height >= self.height:
            self.decided = True

    def on_certificate(self, block: Block, qc: QuorumCert) -> list[Action]:
        """Catch up: commit `block` at the current height on the strength of a valid `qc` alone.

        Raises `InvalidQuorumCertificate` for a bad certificate and the node's `PotError` for a block
        its validation rejects; a certificate for another height does nothing (the node's sync fetches
        the blocks in between).
        """
        if self.height is None or self.decided or block.header.height != self.height:
            return []
        consensus.verify_qc(qc, self._committee, block.block_hash, self.chain_id, self.height)
        self._app.validate_block(block.replace(qc=None))
        self._commit(block.replace(qc=qc), qc)
        return self._flush()

    # ------------------------------------------------------------------ intake

    def _route(self, message: Proposal | Vote) -> bool:
        """True if `message` is for the height being decided; buffer the next height's, drop the rest."""
        if message.chain_id != self.chain_id:
            error = InvalidVote if isinstance(message, Vote) else InvalidProposal
            raise error(f"message is for chain {message.chain_id!r}, not {self.chain_id!r}")
        if self.height is None:
            return False
        if message.height == self.height + 1:
            if len(self._future) < MAX_BUFFERED:
                self._future.append(message)
            return False
        return message.height == self.height and not self.decided

    def _accept(self, message: Proposal | Vote) -> None:
        if isinstance(message, Vote):
            self._accept_vote(message)
        else:
            self._accept_proposal(message)
        self._progress()

    def _accept_vote(self, vote: Vote) -> None:
        if vote.chain_id != self.chain_id or vote.height != self.height:
            raise InvalidVote(f"vote is for {vote.chain_id!r} at {vote.height}, not this height")
        if vote.voter not in self._committee.members:
            raise InvalidVote(f"{vote.voter.hex()[:16]} is not in the committee of height {self.height}")
        if self._book.holds(vote):
            return
        try:
            vote.verify_signature()
        except InvalidSignature as exc:
            raise InvalidVote(f"bad vote signature: {exc}") from None
        self._record_vote(vote)

    def _record_vote(self, vote: Vote) -> None:
        evidence = self._book.add(vote, self.view, lambda h: h == NIL or h in self._blocks)
        if evidence is not None:
            log.warning("member %s double-voted at %d/%d", vote.voter.hex()[:16], vote.height, vote.view)
            self._out.append(EvidenceFound(evidence))

    def _accept_proposal(self, proposal: Proposal) -> None:
        assert self.height is not None
        if proposal.view > self.view + PROPOSAL_LOOKAHEAD:
            log.debug("dropped a proposal for view %d, far ahead of view %d", proposal.view, self.view)
            return
        check_proposal(proposal, self._committee, self.chain_id, self.height)
        self._store_proposal(proposal)

    def _store_proposal(self, proposal: Proposal) -> None:
        earlier = self._proposals.get(proposal.view)
        if earlier is None:
            self._proposals[proposal.view] = proposal
            self._blocks.setdefault(proposal.block_hash, proposal.block)
        elif earlier.block_hash != proposal.block_hash and proposal.view not in self._equivocated:
            log.warning("leader %s equivocated at %d/%d", proposal.proposer.hex()[:16], proposal.height, proposal.view)
            self._equivocated.add(proposal.view)
            self._out.append(EvidenceFound(make_proposal_evidence(earlier, proposal)))

    # ------------------------------------------------------------------ rules

    def _progress(self) -> None:
        """Apply the rules until none fires (each fires at most once per view, so this ends)."""
        while not self.decided and (
            self._try_decide()
            or self._try_skip()
            or self._try_prevote()
            or self._try_lock()
            or self._try_precommit_nil()
            or self._try_arm_timeouts()
        ):
            pass

    def _try_decide(self) -> bool:
        """Any view: a quorum of precommits for a known, valid block decides it."""
        for view in self._book.views():
            for block_hash in self._book.hashes_with(view, VOTE_PRECOMMIT, self._committee.quorum):
                block = self._blocks.get(block_hash)
                if block_hash == NIL or block is None:
                    continue
                if not self._is_valid(block):
                    log.error("a quorum precommitted block %s, which this node finds invalid", block_hash.hex()[:16])
                    continue
                qc = consensus.make_qc(self._book.votes_for(view, VOTE_PRECOMMIT, block_hash))
                self._commit(block.replace(qc=qc), qc)
                return True
        return False

    def _try_skip(self) -> bool:
        """f+1 members are in a later view, so an honest one is: jump there."""
        for view in reversed(self._book.views()):
            if view <= self.view:
                break
            if self._book.voters_in(view) >= fault_threshold(self._committee):
                log.info("height %d: members are in view %d, jumping there from view %d", self.height, view, self.view)
                self._start_view(view)
                return True
        return False

    def _try_prevote(self) -> bool:
        """Propose step: prevote the leader's block if our lock allows it, else nil."""
        if self.step != Step.PROPOSE:
            return False
        if self.view in self._equivocated:
            self._cast(VOTE_PREVOTE, NIL)
            return True
        proposal = self._proposals.get(self.view)
        if proposal is None:
            return False
        pol = proposal.pol_view
        if pol is not None and self._book.count(pol, VOTE_PREVOTE, proposal.block_hash) < self._committee.quorum:
            return False  # wait for the proof of lock; the propose timeout bounds the wait
        lock_allows = (
            self.locked is None
            or self.locked.block_hash == proposal.block_hash
            or (pol is not None and self.locked.view <= pol)
        )
        ok = lock_allows and self._is_valid(proposal.block)
        if not lock_allows and self.locked is not None:
            log.info(
                "height %d view %d: prevoting nil on block %s: locked on %s since view %d (proof of lock: %s)",
                self.height,
                self.view,
                proposal.block_hash.hex()[:16],
                self.locked.block_hash.hex()[:16],
                self.locked.view,
                pol,
            )
        self._cast(VOTE_PREVOTE, proposal.block_hash if ok else NIL)
        return True

    def _try_lock(self) -> bool:
        """A quorum prevoted this view's valid proposal: lock on it and precommit it (once per view)."""
        if self.step == Step.PROPOSE or ("lock", self.view) in self._fired:
            return False
        proposal = self._proposals.get(self.view)
        if proposal is None:
            return False
        if self._book.count(self.view, VOTE_PREVOTE, proposal.block_hash) < self._committee.quorum:
            return False
        if not self._is_valid(proposal.block):
            return False
        self._fired.add(("lock", self.view))
        self.valid = _Lock(
            self.view, proposal.block_hash, proposal.block
        )  # before the vote: its resume record holds it
        if self.step == Step.PREVOTE:
            if self.view > 0:  # view 0 is the usual case: one line per block would drown the log
                log.info(
                    "height %d view %d: locked on block %s", self.height, self.view, proposal.block_hash.hex()[:16]
                )
            self.locked = _Lock(self.view, proposal.block_hash, proposal.block)
            self._cast(VOTE_PRECOMMIT, proposal.block_hash)
        elif self.is_member:  # a valid value seen after this member's precommit: keep it for a restart too
            self._note_resume()
        return True

    def _try_precommit_nil(self) -> bool:
        if self.step != Step.PREVOTE or self._book.count(self.view, VOTE_PREVOTE, NIL) < self._committee.quorum:
            return False
        self._cast(VOTE_PRECOMMIT, NIL)
        return True

    def _try_arm_timeouts(self) -> bool:
        """A quorum voted in this view but not for one block: wait a bounded time, then move on."""
        quorum = self._committee.quorum
        if self.step == Step.PREVOTE and self._book.total(self.view, VOTE_PREVOTE) >= quorum:
            if self._arm_once(Step.PREVOTE):
                return True
        if self._book.total(self.view, VOTE_PRECOMMIT) >= quorum:
            return self._arm_once(Step.PRECOMMIT)
        return False

    # ------------------------------------------------------------------ effects

    def _arm_once(self, step: Step) -> bool:
        key = (f"timer-{step.name}", self.view)
        if key in self._fired:
            return False
        self._fired.add(key)
        self._schedule(step)
        return True

    def _schedule(self, step: Step) -> None:
        assert self.height is not None
        self._out.append(ScheduleTimeout(self.height, self.view, step, self._timeouts.delay_ms(step, self.view)))

    def _resume(self) -> None:
        """Start at view 0, or where the signing record says this member was in this height.

        A restarted member takes back its lock and skips the views it already voted in; the steps it
        already signed stay behind it (`_may_sign`), so it only waits there for the timeouts.
        """
        self._restore()
        rec = self._record
        if rec is None or rec.height != self.height:
            self._start_view(0)
            return
        if rec.locked_view is not None and rec.locked_hash is not None:
            self.locked = _Lock(rec.locked_view, rec.locked_hash)
        self._start_view(rec.view)
        self.step = max(self.step, Step(rec.step))

    def _restore(self) -> None:
        """Take back the resume record of this height: votes into the book, the valid proposal, own votes re-sent.

        Everything is checked again as if it came from the network (a damaged file costs liveness only).
        Own votes after the signing record's position are dropped: the node died between saving the two
        records, so they never went out, and this member may still sign something else in their slot.
        """
        rec = self._resume_record
        if rec is None or rec.height != self.height:
            return
        signed_up_to = (-1, -1, -1) if self._record is None else self._record.position
        own = [v for v in rec.own_votes if (v.height, v.view, v.kind + 1) <= signed_up_to]
        for vote in (*rec.pol_votes, *own):
            try:
                self._accept_vote(vote)
            except PotError as exc:
                log.warning("dropped a vote of the resume record: %s", exc)
        if rec.proposal is not None:
            try:
                check_proposal(rec.proposal, self._committee, self.chain_id, self.height)
            except PotError as exc:
                log.warning("dropped the proposal of the resume record: %s", exc)
            else:
                p = rec.proposal
                self._store_proposal(p)
                if self._book.count(p.view, VOTE_PREVOTE, p.block_hash) >= self._committee.quorum:
                    self.valid = _Lock(p.view, p.block_hash, p.block)
                    log.info("resuming with block %s, prevoted by a quorum in view %d", p.block_hash.hex()[:16], p.view)
        if self.locked is not None and self.locked.block is None:
            self.locked.block = self._blocks.get(self.locked.block_hash)
        for vote in own:
            self._own[vote.kind] = vote
            self._out.append(BroadcastVote(vote))  # the same signature again: it may never have left before the crash

    def _note_resume(self) -> None:
        """Ask the node to save what a restart needs to stay live (see `app/core/bft/resume.py`)."""
        assert self.height is not None and self._signer is not None
        proposal = None if self.valid is None else self._proposals.get(self.valid.view)
        if proposal is not None and self.valid is not None and proposal.block_hash != self.valid.block_hash:
            proposal = None
        pol = () if proposal is None else tuple(self._book.votes_for(proposal.view, VOTE_PREVOTE, proposal.block_hash))
        self._out.append(
            PersistResumeState(
                ResumeRecord(
                    chain_id=self.chain_id,
                    member=self._signer.public_key,
                    height=self.height,
                    proposal=proposal,
                    pol_votes=pol,
                    own_votes=tuple(self._own[k] for k in sorted(self._own)),
                )
            )
        )

    def _may_sign(self, step: Step) -> bool:
        """True unless this member already signed at or after (height, view, `step`), maybe before a restart."""
        assert self.height is not None
        return self._record is None or (self.height, self.view, int(step)) > self._record.position

    def _note_signing(self, step: Step, block_hash: bytes) -> None:
        """Advance the signing record and ask the node to save it before the signed message goes out."""
        assert self.height is not None and self._signer is not None
        locked = self.locked
        self._record = SigningRecord(
            chain_id=self.chain_id,
            member=self._signer.public_key,
            height=self.height,
            view=self.view,
            step=int(step),
            block_hash=block_hash,
            locked_view=None if locked is None else locked.view,
            locked_hash=None if locked is None else locked.block_hash,
        )
        self._out.append(PersistSigningState(self._record))

    def _start_view(self, view: int) -> None:
        assert self.height is not None
        self.view = view
        self.step = Step.PROPOSE
        leader = leader_for(self._committee, self.height, view)
        if self._signer is not None and self._signer.public_key == leader and self._may_sign(Step.PROPOSE):
            self._propose()
        self._schedule(Step.PROPOSE)
        # Safety net for lost messages: a view never lasts longer than all its step timeouts together,
        # even if this member never sees the quorum that would arm the prevote or precommit timer.
        self._out.append(ScheduleTimeout(self.height, view, Step.PRECOMMIT, self._timeouts.view_ms(view)))

    def _propose(self) -> None:
        """Re-propose the block a quorum prevoted most recently, or build a fresh one."""
        assert self.height is not None and self._signer is not None
        if self.valid is not None and self.valid.block is not None:
            block, pol_view = self.valid.block, self.valid.view
            log.info(
                "height %d view %d: proposing again block %s, prevoted by a quorum in view %d",
                self.height,
                self.view,
                block.block_hash.hex()[:16],
                pol_view,
            )
        else:
            block, pol_view = self._app.build_block(self.height, self.view, self._signer.public_key), None
        unsigned = Proposal(
            chain_id=self.chain_id,
            height=self.height,
            view=self.view,
            pol_view=pol_view,
            block=block,
            proposer=self._signer.public_key,
            signature=bytes(64),
        )
        self._note_signing(Step.PROPOSE, block.block_hash)
        proposal = unsigned.replace(signature=self._sign(unsigned))
        self._store_proposal(proposal)
        self._out.append(BroadcastProposal(proposal))
        if pol_view is not None:
            # Members that missed the prevotes of `pol_view` cannot accept the re-proposal without them.
            for vote in self._book.votes_for(pol_view, VOTE_PREVOTE, block.block_hash):
                self._out.append(BroadcastVote(vote))

    def _cast(self, kind: int, block_hash: bytes) -> None:
        """Move to the step after `kind` and, as a member, sign and broadcast the vote."""
        self.step = Step.PREVOTE if kind == VOTE_PREVOTE else Step.PRECOMMIT
        if not self.is_member or not self._may_sign(self.step):
            return
        assert self.height is not None and self._signer is not None
        unsigned = Vote(
            chain_id=self.chain_id,
            height=self.height,
            view=self.view,
            kind=kind,
            block_hash=block_hash,
            voter=self._signer.public_key,
            signature=bytes(64),
        )
        vote = unsigned.replace(signature=self._sign(unsigned))
        self._own[kind] = vote
        self._note_resume()  # saved first: a crash between the two saves drops this vote at restore
        self._note_signing(self.step, block_hash)
        self._record_vote(vote)
        self._out.append(BroadcastVote(vote))

    def _sign(self, record: Proposal | Vote) -> bytes:
        assert self._signer is not None
        return self._signer.sign(record.SIG_DOMAIN, self.chain_id, record.signing_bytes())

    def _commit(self, block: Block, qc: QuorumCert) -> None:
        self.decided = True
        self._out.append(CommitBlock(block, qc))

    def _is_valid(self, block: Block) -> bool:
        """The node's verdict on `block`, asked once per block hash."""
        known = self._validity.get(block.block_hash)
        if known is None:
            try:
                self._app.validate_block(block)
                known = True
            except PotError as exc:
                log.warning("proposed block %s is invalid: %s", block.block_hash.hex()[:16], exc)
                known = False
            self._validity[block.block_hash] = known
        return known

    def _flush(self) -> list[Action]:
        out, self._out = self._out, []
        return out
