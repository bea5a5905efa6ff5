"""Which tasks the chain admits, and what one training step of a task costs (torch-free).

The registry (`app.pot.registry`) builds models with torch; the state machine must not import it,
yet it must refuse a task whose training is degenerate (a learning rate of 0 that trains nothing, a
diverging one, batch 1, a million steps per round) and price a task by its compute. This module
mirrors what the chain needs of the registry: each model's hyper-parameter schema, its forward FLOPs
per sample from those hyper-parameters, the optimisers' settings, and per (model, optimiser) bounds on
the training settings. `tests/core/test_admission_registry.py` pins the mirror to the registry: same
models, same schemas, same FLOPs as torch's own counter, same accept/reject on the same specs.

Compute is counted in FLOPs of one optimiser step on one miner: `3 x forward FLOPs x batch` (the
backward pass costs about twice the forward), the forward FLOPs of a language model counted at its
full context (an upper bound: the model refuses longer inputs).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from app.core.errors import InvalidTransaction
from app.core.types import TaskSpec

FLOPS_PER_GFLOP = 10**9
BACKWARD_FACTOR = 3  # forward + backward ~ 3 forward passes
MIN_BATCH = 8  # below this one step's gradient is mostly noise: batch 1 is a per-sample lottery, not training
MAX_BATCH = 4096
MAX_LOCAL_STEPS = 100_000  # per round: a round must end in hours on a volunteer's machine, not weeks
MAX_ROUNDS = 100_000
MAX_CHECKPOINTS = 4096  # per round (app.pot.proof.MAX_CHECKPOINTS; pinned by the registry test)
MAX_FLOPS_PER_STEP = 2 * 10**12  # ~1 s of a consumer GPU per step: more is not volunteer work
MAX_FLOPS_PER_ROUND = 10**16  # ~ a few hours of a consumer GPU per miner per round

_DECIMAL = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]*[1-9])?")


class InadmissibleTask(InvalidTransaction):
    """A task post the chain refuses; `reason` names the rule (one per kind of degenerate task)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"task refused ({reason}): {detail}" if detail else f"task refused ({reason})")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Bound:
    """Inclusive bounds of one numeric setting; `integer` for counts (widths, layers...)."""

    lo: Decimal
    hi: Decimal
    integer: bool = False


def _int(lo: int, hi: int) -> Bound:
    return Bound(Decimal(lo), Decimal(hi), True)


def _real(lo: str, hi: str) -> Bound:
    return Bound(Decimal(lo), Decimal(hi))


# --------------------------------------------------------------------------- models: schema and FLOPs


def _mlp_flops(h: Mapping[str, int]) -> int:
    dims = [h["inputs"]] + [h["hidden"]] * h["layers"] + [h["classes"]]
    return sum(2 * a * b for a, b in zip(dims, dims[1:]))


