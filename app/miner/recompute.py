"""Re-computing checkpoints a miner committed to but did not keep on disk (see `app.miner.loop`).

A large model's round keeps only its base, end and latest resume point; the trace still names every
checkpoint's hash. When a verifier challenges segment j, the miner needs c_j and c_{j+1}: it replays
the round from the nearest kept checkpoint before them, with the same seeded batches, in the same
device configuration the receipt commits. That replay is exact (docs/TOLERANCES.md), so the result
hashes to the committed leaf; a mismatch means the configuration differs and is reported, never served.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

import torch

from app.core.errors import PotError
from app.core.hashing import blob_hash
from app.miner.loop import RoundJob
from app.pot import config
from app.pot.blobs import BlobStore, fetch_verified, put_deferred, sync
from app.pot.datasets import Split, round_seed
from app.pot.engine import Session, run_steps
from app.pot.proof import TrainingTrace, segment_count
from app.pot.tensors import decode_tensors


class RecomputeMismatch(PotError):
    """A re-computed checkpoint does not hash to the trace's leaf (another device configuration)."""


def nearest_kept(store: BlobStore, trace: TrainingTrace, index: int) -> int:
    """The largest j <= index whose checkpoint is in `store` (the base, index 0, at least)."""
    for j in range(index, -1, -1):
        if store.has(trace.checkpoints[j]):
            return j
    raise RecomputeMismatch(f"not even the base checkpoint {trace.checkpoints[0].hex()[:16]} is in the store")


def recompute_checkpoints(
    job: RoundJob,
    miner: bytes,
    store: BlobStore,
    data: Split,
    trace: TrainingTrace,
    indices: Iterable[int],
    device: torch.device,
    device_class: str | None = None,
) -> dict[int, bytes]:
    """The blobs of checkpoints `indices` of the round `job` that miner `miner` trained, stored in `store`.

    Kept ones are read back; the others are replayed forward from the nearest kept one, in one pass for
    all of them, each checked against `trace` before it is stored (deferred, then one sync).
    `device_class`: the receipt's; when this process reproduces it, the replay runs in it (its thread
    count), as a verifier's exact replay does."""
    spec = job.spec
    n = segment_count(spec)
    if len(trace.checkpoints) != n + 1:
        raise ValueError(f"the trace has {len(trace.checkpoints)} checkpoints, the task {n + 1}")
    wanted = sorted(set(indices))
    if any(not 0 <= i <= n for i in wanted):
        raise ValueError(f"checkpoint indices {wanted} outside 0..{n}")
    out = {
        i: fetch_verified(store, trace.checkpoints[i], "checkpoint") for i in wanted if store.has(trace.checkpoints[i])
    }
    missing = [i for i in wanted if i not in out]
    if not missing:
        return out
    k = spec.checkpoint_interval
    seed = round_seed(job.anchor_block_hash, miner, job.task_id, job.round)
    start = nearest_kept(store, trace, missing[0])
    session = Session(spec, device)
    session.load(decode_tensors(fetch_verified(store, trace.checkpoints[start], "checkpoint")))
    data = data.to(device)
    declared = config.parse(device_class) if device_class is not None else None
    exact = declared is not None and config.reproducible(config.current(device), declared)
    with config.replaying(declared) if exact else contextlib.nullcontext():  # type: ignore[arg-type]
        _replay(session, data, seed, k, start, missing, trace, store, out)
    sync(store)
    return out


def _replay(
    session: Session,
    data: Split,
    seed: bytes,
    k: int,
    start: int,
    missing: list[int],
    trace: TrainingTrace,
    store: BlobStore,
    out: dict[int, bytes],
) -> None:
    loss_sum = torch.zeros((), device=session.device)
    for j in range(start, missing[-1]):
        run_steps(session, data, seed, j * k, (j + 1) * k, loss_sum)
        if j + 1 in missing:
            blob = session.checkpoint_blob()
            if blob_hash(blob) != trace.checkpoints[j + 1]:
                raise RecomputeMismatch(
                    f"checkpoint {j + 1} re-computed on {session.device.type} does not match "
                    "the trace: not the receipt's device configuration"
                )
            put_deferred(store, blob)
            out[j + 1] = blob
