"""The resume folder: atomic, self-checking, and it refuses damaged state instead of training on it."""

from __future__ import annotations

from pathlib import Path

import torch

from app.core.hashing import ZERO_HASH
from app.miner.resume import ResumeDir, RoundState

STATE = RoundState(
    chain_id="c",
    task_id=b"\x01" * 32,
    round=2,
    miner=b"\x02" * 32,
    base_checkpoint=b"\x03" * 32,
    anchor=b"\x04" * 32,
    step=5,
    checkpoints=(b"\x03" * 32, b"\x05" * 32),
    state_file=ZERO_HASH,
)


def test_save_and_load_mid_segment_state(tmp_path: Path) -> None:
    d = ResumeDir(tmp_path)
    d.save(STATE, {"param.w": torch.arange(3, dtype=torch.float32)})
    state, tensors = d.load()  # type: ignore[misc]
    assert state.step == 5 and state.same_round(STATE) and state.state_file != ZERO_HASH
    assert tensors is not None and torch.equal(tensors["param.w"], torch.arange(3, dtype=torch.float32))
    d.save(STATE.replace(step=8), None)  # at a checkpoint: no tensor file is kept
    assert d.load()[1] is None  # type: ignore[index]
    assert not list(tmp_path.glob("state-*"))


def test_damaged_state_is_ignored(tmp_path: Path) -> None:
    d = ResumeDir(tmp_path)
    d.save(STATE, {"param.w": torch.ones(2)})
    (f,) = tmp_path.glob("state-*.safetensors")
    f.write_bytes(f.read_bytes()[:-1] + b"\x01")
    assert d.load() is None
    (tmp_path / "round.cbor").write_bytes(b"\xff\x00")
    assert d.load() is None
    d.clear()
    assert d.load() is None and not list(tmp_path.iterdir())
