"""A cheating miner's workbench: real torch training through the engine, with hooks where a cheat bends it.

`mine` trains a round step by step exactly as `app.miner.loop` does (same `Session`, same seeded
batches), but lets a cheat act after any step (`after_step`) and rewrite any checkpoint before it is
committed (`commit`); the miner then continues from what it committed, as a consistent liar would. The
result is a genuinely signed receipt with its trace and blobs in the store, ready for a verifier.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from app.core import crypto
from app.core.types import TaskSpec
from app.miner.loop import RoundOutput
from app.pot import config
from app.pot.blobs import MemoryBlobStore
from app.pot.datasets import Split, round_seed
from app.pot.engine import Session, run_steps, update_tensors
from app.pot.proof import TrainingTrace, make_receipt
from app.pot.tensors import decode_tensors, encode_tensors

CHAIN = "pot-devnet"
TASK_ID = bytes(range(32))
ANCHOR = bytes([7]) * 32
CPU = torch.device("cpu")

State = dict[str, torch.Tensor]


def mine(
    spec: TaskSpec,
    key: crypto.SigningKey,
    store: MemoryBlobStore,
    data: Split,
    *,
    label: str | None = None,
    after_step: Callable[[int, Session], None] | None = None,
    commit: Callable[[int, State], State] | None = None,
    train_segment: Callable[[int], bool] | None = None,
    round_number: int = 0,
) -> RoundOutput:
    """One round with the cheat's hooks. `label`: the device configuration claimed (default: the real one).

    `after_step(s, session)` runs after step `s`; `commit(j, state)` returns what is committed as
    checkpoint `j` (the miner continues from it); `train_segment(j)` false skips segment `j`'s training
    (a lazy miner: it commits the start of the segment as its end, unless `commit` makes something up).
    """
    session = Session(spec, CPU)
    base = decode_tensors(store.get(spec.initial_checkpoint))
    session.load(base)
    seed = round_seed(ANCHOR, key.public_key, TASK_ID, round_number)
    k = spec.checkpoint_interval
    checkpoints = [spec.initial_checkpoint]
    loss_sum = torch.zeros(())
    for j in range(spec.local_steps // k):
        loss_sum = torch.zeros(())
        if train_segment is None or train_segment(j):
            hook = (lambda s, _loss: after_step(s, session)) if after_step is not None else None
            run_steps(session, data, seed, j * k, (j + 1) * k, loss_sum, hook)
        else:
            loss_sum += 2.0 * k  # a made-up loss for the skipped work
        state = session.export()
        if commit is not None:
            state = commit(j + 1, state)
            session.load(state)
        checkpoints.append(store.put(encode_tensors(state)))
    final = decode_tensors(store.get(checkpoints[-1]))
    update_hash = store.put(encode_tensors(update_tensors(final, base)))
    receipt = make_receipt(
        key=key,
        chain_id=CHAIN,
        task_id=TASK_ID,
        round_number=round_number,
        checkpoints=checkpoints,
        update_hash=update_hash,
        steps=spec.local_steps,
        final_loss=float(loss_sum) / k,
        device_class=label or config.current(CPU).label(),
    )
    return RoundOutput(
        receipt, TrainingTrace(checkpoints=tuple(checkpoints), samples=spec.local_steps * spec.batch_size), update_hash
    )
