"""Re-computation's cost when a committee challenges one receipt: each verifier draws its own segments and
their requests reach the miner in any order. Without waypoints, requests in decreasing order each replay
from the base again; with them, a later request replays at most the spacing between two waypoints.

Real training (the digits task, 16 segments a round), a real disk blob store, the real recomputer thread.
"""

from __future__ import annotations

import time

from app.core.blobstore import BlobStore
from app.core.hashing import blob_hash
from app.miner.recompute import CheckpointRecomputer, Waypoints, waypoint_indices
from app.miner.sparse_record import sparse_dir

from .conftest import SEGMENTS, sparse_round_on_disk


def _served_one_by_one(recompute: CheckpointRecomputer, blobs: BlobStore, digests: list[bytes]) -> None:
    """Ask for each digest as a verifier would, and wait until it is served before asking for the next."""
    for n, digest in enumerate(digests, 1):
        assert recompute.pending(digest) is not None
        deadline = time.monotonic() + 60
        while recompute.done < n:
            assert time.monotonic() < deadline, "timed out"
            time.sleep(0.02)
        assert blob_hash(blobs.get(digest)) == digest  # exactly the committed checkpoint, on disk to serve


def test_waypoints_are_bounded_in_bytes_and_in_time() -> None:
    now = [0.0]
    points = Waypoints(budget_bytes=100, ttl_s=10.0, clock=lambda: now[0])
    assert points.room_for(30) == 3 and points.room_for(0) == 0
    for name in (b"a", b"b", b"c"):
        points.put(name, name * 30)
    assert points.get(b"a") == b"a" * 30  # used: now the most recent
    points.put(b"d", b"d" * 30)  # over the budget: the least recently used (b) goes
    assert [points.has(n) for n in (b"a", b"b", b"c", b"d")] == [True, False, True, True] and points.size == 90
    points.put(b"huge", b"x" * 101)  # larger than the whole budget: not kept, nothing dropped for it
    assert not points.has(b"huge") and points.size == 90
    now[0] = 10.5
    assert not points.has(b"a") and points.size == 0  # the challenge window is over: all gone


def test_waypoints_sit_on_the_round_s_grid() -> None:
    assert waypoint_indices(0, 14, 3, 16) == {4, 8, 12}  # the round's grid: every 16 / (3 + 1) segments
    assert waypoint_indices(5, 11, 3, 16) == {8}  # a short replay adds only grid points: nothing pushed out
    assert waypoint_indices(0, 60, 5, 60) == {10, 20, 30, 40, 50}
    assert waypoint_indices(0, 4, 20, 16) == {1, 2, 3}  # never more than the segments in between
    assert waypoint_indices(5, 6, 3, 16) == set() and waypoint_indices(0, 14, 0, 16) == set()


def test_requests_in_decreasing_order_replay_from_waypoints_not_from_the_base(long_spec, data, keys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    order = [14, 10, 6, 2]  # e.g. three verifiers' draws reaching the miner latest segment first
    replayed = {}
    for label, room in (("none", 0), ("three", 3)):
        blobs, out, resume = sparse_round_on_disk(long_spec, data, keys[0], tmp_path / label)
        blob_size = len(blobs.get(out.trace.checkpoints[-1]))  # a checkpoint with its optimiser state
        recompute = CheckpointRecomputer(
            sparse_dir(resume),
            blobs,
            lambda s: data,
            waypoints=Waypoints(budget_bytes=int(room * blob_size * 1.1)),
            gather_s=0,
        )
        try:
            _served_one_by_one(recompute, blobs, [out.trace.checkpoints[i] for i in order])
        finally:
            recompute.close()
        replayed[label] = recompute.segments_replayed
        # waypoints live in memory only: the disk holds the base, the end and the served checkpoints
        on_disk = [i for i, c in enumerate(out.trace.checkpoints) if blobs.has(c)]
        assert on_disk == sorted([0, *order, SEGMENTS])
    assert replayed["none"] == sum(order)  # each request replayed from the base: 14 + 10 + 6 + 2
    # the first replays 14 segments and leaves 3 waypoints ({4, 8, 12}); each later request replays from the
    # nearest one below it: 10 from 8, 6 from 4, 2 from the base
    assert replayed["three"] == 14 + 2 + 2 + 2


def test_a_committees_burst_of_requests_is_answered_by_one_replay(long_spec, data, keys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    blobs, out, resume = sparse_round_on_disk(long_spec, data, keys[0], tmp_path / "m")
    recompute = CheckpointRecomputer(sparse_dir(resume), blobs, lambda s: data)  # GATHER_S: 2 s
    try:
        wanted = [out.trace.checkpoints[i] for i in (14, 9, 2)]  # three verifiers asking at about once
        assert all(recompute.pending(d) is not None for d in wanted)
        deadline = time.monotonic() + 60
        while recompute.done < len(wanted):
            assert time.monotonic() < deadline, "timed out"
            time.sleep(0.02)
    finally:
        recompute.close()
    assert recompute.segments_replayed == 14  # one pass up to the furthest, not 14 + 9 + 2
    assert all(blob_hash(blobs.get(d)) == d for d in wanted)
