"""Rebuild the committed demo shards and resources/registry/datasets.json (run once, by hand).

    python resources/demo/make_demo.py /path/to/digits.csv.gz
    python resources/demo/make_demo.py --digits-plus     # only digits-plus, from the committed digits shards

The digits CSV is the UCI optical-digits test set that ships inside scikit-learn's wheel
(sklearn/datasets/data/digits.csv.gz); scikit-learn is not a dependency of PoT Miner, the committed
shards are all the project needs. The text corpus is resources/demo/text/corpus.txt.
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from app.core.hashing import blob_hash  # noqa: E402
from app.pot.datasets import DatasetManifest  # noqa: E402
from app.pot.tensors import encode_tensors  # noqa: E402

DEMO = ROOT / "resources" / "demo"
DIGITS_TRAIN_SHARDS = 5
DIGITS_VALIDATION = 297
DIGITS_SHUFFLE_SEED = 0
TEXT_CONTEXT = 64
# digits-plus: each committed training image drawn again under random small affine moves and pixel
# noise, so the devnet task sees 30,000 distinct images instead of 1,500 and keeps improving for
# hundreds of rounds (issue 14); the validation split is digits' own, untouched.
PLUS_SHARDS = 30
PLUS_PER_SHARD = 1000
PLUS_SEED = 14
TEXT_VALIDATION_FRACTION = 0.1


def _write(folder: Path, name: str, inputs: torch.Tensor, targets: torch.Tensor) -> str:
    data = encode_tensors({"inputs": inputs.to(torch.uint8), "targets": targets.to(torch.uint8)})
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.safetensors").write_bytes(data)
    return blob_hash(data).hex()


def digits(csv_gz: Path) -> dict[str, object]:
    rows = [list(map(int, line.split(","))) for line in gzip.decompress(csv_gz.read_bytes()).decode().split()]
    table = torch.tensor(rows, dtype=torch.uint8)
    # The file is ordered by writer; a fixed shuffle puts every writer in both splits.
    table = table[torch.randperm(len(rows), generator=torch.Generator().manual_seed(DIGITS_SHUFFLE_SEED))]
    x, y = table[:, :64].reshape(-1, 8, 8), table[:, 64]
    n_train = len(rows) - DIGITS_VALIDATION
    folder = DEMO / "digits"
    shards = [
        _write(folder, f"train-{i}", x[idx], y[idx])
        for i, idx in enumerate(torch.arange(n_train).chunk(DIGITS_TRAIN_SHARDS))
    ]
    val = _write(folder, "validation", x[n_train:], y[n_train:])
    return _manifest("digits", "digits", shards, val)


def _augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random rotation (+-15 deg), scale (0.85..1.15), shear (+-0.15) and shift (+-1 px) of 8x8 images
    (0..16), bilinear, then each pixel +-1 with probability 0.15; rounded and clamped to 0..16."""
    n = x.shape[0]

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(n, generator=gen)

    angle = uniform(-0.26, 0.26)
    scale, shear = uniform(0.85, 1.15), uniform(-0.15, 0.15)
    shift = (torch.randint(-1, 2, (n, 2), generator=gen).float() * 2 / 8).T
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin + shear, shift[0]], 1), torch.stack([sin, cos, shift[1]], 1)], 1)
    grid = torch.nn.functional.affine_grid(theta, [n, 1, 8, 8], align_corners=False)
    out = torch.nn.functional.grid_sample(x.float().unsqueeze(1), grid, align_corners=False).squeeze(1)
    noise = torch.randint(-1, 2, out.shape, generator=gen) * (torch.rand(out.shape, generator=gen) < 0.15)
    return (out + noise).round().clamp(0, 16).to(torch.uint8)


def digits_plus() -> dict[str, object]:
    from app.pot.datasets import parse_shard

    listing = json.loads((ROOT / "resources" / "registry" / "datasets.json").read_text())
    base = next(d for d in listing["datasets"] if d["name"] == "digits")
    parts = [parse_shard((DEMO / "digits" / f"train-{i}.safetensors").read_bytes()) for i in range(len(base["shards"]))]
    x, y = torch.cat([p.inputs for p in parts]), torch.cat([p.targets for p in parts])
    gen = torch.Generator().manual_seed(PLUS_SEED)
    folder = DEMO / "digits-plus"
    shards = []
    for i in range(PLUS_SHARDS):
        idx = torch.randint(0, len(x), (PLUS_PER_SHARD,), generator=gen)
        shards.append(_write(folder, f"train-{i}", _augment(x[idx], gen), y[idx]))
    val = (DEMO / "digits" / "validation.safetensors").read_bytes()
    (folder / "validation.safetensors").write_bytes(val)
    return _manifest("digits-plus", "digits-plus", shards, blob_hash(val).hex())


def text() -> dict[str, object]:
    raw = torch.tensor(list((DEMO / "text" / "corpus.txt").read_bytes()), dtype=torch.uint8)
    n = (len(raw) - 1) // TEXT_CONTEXT
    x = raw[: n * TEXT_CONTEXT].reshape(n, TEXT_CONTEXT)
    y = raw[1 : n * TEXT_CONTEXT + 1].reshape(n, TEXT_CONTEXT)
    n_val = max(1, int(n * TEXT_VALIDATION_FRACTION))
    folder = DEMO / "text"
    shards = [_write(folder, "train-0", x[: n - n_val], y[: n - n_val])]
    val = _write(folder, "validation", x[n - n_val :], y[n - n_val :])
    return _manifest("fables", "text", shards, val)


def _manifest(name: str, folder: str, shards: list[str], validation: str) -> dict[str, object]:
    root = DatasetManifest(name=name, shards=tuple(bytes.fromhex(h) for h in shards)).root
    return {"name": name, "folder": folder, "shards": shards, "validation": validation, "root": root.hex()}


def main() -> None:
    out = ROOT / "resources" / "registry" / "datasets.json"
    if sys.argv[1:] == ["--digits-plus"]:
        listing = json.loads(out.read_text())
        listing["datasets"] = [d for d in listing["datasets"] if d["name"] != "digits-plus"] + [digits_plus()]
        out.write_text(json.dumps(listing, indent=2) + "\n")
        return
    manifests = {"datasets": [digits(Path(sys.argv[1])), text(), digits_plus()]}
    out.write_text(json.dumps(manifests, indent=2) + "\n")
    print(out.read_text())


if __name__ == "__main__":
    main()
