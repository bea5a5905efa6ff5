"""RPC methods `wallet.*`: thin wrappers over WalletService and the node (docs/RPC.md)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.daemon.handlers_errors import domain_errors
from app.rpc.contract import DEFAULT_FEE, METHODS
from app.wallet.errors import WalletError
from app.wallet.tx import balance_summary, format_amount

if TYPE_CHECKING:
    from app.daemon.rpc_server import RpcServer
    from app.daemon.services import Services


def register(server: RpcServer, s: Services) -> None:
    _register_keystore(server, s)
    _register_access(server, s)
    _register_reads(server, s)
    _register_spending(server, s)


def _register_keystore(server: RpcServer, s: Services) -> None:
    """The keystore: create, restore or import a wallet, export its phrase, keys or file."""
    w = s.wallet

    @domain_errors
    def create(password: str, words: int) -> dict[str, Any]:
        wallet, phrase = w.create(password, words)
        return {"addresses": wallet.addresses(), "phrase": phrase}

    @domain_errors
    def restore(phrase: str, password: str, passphrase: str) -> dict[str, Any]:
        return {"addresses": w.restore(phrase, password, passphrase).addresses()}

    @domain_errors
    def import_(password: str, keystore: str, private_key: str) -> dict[str, Any]:
        if bool(keystore) == bool(private_key):
            raise WalletError("give exactly one of 'keystore' (a file) or 'private_key' (64 hex characters)")
        wallet = w.import_keystore(Path(keystore), password) if keystore else w.import_raw_key(private_key, password)
        return {"addresses": wallet.addresses()}

    @domain_errors
    def export(password: str, what: str, role: str, destination: str) -> dict[str, Any]:
        if what == "phrase":
            return w.export_phrase(password)
        if what == "raw_key":
            return {"private_key": w.export_raw_key(password, role), "role": role}
        if not destination:
            raise ValueError("exporting the keystore needs a destination file")
        w.export_keystore(password, Path(destination))
        return {"destination": destination}

    server.register("wallet.create", create, METHODS["wallet.create"])
    server.register("wallet.restore", restore, METHODS["wallet.restore"])
    server.register("wallet.export", export, METHODS["wallet.export"])
    server.register("wallet.import", import_, METHODS["wallet.import"])


def _register_access(server: RpcServer, s: Services) -> None:
    """Unlocking and locking, the addresses, the reward key kept for unattended mining."""
    w = s.wallet

    @domain_errors
    def unlock(password: str) -> dict[str, Any]:
        w.unlock(password)
        return w.info()

    @domain_errors
    def lock() -> dict[str, Any]:
        w.lock()
        return w.info()

    @domain_errors
    def address() -> dict[str, Any]:
        return w.info() | {"addresses": w.wallet.addresses()}

    @domain_errors
    def forget_hot_key() -> dict[str, Any]:
        w.forget_hot_key()
        return w.info()

    server.register("wallet.unlock", unlock, METHODS["wallet.unlock"])
    server.register("wallet.lock", lock, METHODS["wallet.lock"])
    server.register("wallet.address", address, METHODS["wallet.address"])
    server.register("wallet.forget_hot_key", forget_hot_key, METHODS["wallet.forget_hot_key"])


def _register_reads(server: RpcServer, s: Services) -> None:
    """What the wallet holds and did: balances, address checks, fees, history."""
    w = s.wallet

    @domain_errors
    def balance() -> dict[str, Any]:
        node = s.require_node()
        state = node.state
        out: dict[str, Any] = {"height": state.height, "accounts": {}}
        total = vesting = 0
        for role in ("spending", "reward"):
            addr, account = w.address_of(role)
            acct = state.account(account)
            out["accounts"][role] = {
                "address": addr,
                "balance": acct.balance,
                "pending": acct.pending,
                "nonce": acct.nonce,
            }
            if role == "spending" or addr != out["accounts"]["spending"]["address"]:
                total += acct.balance
                vesting += acct.pending
        out["total"] = total  # spendable
        out["total_text"] = format_amount(total)
        out["pending"] = vesting  # miner rewards still vesting (a fraud proof can claw them back)
        out["pending_text"] = format_amount(vesting)
        out["summary"] = balance_summary(total, vesting)
        return out

    def check_address(address: str) -> dict[str, Any]:
        """Whether `address` is one of this network's (no node needed: the window checks as the user types)."""
        return w.check_address(address)

    def fee_estimate() -> dict[str, Any]:
        from app.wallet.tx import parse_amount

        fee = parse_amount(DEFAULT_FEE)
        return {"fee": fee, "fee_text": format_amount(fee)}

    @domain_errors
    def history(limit: int) -> dict[str, Any]:
        node = s.require_node()
        times: dict[int, int | None] = {}

        def time_of(height: int) -> int | None:
            if height not in times:
                header = node.header(height)
                times[height] = header.timestamp_ms // 1000 if header is not None else None
            return times[height]

        entries = w.history(lambda a: node.txs_of(a, limit), lambda a: node.rewards_of(a, limit), time_of)
        return {"entries": entries[-limit:]}

    server.register("wallet.balance", balance, METHODS["wallet.balance"])
    server.register("wallet.check_address", check_address, METHODS["wallet.check_address"])
    server.register("wallet.fee_estimate", fee_estimate, METHODS["wallet.fee_estimate"])
    server.register("wallet.history", history, METHODS["wallet.history"])


def _register_spending(server: RpcServer, s: Services) -> None:
    """Spending: a send (password every time) and the rewards sweep."""
    w = s.wallet

    @domain_errors
    def send(to: str, amount: str, fee: str, memo: str, account: str, password: str) -> dict[str, Any]:
        from app.wallet.tx import parse_amount

        node = s.require_node()
        sender = w.send_key(account, password)
        balance_now, nonce = node.account_for_sending(sender.public_key)
        tx = w.build_send(sender, to, parse_amount(amount), parse_amount(fee), memo, nonce, balance_now, node.chain_id)
        tx_id = node.submit(tx)
        return {"tx_id": tx_id.hex(), "nonce": nonce, "amount": tx.amount, "fee": tx.fee}

    @domain_errors
    def sweep(fee: str) -> dict[str, Any]:
        """Move every spendable reward to the spending account, with the hot reward key: no password
        (the only destination is the wallet's own spending account)."""
        from app.wallet.tx import parse_amount

        node = s.require_node()
        to = w.sweep_target()
        key = w.reward_key()
        fee_units = parse_amount(fee)
        balance_now, nonce = node.account_for_sending(key.public_key)
        amount = balance_now - fee_units
        if amount <= 0:
            raise WalletError(
                f"no spendable rewards to move yet (spendable {format_amount(balance_now)}, "
                f"fee {format_amount(fee_units)}); vesting rewards can be moved once they vest"
            )
        tx = w.build_send(key, to, amount, fee_units, "rewards", nonce, balance_now, node.chain_id)
        tx_id = node.submit(tx)
        return {
            "tx_id": tx_id.hex(),
            "amount": amount,
            "amount_text": format_amount(amount),
            "fee": fee_units,
            "to": to,
        }

    server.register("wallet.send", send, METHODS["wallet.send"])
    server.register("wallet.sweep", sweep, METHODS["wallet.sweep"])
