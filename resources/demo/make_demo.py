"""Rebuild the committed demo shards and resources/registry/datasets.json (run once, by hand).

    python resources/demo/make_demo.py /path/to/digits.csv.gz

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
from app.miner.datasets import DatasetManifest  # noqa: E402
from app.miner.tensors import encode_tensors  # noqa: E402

DEMO = ROOT / "resources" / "demo"
DIGITS_TRAIN_SHARDS = 5
DIGITS_VALIDATION = 297
DIGITS_SHUFFLE_SEED = 0
TEXT_CONTEXT = 64
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
    manifests = {"datasets": [digits(Path(sys.argv[1])), text()]}
    out = ROOT / "resources" / "registry" / "datasets.json"
    out.write_text(json.dumps(manifests, indent=2) + "\n")
    print(out.read_text())


if __name__ == "__main__":
    main()