def _cnn_flops(h: Mapping[str, int]) -> int:
    side, ch = h["side"], h["channels"]
    conv1 = 2 * side * side * ch * 9
    conv2 = 2 * side * side * ch * ch * 9
    return conv1 + conv2 + 2 * ch * (side // 2) ** 2 * h["classes"]


def _lm_flops(h: Mapping[str, int]) -> int:
    t, w = h["context"], h["width"]
    per_block = 24 * t * w * w + 4 * t * t * w  # qkv, proj, 4x MLP; attention scores and mixing
    return h["layers"] * per_block + 2 * t * w * h["vocab"]  # + the tied output layer


def _lm_check(h: Mapping[str, int]) -> None:
    if h["width"] % h["heads"]:
        raise InadmissibleTask("bad-hyperparams", "width must be a multiple of heads")


@dataclass(frozen=True)
class ModelRule:
    """A registry model as the chain sees it: schema, forward FLOPs per sample, extra checks."""

    schema: Mapping[str, Bound]
    forward_flops: Callable[[Mapping[str, int]], int]
    check: Callable[[Mapping[str, int]], None] = lambda h: None


MODELS: dict[tuple[str, int], ModelRule] = {
    ("mlp", 1): ModelRule(
        {
            "classes": _int(2, 1000),
            "hidden": _int(1, 4096),
            "input_max": _int(1, 65535),
            "inputs": _int(1, 65536),
            "layers": _int(1, 8),
        },
        _mlp_flops,
    ),
    ("cnn", 1): ModelRule(
        {"channels": _int(1, 256), "classes": _int(2, 1000), "input_max": _int(1, 65535), "side": _int(2, 256)},
        _cnn_flops,
    ),
    ("tiny-lm", 1): ModelRule(
        {
            "context": _int(2, 1024),
            "heads": _int(1, 16),
            "layers": _int(1, 12),
            "vocab": _int(2, 65536),
            "width": _int(8, 1024),
        },
        _lm_flops,
        _lm_check,
    ),
}

# --------------------------------------------------------------------------- optimisers and training bounds

# The registry's schemas (app.pot.optim): what a setting can be at all.
OPTIMIZERS: dict[str, dict[str, Bound]] = {
    "sgd": {"lr": _real("0", "10"), "momentum": _real("0", "0.999"), "weight_decay": _real("0", "1")},
    "adamw": {
        "beta1": _real("0", "0.9999"),
        "beta2": _real("0", "0.99999"),
        "eps": _real("0.000000000001", "1"),
        "lr": _real("0", "10"),
        "weight_decay": _real("0", "1"),
    },
}

# What a setting may be for the chain to pay for it: training that learns and does not diverge. A
# learning rate under the floor moves the weights by less than float noise per round (work that
# trains nothing); one over the ceiling diverges on the registry's models.
TRAINING: dict[str, dict[str, Bound]] = {
    "sgd": {"lr": _real("0.00001", "0.5"), "momentum": _real("0", "0.99"), "weight_decay": _real("0", "0.1")},
    "adamw": {
        "beta1": _real("0.5", "0.99"),
        "beta2": _real("0.9", "0.9999"),
        "eps": _real("0.0000000001", "0.0001"),
        "lr": _real("0.000001", "0.01"),
        "weight_decay": _real("0", "0.2"),
    },
}

# Per (model, optimiser) tightening of TRAINING: a transformer diverges at learning rates a small MLP takes.
MODEL_TRAINING: dict[tuple[str, str], dict[str, Bound]] = {
    ("tiny-lm", "adamw"): {"lr": _real("0.000001", "0.003")},
    ("tiny-lm", "sgd"): {"lr": _real("0.00001", "0.1")},
}


def training_bounds(model: str, optimizer: str) -> dict[str, Bound]:
    """The bounds a task's optimiser settings must lie in, for this model."""
    return {**TRAINING[optimizer], **MODEL_TRAINING.get((model, optimizer), {})}


# --------------------------------------------------------------------------- parsing


def _parse(pairs: tuple[tuple[str, str], ...], schema: Mapping[str, Bound], what: str) -> dict[str, Decimal]:
    """Parse canonical decimal pairs against `schema` (same rules as app.pot.hparams.parse_params)."""
    names = [n for n, _ in pairs]
    if names != sorted(set(names)):
        raise InadmissibleTask("bad-hyperparams", f"{what} names must be sorted and unique")
    if set(names) != set(schema):
        missing = sorted(set(schema) - set(names))
        unknown = sorted(set(names) - set(schema))
        raise InadmissibleTask("bad-hyperparams", f"{what}: missing {missing}, unknown {unknown}")
    out: dict[str, Decimal] = {}
    for name, text in pairs:
        bound = schema[name]
        if not _DECIMAL.fullmatch(text) or text == "-0":
            raise InadmissibleTask("bad-hyperparams", f"{what} {name}={text!r} is not a canonical decimal")
        value = Decimal(text)
        if bound.integer and value != value.to_integral_value():
            raise InadmissibleTask("bad-hyperparams", f"{what} {name}={text!r} must be an integer")
        if not bound.lo <= value <= bound.hi:
            raise InadmissibleTask("bad-hyperparams", f"{what} {name}={text} outside [{bound.lo}, {bound.hi}]")
        out[name] = value
    return out


def _model(spec: TaskSpec) -> tuple[ModelRule, dict[str, int]]:
    rule = MODELS.get((spec.model, spec.model_version))
    if rule is None:
        raise InadmissibleTask("unknown-model", f"{spec.model!r} version {spec.model_version} is not in the registry")
    hp = {
        k: int(v)
        for k, v in _parse(spec.hyperparams, rule.schema, f"{spec.model} v{spec.model_version} hyperparams").items()
    }
    rule.check(hp)
    return rule, hp


# --------------------------------------------------------------------------- the decisions


def forward_flops(spec: TaskSpec) -> int:
    """FLOPs of one forward pass of one sample of the task's model (raises `InadmissibleTask`)."""
    rule, hp = _model(spec)
    return rule.forward_flops(hp)


def compute_per_step(spec: TaskSpec) -> int:
    """FLOPs of one optimiser step of one miner: 3 x forward FLOPs x batch (raises `InadmissibleTask`)."""
    return BACKWARD_FACTOR * forward_flops(spec) * spec.batch_size


def compute_per_round(spec: TaskSpec) -> int:
    """FLOPs of one miner's round (`local_steps` steps): what one receipt is paid for."""
    return compute_per_step(spec) * spec.local_steps


def min_fee_per_round(spec: TaskSpec, min_fee_per_gflop: int) -> int:
    """The least `fee_per_round` the chain takes for `spec`: the fee floor times one miner's round of compute."""
    return -(-compute_per_round(spec) * min_fee_per_gflop // FLOPS_PER_GFLOP)


def check_spec(spec: TaskSpec) -> None:
    """Raise `InadmissibleTask` (its own reason per rule) unless `spec` is trainable and not degenerate."""
    _model(spec)
    if spec.optimizer not in OPTIMIZERS:
        raise InadmissibleTask("unknown-optimizer", f"{spec.optimizer!r} is not a registry optimiser")
    settings = _parse(spec.optimizer_params, OPTIMIZERS[spec.optimizer], f"{spec.optimizer} settings")
    for name, bound in sorted(training_bounds(spec.model, spec.optimizer).items()):
        value = settings[name]
        if value < bound.lo:
            raise InadmissibleTask(
                f"{name}-too-low",
                f"{spec.optimizer} {name}={value} is under {bound.lo} for "
                f"{spec.model}: training would not move the model",
            )
        if value > bound.hi:
            raise InadmissibleTask(
                f"{name}-too-high",
                f"{spec.optimizer} {name}={value} is over {bound.hi} for {spec.model}: training would diverge",
            )
    if spec.batch_size < MIN_BATCH:
        raise InadmissibleTask("batch-too-small", f"batch size {spec.batch_size} is under {MIN_BATCH}")
    if spec.batch_size > MAX_BATCH:
        raise InadmissibleTask("batch-too-large", f"batch size {spec.batch_size} is over {MAX_BATCH}")
    if spec.local_steps > MAX_LOCAL_STEPS:
        raise InadmissibleTask(
            "too-many-steps", f"{spec.local_steps} local steps per round, the cap is {MAX_LOCAL_STEPS}"
        )
    if spec.rounds > MAX_ROUNDS:
        raise InadmissibleTask("too-many-rounds", f"{spec.rounds} rounds, the cap is {MAX_ROUNDS}")
    if spec.local_steps % spec.checkpoint_interval:
        raise InadmissibleTask("bad-schedule", "local_steps must be a multiple of checkpoint_interval")
    if spec.local_steps // spec.checkpoint_interval > MAX_CHECKPOINTS:
        raise InadmissibleTask("bad-schedule", f"more than {MAX_CHECKPOINTS} checkpoints per round")
    step = compute_per_step(spec)
    if step > MAX_FLOPS_PER_STEP:
        raise InadmissibleTask("too-much-compute", f"{step:.3g} FLOPs per step, the cap is {MAX_FLOPS_PER_STEP:.3g}")
    if step * spec.local_steps > MAX_FLOPS_PER_ROUND:
        raise InadmissibleTask(
            "too-much-compute", f"{step * spec.local_steps:.3g} FLOPs per round, the cap is {MAX_FLOPS_PER_ROUND:.3g}"
        )


def check_task_post(spec: TaskSpec, fee_per_round: int, min_fee_per_gflop: int) -> None:
    """Raise `InadmissibleTask` unless the chain takes a task `spec` paying `fee_per_round` (pure, cheap)."""
    check_spec(spec)
    floor = min_fee_per_round(spec, min_fee_per_gflop)
    if fee_per_round < floor or fee_per_round == 0:
        raise InadmissibleTask(
            "fee-too-low",
            f"fee per round {fee_per_round} grains is under the minimum "
            f"{max(floor, 1)} grains for {compute_per_round(spec):.3g} FLOPs per round "
            f"({min_fee_per_gflop} grains per GFLOP)",
        )
