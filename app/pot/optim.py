"""Registry optimisers and their state as named tensors, so a checkpoint can resume training exactly.

A mid-round checkpoint is the model's parameters plus the optimiser's state; both travel as one
canonical tensor set ("param.<name>", "opt.<name>.<slot>"). Loading it and running the next `k` steps
must reproduce the miner's steps, which is what a verifier does. The inner optimiser starts fresh from
the global checkpoint every round (DiLoCo), so the round's base checkpoint has parameters only.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from app.pot.hparams import InvalidTaskSpec, Num, parse_params

_SCHEMAS: dict[str, dict[str, Num]] = {
    "sgd": {"lr": Num(float, 0, 10), "momentum": Num(float, 0, 0.999), "weight_decay": Num(float, 0, 1)},
    "adamw": {
        "beta1": Num(float, 0, 0.9999),
        "beta2": Num(float, 0, 0.99999),
        "eps": Num(float, 1e-12, 1),
        "lr": Num(float, 0, 10),
        "weight_decay": Num(float, 0, 1),
    },
}
_SLOTS = {"sgd": ("momentum_buffer",), "adamw": ("step", "exp_avg", "exp_avg_sq")}

PARAM = "param."
OPT = "opt."


def optimizers() -> list[str]:
    return sorted(_SCHEMAS)


def build_optimizer(name: str, params: tuple[tuple[str, str], ...], model: nn.Module) -> torch.optim.Optimizer:
    """The optimiser `name` over `model`'s parameters, with torch's default kernels for the device."""
    if name not in _SCHEMAS:
        raise InvalidTaskSpec("unknown-optimizer", f"{name!r} is not a registry optimiser")
    p = parse_params(params, _SCHEMAS[name], f"{name} settings")
    if name == "sgd":
        return torch.optim.SGD(model.parameters(), lr=p["lr"], momentum=p["momentum"], weight_decay=p["weight_decay"])
    return torch.optim.AdamW(
        model.parameters(),
        lr=p["lr"],
        betas=(p["beta1"], p["beta2"]),
        eps=p["eps"],
        weight_decay=p["weight_decay"],
    )


def export_state(
    model: nn.Module, opt: torch.optim.Optimizer, optimizer_name: str, copy: bool = True
) -> dict[str, torch.Tensor]:
    """Parameters and optimiser slots as one flat tensor dict, float32 on the CPU.

    `copy=False` returns views of the live tensors where they already are on the CPU: only for a
    caller that serialises them before the next optimiser step.
    """

    def out_of(t: torch.Tensor) -> torch.Tensor:
        t = t.detach().to("cpu", torch.float32)
        return t.clone() if copy else t

    out = {PARAM + n: out_of(p) for n, p in model.named_parameters()}
    for n, p in model.named_parameters():
        slots = opt.state.get(p, {})
        for slot in _SLOTS[optimizer_name]:
            if slot in slots and slots[slot] is not None:
                out[f"{OPT}{n}.{slot}"] = out_of(torch.as_tensor(slots[slot])).reshape(
                    -1 if slot == "step" else slots[slot].shape
                )
    return out


def import_state(
    tensors: Mapping[str, torch.Tensor], model: nn.Module, opt: torch.optim.Optimizer, optimizer_name: str
) -> None:
    """Load `tensors` (as `export_state` wrote them) into `model` and `opt`; exact names and shapes."""
    named = dict(model.named_parameters())
    expected = {PARAM + n for n in named}
    present_params = {k for k in tensors if k.startswith(PARAM)}
    if present_params != expected:
        raise ValueError("checkpoint parameters do not match the model's architecture")
    slot_names = {f"{OPT}{n}.{s}" for n in named for s in _SLOTS[optimizer_name]}
    extra = set(tensors) - expected - slot_names
    if extra:
        raise ValueError(f"checkpoint has unexpected tensors {sorted(extra)[:3]}")
    with torch.no_grad():
        for n, p in named.items():
            src = tensors[PARAM + n]
            if src.shape != p.shape or src.dtype != torch.float32:
                raise ValueError(f"parameter {n} has shape {tuple(src.shape)}, expected {tuple(p.shape)}")
            p.copy_(src.to(p.device))
    opt.state.clear()
    for n, p in named.items():
        slots = {s: tensors[f"{OPT}{n}.{s}"] for s in _SLOTS[optimizer_name] if f"{OPT}{n}.{s}" in tensors}
        if not slots:
            continue
        if set(slots) != set(_SLOTS[optimizer_name]):
            raise ValueError(f"optimiser state of {n} is incomplete")
        state: dict[str, torch.Tensor] = {}
        for s, t in slots.items():
            if s == "step":
                if t.shape != (1,):
                    raise ValueError("optimiser step counter must be one number")
                state[s] = t.reshape(()).clone()  # AdamW keeps its step as a CPU scalar tensor
            else:
                if t.shape != p.shape:
                    raise ValueError(f"optimiser slot {s} of {n} has the wrong shape")
                state[s] = t.to(p.device).clone()
        opt.state[p] = state


def params_of(tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Just the parameters of a checkpoint tensor set."""
    return {k: v for k, v in tensors.items() if k.startswith(PARAM)}
