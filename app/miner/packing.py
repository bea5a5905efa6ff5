"""A requester's own data (a folder of images, a text file, NumPy arrays) packed into canonical shards.

Everything is read, checked and packed in memory before anything is stored or sent, so bad data
(unreadable files, mixed image sizes, wrong shapes, pickled arrays, too much data) is refused with a
`DataError` that says what to fix, and a refused post leaves no trace. The registry model is chosen
to fit the data: square single-channel images train the CNN, other fixed-size samples the MLP, and
text the byte-level `tiny-lm` (inputs a window of bytes, targets the same window shifted by one).
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from app.core.hashing import blob_hash
from app.pot.datasets import MAX_SHARDS, DatasetManifest
from app.pot.hparams import format_params
from app.pot.tensors import encode_tensors

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg"})
MAX_DATASET_BYTES = 256 * 1024**2  # inputs + targets; a requester's node serves all of it to every miner
MAX_FILE_BYTES = 512 * 1024**2  # a single input file read into memory
SHARD_BYTES = 4 * 1024**2  # samples per shard: about this many bytes (many shards fetch in parallel later)
VALIDATION_FRACTION = 0.1
SPLIT_SEED = 20240601  # the fixed shuffle before the split: every class lands in both splits
MIN_SAMPLES = 2  # one to train, one to validate
MAX_CLASSES = 256  # targets are uint8
DEFAULT_CONTEXT = 64
MAX_CONTEXT = 1024  # tiny-lm's context limit
MAX_MLP_INPUTS = 65536
MAX_CNN_SIDE = 256


class DataError(ValueError):
    """The requester's data cannot be packed; the message says what to fix."""


@dataclass(frozen=True)
class Samples:
    """Every sample of a data set as uint8 arrays, with what the model choice needs."""

    inputs: np.ndarray
    targets: np.ndarray
    kind: str  # "images", "text" or "arrays"


@dataclass(frozen=True)
class PackedDataset:
    """Canonical shard blobs by hash, the manifest of the training shards, and the fitting model."""

    manifest: DatasetManifest
    validation: bytes
    blobs: dict[bytes, bytes]
    model: str
    hyperparams: tuple[tuple[str, str], ...]
    train_samples: int
    validation_samples: int

    @property
    def root(self) -> bytes:
        return self.manifest.root


# ------------------------------------------------------------------ reading files


def read_images(folder: Path) -> Samples:
    """`folder/<class>/<image>`: one subfolder per class (labels by sorted folder name), PNG or JPEG,
    decoded to 8-bit grey levels with Qt (no new dependency); every image must have one size."""
    from PySide6.QtGui import QImage

    classes = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(classes) < 2:
        raise DataError(f"{folder}: an image folder needs one subfolder per class (at least 2), found {len(classes)}")
    if len(classes) > MAX_CLASSES:
        raise DataError(f"{folder}: {len(classes)} classes, at most {MAX_CLASSES}")
    images: list[np.ndarray] = []
    labels: list[int] = []
    size: tuple[int, int] | None = None
    first: Path | None = None
    total = 0
    for label, sub in enumerate(classes):
        files = sorted(p for p in sub.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise DataError(f"{sub}: no PNG or JPEG images in this class folder")
        for path in files:
            image = QImage(str(path))
            if image.isNull():
                raise DataError(f"{path}: not a readable PNG or JPEG image")
            grey = image.convertToFormat(QImage.Format.Format_Grayscale8)
            h, w = grey.height(), grey.width()
            if size is None:
                size, first = (h, w), path
            elif (h, w) != size:
                raise DataError(
                    f"{path}: {w}x{h} pixels, but {first} is {size[1]}x{size[0]}; all images must "
                    "have one size (resize them first)"
                )
            total += h * w
            if total > MAX_DATASET_BYTES:
                raise DataError(f"{folder}: more than {MAX_DATASET_BYTES // 1024**2} MB of pixels")
            row = grey.bytesPerLine()
            raw = np.frombuffer(bytes(grey.constBits()), dtype=np.uint8)[: row * h].reshape(h, row)
            images.append(raw[:, :w].copy())
            labels.append(label)
    return Samples(np.stack(images), np.asarray(labels, dtype=np.uint8), "images")


def read_text(path: Path, context: int = DEFAULT_CONTEXT) -> Samples:
    """Non-overlapping windows of `context` + 1 bytes: inputs the first `context`, targets the last."""
    if not 2 <= context <= MAX_CONTEXT:
        raise DataError(f"context {context}: must be between 2 and {MAX_CONTEXT} bytes")
    data = _read_bytes(path)
    n = len(data) // (context + 1)
    if n < MIN_SAMPLES:
        raise DataError(
            f"{path}: {len(data)} bytes make {n} windows of {context + 1}; at least {MIN_SAMPLES} "
            "are needed (a longer text or a smaller --context)"
        )
    windows = np.frombuffer(data[: n * (context + 1)], dtype=np.uint8).reshape(n, context + 1)
    return Samples(windows[:, :-1].copy(), windows[:, 1:].copy(), "text")


def read_arrays(path: Path) -> Samples:
    """A `.npz` with arrays `inputs` and `targets`, or a folder with `inputs.npy` and `targets.npy`.

    Loaded with `allow_pickle=False`: an object array (which would run code when unpickled) is refused.
    """
    try:
        if path.is_dir():
            arrays = {k: _load_npy(path / f"{k}.npy") for k in ("inputs", "targets")}
        else:
            _check_size(path)
            with np.load(path, allow_pickle=False) as npz:
                missing = {"inputs", "targets"} - set(npz.files)
                if missing:
                    raise DataError(
                        f"{path}: needs arrays named inputs and targets (missing {sorted(missing)}, "
                        f"has {sorted(npz.files)})"
                    )
                arrays = {k: npz[k] for k in ("inputs", "targets")}
    except DataError:
        raise
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"{path}: not readable as NumPy arrays without pickle ({exc})") from None
    return Samples(_as_uint8(arrays["inputs"], "inputs"), _as_uint8(arrays["targets"], "targets"), "arrays")


