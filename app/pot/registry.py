"""The project's model registry: architectures addressed by (name, version), never code from a peer.

Each entry pins an architecture: the builder below for that (name, version) never changes, and the
digest of its parameter names and shapes for reference hyper-parameters is recorded in
`resources/registry/models.json` (checked by `verify_pins`). A new architecture is a new version.
Every model takes a batch of uint8 inputs and returns logits whose last dimension is the class count,
so one cross-entropy loss serves classifiers and the language model alike.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from app.core import encoding
from app.core.hashing import tagged_hash
from app.core.types import TaskSpec
from app.pot.hparams import InvalidTaskSpec, Num, parse_params

Device = torch.device | str | None
META = torch.device("meta")

PINS_PATH = Path(__file__).resolve().parents[2] / "resources" / "registry" / "models.json"
DOMAIN_ARCH = b"architecture"  # local to the registry: hashes a model's parameter layout


class MLP(nn.Module):
    """Flattened input scaled to [0, 1], `layers` hidden ReLU layers of `hidden` units."""

    def __init__(
        self, inputs: int, hidden: int, layers: int, classes: int, input_max: int, device: Device = None
    ) -> None:
        super().__init__()
        dims = [inputs] + [hidden] * layers
        self.hidden = nn.ModuleList(nn.Linear(a, b, device=device) for a, b in zip(dims, dims[1:]))
        self.out = nn.Linear(dims[-1], classes, device=device)
        self.scale = 1.0 / input_max

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.flatten(1).float() * self.scale
        for layer in self.hidden:
            h = F.relu(layer(h))
        logits: torch.Tensor = self.out(h)
        return logits


class CNN(nn.Module):
    """Two 3x3 convolutions (same padding), 2x2 max-pool, a linear classifier; square 1-channel input."""

    def __init__(self, side: int, channels: int, classes: int, input_max: int, device: Device = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, channels, 3, padding=1, device=device)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, device=device)
        self.out = nn.Linear(channels * (side // 2) ** 2, classes, device=device)
        self.side = side
        self.scale = 1.0 / input_max

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.float().reshape(-1, 1, self.side, self.side) * self.scale
        h = F.relu(self.conv1(h))
        h = F.max_pool2d(F.relu(self.conv2(h)), 2)
        logits: torch.Tensor = self.out(h.flatten(1))
        return logits


class Block(nn.Module):
    """Pre-norm transformer block: causal self-attention and a 4x GELU MLP, no dropout (determinism)."""

    def __init__(self, width: int, heads: int, device: Device = None) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(width, device=device)
        self.qkv = nn.Linear(width, 3 * width, device=device)
        self.proj = nn.Linear(width, width, device=device)
        self.norm2 = nn.LayerNorm(width, device=device)
        self.fc1 = nn.Linear(width, 4 * width, device=device)
        self.fc2 = nn.Linear(4 * width, width, device=device)
        self.heads = heads

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(self.norm1(x)).split(c, dim=2)
        q, k, v = (z.reshape(b, t, self.heads, c // self.heads).transpose(1, 2) for z in (q, k, v))
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(a.transpose(1, 2).reshape(b, t, c))
        mlp: torch.Tensor = self.fc2(F.gelu(self.fc1(self.norm2(x))))
        return x + mlp


class TinyLM(nn.Module):
    """Byte-level causal transformer language model with learned positions and a tied output layer."""

    def __init__(self, vocab: int, context: int, width: int, layers: int, heads: int, device: Device = None) -> None:
        super().__init__()
        if width % heads:
            raise InvalidTaskSpec("bad-hyperparams", "width must be a multiple of heads")
        self.embed = nn.Embedding(vocab, width, device=device)
        self.pos = nn.Parameter(torch.zeros(context, width, device=device))
        self.blocks = nn.ModuleList(Block(width, heads, device) for _ in range(layers))
        self.norm = nn.LayerNorm(width, device=device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = x.shape[1]
        if t > self.pos.shape[0]:
            raise ValueError(f"sequence of {t} exceeds the context of {self.pos.shape[0]}")
        h = self.embed(x.long()) + self.pos[:t]
        for block in self.blocks:
            h = block(h)
        normed: torch.Tensor = self.norm(h)
        return normed @ self.embed.weight.T


@dataclass(frozen=True)
class ModelEntry:
    """A registry entry: hyper-parameter schema and the builder pinned to (name, version)."""

    name: str
    version: int
    schema: Mapping[str, Num]
    build: Callable[..., nn.Module]
    description: str


_ENTRIES: dict[tuple[str, int], ModelEntry] = {
    ("mlp", 1): ModelEntry(
        "mlp",
        1,
        {
            "classes": Num(int, 2, 1000),
            "hidden": Num(int, 1, 4096),
            "input_max": Num(int, 1, 65535),
            "inputs": Num(int, 1, 65536),
            "layers": Num(int, 1, 8),
        },
        MLP,
        "multilayer perceptron classifier",
    ),
    ("cnn", 1): ModelEntry(
        "cnn",
        1,
        {
            "channels": Num(int, 1, 256),
            "classes": Num(int, 2, 1000),
            "input_max": Num(int, 1, 65535),
            "side": Num(int, 2, 256),
        },
        CNN,
        "small convolutional classifier for square single-channel images",
    ),
    ("tiny-lm", 1): ModelEntry(
        "tiny-lm",
        1,
        {
            "context": Num(int, 2, 1024),
            "heads": Num(int, 1, 16),
            "layers": Num(int, 1, 12),
            "vocab": Num(int, 2, 65536),
            "width": Num(int, 8, 1024),
        },
        TinyLM,
        "byte-level causal transformer language model",
    ),
}


# The size ladder: `tiny-lm` hyper-parameters from thousands of parameters to one that fills a GPU's
# share of a volunteer's card (25.4M parameters, a 305 MB checkpoint with its AdamW state). Byte-level
# (vocab 256) with a 64-byte context, so every rung trains on the same shipped text and stays under the
# chain's per-step compute cap at the default batch; bench/bench_size_ladder.py measures the proof's
# costs along it.
SIZE_LADDER: dict[str, dict[str, int]] = {
    "xs": {"context": 64, "heads": 2, "layers": 1, "vocab": 256, "width": 32},
    "s": {"context": 64, "heads": 4, "layers": 2, "vocab": 256, "width": 128},
    "m": {"context": 64, "heads": 4, "layers": 4, "vocab": 256, "width": 256},
    "l": {"context": 64, "heads": 6, "layers": 6, "vocab": 256, "width": 384},
    "xl": {"context": 64, "heads": 8, "layers": 8, "vocab": 256, "width": 512},
}


def parameter_count(name: str, version: int, hyperparams: tuple[tuple[str, str], ...]) -> int:
    """Number of trainable scalars, counted on the meta device (allocates nothing, even at 25M)."""
    model = build_model(name, version, hyperparams, device=META)
    return sum(p.numel() for p in model.parameters())


def entry(name: str, version: int) -> ModelEntry:
    """The registry entry, or `InvalidTaskSpec("unknown-model")`."""
    try:
        return _ENTRIES[(name, version)]
    except KeyError:
        raise InvalidTaskSpec("unknown-model", f"{name!r} version {version} is not in the registry") from None


def models() -> list[tuple[str, int]]:
    return sorted(_ENTRIES)


def build_model(
    name: str, version: int, hyperparams: tuple[tuple[str, str], ...], *, device: Device = None
) -> nn.Module:
    """A freshly built (randomly initialised) model; deterministic under a seeded torch RNG.

    On `META` it allocates and initialises nothing: for counting, checking, or `to_empty` before a load.
    (By argument, not a `with torch.device("meta")` block: that block is a torch function mode, which
    intercepts every call made inside it and imports torch's tracing machinery on first use.)"""
    e = entry(name, version)
    return e.build(**parse_params(hyperparams, e.schema, f"{name} v{version} hyperparams"), device=device)


def check_task_spec(spec: TaskSpec) -> None:
    """Raise `InvalidTaskSpec` unless `spec` can be trained: known model, optimiser and valid settings,
    H a multiple of k, at most `MAX_CHECKPOINTS` checkpoints. For the state machine at task posting.

    The model is built on the meta device, so checking a large architecture allocates nothing.
    """
    from app.pot import optim
    from app.pot.proof import segment_count

    model = build_model(spec.model, spec.model_version, spec.hyperparams, device=META)
    optim.build_optimizer(spec.optimizer, spec.optimizer_params, model)
    try:
        segment_count(spec)
    except ValueError as exc:
        raise InvalidTaskSpec("bad-schedule", str(exc)) from None


def architecture_digest(model: nn.Module) -> bytes:
    """Hash of the model's parameter names and shapes: what "pinned architecture" means in bytes."""
    layout = [[n, list(p.shape)] for n, p in sorted(model.named_parameters())]
    return tagged_hash(DOMAIN_ARCH, encoding.encode(layout))


def verify_pins(path: Path = PINS_PATH) -> None:
    """Raise `InvalidTaskSpec("architecture-changed")` if a builder no longer matches its pinned digest."""
    pins = json.loads(path.read_text())
    for pin in pins["models"]:
        params = tuple((k, v) for k, v in sorted(pin["reference_hyperparams"].items()))
        model = build_model(pin["name"], pin["version"], params)
        if architecture_digest(model).hex() != pin["architecture_digest"]:
            raise InvalidTaskSpec("architecture-changed", f"{pin['name']} v{pin['version']}")
