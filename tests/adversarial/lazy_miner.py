"""A lazy miner as a real node process: it fakes one checkpoint of its round and is paid anyway.

`python -m tests.adversarial.lazy_miner --committee-key PATH ... <potminer node arguments>` runs a
real `Node` in the miner role whose training doctors checkpoint `DOCTORED` (a stand-in for the two
segments around it that it did not train) and re-commits everything after it consistently. It serves
every blob and its trace, like an honest miner.

To be included, the fake must escape the committee's check. A real lazy miner only has the odds of
that (each member's draw is fixed but unknown to it); this test's miner is given the committee's keys
and grinds its forgery until no member's fixed draw (`draw_segments`, q of n) touches a doctored
segment, so the committee's miss is certain and the test cheap. What catches it then is the auditor.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from app.core.bft import TimeoutConfig
from app.core.crypto import SigningKey
from app.miner.loop import RoundJob, RoundOutput, train_round
from app.miner.resume import ResumeDir
from app.node.cli import add_node_args
from app.node.keys import load_key
from app.node.node import Node, NodeConfig
from app.node.work import TrainingWork
from app.pot import optim
from app.pot.challenge import draw_segments
from app.pot.engine import update_tensors
from app.pot.proof import TrainingTrace, make_receipt, segment_count
from app.pot.tensors import decode_tensors, encode_tensors
from app.pot.verify import DEFAULT_Q

log = logging.getLogger("lazy_miner")

DOCTORED = 2  # the checkpoint rewritten: segments DOCTORED - 1 and DOCTORED no longer replay
MAX_TRIES = 2_000


def forge(out: RoundOutput, key: SigningKey, node: Node, committee: Sequence[SigningKey], q: int) -> RoundOutput:
    """`out` with checkpoint DOCTORED perturbed, ground until every committee draw misses it."""
    blobs, chain_id, receipt = node.blobs, node.chain.params.chain_id, out.receipt
    ckpt = decode_tensors(blobs.get(out.trace.checkpoints[DOCTORED]))
    n = len(out.trace.checkpoints) - 1
    final, base = (
        decode_tensors(blobs.get(out.trace.checkpoints[-1])),
        decode_tensors(blobs.get(out.trace.checkpoints[0])),
    )
    update_hash = blobs.put(encode_tensors(update_tensors(final, base)))
    bad = {DOCTORED - 1, DOCTORED}
    for attempt in range(MAX_TRIES):
        gen = torch.Generator().manual_seed(attempt)
        forged = {
            k: v + 0.05 * torch.randn(v.shape, generator=gen, dtype=v.dtype) if k.startswith(optim.PARAM) else v
            for k, v in ckpt.items()
        }
        checkpoints = list(out.trace.checkpoints)
        checkpoints[DOCTORED] = blobs.put(encode_tensors(forged))
        fake = make_receipt(
            key=key,
            chain_id=chain_id,
            task_id=receipt.task_id,
            round_number=receipt.round,
            checkpoints=checkpoints,
            update_hash=update_hash,
            steps=receipt.steps,
            final_loss=receipt.final_loss_micro / 1e6,
            device_class=receipt.device_class,
        )
        if all(bad.isdisjoint(draw_segments(k, chain_id, fake.receipt_id, n, q)) for k in committee):
            log.warning(
                "LAZY: doctored checkpoint %d of round %d after %d tries; no committee draw touches it",
                DOCTORED,
                receipt.round,
                attempt + 1,
            )
            return RoundOutput(
                fake, TrainingTrace(checkpoints=tuple(checkpoints), samples=out.trace.samples), update_hash
            )
    raise RuntimeError("no forgery escaped every committee draw")


def train_in_process(job: RoundJob, key: SigningKey, work: TrainingWork, resume_root: Path) -> RoundOutput:
    """The honest round, trained on this node's worker thread: the attacker's program need not keep its
    loop responsive (an honest miner node trains in its worker process, app/node/training.py)."""
    work.ensure(job.base_checkpoint)
    data = work.training_data(job.spec)
    resume = ResumeDir(resume_root / f"{job.task_id.hex()[:16]}-{job.round}")
    out = train_round(job, key, work.blobs, data, device=work.device, resume=resume)
    assert isinstance(out, RoundOutput)  # no should_pause, so it never pauses
    return out


class LazyNode(Node):
    """A miner node whose rounds are trained in-process and forged by `forge` before they are gossiped
    (its `trainer`, the honest worker-process path, is never used)."""

    def __init__(self, config: NodeConfig, committee: Sequence[SigningKey], q: int) -> None:
        super().__init__(config)
        self._committee, self._q = list(committee), q

    def _schedule_train(self, job: RoundJob) -> None:
        def done(out: RoundOutput | None, error: BaseException | None) -> None:
            if out is None:
                log.error("training round %d failed: %r", job.round, error)
                return
            self.traces.add(out.trace, out.receipt)
            self._published[out.receipt.receipt_id] = (out.receipt, time.monotonic())
            self._publish(out.receipt)

        def lazy() -> RoundOutput:
            out = train_in_process(job, self.key, self.work, self.config.datadir / "resume")
            assert segment_count(job.spec) > DOCTORED
            return forge(out, self.key, self, self._committee, self._q)

        self.loop.run_in_worker(lazy, done)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="lazy_miner")
    add_node_args(p)
    p.add_argument("--committee-key", type=Path, action="append", required=True)
    p.add_argument("--committee-q", type=int, default=DEFAULT_Q)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    host, port = args.listen
    config = NodeConfig(
        datadir=args.datadir,
        genesis_path=args.genesis,
        key_path=args.key,
        role="miner",
        listen_host=host,
        listen_port=port,
        bootstrap=tuple(args.bootstrap),
        block_interval_s=args.block_interval,
        round_wait_s=args.round_wait,
        timeouts=TimeoutConfig(propose_ms=args.propose_timeout_ms),
    )
    LazyNode(config, [load_key(path) for path in args.committee_key], args.committee_q).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
