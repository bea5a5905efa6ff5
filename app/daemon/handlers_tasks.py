"""RPC methods `task.*`: a requester posts a registry task with an escrowed fee; anyone shows tasks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from app.core.state import TASK_EXPIRED, TASK_FINISHED, ChainState
from app.core.types import NO_SIGNATURE, TaskPost
from app.daemon.handlers_errors import MethodError, domain_errors
from app.daemon.handlers_wallet import node_account
from app.miner import demo
from app.rpc.protocol import RpcError
from app.rpc.schema import Param
from app.wallet.tx import format_amount, parse_amount

if TYPE_CHECKING:
    from app.daemon.daemon import Services
    from app.daemon.rpc_server import RpcServer

_STATUS = {TASK_FINISHED: "finished", TASK_EXPIRED: "expired"}


def task_json(task_id: bytes, state: ChainState) -> dict[str, Any]:
    task = state.task(task_id)
    if task is None:
        raise RpcError(MethodError.NOT_FOUND, f"no task {task_id.hex()[:16]}… on the chain (yet): a post needs a "
                       "block to be included", {"error": "not_found"})
    loss = task.last_loss_micro
    spec = task.spec
    return {"task_id": task_id.hex(), "status": _STATUS.get(task.status, "open"), "round": task.round,
            "rounds": spec.rounds, "model": spec.model, "local_steps": spec.local_steps,
            "checkpoint_interval": spec.checkpoint_interval, "batch_size": spec.batch_size,
            "checkpoint": task.checkpoint.hex(), "validation_loss": None if loss is None else loss / 1e6,
            "escrow": task.escrow, "escrow_text": format_amount(task.escrow)}


def register(server: RpcServer, s: Services) -> None:
    @domain_errors
    def post(dataset: str, model: str, rounds: int, local_steps: int, checkpoint_interval: int, batch_size: int,
             fee_per_round: str, fee: str) -> dict[str, Any]:
        node = s.require_node()
        key = s.wallet.signing_key("spending")
        if dataset not in demo.demo_datasets():
            raise RpcError(MethodError.BAD_INPUT, f"unknown dataset {dataset!r}; the registry has "
                           f"{', '.join(sorted(demo.demo_datasets()))}", {"error": "bad_input"})
        spec = demo.task_spec(dataset, model, local_steps=local_steps, checkpoint_interval=checkpoint_interval,
                              batch_size=batch_size, rounds=rounds)
        demo.seed_blobs(node.node.blobs, spec)  # the requester serves the data and the initial checkpoint
        _, nonce = node.call(lambda: node_account(node, key.public_key))
        unsigned = TaskPost(chain_id=node.chain_id, sender=key.public_key, nonce=nonce, spec=spec,
                            fee_per_round=parse_amount(fee_per_round), fee=parse_amount(fee), signature=NO_SIGNATURE)
        tx = unsigned.signed_by(key)
        node.submit(tx)
        return {"task_id": tx.tx_id.hex(), "escrow": tx.fee_per_round * rounds,
                "escrow_text": format_amount(tx.fee_per_round * rounds)}

    @domain_errors
    def show(task_id: str) -> dict[str, Any]:
        return task_json(_task_id(task_id), s.require_node().state)

    @domain_errors
    def history(task_id: str) -> dict[str, Any]:
        raw = _task_id(task_id)
        node = s.require_node()
        task_json(raw, node.state)  # not_found for a task the chain does not know
        return {"task_id": task_id.lower(), "rounds": node.task_history(raw)}

    @domain_errors
    def list_() -> dict[str, Any]:
        state = s.require_node().state
        return {"tasks": [task_json(tid, state) for tid in sorted(state.tasks())]}

    server.register("task.post", post, {
        "dataset": Param(str, default="digits", max_length=64),
        "model": Param(str, default="mlp", choices=frozenset({"mlp", "cnn", "tiny-lm"})),
        "rounds": Param(int, default=10, min=1, max=100_000),
        "local_steps": Param(int, default=64, min=1, max=1_000_000),
        "checkpoint_interval": Param(int, default=16, min=1, max=1_000_000),
        "batch_size": Param(int, default=32, min=1, max=65536),
        "fee_per_round": Param(str, default="10", max_length=40),
        "fee": Param(str, default="0.000001", max_length=40),
    })
    server.register("task.show", show, {"task_id": Param(str, max_length=128)})
    server.register("task.list", list_, {})
    server.register("task.history", history, {"task_id": Param(str, max_length=128)})


def _task_id(text: str) -> bytes:
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise RpcError(MethodError.BAD_INPUT, "a task id is 64 hexadecimal characters", {"error": "bad_input"})
    return raw
