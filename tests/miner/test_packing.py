"""Packing a requester's own files into canonical shards: images, text, NumPy arrays, and every kind of
bad data refused with a clear error (real files, decoded by Qt and NumPy, no mocks)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.miner import packing
from app.miner.packing import DataError, pack_path
from app.pot.blobs import MemoryBlobStore
from app.pot.datasets import load_split, parse_shard


def write_images(root: Path, sizes: dict[str, list[tuple[int, int]]], suffix: str = ".png") -> Path:
    """Image files `root/<class>/<i><suffix>` of the given (width, height), grey levels that differ per class."""
    from PySide6.QtGui import QImage

    for k, (label, dims) in enumerate(sorted(sizes.items())):
        (root / label).mkdir(parents=True, exist_ok=True)
        for i, (w, h) in enumerate(dims):
            pixels = np.full((h, w), 60 * k + i, dtype=np.uint8)
            assert QImage(pixels.tobytes(), w, h, w, QImage.Format.Format_Grayscale8).save(
                str(root / label / f"{i}{suffix}")
            )
    return root


def test_image_folder_packs_to_cnn_shards_that_load_like_shipped_data(tmp_path: Path) -> None:
    root = write_images(tmp_path / "imgs", {"cat": [(8, 8)] * 6, "dog": [(8, 8)] * 6, "owl": [(8, 8)] * 6})
    p = pack_path(root)
    assert p.model == "cnn" and dict(p.hyperparams) == {
        "channels": "8",
        "classes": "3",
        "input_max": "255",
        "side": "8",
    }
    assert (p.train_samples, p.validation_samples) == (16, 2)
    assert set(p.blobs) == {*p.manifest.shards, p.validation}
    store = MemoryBlobStore()
    for data in p.blobs.values():
        store.put(data)
    train = load_split(store, p.manifest.shards)
    assert tuple(train.inputs.shape) == (16, 8, 8)
    # each class's grey level (60 k + i) came through decoding with its label
    assert all(int(x[0, 0]) // 60 == int(y) for x, y in zip(train.inputs, train.targets))
    assert pack_path(root).root == p.root  # deterministic: same files, same root
    (root / ".thumbnails").mkdir()  # a hidden folder is no class
    assert pack_path(root).root == p.root


def test_jpeg_images_decode_too(tmp_path: Path) -> None:
    root = write_images(tmp_path / "jpegs", {"a": [(6, 4)] * 3, "b": [(6, 4)] * 3}, suffix=".jpg")
    p = pack_path(root)
    assert p.model == "mlp" and dict(p.hyperparams)["inputs"] == "24"  # 6x4 is not square: the MLP


def test_text_packs_to_tiny_lm_windows_shifted_by_one(tmp_path: Path) -> None:
    text = tmp_path / "book.txt"
    text.write_bytes(bytes(range(256)) * 4)
    p = pack_path(text, context=16)
    assert p.model == "tiny-lm" and dict(p.hyperparams)["context"] == "16"
    s = parse_shard(p.blobs[p.manifest.shards[0]])
    assert s.inputs.shape[1:] == s.targets.shape[1:] == (16,)
    assert bool((s.inputs[:, 1:].int() == s.targets[:, :-1].int()).all())


def test_numpy_arrays_npz_and_folder_pack_to_mlp(tmp_path: Path) -> None:
    x, y = np.arange(40 * 6).reshape(40, 2, 3) % 200, np.arange(40) % 5
    np.savez(tmp_path / "d.npz", inputs=x, targets=y)
    folder = tmp_path / "arrays"
    folder.mkdir()
    np.save(folder / "inputs.npy", x)
    np.save(folder / "targets.npy", y)
    a, b = pack_path(tmp_path / "d.npz", name="d"), pack_path(folder, name="d")
    assert a.model == "mlp" and dict(a.hyperparams)["inputs"] == "6" and dict(a.hyperparams)["classes"] == "5"
    assert a.root == b.root


@pytest.mark.parametrize(
    "case, needle",
    [
        ("mixed-sizes", "all images must have one size"),
        ("unreadable-image", "not a readable PNG or JPEG"),
        ("one-class", "at least 2"),
        ("pickled", "without pickle"),
        ("pickled-npy", "without pickle"),
        ("float", "integers 0..255"),
        ("out-of-range", "integers 0..255"),
        ("count-mismatch", "first dimension"),
        ("missing-targets", "inputs and targets"),
        ("too-short-text", "windows"),
        ("too-large", "more than"),
        ("cnn-not-square", "square"),
        ("missing", "no such file"),
    ],
)
def test_bad_data_is_refused_with_a_clear_error(
    tmp_path: Path, case: str, needle: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = None
    if case == "mixed-sizes":
        path = write_images(tmp_path / "i", {"a": [(8, 8), (8, 8)], "b": [(8, 8), (9, 8)]})
    elif case == "unreadable-image":
        path = write_images(tmp_path / "i", {"a": [(8, 8)], "b": [(8, 8)]})
        (path / "b" / "broken.png").write_bytes(b"\x89PNG not really")
    elif case == "one-class":
        path = write_images(tmp_path / "i", {"a": [(8, 8)] * 3})
    elif case == "pickled":
        path = tmp_path / "p.npz"
        np.savez(path, inputs=np.array([{"x": 1}] * 3, dtype=object), targets=np.arange(3))
    elif case == "pickled-npy":
        path = tmp_path / "arrays"
        path.mkdir()
        np.save(path / "inputs.npy", np.array([{"x": 1}] * 3, dtype=object), allow_pickle=True)
        np.save(path / "targets.npy", np.arange(3))
    elif case == "float":
        path = tmp_path / "f.npz"
        np.savez(path, inputs=np.random.rand(4, 3), targets=np.arange(4) % 2)
    elif case == "out-of-range":
        path = tmp_path / "r.npz"
        np.savez(path, inputs=np.full((4, 3), 300), targets=np.arange(4) % 2)
    elif case == "count-mismatch":
        path = tmp_path / "c.npz"
        np.savez(path, inputs=np.zeros((4, 3), np.uint8), targets=np.arange(5) % 2)
    elif case == "missing-targets":
        path = tmp_path / "m.npz"
        np.savez(path, inputs=np.zeros((4, 3), np.uint8))
    elif case == "too-short-text":
        path = tmp_path / "t.txt"
        path.write_text("short")
    elif case == "too-large":
        monkeypatch.setattr(packing, "MAX_DATASET_BYTES", 100)  # the limit, scaled down for a small real file
        path = tmp_path / "big.npz"
        np.savez(path, inputs=np.zeros((20, 10), np.uint8), targets=np.arange(20) % 2)
    elif case == "cnn-not-square":
        path, model = tmp_path / "n.npz", "cnn"
        np.savez(path, inputs=np.zeros((4, 3, 5), np.uint8), targets=np.arange(4) % 2)
    else:
        path = tmp_path / "nothing-here"
    with pytest.raises(DataError, match=needle):
        pack_path(path, model=model)
