"""The manifest protocol: a node asks peers for the shard list behind a task's dataset root.

A task names its data only by `dataset_root = merkle_root(shard hashes)`. Shipped demo data is known
to every node; a requester's own data set (`potminer task post --data`) is known at first only to the
requester's node, so miners and validators ask peers for its `DatasetManifest`. The answer is checked
against the root before use, so any peer may answer and a lying one is caught and reported; the shards
themselves then come by hash like any blob. Manifests learnt are kept on disk as `<root hex>.manifest`
(a restarted node can serve them, and its pruner keeps their shards while the task is open).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import trio

from app.core.encoding import Bytes32
from app.core.errors import PotError
from app.fsutil import write_atomic
from app.miner.demo import manifest_for_root
from app.net.facade import NetThread
from app.net.messages import Request, Response
from app.net.peers import Offence
from app.pot.datasets import DatasetManifest
from app.pot.hparams import InvalidTaskSpec

log = logging.getLogger(__name__)

PROTOCOL_NAME = "manifest"
MANIFEST_DEADLINE_S = 5.0  # at most 4096 hashes (131 kB): a peer that takes longer is stalling
MANIFEST_SUFFIX = ".manifest"


@dataclass(frozen=True)
class ManifestRequest(Request):
    """Ask for the dataset manifest whose shard hashes have Merkle root `dataset_root`."""

    TAG = 144
    dataset_root: Bytes32


@dataclass(frozen=True)
class ManifestResponse(Response):
    TAG = 145
    manifest: DatasetManifest


class ManifestUnavailable(PotError):
    """No peer served a manifest with the asked root."""


class ManifestBook:
    """The manifests this node can answer for: the shipped ones, and those added (posted or fetched)."""

    def __init__(self, directory: Path | None = None) -> None:
        self._known: dict[bytes, DatasetManifest] = {}
        self.directory = directory
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)

    def add(self, manifest: DatasetManifest) -> None:
        """Keep `manifest` (on disk when a directory is set) under its root."""
        root = manifest.root
        if self.directory is not None:
            write_atomic(self.directory / f"{root.hex()}{MANIFEST_SUFFIX}", manifest.encode(), mode=0o644)
        self._known[root] = manifest

    def get(self, root: bytes) -> DatasetManifest | None:
        try:
            return manifest_for_root(root)
        except InvalidTaskSpec:
            pass
        manifest = self._known.get(root)
        if manifest is None and self.directory is not None:
            manifest = self._read(root)
            if manifest is not None:
                self._known[root] = manifest
        return manifest

    def shards(self, root: bytes) -> tuple[bytes, ...]:
        """The shard hashes of a known data set (none for an unknown one: nothing of it is stored)."""
        manifest = self.get(root)
        return () if manifest is None else tuple(manifest.shards)

    def _read(self, root: bytes) -> DatasetManifest | None:
        assert self.directory is not None
        path = self.directory / f"{root.hex()}{MANIFEST_SUFFIX}"
        try:
            manifest = DatasetManifest.decode(path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, PotError, ValueError) as exc:
            log.warning("ignoring unreadable manifest file %s: %s", path, exc)
            return None
        if manifest.root != root:
            log.warning("ignoring manifest file %s: its shards do not hash to its name", path)
            return None
        return manifest


async def request_manifest(
    host,
    peer: str,
    root: bytes,  # type: ignore[no-untyped-def]
    deadline_s: float = MANIFEST_DEADLINE_S,
) -> DatasetManifest:
    """Ask `peer` for the manifest of `root`; a peer that answers another data set is reported."""
    with trio.move_on_after(deadline_s):
        response = await host.request(peer, PROTOCOL_NAME, ManifestRequest(root), ManifestResponse)
        if response.manifest.root != root:
            host.report(peer, Offence.BAD_RESPONSE)
            raise ManifestUnavailable(f"{peer} served a manifest of another data set")
        manifest: DatasetManifest = response.manifest
        return manifest
    raise ManifestUnavailable(f"{peer} did not serve the manifest within {deadline_s:g} s")


def find_manifest(manifests: ManifestBook, net: NetThread, root: bytes) -> DatasetManifest:
    """The shard list of dataset `root`: known here (shipped, posted, fetched before) or from a connected
    peer, checked against the root and kept (blocking: call off any event loop). Full and light nodes
    alike find a requester's data set this way."""
    known = manifests.get(root)
    if known is not None:
        return known
    errors = []
    for peer in net.call(lambda h: _connected(h)):
        try:
            manifest = net.call(lambda h, p=peer: request_manifest(h, p, root), timeout_s=MANIFEST_DEADLINE_S + 5)
            manifests.add(manifest)
            return manifest
        except Exception as exc:  # noqa: BLE001 - try the next peer
            errors.append(f"{peer}: {exc}")
    raise ManifestUnavailable(f"no peer served the data set {root.hex()[:16]} ({'; '.join(errors) or 'no peers'})")


async def _connected(host) -> list[str]:  # type: ignore[no-untyped-def]
    return host.connected_peers()
