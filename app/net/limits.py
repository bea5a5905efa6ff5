"""Every size limit, timeout and score rule of the network layer, in one place.

A hostile peer is bounded by these numbers; docs/PROTOCOL.md, Part 5 gives the reasoning for each.
"""

from __future__ import annotations

from app.core.history import MAX_HISTORY_PAGE
from app.core.types import Block

KIB = 1024
MIB = 1024 * KIB

# ---------------------------------------------------------------- gossip (per-message byte limits)
# A block travels whole, so its limit is the block limit; everything else is a single small record.
GOSSIP_MAX_BLOCK = Block.MAX_SIZE + KIB  # a Proposal wraps a block with its slot and signature
GOSSIP_MAX_VOTE = 16 * KIB  # a Vote is ~200 bytes; a QuorumCert of 128 members ~13 KiB
GOSSIP_MAX_RECEIPT = 2 * KIB
GOSSIP_MAX_TX = 4 * KIB
GOSSIP_MAX_TASK = 8 * KIB
# GossipSub's own frame limit: one RPC may carry a block plus control data.
GOSSIP_MAX_RPC = GOSSIP_MAX_BLOCK + 64 * KIB
# libp2p's default flood guard drops a peer's bursts above 10 messages per topic per second;
# a committee of 128 sends 256 votes per view, so the bound is raised and abuse is left to scoring.
GOSSIP_MAX_MESSAGES_PER_TOPIC_PER_SECOND = 1000.0
GOSSIP_VALIDATION_TIMEOUT_S = 5.0

# ---------------------------------------------------------------- request/response
FRAME_LENGTH_BYTES = 4
MAX_REQUEST_FRAME = 4 * KIB  # every request is a handful of integers and hashes
MAX_RESPONSE_FRAME = Block.MAX_SIZE + 64 * KIB  # the largest answer is one block
MAX_HEADERS_PER_REQUEST = 256
MAX_BLOB_CHUNK = 1 * MIB
DEFAULT_BLOB_CHUNK = 256 * KIB
DEFAULT_MAX_BLOB = 512 * MIB
# A blob answered "pending" (a miner re-computing a checkpoint it did not keep) is asked for again every
# PENDING_POLL_S, for at most MAX_PENDING_WAIT_S (or the fetch's own wait); then it is `BlobNotReady`. A
# verifier's challenged blobs use a shorter wait and are gathered again later, up to a deadline that grows
# with the task (app/node/pacing.py), since a re-computation replays up to a round's steps; a miner that
# answers "pending" for ever is treated as withholding (the verdict `unavailable`).
PENDING_POLL_S = 2.0
MAX_PENDING_WAIT_S = 90.0
MAX_STATE_PROOF = 64 * KIB
# state-entries: up to 16 ranges a request (a light client's task, listings and keys in one round
# trip), each named by a prefix and a start key of at most 64 bytes (state keys are <= 33 bytes).
MAX_STATE_QUERIES = 16
MAX_STATE_QUERY_KEY = 64
# The server fills a response up to this many bytes, shared evenly by its ranges (neighbours and
# proofs counted), and answers fewer ranges rather than pass it; 64 KiB below the frame for the
# response's own fields. Pages end early instead (RangePage.next_start), so no range is ever cut.
STATE_ENTRIES_BUDGET = MAX_RESPONSE_FRAME - 64 * KIB
# History pages (a light client's proven transactions, app/core/history.py) ride in one response
# frame: the largest item that decodes (a header, a TaskPost with every field at its limit in 4-byte
# characters, a proof of 64 siblings) is about 31 KiB, so 64 items stay under 2 MiB, far inside
# MAX_RESPONSE_FRAME (tests/net/test_history.py encodes that page). 64 also keeps a page's block
# loads and proof hashing on the serving node small.
MAX_HISTORY_ITEMS = MAX_HISTORY_PAGE
REQUEST_TIMEOUT_S = 10.0
DIAL_TIMEOUT_S = 5.0
MAX_CONCURRENT_INBOUND_STREAMS = 64  # handler slots shared by all peers (taken once a request arrived)
# Per peer: honest callers ask one thing at a time (sync, blob and trace fetches are sequential), so
# eight open streams leave room to spare while a peer's silent streams cannot hold anyone else's slot.
MAX_STREAMS_PER_PEER = 8
FIRST_FRAME_TIMEOUT_S = 1.5  # a request frame is one small write; a stream silent this long is dropped

# ---------------------------------------------------------------- peer scores
SCORE_MIN = -100.0
SCORE_MAX = 20.0
BAN_THRESHOLD = -50.0
BAN_SECONDS = 600.0
SCORE_HALF_LIFE_S = 600.0  # penalties fade, so an honest peer's rare fault is forgiven
GOOD_MESSAGE_REWARD = 0.5
MAX_PEER_RECORDS = 4096  # the peer table forgets idle, unbanned peers past this many (and faded ones always)
SCORE_FORGET_BELOW = 0.5  # a disconnected, unbanned peer whose |score| decayed below this is forgotten
PENALTY_BAD_FRAME = 20.0
PENALTY_OVERSIZED = 25.0
PENALTY_INVALID_GOSSIP = 10.0
PENALTY_WRONG_BLOB = 50.0
PENALTY_BAD_RESPONSE = 10.0
PENALTY_TIMEOUT = 2.0
PENALTY_STALLED_STREAM = 10.0  # MAX_STREAMS_PER_PEER stalled streams at once cross the ban threshold

# ---------------------------------------------------------------- dialing
BACKOFF_BASE_S = 1.0
# Dial targets are the configured bootstrap peers (and mDNS finds): few, and the only way a node
# with no inbound peers (a miner) joins. A 300 s cap left a miner started before the validators
# listened isolated for a minute or more; dialing a dead address every 10 s costs nothing.
BACKOFF_MAX_S = 10.0
DISCOVERY_INTERVAL_S = 2.0
