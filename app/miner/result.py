"""A task's checkpoint written as a plain safetensors file, for use outside PoT Miner.

Checkpoint blobs name parameters `param.<name>` (and optimiser slots `opt.*`); the file holds just the
parameters under the registry model's own `state_dict` names, with the model, version and
hyper-parameters in the file's metadata, so `safetensors.torch.load_file` and `load_state_dict` on
the registry model (or a copy of its few lines of PyTorch) is all a requester needs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from app.core.types import TaskSpec
from app.pot.optim import PARAM
from app.pot.tensors import decode_tensors


def state_dict_of(checkpoint: bytes) -> dict[str, torch.Tensor]:
    """The model parameters of a checkpoint blob, by `state_dict` name."""
    tensors = decode_tensors(checkpoint)
    params = {k[len(PARAM) :]: v.contiguous() for k, v in tensors.items() if k.startswith(PARAM)}
    if not params:
        raise ValueError("the checkpoint holds no model parameters")
    return params


def write_result(checkpoint: bytes, spec: TaskSpec, path: Path, extra: dict[str, str] | None = None) -> int:
    """Write the checkpoint's parameters to `path` atomically; returns the parameter count."""
    from safetensors.torch import save_file

    params = state_dict_of(checkpoint)
    metadata = {
        "format": "pt",
        "model": spec.model,
        "model_version": str(spec.model_version),
        "hyperparams": json.dumps(dict(spec.hyperparams), sort_keys=True),
        **(extra or {}),
    }
    path = Path(path)
    tmp = path.with_name(f".{path.name}.part")
    try:
        save_file(params, str(tmp), metadata=metadata)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return sum(p.numel() for p in params.values())