def read_data(path: Path, context: int = DEFAULT_CONTEXT) -> Samples:
    """Dispatch on what `path` is: an image folder, a folder of .npy files, a .npz/.npy, or text."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    if path.is_dir():
        if (path / "inputs.npy").exists() or (path / "targets.npy").exists():
            return read_arrays(path)
        return read_images(path)
    if path.suffix.lower() in (".npz", ".npy"):
        if path.suffix.lower() == ".npy":
            raise DataError(
                f"{path}: a single .npy holds no targets; give a folder with inputs.npy and "
                "targets.npy, or a .npz with arrays inputs and targets"
            )
        return read_arrays(path)
    return read_text(path, context)


def _read_bytes(path: Path) -> bytes:
    _check_size(path)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def _check_size(path: Path) -> None:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if size > MAX_FILE_BYTES:
        raise DataError(f"{path}: {size} bytes, more than the {MAX_FILE_BYTES // 1024**2} MB a data file may hold")


def _load_npy(path: Path) -> np.ndarray:
    if not path.is_file():
        raise DataError(f"{path}: missing (a NumPy folder holds inputs.npy and targets.npy)")
    _check_size(path)
    array: np.ndarray = np.load(path, allow_pickle=False)
    return array


def _as_uint8(a: np.ndarray, name: str) -> np.ndarray:
    if a.dtype == np.uint8:
        return a
    if a.dtype.kind not in "iub":
        raise DataError(f"{name}: dtype {a.dtype}; shards hold integers 0..255 (scale and round your data)")
    if a.size and (a.min() < 0 or a.max() > 255):
        raise DataError(f"{name}: values from {a.min()} to {a.max()}; shards hold integers 0..255")
    return a.astype(np.uint8)


# ------------------------------------------------------------------ model choice and packing


def choose_model(s: Samples, model: str | None = None) -> tuple[str, dict[str, object]]:
    """The registry model and hyper-parameters that fit the samples' shapes (or `DataError`)."""
    x, y = s.inputs, s.targets
    if x.ndim < 2 or y.ndim < 1 or x.shape[0] != y.shape[0]:
        raise DataError(
            f"inputs {list(x.shape)} and targets {list(y.shape)}: both need a first dimension of "
            "one length (samples), and inputs at least one more"
        )
    if x.shape[0] < MIN_SAMPLES:
        raise DataError(f"{x.shape[0]} sample(s): at least {MIN_SAMPLES} are needed")
    if x.nbytes + y.nbytes > MAX_DATASET_BYTES:
        raise DataError(f"{(x.nbytes + y.nbytes) / 1e6:.0f} MB of samples, more than {MAX_DATASET_BYTES // 1024**2} MB")
    sequence = y.ndim == 2 and x.shape == y.shape
    square = x.ndim == 3 and x.shape[1] == x.shape[2]
    wanted = model or ("tiny-lm" if sequence else "cnn" if square and s.kind == "images" else "mlp")
    if wanted == "tiny-lm":
        if not sequence:
            raise DataError(
                f"tiny-lm needs inputs and targets of one shape [N, T], got {list(x.shape)} and {list(y.shape)}"
            )
        if not 2 <= x.shape[1] <= MAX_CONTEXT:
            raise DataError(f"sequences of {x.shape[1]} bytes: tiny-lm takes 2 to {MAX_CONTEXT}")
        return "tiny-lm", {"context": int(x.shape[1]), "heads": 2, "layers": 1, "vocab": 256, "width": 32}
    if y.ndim != 1:
        raise DataError(f"targets {list(y.shape)}: a classifier needs one class label per sample ([N])")
    classes = int(y.max()) + 1
    if classes < 2:
        raise DataError("targets: every label is 0; a classifier needs at least 2 classes")
    input_max = 255 if s.kind == "images" else max(1, int(x.max()))  # pixels span 0..255 whatever was seen
    if wanted == "cnn":
        if not square or not 2 <= x.shape[1] <= MAX_CNN_SIDE:
            raise DataError(
                f"inputs {list(x.shape)}: the CNN takes square single-channel images of 2 to "
                f"{MAX_CNN_SIDE} pixels a side"
            )
        return "cnn", {"channels": 8, "classes": classes, "input_max": input_max, "side": int(x.shape[1])}
    if wanted != "mlp":
        raise DataError(f"model {wanted!r}: choose mlp, cnn or tiny-lm")
    features = int(np.prod(x.shape[1:]))
    if features > MAX_MLP_INPUTS:
        raise DataError(f"{features} values per sample: the MLP takes at most {MAX_MLP_INPUTS}")
    return "mlp", {"classes": classes, "hidden": 64, "input_max": input_max, "inputs": features, "layers": 2}


