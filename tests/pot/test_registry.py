"""The registry: pinned architectures, unknown models refused, and each model really learns."""

from __future__ import annotations

import json

import pytest
import torch

from app.miner import demo
from app.pot import registry
from app.pot.blobs import MemoryBlobStore
from app.pot.datasets import load_dataset
from app.pot.engine import Session, run_steps
from app.pot.hparams import InvalidTaskSpec, format_params
from app.pot.optim import build_optimizer, export_state, import_state


def test_registry_has_an_mlp_a_cnn_and_a_language_model_and_their_pins_hold() -> None:
    assert {"mlp", "cnn", "tiny-lm"} <= {name for name, _ in registry.models()}
    registry.verify_pins()


def test_a_changed_architecture_breaks_its_pin(tmp_path) -> None:  # type: ignore[no-untyped-def]
    pins = json.loads(registry.PINS_PATH.read_text())
    pins["models"][0]["reference_hyperparams"]["hidden"] = "65"
    path = tmp_path / "models.json"
    path.write_text(json.dumps(pins))
    with pytest.raises(InvalidTaskSpec) as exc:
        registry.verify_pins(path)
    assert exc.value.reason == "architecture-changed"


def test_unknown_model_and_version_are_refused() -> None:
    for name, version in (("resnet", 1), ("mlp", 2)):
        with pytest.raises(InvalidTaskSpec) as exc:
            registry.build_model(name, version, ())
        assert exc.value.reason == "unknown-model"


def test_lm_width_must_divide_by_heads() -> None:
    hp = format_params({**demo.FABLES_LM, "heads": 3})
    with pytest.raises(InvalidTaskSpec):
        registry.build_model("tiny-lm", 1, hp)


@pytest.mark.parametrize("dataset,model", [("digits", "mlp"), ("digits", "cnn"), ("fables", "tiny-lm")])
def test_each_model_lowers_its_training_loss(dataset: str, model: str) -> None:
    spec = demo.task_spec(dataset, model, local_steps=30, checkpoint_interval=30, batch_size=16)
    store = MemoryBlobStore()
    demo.seed_blobs(store, spec)
    data = load_dataset(store, demo.manifest_for_root(spec.dataset_root), spec.dataset_root)
    session = Session(spec, torch.device("cpu"))
    from app.pot.tensors import decode_tensors

    session.load(decode_tensors(store.get(spec.initial_checkpoint)))
    seed = bytes(32)
    first, middle, last = torch.zeros(()), torch.zeros(()), torch.zeros(())
    run_steps(session, data, seed, 0, 5, first)
    run_steps(session, data, seed, 5, 25, middle)
    run_steps(session, data, seed, 25, 30, last)
    assert float(last) < float(first) * 0.9, (float(first), float(last))


def test_a_session_is_built_without_initialising_and_trains_only_after_a_load() -> None:
    """Sessions skip the random initialisation (every use loads a checkpoint), so a step before `load`
    must fail loudly rather than train on uninitialised memory; the global RNG is left untouched."""
    spec = demo.task_spec("fables", "tiny-lm", local_steps=4, checkpoint_interval=4, batch_size=2)
    store = MemoryBlobStore()
    demo.seed_blobs(store, spec)
    data = load_dataset(store, demo.manifest_for_root(spec.dataset_root), spec.dataset_root)
    rng = torch.get_rng_state()
    session = Session(spec, torch.device("cpu"))
    assert torch.equal(torch.get_rng_state(), rng)
    assert all(p.device.type == "cpu" for p in session.model.parameters())
    with pytest.raises(RuntimeError, match="load"):
        run_steps(session, data, bytes(32), 0, 1, torch.zeros(()))
    from app.pot.tensors import decode_tensors

    init = decode_tensors(store.get(spec.initial_checkpoint))
    session.load(init)
    assert all(torch.equal(init["param." + n], p) for n, p in session.model.named_parameters())
    run_steps(session, data, bytes(32), 0, 1, torch.zeros(()))


def test_optimiser_state_round_trips_through_tensors() -> None:
    for name, params in (("adamw", demo.ADAMW), ("sgd", {"lr": "0.1", "momentum": "0.9", "weight_decay": "0"})):
        net = torch.nn.Linear(3, 2)
        opt = build_optimizer(name, format_params(params), net)
        net(torch.ones(4, 3)).sum().backward()
        opt.step()
        state = export_state(net, opt, name)
        other = torch.nn.Linear(3, 2)
        other_opt = build_optimizer(name, format_params(params), other)
        import_state(state, other, other_opt, name)
        assert all(torch.equal(state[k], v) for k, v in export_state(other, other_opt, name).items())
        with pytest.raises(ValueError):
            import_state({**state, "param.extra": torch.zeros(1)}, other, other_opt, name)


def test_unknown_optimiser_is_refused() -> None:
    with pytest.raises(InvalidTaskSpec) as exc:
        build_optimizer("lion", (), torch.nn.Linear(1, 1))
    assert exc.value.reason == "unknown-optimizer"


def test_check_task_spec_accepts_the_demo_tasks_and_names_each_fault() -> None:
    from app.pot.registry import check_task_spec

    for dataset, model in (("digits", "mlp"), ("digits", "cnn"), ("fables", "tiny-lm")):
        check_task_spec(demo.task_spec(dataset, model))
    spec = demo.default_task_spec()
    huge = spec.replace(
        model="tiny-lm",
        hyperparams=format_params({"context": 1024, "heads": 16, "layers": 12, "vocab": 65536, "width": 1024}),
    )
    check_task_spec(huge)  # built on the meta device: nothing allocated
    cases = {
        "unknown-model": spec.replace(model="gpt-9"),
        "bad-hyperparams": spec.replace(hyperparams=(("hidden", "64"),)),
        "unknown-optimizer": spec.replace(optimizer="lion"),
        "bad-schedule": spec.replace(local_steps=1201),
    }
    for reason, bad in cases.items():
        with pytest.raises(InvalidTaskSpec) as exc:
            check_task_spec(bad)
        assert exc.value.reason == reason
