"""The device configuration a receipt commits to, so a verifier knows when it can replay bit for bit.

On a CPU, the same torch build on the same kernel family (the vector instructions torch dispatches to)
with the same intra-op thread count computes every step bit for bit alike: `app.pot.engine` is the
only training code, and its kernels sum in an order fixed by those three things
(`scripts/measure_tolerances.py --exact`, docs/TOLERANCES.md). So a receipt names them, in the
receipt's `device_class` field as a label such as ``cpu|2.13.0+cpu|AVX2|t2|det``; a verifier with the
same class, build and kernels sets its thread count to the receipt's for the replay and compares for
equality. A verifier that cannot reproduce the configuration falls back to the per-tensor bounds of
`app.pot.tolerance`, chosen by what *it* runs, never widened by what the miner declares.

A bare class (``cpu``, ``cuda``, ``mps``: receipts made before configurations were committed) parses
as a configuration no verifier can reproduce.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch

DEVICE_CLASSES = ("cpu", "cuda", "mps")
MAX_LABEL = 64  # the receipt field's limit (ShortText)
MAX_THREADS = 256
_SEP = "|"


class BadDeviceConfig(ValueError):
    """A configuration label that does not parse; the verifier's reason is `unknown-device-class`."""


@dataclass(frozen=True)
class DeviceConfig:
    """What decides a training step's float rounding on one machine."""

    device_class: str  # "cpu", "cuda" or "mps"
    build: str = ""  # torch.__version__ ("" when not committed)
    kernels: str = ""  # CPU: torch's dispatch level (AVX2, AVX512...); GPU: compute capability
    threads: int = 0  # CPU intra-op threads (0 when not committed)
    deterministic: bool = False  # deterministic kernels switched on (always true on CPU)

    def __post_init__(self) -> None:
        if self.device_class not in DEVICE_CLASSES:
            raise BadDeviceConfig(f"unknown device class {self.device_class!r}")
        if not 0 <= self.threads <= MAX_THREADS:
            raise BadDeviceConfig(f"thread count {self.threads} outside 0..{MAX_THREADS}")
        if any(_SEP in s for s in (self.build, self.kernels)):
            raise BadDeviceConfig(f"{_SEP!r} inside a configuration field")

    @property
    def committed(self) -> bool:
        """Whether the label names a full configuration (not just a class)."""
        return bool(self.build and self.kernels and (self.threads or self.device_class != "cpu"))

    def label(self) -> str:
        """The receipt's `device_class` text: ``class|build|kernels|t<threads>|det`` (at most 64 chars)."""
        if not self.committed:
            return self.device_class
        text = _SEP.join(
            (self.device_class, self.build, self.kernels, f"t{self.threads}", "det" if self.deterministic else "nondet")
        )
        if len(text) > MAX_LABEL:
            raise BadDeviceConfig(f"configuration label {text!r} exceeds {MAX_LABEL} characters")
        return text


def parse(label: str) -> DeviceConfig:
    """The configuration of a receipt's `device_class` text; `BadDeviceConfig` when malformed."""
    if len(label) > MAX_LABEL:
        raise BadDeviceConfig("configuration label too long")
    parts = label.split(_SEP)
    if len(parts) == 1:
        return DeviceConfig(parts[0])
    if (
        len(parts) != 5
        or not parts[3].startswith("t")
        or not parts[3][1:].isdigit()
        or parts[4] not in ("det", "nondet")
    ):
        raise BadDeviceConfig(f"configuration label {label!r} is not class|build|kernels|t<n>|det")
    if not parts[1] or not parts[2]:
        raise BadDeviceConfig(f"configuration label {label!r} has an empty field")
    config = DeviceConfig(parts[0], parts[1], parts[2], int(parts[3][1:]), parts[4] == "det")
    if config.device_class == "cpu" and config.threads == 0:
        raise BadDeviceConfig("a CPU configuration needs a thread count of at least 1")
    return config


def current(device: torch.device) -> DeviceConfig:
    """This process's configuration for training on `device`, as a miner commits it now."""
    if device.type == "cpu":
        return DeviceConfig(
            "cpu", torch.__version__, torch.backends.cpu.get_cpu_capability(), torch.get_num_threads(), True
        )
    if device.type == "cuda":
        major, minor = torch.cuda.get_device_capability(device)
        return DeviceConfig(
            "cuda", torch.__version__, f"sm{major}{minor}", 0, torch.are_deterministic_algorithms_enabled()
        )
    if device.type == "mps":
        return DeviceConfig("mps", torch.__version__, "mps", 0, torch.are_deterministic_algorithms_enabled())
    raise BadDeviceConfig(f"unsupported device type {device.type}")


def reproducible(verifier: DeviceConfig, receipt: DeviceConfig) -> bool:
    """Whether `verifier` can replay `receipt`'s steps bit for bit (setting its thread count to theirs).

    Only CPU configurations qualify for now: the same build on the same kernel family is bit-exact at
    any given thread count (measured), while GPU kernels' bit-exactness across cards of one
    capability is not measured yet.
    """
    return (
        receipt.committed
        and verifier.committed
        and receipt.device_class == verifier.device_class == "cpu"
        and receipt.build == verifier.build
        and receipt.kernels == verifier.kernels
    )


_THREADS_LOCK = threading.Lock()


@contextmanager
def replaying(config: DeviceConfig) -> Iterator[None]:
    """Run the body with `config`'s CPU thread count, then restore this process's own.

    The thread count is process-wide in torch: the lock keeps two replays from changing it under
    each other (a miner training in the same process still sees the change while a replay runs).
    """
    with _THREADS_LOCK:
        before = torch.get_num_threads()
        if config.threads and config.threads != before:
            torch.set_num_threads(config.threads)
        try:
            yield
        finally:
            if torch.get_num_threads() != before:
                torch.set_num_threads(before)
