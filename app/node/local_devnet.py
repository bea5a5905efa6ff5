"""The desktop app's own local devnet: made once, then reopened on every start.

`potminer devnet` makes a throw-away network for a session. The app needs one that outlives it: the
volunteer's wallet holds rewards earned on this chain, so the genesis, the node keys and the chain
stores must all be there next time. A manifest (`devnet.json`) records the members; reopening loads
their keys and identities from their folders instead of generating new ones, and each node resumes
from its own SQLite store.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from app.core.errors import PotError
from app.core.genesis import load_genesis
from app.fsutil import write_atomic
from app.node.devnet import Devnet, DevnetConfig, Member, free_port, port_is_free
from app.node.keys import load_key

MANIFEST = "devnet.json"
MANIFEST_VERSION = 1


class LocalDevnetError(RuntimeError):
    """The devnet folder is damaged or from an incompatible version; the message says what to do."""


class LocalDevnet(Devnet):
    """A `Devnet` in a fixed folder that is created on first use and reopened afterwards."""

    def __init__(self, config: DevnetConfig, say: Callable[[str], Any] = print) -> None:
        if config.datadir is None:
            raise ValueError("a local devnet lives in a fixed folder")
        super().__init__(config)
        self.created = False
        self._say = say

    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST

    def setup(self) -> None:
        if self.manifest_path.exists():
            self._reopen()
        else:
            super().setup()
            self.created = True
            self._write_manifest()
        self._say(
            ("creating" if self.created else "reopening") + f" the local devnet in {self.root}: "
            f"{self.config.validators} validators, {self.config.miners} background miner"
        )

    def post_task(self, timeout_s: float = 120.0) -> bytes:
        """Post the default task once, when the network is new; a reopened chain already holds it."""
        if not self.created:
            return self.task_id or b""
        self._say("posting the default training task (the digits classifier on digits-plus, 30,000 images)")
        task_id = super().post_task(timeout_s)
        self._write_manifest()
        return task_id

    def _write_manifest(self) -> None:
        body: dict[str, Any] = {
            "version": MANIFEST_VERSION,
            "task_id": self.task_id.hex() if self.task_id else None,
            "members": [
                {"name": m.name, "role": m.role, "port": m.port, "peer_id": m.peer_id} for m in self.members.values()
            ],
        }
        write_atomic(self.manifest_path, json.dumps(body, indent=2).encode() + b"\n", mode=0o600)

    def _reopen(self) -> None:
        try:
            body = json.loads(self.manifest_path.read_text(encoding="utf-8"))
            if body.get("version") != MANIFEST_VERSION:
                raise LocalDevnetError(
                    f"{self.manifest_path} is from another version; move the folder {self.root} aside to start a new devnet"
                )
            self.genesis = load_genesis(self.root / "genesis.json")
            self.requester = load_key(self.root / "requester.key")
            self.task_id = bytes.fromhex(body["task_id"]) if body.get("task_id") else None
            for entry in body["members"]:
                datadir = self.root / entry["name"]
                key = load_key(datadir / "node.key")
                self.members[entry["name"]] = Member(
                    entry["name"], entry["role"], datadir, key, int(entry["port"]), str(entry["peer_id"])
                )
        except LocalDevnetError:
            raise
        except (OSError, ValueError, KeyError, TypeError, PotError) as exc:
            raise LocalDevnetError(
                f"the local devnet in {self.root} cannot be reopened ({exc}); move that folder aside to start a new one"
            ) from None
        self._move_off_taken_ports()

    def _move_off_taken_ports(self) -> None:
        """A saved port another program took since (a reboot, another app) moves to a free one: a node that
        cannot listen stops, and the devnet would not start."""
        moved = False
        for m in self.members.values():
            if port_is_free(m.port):
                continue
            new_port = free_port()
            self._say(f"port {m.port} of {m.name} is taken by another program: {m.name} moves to port {new_port}")
            m.port = new_port
            moved = True
        if moved:
            self._write_manifest()


# The app's task runs for a long time (the volunteer mines it whenever the computer is free), unlike
# `potminer devnet`'s short demonstration: 50,000 rounds of 256 steps, 10 POT a round.
VALIDATORS = 4
BACKGROUND_MINERS = 1
TASK_ROUNDS = 50_000
TASK_LOCAL_STEPS = 256


def local_devnet_config(root: Path, validators: int = VALIDATORS) -> DevnetConfig:
    return DevnetConfig(
        validators=validators,
        miners=BACKGROUND_MINERS,
        datadir=root,
        rounds=TASK_ROUNDS,
        local_steps=TASK_LOCAL_STEPS,
        practice=True,
    )


def start_local_devnet(root: Path, validators: int = VALIDATORS, say: Callable[[str], Any] = print) -> LocalDevnet:
    """Create or reopen the devnet in `root`, start its nodes, and post the task on first use.

    `Devnet.__enter__` does the sequence and stops every node it started if a step fails.
    """
    return LocalDevnet(local_devnet_config(root, validators), say=say).__enter__()
