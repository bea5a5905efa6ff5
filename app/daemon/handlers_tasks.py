"""RPC methods `task.*`: a requester posts a task with an escrowed fee (over shipped data or its own
files), anyone shows tasks, and `task.result` writes a task's checkpoint as a safetensors file."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.core import admission, tasktext
from app.core.hashing import blob_hash
from app.core.tasks import TASK_EXPIRED, TASK_FINISHED
from app.core.types import (
    NO_SIGNATURE,
    TaskPost,
    TaskSpec,
)
from app.daemon.handlers_errors import MethodError, domain_errors
from app.miner import demo, packing
from app.miner.result import write_result
from app.node.light_state import StateView
from app.pot import registry
from app.rpc.contract import METHODS
from app.rpc.protocol import RpcError
from app.wallet.tx import format_amount, parse_amount

if TYPE_CHECKING:
    from app.daemon.rpc_server import RpcServer
    from app.daemon.services import Services

_STATUS = {TASK_FINISHED: "finished", TASK_EXPIRED: "expired"}


def task_json(task_id: bytes, state: StateView) -> dict[str, Any]:
    task = state.task(task_id)
    if task is None:
        raise RpcError(
            MethodError.NOT_FOUND,
            f"no task {task_id.hex()[:16]}… on the chain (yet): a post needs a block to be included",
            {"error": "not_found"},
        )
    loss = task.last_loss_micro
    spec = task.spec
    return {
        "task_id": task_id.hex(),
        "status": _STATUS.get(task.status, "open"),
        "round": task.round,
        "rounds": spec.rounds,
        "model": spec.model,
        "local_steps": spec.local_steps,
        "checkpoint_interval": spec.checkpoint_interval,
        "batch_size": spec.batch_size,
        "checkpoint": task.checkpoint.hex(),
        "validation_loss": None if loss is None else loss / 1e6,
        "escrow": task.escrow,
        "escrow_text": format_amount(task.escrow),
        "title": spec.title,
        "description": spec.description,  # the requester's plain text (core/tasktext.py)
        "patience_rounds": spec.patience_rounds,
        "min_improvement": spec.min_improvement_micro / 1e6,
        "stale_rounds": task.stale_rounds,
    }


def register(server: RpcServer, s: Services) -> None:
    _register_post(server, s)
    _register_reads(server, s)


def _register_post(server: RpcServer, s: Services) -> None:
    """`task.post`: a requester's task, checked against the admission rules before it is signed and sent."""

    @domain_errors
    def post(
        dataset: str,
        model: str,
        rounds: int,
        local_steps: int,
        checkpoint_interval: int,
        batch_size: int,
        fee_per_round: str,
        fee: str,
        data: str,
        name: str,
        context: int,
        lr: str,
        title: str = "",
        description: str = "",
        patience: int = 0,
        min_improvement: float = 0.0,
    ) -> dict[str, Any]:
        node = s.require_node()
        key = s.wallet.signing_key("spending")
        spec, packed = _posted_spec(
            dataset, model, data, name, context, (local_steps, checkpoint_interval, batch_size, rounds)
        )
        per_round, tx_fee = parse_amount(fee_per_round), parse_amount(fee)  # refused here: nothing stored yet
        spec = _with_lr_and_text(spec, lr, title, description)
        if patience:  # the requester's patience rule instead of the dataset's (0 keeps the dataset's own)
            spec = dataclasses.replace(
                spec, patience_rounds=patience, min_improvement_micro=round(min_improvement * 1_000_000)
            )
        tasktext.check_task_text(spec)  # InvalidTaskText names the character, before anything is sent
        # the chain's admission rules (degenerate training, fee floor): InadmissibleTask names the rule and
        # its bound, before anything is stored or sent
        admission.check_task_post(spec, per_round, node.state.params.min_fee_per_gflop)
        node.seed_task_blobs(spec, packed)  # the requester serves the data and the initial checkpoint
        _, nonce = node.account_for_sending(key.public_key)
        unsigned = TaskPost(
            chain_id=node.chain_id,
            sender=key.public_key,
            nonce=nonce,
            spec=spec,
            fee_per_round=per_round,
            fee=tx_fee,
            signature=NO_SIGNATURE,
        )
        tx = unsigned.signed_by(key)
        node.submit(tx)
        return {
            "task_id": tx.tx_id.hex(),
            "escrow": tx.fee_per_round * rounds,
            "escrow_text": format_amount(tx.fee_per_round * rounds),
        }

    server.register("task.post", post, METHODS["task.post"])


