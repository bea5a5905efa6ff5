"""The demo datasets that ship with the project, and the devnet's default task.

The shards live in resources/demo/ (built by resources/demo/make_demo.py) and are listed with their
hashes and Merkle roots in resources/registry/datasets.json; loading re-hashes every file, so a
corrupted checkout fails loudly instead of training on other data. `seed_blobs` puts a task's shards
and its initial checkpoint into a blob store, which is what a devnet's genesis node needs.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import torch

from app.core.hashing import blob_hash
from app.core.types import TaskSpec
from app.pot import registry
from app.pot.blobs import BlobStore
from app.pot.datasets import DatasetManifest
from app.pot.hparams import InvalidTaskSpec, format_params
from app.pot.optim import PARAM
from app.pot.tensors import encode_tensors

RESOURCES = Path(__file__).resolve().parents[2] / "resources"
DATASETS_JSON = RESOURCES / "registry" / "datasets.json"
DEFAULT_INIT_SEED = 20240601


@dataclass(frozen=True)
class DemoDataset:
    """A shipped dataset: its manifest (shard hashes), validation shard and the files on disk."""

    name: str
    manifest: DatasetManifest
    validation: bytes
    files: dict[bytes, Path]

    @property
    def root(self) -> bytes:
        return self.manifest.root


def demo_datasets() -> dict[str, DemoDataset]:
    """Every shipped dataset by name, as listed in resources/registry/datasets.json."""
    listing = json.loads(DATASETS_JSON.read_text())
    out: dict[str, DemoDataset] = {}
    for d in listing["datasets"]:
        folder = RESOURCES / "demo" / d["folder"]
        shards = tuple(bytes.fromhex(h) for h in d["shards"])
        files = {h: folder / f"train-{i}.safetensors" for i, h in enumerate(shards)}
        files[bytes.fromhex(d["validation"])] = folder / "validation.safetensors"
        manifest = DatasetManifest(name=d["name"], shards=shards)
        if manifest.root.hex() != d["root"]:
            raise ValueError(f"datasets.json: the root of {d['name']} does not match its shards")
        out[d["name"]] = DemoDataset(d["name"], manifest, bytes.fromhex(d["validation"]), files)
    return out


def manifest_for_root(root: bytes) -> DatasetManifest:
    """The shipped manifest whose Merkle root is `root`; `InvalidTaskSpec("unknown-dataset")` if none."""
    for d in demo_datasets().values():
        if d.root == root:
            return d.manifest
    raise InvalidTaskSpec("unknown-dataset", f"no known dataset has root {root.hex()[:16]}")


def initial_checkpoint(
    model: str, version: int, hyperparams: tuple[tuple[str, str], ...], seed: int = DEFAULT_INIT_SEED
) -> bytes:
    """The canonical blob of a freshly initialised model (parameters only), from a fixed torch seed."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = registry.build_model(model, version, hyperparams)
    return encode_tensors({PARAM + n: p.detach().float() for n, p in net.named_parameters()})


DIGITS_MLP = {"classes": 10, "hidden": 64, "input_max": 16, "inputs": 64, "layers": 2}
DIGITS_CNN = {"channels": 8, "classes": 10, "input_max": 16, "side": 8}
FABLES_LM = {"context": 64, "heads": 2, "layers": 1, "vocab": 256, "width": 32}
ADAMW = {"beta1": "0.9", "beta2": "0.999", "eps": "0.00000001", "lr": "0.003", "weight_decay": "0"}
# The devnet task runs many 1200-step rounds over 1,500 samples: a small rate and decoupled weight
# decay keep its validation loss falling round after round instead of overfitting after the first.
DEVNET_ADAMW = {**ADAMW, "lr": "0.0001", "weight_decay": "0.1"}


