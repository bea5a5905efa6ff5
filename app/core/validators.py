"""Validators: committee election by work and bond, and the slashing of equivocators' bonds.

Evidence is vote equivocation (`Evidence`) or leader equivocation (`ProposalEvidence`); one offence,
an offender's (height, view), is punished at most once: the offences punished this epoch are kept
in the state (`SlashedOffences`, under `b"s"`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Annotated

from app.core import crypto
from app.core.accounts import EMPTY_ACCOUNT, Account
from app.core.consensus import check_evidence, check_proposal_evidence
from app.core.encoding import Bytes20, MaxLen, Record, Uint64
from app.core.errors import InvalidBlock, InvalidQuorumCertificate
from app.core.params import ChainParams
from app.core.types import Committee, Evidence, ProposalEvidence

if TYPE_CHECKING:
    from app.core.state import StateDraft

MAX_SLASHED_PER_EPOCH = 4096  # punished offences one epoch can record (each needs a bonded committee member)


OffenceKey = tuple[bytes, int, int]  # (offender address, height, view)


class InvalidEvidence(InvalidBlock):
    """Equivocation evidence that is malformed, foreign to this epoch, or against an unbonded member."""


@dataclass(frozen=True)
class Offence(Record):
    """One punished equivocation: the offender's address and the (height, view) in which it signed twice."""

    TAG = 58
    offender: Bytes20
    height: Uint64
    view: Uint64


@dataclass(frozen=True)
class SlashedOffences(Record):
    """The offences punished in the current epoch, sorted and distinct (absent from the state if none).

    Evidence can only be included in the epoch of its height, so the set is cleared at each epoch's
    end; while it lasts, the same offence (by another pair of messages, by vote and proposal evidence,
    or after the offender bonds again) cannot be punished twice.
    """

    TAG = 59
    offences: Annotated[tuple[Offence, ...], MaxLen(MAX_SLASHED_PER_EPOCH)]


def elect_committee(
    params: ChainParams, accounts: Mapping[bytes, Account], current: Committee, epoch: int
) -> Committee:
    """The committee for `epoch`: the most work this epoch among accounts bonded >= min_bond.

    Ties break by address. Seats left over go to current members still bonded >= min_bond (by
    address); if nobody at all qualifies the current members stay, since an empty committee would
    halt the chain for good. Members are sorted by address.
    """
    bonded = [
        (-acct.work, address, acct.public_key)
        for address, acct in accounts.items()
        if acct.work > 0 and acct.bond >= params.min_bond and acct.public_key is not None
    ]
    bonded.sort()
    chosen = [key for _, _, key in bonded[: params.committee_size]]
    for member in sorted(current.members, key=crypto.key_hash):
        if len(chosen) >= params.committee_size:
            break
        acct = accounts.get(crypto.key_hash(member), EMPTY_ACCOUNT)
        if member not in chosen and acct.bond >= params.min_bond:
            chosen.append(member)
    if not chosen:
        chosen = list(current.members)
    return Committee(epoch=epoch, members=tuple(sorted(chosen, key=crypto.key_hash)))


def apply_evidence(draft: StateDraft, evidence: Iterable[Evidence | ProposalEvidence], proposer: bytes) -> None:
    """Slash each equivocator's whole bond to the proposer that included the evidence (a bounty).

    Vote evidence names a member that signed two votes in one slot, proposal evidence the leader
    that signed two proposals in one view; either way one offence, the offender's (height, view),
    is punished at most once.
    """
    for ev in evidence:
        try:
            if isinstance(ev, ProposalEvidence):
                offender = check_proposal_evidence(ev, draft.committee, draft.params.chain_id)
                height, view = ev.height, ev.view
            elif isinstance(ev, Evidence):
                offender = check_evidence(ev, draft.committee, draft.params.chain_id)
                height, view = ev.vote_a.height, ev.vote_a.view
            else:  # the type union is closed; a new evidence type must be handled here
                raise InvalidEvidence(f"unknown evidence type {type(ev).__name__}")
        except InvalidQuorumCertificate as exc:
            raise InvalidEvidence(str(exc)) from None
        if draft.params.epoch_of(height) != draft.meta.epoch or height > draft.block_height:
            raise InvalidEvidence(f"evidence at height {height} is not from this epoch's past")
        address = crypto.key_hash(offender)
        offence = (address, height, view)
        if offence in draft.slashed:
            raise InvalidEvidence(f"the offence at {height}/{view} was already punished")
        if len(draft.slashed) >= MAX_SLASHED_PER_EPOCH:
            raise InvalidEvidence("this epoch has punished as many offences as the state records")
        acct = draft.account(address)
        if acct.bond == 0:
            raise InvalidEvidence("the equivocator has no bond left (already slashed)")
        draft.set_account(address, replace(acct, bond=0))
        draft.credit(proposer, acct.bond)
        draft.slashed.add(offence)
