"""`potminer task result`'s file: a checkpoint blob's parameters as safetensors that plain PyTorch loads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from app.miner import demo
from app.miner.result import write_result
from app.pot import registry
from app.pot.tensors import encode_tensors


def test_a_checkpoint_becomes_a_state_dict_file_with_the_model_in_its_metadata(tmp_path: Path) -> None:
    spec = demo.task_spec("fables", "tiny-lm")
    blob = demo.initial_checkpoint(spec.model, 1, spec.hyperparams)
    out = tmp_path / "lm.safetensors"
    count = write_result(blob, spec, out, {"round": "0"})
    with safe_open(str(out), "pt") as f:
        meta = f.metadata()
    assert meta["model"] == "tiny-lm" and meta["round"] == "0"
    model = registry.build_model("tiny-lm", 1, tuple(sorted(json.loads(meta["hyperparams"]).items())))
    model.load_state_dict(load_file(str(out)), strict=True)
    assert count == sum(p.numel() for p in model.parameters())
    torch.manual_seed(demo.DEFAULT_INIT_SEED)
    fresh = registry.build_model("tiny-lm", 1, spec.hyperparams)  # the same weights the blob was made from
    x = torch.randint(0, 256, (2, 16), dtype=torch.uint8)
    with torch.no_grad():
        assert torch.equal(model(x), fresh(x))
    assert not list(tmp_path.glob(".*.part"))


def test_a_blob_without_parameters_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    spec = demo.task_spec()
    with pytest.raises(ValueError, match="no model parameters"):
        write_result(encode_tensors({"opt.x": torch.zeros(2)}), spec, tmp_path / "x.safetensors")
    assert list(tmp_path.iterdir()) == []
