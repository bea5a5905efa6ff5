"""Issue 14, requesters' own data, end to end on a real devnet (one validator process, one daemon that
requests and mines): bad files are refused before anything is stored or sent; a folder of PNG images
is posted with `potminer task post --data`, packed, seeded and mined (the validator fetches the data
set's manifest from the requester over the manifest protocol and replays the work); `potminer task
result` writes a safetensors file that plain PyTorch loads into the registry model, and that model
gives the same outputs as the chain's checkpoint.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from app.core.blobstore import BlobStore
from app.node.devnet import Devnet, DevnetConfig
from app.pot import registry
from app.pot.datasets import parse_shard
from app.pot.optim import PARAM
from app.pot.tensors import decode_tensors
from tests.daemon.daemon_proc import cli, cli_json, rpc, start_daemon, stop_daemon, wait_for, write_config
from tests.miner.test_packing import write_images

PASSWORD = "requester password"
ENV = {"POTMINER_PASSWORD": PASSWORD}
CONFIG = """
[mining]
mode = "always"
pause_on_battery = false
cpu_threads = 1
[network]
listen = ["/ip4/127.0.0.1/tcp/0"]
mdns = false
"""
TINY = ["--rounds", "1", "--local-steps", "16", "--checkpoint-interval", "8", "--batch-size", "16"]


@pytest.fixture
def devnet(tmp_path: Path) -> Iterator[Devnet]:
    with Devnet(
        DevnetConfig(
            validators=1, miners=0, post_task=False, datadir=tmp_path / "net", round_wait_s=0.5, block_interval_s=0.5
        )
    ) as net:
        yield net


def test_own_image_folder_posted_mined_and_result_loads_in_plain_pytorch(devnet: Devnet, tmp_path: Path) -> None:
    d = tmp_path / "daemon"
    write_config(d, CONFIG)
    proc = start_daemon(d, "--genesis", str(devnet.root / "genesis.json"), "--bootstrap", *devnet.bootstrap, env=ENV)
    try:
        cli_json(d, "wallet", "import", "--raw-key-file", str(devnet.root / "requester.key"), env=ENV)
        blobs = BlobStore(d / "node" / "blobs")
        stored = set(blobs.list())

        # bad data: mixed image sizes; refused with the reason, nothing stored, nothing posted
        mixed = write_images(tmp_path / "mixed", {"a": [(8, 8)] * 3, "b": [(8, 8), (12, 8)]})
        bad = cli(d, "task", "post", "--data", str(mixed), *TINY, check=False)
        assert bad.returncode == 1 and "all images must have one size" in bad.stderr
        assert set(blobs.list()) == stored and rpc(d, "task.list")["tasks"] == []

        images = write_images(tmp_path / "shapes", {c: [(8, 8)] * 12 for c in ("circle", "square", "triangle")})
        posted = cli_json(d, "task", "post", "--data", str(images), *TINY, "--fee-per-round", "10")
        finished = wait_for(
            lambda: (_task(d, posted["task_id"]) or {}).get("status") == "finished",
            120,
            "the round over the posted images to be mined and closed",
        )
        assert finished
        task = _task(d, posted["task_id"])
        assert task is not None
        assert task["model"] == "cnn" and task["round"] == 1
        # the validator learnt the data set from the requester over the manifest protocol, to replay the work
        fetched = [p for m in devnet.members.values() for p in (m.datadir / "manifests").glob("*.manifest")]
        assert fetched and all(p.parent.parent != d for p in fetched)

        out = tmp_path / "result.safetensors"
        written = cli_json(d, "task", "result", posted["task_id"], "-o", str(out))
        assert written["path"] == str(out) and written["checkpoint"] == task["checkpoint"]

        # plain PyTorch: load_file and load_state_dict into the model the metadata names
        from safetensors import safe_open
        from safetensors.torch import load_file

        with safe_open(str(out), "pt") as f:
            meta = f.metadata()
        hyper = tuple(sorted(json.loads(meta["hyperparams"]).items()))
        assert meta["model"] == "cnn" and meta["checkpoint"] == task["checkpoint"]
        model = registry.build_model("cnn", 1, hyper)
        model.load_state_dict(load_file(str(out)), strict=True)

        # the chain's checkpoint (a trained one, not the initial) gives the same outputs
        chain = decode_tensors(blobs.get(bytes.fromhex(task["checkpoint"])))
        reference = registry.build_model("cnn", 1, hyper)
        reference.load_state_dict({k[len(PARAM) :]: v for k, v in chain.items() if k.startswith(PARAM)}, strict=True)
        shard = next(parse_shard(blobs.get(h)) for h in blobs.list() if _is_shard(blobs.get(h)))
        with torch.no_grad():
            assert torch.equal(model(shard.inputs), reference(shard.inputs))
        initial = registry.build_model("cnn", 1, hyper)
        from app.miner.demo import initial_checkpoint

        initial.load_state_dict(
            {k[len(PARAM) :]: v for k, v in decode_tensors(initial_checkpoint("cnn", 1, hyper)).items()}
        )
        with torch.no_grad():
            assert not torch.equal(model(shard.inputs), initial(shard.inputs))  # mined: the weights moved
    finally:
        stop_daemon(proc)


def _is_shard(data: bytes) -> bool:
    try:
        parse_shard(data)
        return True
    except Exception:  # noqa: BLE001 - checkpoints and updates are not shards
        return False


def _task(d: Path, task_id: str) -> dict | None:
    from app.rpc.protocol import RpcError

    try:
        return rpc(d, "task.show", {"task_id": task_id})  # in process: a CLI start per poll costs seconds
    except RpcError as exc:
        assert "no task" in str(exc)  # not included yet; anything else fails
        return None
