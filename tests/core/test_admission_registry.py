"""The chain's torch-free task admission (app.core.admission) agrees with the torch registry it mirrors.

Same models, same hyper-parameter schemas, same optimiser schemas, forward FLOPs equal to torch's
own FLOP counter on the built model, and the training bounds are real: at a bound's ceiling the
registry's model learns, far beyond it the same training diverges.
"""

from __future__ import annotations

import json
import random
from decimal import Decimal

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from app.core import admission
from app.miner import demo
from app.pot import optim, proof, registry
from app.pot.hparams import InvalidTaskSpec, format_params


def _counted_forward_flops(model: str, hp: dict[str, int]) -> int:
    """torch's count of one sample's forward FLOPs (the math attention kernel, so attention is counted)."""
    net = registry.build_model(model, 1, format_params(hp))
    width = {"tiny-lm": "context", "cnn": "side", "mlp": "inputs"}[model]
    n = hp[width] ** 2 if model == "cnn" else hp[width]
    x = torch.zeros(2, n, dtype=torch.uint8)
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        net(x)
    return counter.get_total_flops() // 2


def _random_hp(model: str, rng: random.Random) -> dict[str, int]:
    if model == "mlp":
        return {
            "classes": rng.randint(2, 20),
            "hidden": rng.randint(1, 48),
            "input_max": 16,
            "inputs": rng.randint(1, 80),
            "layers": rng.randint(1, 4),
        }
    if model == "cnn":
        return {
            "channels": rng.randint(1, 6),
            "classes": rng.randint(2, 12),
            "input_max": 255,
            "side": rng.randint(2, 12),
        }
    heads = rng.randint(1, 4)
    return {
        "context": rng.randint(2, 40),
        "heads": heads,
        "layers": rng.randint(1, 2),
        "vocab": rng.randint(2, 300),
        "width": heads * rng.randint(8, 12),
    }


def test_the_chain_knows_exactly_the_registry_models_with_the_same_schemas() -> None:
    assert set(admission.MODELS) == set(registry.models())
    for (name, version), rule in admission.MODELS.items():
        schema = registry.entry(name, version).schema
        assert set(rule.schema) == set(schema)
        for param, num in schema.items():
            bound = rule.schema[param]
            assert (bound.lo, bound.hi, bound.integer) == (Decimal(str(num.lo)), Decimal(str(num.hi)), num.kind is int)


def test_the_chain_knows_exactly_the_registry_optimisers_and_training_bounds_lie_inside_them() -> None:
    assert sorted(admission.OPTIMIZERS) == optim.optimizers()
    for name, schema in optim._SCHEMAS.items():
        mirror = admission.OPTIMIZERS[name]
        assert {k: (Decimal(str(n.lo)), Decimal(str(n.hi))) for k, n in schema.items()} == {
            k: (b.lo, b.hi) for k, b in mirror.items()
        }
        for model, _ in registry.models():
            for param, bound in admission.training_bounds(model, name).items():
                assert mirror[param].lo <= bound.lo <= bound.hi <= mirror[param].hi, (model, name, param)
    assert admission.MAX_CHECKPOINTS == proof.MAX_CHECKPOINTS


def test_forward_flops_equal_torch_flop_counter_for_every_model() -> None:
    pins = json.loads(registry.PINS_PATH.read_text())["models"]
    rng = random.Random(12)
    cases = [(p["name"], {k: int(v) for k, v in p["reference_hyperparams"].items()}) for p in pins]
    cases += [(name, _random_hp(name, rng)) for name, _ in registry.models() for _ in range(3)]
    for name, hp in cases:
        spec = demo.task_spec("fables" if name == "tiny-lm" else "digits", name, hp)
        assert admission.forward_flops(spec) == _counted_forward_flops(name, hp), (name, hp)
        assert admission.compute_per_step(spec) == 3 * admission.forward_flops(spec) * spec.batch_size


@pytest.mark.parametrize("dataset,model", [("digits", "mlp"), ("digits", "cnn"), ("fables", "tiny-lm")])
def test_specs_the_chain_admits_the_registry_can_train_and_the_registry_refusals_are_refused(
    dataset: str, model: str
) -> None:
    spec = demo.task_spec(dataset, model)
    admission.check_spec(spec)
    registry.check_task_spec(spec)
    refused = [
        spec.replace(model="resnet"),
        spec.replace(hyperparams=spec.hyperparams[1:]),
        spec.replace(optimizer="lion"),
        spec.replace(local_steps=spec.checkpoint_interval * 3 + 1),
        spec.replace(checkpoint_interval=1, local_steps=admission.MAX_CHECKPOINTS + 1),
    ]
    if model == "tiny-lm":
        refused.append(spec.replace(hyperparams=format_params({**demo.FABLES_LM, "heads": 3})))
    for bad in refused:
        with pytest.raises(InvalidTaskSpec):
            registry.check_task_spec(bad)
        with pytest.raises(admission.InadmissibleTask):
            admission.check_spec(bad)


def _digits_batch() -> tuple[torch.Tensor, torch.Tensor]:
    from app.pot.blobs import MemoryBlobStore
    from app.pot.datasets import load_dataset

    spec = demo.task_spec()
    store = MemoryBlobStore()
    demo.seed_blobs(store, spec)
    data = load_dataset(store, demo.manifest_for_root(spec.dataset_root), spec.dataset_root)
    return data.inputs[:256], data.targets[:256].long()


def _loss_after(
    batch: tuple[torch.Tensor, torch.Tensor], optimizer: str, settings: dict[str, object]
) -> tuple[float, float]:
    """Full-batch training of the digits MLP on a real batch for 30 steps: (first loss, last loss)."""
    x, y = batch
    torch.manual_seed(0)
    net = registry.build_model("mlp", 1, format_params(demo.DIGITS_MLP))
    opt = optim.build_optimizer(optimizer, format_params(settings), net)
    losses = []
    for _ in range(30):
        loss = torch.nn.functional.cross_entropy(net(x), y)
        losses.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    return losses[0], losses[-1]


def test_at_the_learning_rate_ceiling_the_model_learns_and_far_beyond_it_diverges() -> None:
    batch = _digits_batch()
    sgd = {"momentum": "0.9", "weight_decay": "0"}
    adamw = {**demo.ADAMW}
    for name, settings in (("sgd", sgd), ("adamw", adamw)):
        ceiling = admission.training_bounds("mlp", name)["lr"].hi
        first, last = _loss_after(batch, name, {**settings, "lr": str(ceiling)})
        assert last < 0.5 * first, (name, first, last)
        first, last = _loss_after(batch, name, {**settings, "lr": "10"})
        assert not last < first, (name, first, last)  # NaN or higher: diverged