def task_spec(
    dataset: str = "digits",
    model: str = "mlp",
    hyperparams: dict[str, object] | None = None,
    *,
    local_steps: int = 1200,
    checkpoint_interval: int = 20,
    batch_size: int = 64,
    rounds: int = 50,
    optimizer_params: dict[str, object] | None = None,
    patience_rounds: int = 0,
    min_improvement_micro: int = 0,
) -> TaskSpec:
    """A task over a shipped dataset (defaults: the devnet's digits MLP task)."""
    d = demo_datasets()[dataset]
    hp = format_params(
        hyperparams if hyperparams is not None else {"mlp": DIGITS_MLP, "cnn": DIGITS_CNN, "tiny-lm": FABLES_LM}[model]
    )
    init = initial_checkpoint(model, 1, hp)
    return TaskSpec(
        model=model,
        model_version=1,
        hyperparams=hp,
        dataset_root=d.root,
        validation_shard=d.validation,
        initial_checkpoint=blob_hash(init),
        optimizer="adamw",
        optimizer_params=format_params(optimizer_params or ADAMW),
        batch_size=batch_size,
        local_steps=local_steps,
        checkpoint_interval=checkpoint_interval,
        rounds=rounds,
        patience_rounds=patience_rounds,
        min_improvement_micro=min_improvement_micro,
    )


def default_task_spec() -> TaskSpec:
    """The reference digits MLP task of benches and tests (H = 1200, 1,500 samples); the practice
    network (`make run`, `potminer devnet`) runs `practice_task_spec` instead."""
    return task_spec(optimizer_params=DEVNET_ADAMW)


# The practice network's task (`make run`, `potminer devnet`): the digits MLP on digits-plus (30,000
# augmented images of the 1,500 training digits, resources/demo/README.md), whose held-out loss keeps
# improving for hundreds of rounds where digits alone overfits after two; with a patience rule, so the
# chain finishes it (and refunds the rest) once it stops improving. bench/bench_default_task.py
# measures its curve.
PRACTICE_DATASET = "digits-plus"
PRACTICE_ADAMW = {**ADAMW, "lr": "0.001", "weight_decay": "0.1"}
PRACTICE_PATIENCE_ROUNDS = 20
PRACTICE_MIN_IMPROVEMENT_MICRO = 4_000
PRACTICE_TITLE = "Read handwritten digits (practice)"
PRACTICE_DESCRIPTION = (
    "A small network learns to read 8x8 handwritten digits from 30,000 images (digits-plus). "
    "This runs on the practice network on this computer: its coins are for learning how mining works."
)


def practice_task_spec(*, local_steps: int, checkpoint_interval: int, batch_size: int, rounds: int) -> TaskSpec:
    """The practice network's task with the devnet's schedule (see PRACTICE_DATASET), titled for the window."""
    spec = task_spec(
        PRACTICE_DATASET,
        local_steps=local_steps,
        checkpoint_interval=checkpoint_interval,
        batch_size=batch_size,
        rounds=rounds,
        optimizer_params=PRACTICE_ADAMW,
        patience_rounds=PRACTICE_PATIENCE_ROUNDS,
        min_improvement_micro=PRACTICE_MIN_IMPROVEMENT_MICRO,
    )
    return dataclasses.replace(spec, title=PRACTICE_TITLE, description=PRACTICE_DESCRIPTION)


def seed_blobs(store: BlobStore, spec: TaskSpec) -> None:
    """Put the task's shards, validation shard and initial checkpoint into `store`, checking hashes."""
    for d in demo_datasets().values():
        if d.root != spec.dataset_root:
            continue
        for digest, path in d.files.items():
            data = path.read_bytes()
            if blob_hash(data) != digest:
                raise ValueError(f"{path} does not match its registered hash")
            store.put(data)
        break
    else:
        raise InvalidTaskSpec("unknown-dataset", "the task's dataset is not a shipped demo dataset")
    init = initial_checkpoint(spec.model, spec.model_version, spec.hyperparams)
    if blob_hash(init) != spec.initial_checkpoint:
        raise InvalidTaskSpec("bad-initial-checkpoint", "the initial checkpoint cannot be rebuilt here")
    store.put(init)
