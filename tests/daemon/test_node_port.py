"""The daemon reaches the node only through `NodePort`'s public methods, and the daemon and its RPC handlers do
not import each other (`Services` lives in app/daemon/services.py). The port's methods run on a real node (not
started on the network: its event loop runs on a thread here, as the daemon's main thread would run it)."""

from __future__ import annotations

import ast
import concurrent.futures
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.core.crypto import key_hash
from app.core.genesis import genesis_to_json
from app.core.types import NO_SIGNATURE, Transfer, WorkReceipt
from app.daemon.node_port import NodePort
from app.miner import demo
from app.node.keys import save_key
from app.node.node import Node, NodeConfig
from tests.node.chainkit import KEYS, USER, genesis

ROOT = Path(__file__).resolve().parents[2]
DAEMON = ROOT / "app" / "daemon"


def _imported(path: Path) -> set[str]:
    """Every module `path` imports (at the top, in a function or under TYPE_CHECKING)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_no_handlers_module_imports_the_daemon() -> None:
    handlers = sorted(DAEMON.glob("handlers*.py"))
    assert len(handlers) >= 4
    for path in [*handlers, DAEMON / "services.py"]:
        bad = {m for m in _imported(path) if m == "app.daemon.daemon" or m.startswith("app.daemon.daemon.")}
        assert not bad, f"{path.name} imports the daemon ({bad}): take Services from app/daemon/services.py"
    tree = ast.parse((DAEMON / "daemon.py").read_text(encoding="utf-8"))
    from_handlers = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("app.daemon.handlers")
        for alias in node.names
    }
    assert from_handlers <= {"register_all"}, f"daemon.py uses handlers beyond registering them: {from_handlers}"


def test_the_daemon_module_stays_light() -> None:
    """Importing the daemon (and what the handlers are given) loads no node, network or port code."""
    code = (
        "import json, sys\nimport app.daemon.daemon, app.daemon.services, app.daemon.handlers\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    loaded = json.loads(out.stdout)
    heavy = ("libp2p", "trio", "app.node.node", "app.net", "app.daemon.node_port")
    bad = [m for m in loaded if any(m == h or m.startswith(h + ".") for h in heavy)]
    assert not bad, f"importing the daemon loaded {bad}"


def test_the_daemon_uses_no_private_part_of_the_node() -> None:
    """Outside node_port.py the daemon holds a NodePort, never the Node: no `.node.` reach, no `_private`."""
    for path in sorted(DAEMON.glob("*.py")):
        if path.name == "node_port.py":
            continue
        text = path.read_text(encoding="utf-8")
        for needle in ("node.node.", "port.node.", "node._", "port._node"):
            assert needle not in text, f"{path.name} reaches into the node: {needle!r}"


class _Host:
    def __init__(self) -> None:
        self.published: list[Any] = []

    def publish(self, record: Any) -> None:
        self.published.append(record)


class _Net:
    """Stands for the node's network thread: `submit` runs the job on a host that records what it gossips."""

    def __init__(self) -> None:
        self.host = _Host()

    def submit(self, job: Any) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        future.set_result(job(self.host))
        return future


class _Traces:
    def __init__(self) -> None:
        self.added: list[tuple[Any, Any]] = []

    def add(self, trace: Any, receipt: Any) -> None:
        self.added.append((trace, receipt))


@pytest.fixture
def port(tmp_path: Path) -> Iterator[NodePort]:
    g = genesis()
    (tmp_path / "genesis.json").write_text(genesis_to_json(g))
    save_key(tmp_path / "node.key", KEYS[0])
    node = Node(
        NodeConfig(
            datadir=tmp_path / "data",
            genesis_path=tmp_path / "genesis.json",
            key_path=tmp_path / "node.key",
            role="full",
        )
    )
    node.net = _Net()  # type: ignore[assignment]  # nothing leaves this machine
    loop = threading.Thread(target=node.loop.run, daemon=True)
    loop.start()
    try:
        yield NodePort(node)
    finally:
        node.loop.stop()
        loop.join(10)
        node.chain.close()


def _transfer(nonce: int, amount: int) -> Transfer:
    return Transfer(
        chain_id="pot-devnet",
        sender=USER.public_key,
        nonce=nonce,
        recipient=bytes(20),
        amount=amount,
        fee=1,
        memo="",
        signature=NO_SIGNATURE,
    ).signed_by(USER)


def test_the_account_for_sending_counts_the_senders_pending_transactions(port: NodePort) -> None:
    balance = port.state.account(key_hash(USER.public_key)).balance
    assert port.account_for_sending(USER.public_key) == (balance, 0)
    assert port.pending_from(USER.public_key) == []
    first, second = _transfer(0, 100), _transfer(1, 50)
    port.submit(first)
    port.submit(second)
    assert port.pending_from(USER.public_key) == [first, second]
    assert port.pending_from(KEYS[1].public_key) == []
    assert port.account_for_sending(USER.public_key) == (balance - 152, 2)
    assert port.account_for_sending(KEYS[1].public_key)[1] == 0


def test_seeding_a_tasks_blobs_and_reading_one(port: NodePort) -> None:
    spec = demo.task_spec("digits", "mlp")
    assert not port.blob_store.has(spec.initial_checkpoint)
    port.seed_task_blobs(spec)
    assert port.blob_store.has(spec.initial_checkpoint) and port.blob_store.has(spec.validation_shard)
    checkpoint = port.blob(spec.initial_checkpoint)  # here already: no fetch
    assert checkpoint == demo.initial_checkpoint(spec.model, spec.model_version, spec.hyperparams)


def test_a_published_receipt_is_kept_gossiped_and_republished(port: NodePort) -> None:
    node = port._node
    traces = _Traces()
    node.traces = traces  # type: ignore[assignment]
    receipt = WorkReceipt(
        chain_id="pot-devnet",
        task_id=b"\x01" * 32,
        round=0,
        miner=KEYS[0].public_key,
        base_checkpoint=b"\x02" * 32,
        commitments_root=b"\x03" * 32,
        update_hash=b"\x04" * 32,
        steps=16,
        final_loss_micro=1,
        device_class="cpu",
        signature=NO_SIGNATURE,
    ).signed_by(KEYS[0])
    trace: Any = object()
    port.publish_receipt(receipt, trace)
    assert traces.added == [(trace, receipt)]
    assert node.net.host.published == [receipt]  # type: ignore[attr-defined]
    assert receipt.receipt_id in node._published  # the node repeats it until its round closes


def test_what_the_daemon_reads_for_pruning_and_reach(port: NodePort) -> None:
    assert port.bootstrap_count == 0
    assert port.blob_store.root == port.blob_dir
    assert port.trace_dir is not None and port.trace_dir.is_dir()
    assert port.dataset_shards(b"\x09" * 32) == ()  # an unknown dataset: nothing to pin
