"""The committee protocol: a light client asks a full node for the Committee record behind a hash.

A header names the next epoch's committee only by `next_committee_hash`. When the members change,
a light client cannot always derive them from the next QC (a quorum need not include every member),
so it asks any full node on `/pot/<chain>/committee/1` for the record with that hash and checks the
hash itself: any peer may answer, and a wrong answer is caught (and reported as a bad response).

Full nodes keep every committee their chain has elected (`CommitteeBook`): one small file per
committee in the data directory, named by its hash, written atomically after each commit that
elects one, so a restarted node still serves the hand-overs of old epochs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from app.core.encoding import Bytes32
from app.core.errors import PotError
from app.core.types import Committee
from app.fsutil import write_atomic
from app.net.messages import Request, Response

log = logging.getLogger(__name__)

PROTOCOL_NAME = "committee"
SUFFIX = ".committee"


@dataclass(frozen=True)
class CommitteeRequest(Request):
    """Ask for the committee whose `Committee.committee_hash` is `committee_hash`."""

    TAG = 142
    committee_hash: Bytes32


@dataclass(frozen=True)
class CommitteeResponse(Response):
    TAG = 143
    committee: Committee


class CommitteeBook:
    """Committees by hash: in memory, and as files in `directory` (None: memory only)."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory
        self._known: dict[bytes, Committee] = {}
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)

    def add(self, committee: Committee) -> None:
        digest = committee.committee_hash
        if digest in self._known:
            return
        if self.directory is not None:
            path = self.directory / f"{digest.hex()}{SUFFIX}"
            if not path.exists():
                write_atomic(path, committee.encode(), mode=0o644)
        self._known[digest] = committee

    def get(self, digest: bytes) -> Committee | None:
        found = self._known.get(digest)
        if found is not None or self.directory is None:
            return found
        path = self.directory / f"{digest.hex()}{SUFFIX}"
        try:
            committee = Committee.decode(path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, PotError, ValueError) as exc:
            log.warning("ignoring unreadable committee file %s: %s", path, exc)
            return None
        if committee.committee_hash != digest:
            log.warning("ignoring committee file %s: it does not hash to its name", path)
            return None
        self._known[digest] = committee
        return committee
