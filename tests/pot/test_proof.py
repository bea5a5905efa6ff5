"""Trace commitments, openings and receipt fields; the record tags of core, the protocol and the miner stay unique."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import app.core
import app.miner
import app.pot
from app.core.encoding import Record
from app.core.errors import InvalidReceipt
from app.core.hashing import blob_hash
from app.pot.proof import CheckpointOpening, TrainingTrace, loss_micro, segment_count

TRACE = TrainingTrace(checkpoints=tuple(blob_hash(bytes([i])) for i in range(6)), samples=320)


def test_every_opening_proves_its_leaf_and_nothing_else() -> None:
    for i in range(6):
        opening = CheckpointOpening.decode(TRACE.opening(i).encode())
        assert opening.check(TRACE.root, i, 6) == TRACE.checkpoints[i]
    with pytest.raises(InvalidReceipt, match="bad-opening"):
        TRACE.opening(2).check(TRACE.root, 3, 6)  # asked for another leaf
    with pytest.raises(InvalidReceipt, match="bad-opening"):
        TRACE.opening(2).check(TRACE.root, 2, 7)  # a trace of another length
    forged = TRACE.opening(2).replace(checkpoint=bytes(32))
    with pytest.raises(InvalidReceipt, match="bad-opening"):
        forged.check(TRACE.root, 2, 6)


def test_segment_count_and_loss_units(spec) -> None:  # type: ignore[no-untyped-def]
    assert segment_count(spec) == 3
    with pytest.raises(ValueError):
        segment_count(spec.replace(local_steps=13))
    with pytest.raises(ValueError):
        segment_count(spec.replace(local_steps=10_000, checkpoint_interval=1))
    assert loss_micro(1.2345678) == 1_234_567
    for bad in (float("nan"), float("inf"), -1.0):
        with pytest.raises(ValueError):
            loss_micro(bad)


def _all_records() -> list[type[Record]]:
    for package in (app.core, app.pot, app.miner):
        for mod in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if ".idle." not in mod.name:
                importlib.import_module(mod.name)
    out, todo = [], list(Record.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.TAG >= 0:
            out.append(cls)
    return out


def test_record_tags_are_unique_across_core_pot_and_miner() -> None:
    records = _all_records()
    tags = [cls.TAG for cls in records]
    assert len(tags) == len(set(tags)), sorted((c.TAG, c.__name__) for c in records)
