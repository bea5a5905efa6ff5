"""RPC methods of the daemon itself: status, peers, logs, config, stop; and `register_all`.

Handlers are thin: check params (the schema does), call the service, shape a JSON answer. Wallet,
mining and task methods live in handlers_wallet.py, handlers_mining.py and handlers_tasks.py.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from app import __version__
from app.core.tasks import TASK_OPEN
from app.daemon import handlers_mining, handlers_tasks, handlers_wallet
from app.daemon.handlers_errors import MethodError, domain_errors
from app.rpc.contract import METHODS
from app.rpc.protocol import RpcError
from app.wallet.tx import balance_summary, format_amount

if TYPE_CHECKING:
    from app.daemon.rpc_server import RpcServer
    from app.daemon.services import Services


def register_all(server: RpcServer, s: Services) -> None:
    register(server, s)
    handlers_wallet.register(server, s)
    handlers_mining.register(server, s)
    handlers_tasks.register(server, s)


def status_json(s: Services) -> dict[str, Any]:
    """One answer with everything `potminer status` and the window's status bar show."""
    out: dict[str, Any] = {
        "daemon": {
            "version": __version__,
            "pid": os.getpid(),
            "data_dir": str(s.paths.data_dir),
            "uptime_s": round(time.monotonic() - s.started, 1),
        },
        "mining": s.mining.snapshot(),
        "wallet": s.wallet.info(),
        "node": None,
        "network": s.reach.current.to_json() if s.reach is not None else None,
    }
    if s.node is not None:
        from app.core.address import encode_address
        from app.core.crypto import key_hash

        state = s.node.state
        head = s.node.header(state.height) if state.height > 0 else None
        out["node"] = {
            "chain_id": s.node.chain_id,
            "mode": s.node.mode,
            "height": state.height,
            "head": state.head_hash.hex(),
            "head_time": head.timestamp_ms // 1000 if head else None,
            "epoch": state.epoch,
            "committee_size": len(state.next_committee.members),
            "committee": [encode_address(key_hash(pk), s.node.hrp) for pk in state.committee.members],
            "open_tasks": sum(1 for t in state.tasks().values() if t.status == TASK_OPEN),
            "listen": s.node.listen_addrs(),
        }
        balances, pending = {}, {}
        for role, address in out["wallet"].get("addresses", {}).items():
            from app.core.address import decode_address

            acct = state.account(decode_address(address, s.node.hrp))
            balances[role], pending[role] = acct.balance, acct.pending
        if balances:
            distinct = out["wallet"]["addresses"]["reward"] != out["wallet"]["addresses"]["spending"]
            total = balances["spending"] + (balances["reward"] if distinct else 0)
            vesting = pending["spending"] + (pending["reward"] if distinct else 0)
            out["wallet"]["balances"] = balances
            out["wallet"]["pending"] = pending  # miner rewards still in their challenge window: not spendable
            out["wallet"]["total"] = total
            out["wallet"]["total_text"] = format_amount(total)
            out["wallet"]["pending_total"] = vesting
            out["wallet"]["pending_text"] = format_amount(vesting)
            out["wallet"]["summary"] = balance_summary(total, vesting)
    return out


def register(server: RpcServer, s: Services) -> None:
    def status() -> dict[str, Any]:
        return status_json(s)

    def peers() -> dict[str, Any]:
        node = s.require_node()
        return {"peers": node.peers(), "listen": node.listen_addrs()}

    @domain_errors
    def account(address: str) -> dict[str, Any]:
        """Any account's spendable balance, vesting rewards and nonce (checks the address: the send form uses it)."""
        from app.core.address import decode_address

        node = s.require_node()
        acct = node.state.account(decode_address(address, node.hrp))
        return {
            "address": address,
            "balance": acct.balance,
            "balance_text": format_amount(acct.balance),
            "pending": acct.pending,
            "pending_text": format_amount(acct.pending),
            "summary": balance_summary(acct.balance, acct.pending),
            "nonce": acct.nonce,
            "height": node.state.height,
        }

    def logs(limit: int, min_level: str, after_seq: int) -> dict[str, Any]:
        return {"entries": [e.to_json() for e in s.logging.ring.recent(limit, min_level, after_seq)]}

    def config_get() -> dict[str, Any]:
        return {"config": asdict(s.config), "file": str(s.paths.config_file)}

    @domain_errors
    def config_set(section: str, values: dict[str, Any]) -> dict[str, Any]:
        s.update_config(section, values)
        return config_get()

    def stop() -> dict[str, Any]:
        s.request_stop("stopped by an RPC client")
        return {"stopping": True}

    def restart() -> dict[str, Any]:
        if s.request_restart is None:
            raise RpcError(MethodError.BAD_INPUT, "this daemon cannot restart itself: stop it and start it again")
        s.request_restart("restarting to apply the network settings")
        return {"restarting": True}

    server.register("status", status, METHODS["status"])
    server.register("restart", restart, METHODS["restart"])
    server.register("peers", peers, METHODS["peers"])
    server.register("chain.account", account, METHODS["chain.account"])
    server.register("logs", logs, METHODS["logs"])
    server.register("config.get", config_get, METHODS["config.get"])
    server.register("config.set", config_set, METHODS["config.set"])
    server.register("stop", stop, METHODS["stop"])