def _register_reads(server: RpcServer, s: Services) -> None:
    """The tasks on the chain: one, all, a task's loss history, its current model written to a file."""

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

    @domain_errors
    def result(task_id: str, path: str) -> dict[str, Any]:
        raw = _task_id(task_id)
        node = s.require_node()
        info = task_json(raw, node.state)
        task = node.state.task(raw)
        assert task is not None  # task_json answered not_found otherwise
        target = Path(path)
        if not target.is_absolute() or not target.parent.is_dir():
            raise RpcError(
                MethodError.BAD_INPUT, f"{path}: give an absolute path in an existing folder", {"error": "bad_input"}
            )
        count = write_result(
            node.blob(task.checkpoint),  # the global checkpoint, from peers if not here
            task.spec,
            target,
            {"task_id": raw.hex(), "round": str(task.round), "checkpoint": task.checkpoint.hex()},
        )
        return {**info, "path": str(target), "parameters": count}

    server.register("task.result", result, METHODS["task.result"])
    server.register("task.show", show, METHODS["task.show"])
    server.register("task.list", list_, METHODS["task.list"])
    server.register("task.history", history, METHODS["task.history"])


def _posted_spec(
    dataset: str, model: str, data: str, name: str, context: int, shape: tuple[int, int, int, int]
) -> tuple[TaskSpec, packing.PackedDataset | None]:
    """The spec of a post: the requester's own files (packed and checked first) or a shipped dataset."""
    local_steps, checkpoint_interval, batch_size, rounds = shape
    if data:  # the requester's own files: packed and checked before anything is stored or sent
        return _own_data_spec(data, name, model, context, shape)
    if dataset not in demo.demo_datasets():
        raise RpcError(
            MethodError.BAD_INPUT,
            f"unknown dataset {dataset!r}; the registry has {', '.join(sorted(demo.demo_datasets()))}",
            {"error": "bad_input"},
        )
    spec = demo.task_spec(
        dataset,
        model or "mlp",
        local_steps=local_steps,
        checkpoint_interval=checkpoint_interval,
        batch_size=batch_size,
        rounds=rounds,
    )
    return spec, None


def _with_lr_and_text(spec: TaskSpec, lr: str, title: str, description: str) -> TaskSpec:
    """`lr` (canonical decimal text) instead of the shipped learning rate, and the requester's words."""
    if lr:
        spec = dataclasses.replace(
            spec, optimizer_params=tuple((k, lr if k == "lr" else v) for k, v in spec.optimizer_params)
        )
    return dataclasses.replace(spec, title=title, description=description)


def _own_data_spec(
    data: str, name: str, model: str, context: int, schedule: tuple[int, int, int, int]
) -> tuple[TaskSpec, packing.PackedDataset]:
    """Pack the requester's files and the task over them; `bad_data` / `bad_input` before anything is stored."""
    path = Path(data)
    if not path.is_absolute():
        raise RpcError(MethodError.BAD_INPUT, f"{data}: give the data's absolute path", {"error": "bad_input"})
    try:
        packed = packing.pack_path(path, name or None, model or None, context)
    except packing.DataError as exc:
        raise RpcError(MethodError.BAD_INPUT, str(exc), {"error": "bad_data"}) from None
    init = demo.initial_checkpoint(packed.model, 1, packed.hyperparams)
    # the shipped task's defaults (optimiser, and any rule a spec gains), then this data and model
    local_steps, checkpoint_interval, batch_size, rounds = schedule
    base = demo.task_spec(
        local_steps=local_steps, checkpoint_interval=checkpoint_interval, batch_size=batch_size, rounds=rounds
    )
    spec = dataclasses.replace(
        base,
        model=packed.model,
        model_version=1,
        hyperparams=packed.hyperparams,
        dataset_root=packed.root,
        validation_shard=packed.validation,
        initial_checkpoint=blob_hash(init),
    )
    registry.check_task_spec(spec)
    return spec, packed


def _task_id(text: str) -> bytes:
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise RpcError(MethodError.BAD_INPUT, "a task id is 64 hexadecimal characters", {"error": "bad_input"})
    return raw