def pack(s: Samples, name: str, model: str | None = None) -> PackedDataset:
    """Shuffle with a fixed seed, hold out `VALIDATION_FRACTION` as one shard, cut the rest into shards."""
    chosen, hyperparams = choose_model(s, model)
    n = s.inputs.shape[0]
    order = np.random.default_rng(SPLIT_SEED).permutation(n)
    x, y = s.inputs[order], s.targets[order]
    n_val = min(n - 1, max(1, round(n * VALIDATION_FRACTION)))
    per_sample = max(1, (x.nbytes + y.nbytes) // n)
    per_shard = max(1, SHARD_BYTES // per_sample)
    train = range(n_val, n, per_shard)
    if len(train) > MAX_SHARDS:
        raise DataError(f"{len(train)} shards, more than {MAX_SHARDS}")
    blobs: dict[bytes, bytes] = {}
    validation = _shard(x[:n_val], y[:n_val], blobs)
    shards = tuple(_shard(x[i : i + per_shard], y[i : i + per_shard], blobs) for i in train)
    manifest = DatasetManifest(name=name.encode()[:64].decode(errors="ignore"), shards=shards)
    return PackedDataset(manifest, validation, blobs, chosen, format_params(hyperparams), n - n_val, n_val)


def pack_path(
    path: Path, name: str | None = None, model: str | None = None, context: int = DEFAULT_CONTEXT
) -> PackedDataset:
    """Read and pack `path` (see `read_data`); the data set's name defaults to the file's."""
    return pack(read_data(Path(path), context), name or Path(path).name or "dataset", model)


def _shard(x: np.ndarray, y: np.ndarray, blobs: dict[bytes, bytes]) -> bytes:
    data = encode_tensors(
        {"inputs": torch.from_numpy(np.ascontiguousarray(x)), "targets": torch.from_numpy(np.ascontiguousarray(y))}
    )
    digest = blob_hash(data)
    blobs[digest] = data
    return digest
